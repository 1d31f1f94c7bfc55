-- predictions: one row per (as_of_date, user_id, model_id) scored in batch.
-- risk_rank 1 is the highest risk of that (as_of_date, model_id) slice.
create table if not exists predictions (
    as_of_date date not null,
    user_id varchar not null,
    model_id varchar not null,
    churn_risk double not null,
    risk_rank bigint not null,
    scored_at timestamp not null,
    load_id varchar,
);

alter table predictions add column if not exists load_id varchar;
