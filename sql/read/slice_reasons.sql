-- The reasons of one slice ($1 = model_id, $2 = as_of_date), best first.
select
    user_id,
    reason_rank,
    input,
    category,
    value,
    usual,
    contribution
from prediction_reasons
where model_id = $1 and as_of_date = $2
order by user_id, reason_rank
