-- models: one row per fitted model. status: candidate (fitted, not yet
-- decided), production (exactly one), retired (was production), rejected
-- (failed the promotion gate or lost to production). role: the stage that
-- made it (train, retrain). Test-window figures: pr_auc, roc_auc, log_loss,
-- brier; mean_risk beside pos_rate_test; ece (10 equal-count bins);
-- brier_constant and log_loss_constant of predicting the test rate for every
-- row; baseline_feature and baseline_pr_auc, the best single input used alone
-- as a ranker; *_low / *_high the user-clustered bootstrap 95% intervals, lift
-- being pr_auc - baseline_pr_auc. On generated data, oracle_pr_auc is the
-- Bayes oracle's PR-AUC on the same test rows (the best possible, src/oracle.rs)
-- and gap_closed = (pr_auc - baseline_pr_auc) / (oracle_pr_auc - baseline_pr_auc),
-- the share of the way from the best single input to the best possible.
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
    class_weight varchar,
    mean_risk double,
    ece double,
    brier_constant double,
    log_loss_constant double,
    baseline_feature varchar,
    baseline_pr_auc double,
    pr_auc_low double,
    pr_auc_high double,
    roc_auc_low double,
    roc_auc_high double,
    lift_low double,
    lift_high double,
    oracle_pr_auc double,
    gap_closed double,
);

-- Files made before these columns existed get them (NULL for old models).
alter table models add column if not exists class_weight varchar;
alter table models add column if not exists mean_risk double;
alter table models add column if not exists ece double;
alter table models add column if not exists brier_constant double;
alter table models add column if not exists log_loss_constant double;
alter table models add column if not exists baseline_feature varchar;
alter table models add column if not exists baseline_pr_auc double;
alter table models add column if not exists pr_auc_low double;
alter table models add column if not exists pr_auc_high double;
alter table models add column if not exists roc_auc_low double;
alter table models add column if not exists roc_auc_high double;
alter table models add column if not exists lift_low double;
alter table models add column if not exists lift_high double;
alter table models add column if not exists oracle_pr_auc double;
alter table models add column if not exists gap_closed double;

-- model_terms: one row per (model_id, term); the intercept is a term.
-- risk = 1 / (1 + exp(-(intercept + sum of coefficient * z))), where
-- numeric z = (t(x) - center) / scale (NULL x: z = 0), t(x) = x, or
-- ln(1 + greatest(x, 0)) when transform = 'log1p', floor(greatest(x, 0) / 2^i) % 2
-- when transform = 'bit:i' (bit i of active_day_bits), times the value of the
-- column by_feature when it is not NULL (NULL x or by value: z = 0);
-- categorical z = (x = category).
create table if not exists model_terms (
    model_id varchar not null,
    term varchar not null,
    feature varchar,
    category varchar,
    center double not null,
    scale double not null,
    coefficient double not null,
    transform varchar,
    by_feature varchar,
);
alter table model_terms add column if not exists transform varchar;
alter table model_terms add column if not exists by_feature varchar;

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

-- model_data: the data a model was trained on, as the loads of events it
-- saw (load_id, with the rows of that load) when it was fitted. Score
-- refuses a production model whose loads are no longer in events (a
-- replace-mode ingest removed them). No rows: trained from Parquet files
-- (Spark's training set), or before this table existed.
create table if not exists model_data (
    model_id varchar not null,
    load_id varchar not null,
    events bigint not null,
);

-- model_aliases: names a user gives models (`churn models alias NAME ID`),
-- read by `churn models show @NAME` and `promote @NAME`. production (also
-- champion) and challenger are not stored: they follow the models' status.
create table if not exists model_aliases (
    alias varchar not null,
    model_id varchar not null,
    set_at timestamp not null,
);
