-- One model's newest scored date ($1 = model_id) and how many users it scored.
select
    as_of_date,
    count(*) as scored
from predictions
where model_id = $1
group by as_of_date
order by as_of_date desc
limit 1
