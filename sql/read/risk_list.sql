-- The {{ rows }} riskiest users of one slice ($1 = model_id, $2 = as_of_date)
-- with the named feature columns of that day. The top rows are taken first,
-- then joined: a join of the whole slice with user_features_daily would hash
-- a million rows to print fifty.
{% import "dialect/" ~ dialect ~ ".sql" as d %}
with top as (
    select
        risk_rank,
        user_id,
        churn_risk,
        as_of_date
    from predictions
    where model_id = $1 and as_of_date = $2
    order by risk_rank, user_id
    limit {{ rows }}
)

select
    p.risk_rank,
    p.user_id,
    p.churn_risk{% for c in columns %},
    f.{{ d.ident(c) }}{% endfor %}

from top as p
left join user_features_daily as f
    on f.user_id = p.user_id and f.as_of_date = p.as_of_date and f.as_of_date = $2
order by p.risk_rank, p.user_id
