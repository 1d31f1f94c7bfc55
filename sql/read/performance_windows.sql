-- The ten newest pooled windows of one model's realised performance
-- ($1 = model_id), newest first.
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
where model_id = $1 and kind = 'window'
order by evaluated_at desc
limit 10
