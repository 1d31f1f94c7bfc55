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
);
