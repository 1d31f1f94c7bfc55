-- loads: the ledger of every stage that appends rows in bulk (generate,
-- ingest, score): one row per load, written in the load's own transaction
-- with the row count each of its tables holds after it. The rows a load
-- writes carry its load_id. DuckDB may keep bulk-appended rows of a
-- transaction killed during its commit (they are written to the file before
-- the commit) while the rest of the transaction is lost: every open for
-- writing removes rows whose load_id has no row here.
create table if not exists loads (
    load_id varchar not null,
    run_id varchar not null,
    stage varchar not null,
    committed_at timestamp not null,
    table_rows json not null,
);
