-- The realised performance of one model's scored days ($1 = model_id), in
-- date order: one row of performance_runs per (model, day).
select
    slice_from,
    slice_to,
    period,
    n,
    observed_rate,
    mean_risk,
    pr_auc,
    ece,
    top10_lift,
    status,
    evaluated_at
from performance_runs
where model_id = $1 and kind = 'day'
order by slice_from
