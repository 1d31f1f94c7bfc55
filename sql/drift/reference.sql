-- The reference sample of a drift check: the training rows of the
-- production model {{ model_id }} (training_set, {{ reference_from }} to
-- {{ reference_to }}), with the model's score of each row
-- (drift_reference_scores, written by the drift stage).
select
    training_set.*,
    scores.churn_risk,
from training_set
inner join drift_reference_scores as scores
    on scores.user_id = training_set.user_id
    and scores.as_of_date = training_set.as_of_date
where training_set.as_of_date between date '{{ reference_from }}' and date '{{ reference_to }}'
