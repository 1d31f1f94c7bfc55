-- events: one row per event_id. Written by generate or ingest.
create table if not exists events (
    event_id bigint,
    user_id varchar,
    event_time timestamp,
    event_type varchar,
    course_id varchar,
    watch_minutes double,
    quiz_score double,
    amount double,
    load_id varchar,
);

-- load_id: the load that wrote the row (a row of loads); files made before
-- loads were tagged get the column (NULL: an old, committed load).
alter table events add column if not exists load_id varchar;
