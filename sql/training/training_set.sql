-- training_set: one row per labelled (user_id, as_of_date) of the population
-- "{{ population }}": {% if population == "active" %}users with at least one active day in the 30 days
-- ending on the as-of day (the people a retention team can still save){% else %}every labelled row{% endif %}.
-- Columns: every feature, then future_active_days and churn_label.
with

features as (
    select * from user_features_daily
),

labels as (
    select * from labels_daily
),

recent_activity as (
    select
        user_id,
        activity_date as as_of_date,
        sum(is_active_day) over (
            partition by user_id order by activity_date
            rows between 29 preceding and current row
        ) as active_days_last_30,
    from user_daily
),

final as (
    select
        features.*,
        labels.future_active_days,
        labels.churn_label,
    from features
    inner join labels
        on labels.user_id = features.user_id
        and labels.as_of_date = features.as_of_date
    inner join recent_activity
        on recent_activity.user_id = features.user_id
        and recent_activity.as_of_date = features.as_of_date
{% if population == "active" %}
    where recent_activity.active_days_last_30 > 0
{% endif %}
)

select * from final
