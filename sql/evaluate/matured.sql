-- matured: one row per (as_of_date, model_id, user_id) of predictions whose
-- label has matured: its look-ahead of {{ horizon_days + inactive_days }} days lies inside the data, so
-- labels_daily (as the labels stage built it from the current data) holds it.
-- The label is the one definition of labels_daily, recomputed on the data
-- as it is now, not a snapshot kept from the day of scoring.
with

predictions as (
    select * from predictions
),

labels as (
    select * from labels_daily
),

final as (
    select
        predictions.as_of_date,
        predictions.model_id,
        predictions.user_id,
        predictions.churn_risk,
        labels.churn_label
    from predictions
    inner join labels
        on labels.user_id = predictions.user_id
        and labels.as_of_date = predictions.as_of_date
)

select * from final
