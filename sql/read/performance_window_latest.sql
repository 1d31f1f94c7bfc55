-- One model's newest measured window ($1 = model_id): its realised PR-AUC and
-- the drop below its test PR-AUC (the API's gauges).
select
    pr_auc,
    pr_auc_drop
from performance_runs
where model_id = $1 and kind = 'window' and pr_auc is not null
order by evaluated_at desc
limit 1
