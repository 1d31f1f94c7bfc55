-- Every user of one slice ($1 = model_id, $2 = as_of_date) with risk and rank.
select
    user_id,
    churn_risk,
    risk_rank
from predictions
where model_id = $1 and as_of_date = $2
