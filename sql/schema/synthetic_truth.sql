-- synthetic_truth: one row per synthetic user: the generator's hidden state
-- (see src/simulation.rs). Never a feature; kept to check what the model and
-- the labels recover.
--   daily_hazard       the daily probability of leaving
--   churn_probability  the probability of leaving within 30 days, 1 - (1 - h)^30
--   churn_date         the first day without events from then on; it may lie
--                      after the simulated days (the user has not left yet)
create table if not exists synthetic_truth (
    user_id varchar,
    engagement double,
    daily_hazard double,
    churn_probability double,
    churn_date date,
    load_id varchar,
);
