-- The current sample of a drift check: the population scored on
-- {{ current_date or "its latest date" }} by the production model {{ model_id }}, with its
-- features of that day and its score.
select
    features.*,
    predictions.churn_risk
from user_features_daily as features
inner join predictions
    on predictions.user_id = features.user_id
    and predictions.as_of_date = features.as_of_date
where predictions.model_id = {{ model_id }}
{% if current_date %}
    and predictions.as_of_date = date '{{ current_date }}'
{% else %}
    and predictions.as_of_date = (select max(as_of_date) from predictions where model_id = {{ model_id }})
{% endif %}
