-- prediction_reasons: each scored user's own reasons, for the latest date of
-- a score run: up to three rows per (as_of_date, user_id, model_id), the
-- inputs that raise the user's risk most. For a logistic regression the
-- margin is exactly the intercept plus one contribution per input term,
-- coefficient * standardised value; the reasons are the largest positive
-- ones (src/model/reasons.rs).
create table if not exists prediction_reasons (
    as_of_date date not null,
    user_id varchar not null,
    model_id varchar not null,
    reason_rank integer not null,
    input varchar not null,
    value double,
    category varchar,
    usual double,
    contribution double not null,
    reason varchar not null,
    load_id varchar,
);
