-- The label against the hidden truth over training_set: rows, recall of
-- "churned by d + horizon" ($1 = horizon_days), precision against "churned by
-- d + horizon + the fade" ($2), and against "by d + horizon" alone.
select
    count(*) as rows,
    avg(s.churn_label) filter (where t.churn_date <= s.as_of_date + $1::integer) as recall,
    avg((t.churn_date <= s.as_of_date + $2::integer)::int) filter (where s.churn_label = 1) as precision,
    avg((t.churn_date <= s.as_of_date + $1::integer)::int) filter (
        where s.churn_label = 1
    ) as precision_at_horizon
from training_set as s
inner join synthetic_truth as t using (user_id)
