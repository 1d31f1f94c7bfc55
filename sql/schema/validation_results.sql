-- validation_results: one row per check of the last validate run.
create table if not exists validation_results (
    run_id varchar not null,
    checked_at timestamp not null,
    check_name varchar not null,
    severity varchar not null,
    description varchar not null,
    violations bigint not null,
    passed boolean not null,
    sample_json json,
);
