-- users: one row per user_id. Written by generate or ingest.
create table if not exists users (
    user_id varchar,
    signup_date date,
    plan varchar,
    is_paid boolean,
    country varchar,
    marketing_source varchar,
    load_id varchar,
);

-- load_id: the load that wrote the row (a row of loads); files made before
-- loads were tagged get the column (NULL: an old, committed load).
alter table users add column if not exists load_id varchar;
