-- The per-input results of one drift check (? = run_id), largest PSI first.
select
    feature,
    kind,
    psi,
    status,
    reference_count,
    current_count,
    reference_nulls,
    current_nulls
from drift_results
where run_id = ?
order by psi desc, feature
