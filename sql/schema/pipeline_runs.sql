-- pipeline_runs: one row per stage run.
create table if not exists pipeline_runs (
    run_id varchar not null,
    stage varchar not null,
    started_at timestamp not null,
    finished_at timestamp not null,
    status varchar not null,
    rows_out bigint,
    params_json json,
    error varchar,
);
