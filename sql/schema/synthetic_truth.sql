-- synthetic_truth: one row per synthetic user: the generator's hidden state.
-- Never a feature; kept to check what the model recovers.
create table if not exists synthetic_truth (
    user_id varchar,
    engagement double,
    churn_probability double,
    will_churn boolean,
    churn_date date,
);
