-- watermarks: what each table the daily stages maintain has processed
-- (docs/design.md §9), written in the same transaction as the table.
-- definition: sha256 of the SQL (rendered with the config) the table was
-- built with; a different one refuses an incremental run (`--full`).
-- seq: bumped by every run that changes the table; its changes are logged
-- under that number in table_changes. consumed: for each table it is
-- derived from, the seq it has caught up with. loads, events_rows,
-- users_rows, first_date, last_date: what user_daily was built from.
create table if not exists watermarks (
    table_name varchar not null,
    definition varchar not null,
    seq bigint not null,
    consumed json not null,
    loads varchar[],
    events_rows bigint,
    users_rows bigint,
    first_date date,
    last_date date,
    run_id varchar not null,
    updated_at timestamp not null,
);

-- table_changes: the rows a run changed, for the tables derived from it:
-- the users whose rows from from_date on were rebuilt; user_id NULL means
-- every user from from_date on; both NULL, the whole table was rebuilt.
-- Rows every derived table has caught up with are removed.
create table if not exists table_changes (
    table_name varchar not null,
    seq bigint not null,
    user_id varchar,
    from_date date,
);

-- load_checks: validate's verdict on each load it checked (generate and
-- ingest loads). Events of a refused load are left out of user_daily and
-- everything built from it.
create table if not exists load_checks (
    load_id varchar not null,
    run_id varchar not null,
    verdict varchar not null,
    checked_at timestamp not null,
);
