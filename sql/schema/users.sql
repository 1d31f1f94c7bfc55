-- users: one row per user_id. Written by generate or ingest.
create table if not exists users (
    user_id varchar,
    signup_date date,
    plan varchar,
    is_paid boolean,
    country varchar,
    marketing_source varchar,
);
