-- performance_runs: realised performance of stored predictions once their
-- labels have matured (the evaluate stage). One row per (model, scored day)
-- with kind 'day' (rebuilt by every evaluate run), and one row per model and
-- evaluate run with kind 'window': that model's matured days outside its
-- training window, the last monitor.window_days of them, pooled. period: where
-- the slice lies against the model's own split (train, gap, test, after; a
-- window: its last day). status: OK, or FAIL when pr_auc falls more than
-- monitor.max_pr_auc_drop below test_pr_auc (pr_auc_drop); NULL when PR-AUC
-- is undefined (one class only).
create table if not exists performance_runs (
    run_id varchar not null,
    evaluated_at timestamp not null,
    model_id varchar not null,
    is_production boolean not null,
    kind varchar not null,
    slice_from date not null,
    slice_to date not null,
    slices integer not null,
    period varchar not null,
    n bigint not null,
    positives bigint not null,
    observed_rate double,
    mean_risk double,
    pr_auc double,
    roc_auc double,
    ece double,
    top10_lift double,
    test_pr_auc double,
    pr_auc_drop double,
    status varchar,
);
