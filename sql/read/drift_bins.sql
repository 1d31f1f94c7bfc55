-- The bins of one input of one drift check ($1 = run_id, $2 = feature), in order.
select
    bin,
    lower,
    upper,
    category,
    reference_share,
    current_share,
    psi_term
from drift_bins
where run_id = $1 and feature = $2
order by bin, category
