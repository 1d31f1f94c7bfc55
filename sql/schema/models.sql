-- models: one row per fitted model. status: candidate (fitted, not yet
-- decided), production (exactly one), retired (was production), rejected
-- (lost its promotion). role: the stage that made it (train, retrain).
create table if not exists models (
    model_id varchar not null,
    algorithm varchar not null,
    role varchar not null,
    status varchar not null,
    created_at timestamp not null,
    train_from date,
    train_to date,
    test_from date,
    test_to date,
    n_train bigint,
    n_test bigint,
    pos_rate_train double,
    pos_rate_test double,
    pr_auc double,
    roc_auc double,
    log_loss double,
    brier double,
    metrics_json json,
    params_json json,
);

-- model_terms: one row per (model_id, term); the intercept is a term.
-- risk = 1 / (1 + exp(-(intercept + sum of coefficient * z))), where
-- numeric z = (coalesce(x, center) - center) / scale, categorical z = (x = category).
create table if not exists model_terms (
    model_id varchar not null,
    term varchar not null,
    feature varchar,
    category varchar,
    center double not null,
    scale double not null,
    coefficient double not null,
);

-- model_promotions: one row per promotion decision (promoted, kept, manual).
create table if not exists model_promotions (
    promoted_at timestamp not null,
    model_id varchar not null,
    previous_model_id varchar,
    decision varchar not null,
    reason varchar not null,
    candidate_score double,
    production_score double,
);

create or replace view production_model as
select * from models where status = 'production';
