-- drift_runs: one row per drift check of the production model: reference =
-- the model's training rows, current = the scored population at current_as_of.
-- status is the worst feature status (score included): OK < warn_psi <= WARN
-- < fail_psi <= FAIL. A rerun for the same (model_id, current_as_of) replaces it.
create table if not exists drift_runs (
    run_id varchar not null,
    model_id varchar not null,
    checked_at timestamp not null,
    reference_from date not null,
    reference_to date not null,
    reference_rows bigint not null,
    current_as_of date not null,
    current_rows bigint not null,
    bins integer not null,
    warn_psi double not null,
    fail_psi double not null,
    max_psi double not null,
    max_psi_feature varchar not null,
    n_warn integer not null,
    n_fail integer not null,
    status varchar not null,
);

-- drift_results: PSI per feature of one run. kind: numeric, categorical or
-- score (the model's churn_risk). Counts include NULLs.
create table if not exists drift_results (
    run_id varchar not null,
    feature varchar not null,
    kind varchar not null,
    psi double not null,
    status varchar not null,
    n_bins integer not null,
    reference_count bigint not null,
    current_count bigint not null,
    reference_nulls bigint not null,
    current_nulls bigint not null,
);

-- drift_bins: the bins behind each PSI. Numeric bin k (1..) holds
-- lower < x <= upper (the outer bins are open: lower -inf, upper +inf);
-- bin 0 holds NULLs. Categorical bins hold one category each (NULL: bin 0).
-- Shares are clipped at 1e-4 before psi_term = (cur - ref) * ln(cur / ref).
create table if not exists drift_bins (
    run_id varchar not null,
    feature varchar not null,
    kind varchar not null,
    bin integer not null,
    lower double,
    upper double,
    category varchar,
    reference_count bigint not null,
    current_count bigint not null,
    reference_share double not null,
    current_share double not null,
    psi_term double not null,
);

-- model_reference_bins: the reference side of drift for each model, its
-- training rows binned once (by train and retrain, or by the first drift
-- check of a model without one) for `bins` quantile bins. Numeric and score
-- bins k (1..) hold lower < x <= upper, bin 0 holds NULLs (present when
-- there are any); categorical bins hold one category each (NULL: bin 0).
create table if not exists model_reference_bins (
    model_id varchar not null,
    bins integer not null,
    feature varchar not null,
    kind varchar not null,
    bin integer not null,
    lower double,
    upper double,
    category varchar,
    reference_count bigint not null,
);
