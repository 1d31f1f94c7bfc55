-- The newest drift check of one model (? = model_id), or of any model when
-- the parameter is NULL: one row of drift_runs.
select
    run_id,
    model_id,
    checked_at,
    reference_from,
    reference_to,
    reference_rows,
    current_as_of,
    current_rows,
    bins,
    warn_psi,
    fail_psi,
    max_psi,
    max_psi_feature,
    n_warn,
    n_fail,
    status
from drift_runs
where $1 is null or model_id = $1
order by checked_at desc
limit 1
