-- The slice the API serves: the production model's newest ($1 = its id), or,
-- right after a promotion and before it has scored, the newest slice of any
-- model (no known user gets a 404 across a promotion).
select
    model_id,
    as_of_date,
    max(scored_at) as scored_at
from predictions
group by model_id, as_of_date
order by model_id = $1 desc, as_of_date desc, max(scored_at) desc
limit 1
