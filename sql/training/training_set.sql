-- training_set: one row per labelled (user_id, as_of_date) of the population
-- "{{ population }}": {% if population == "active" %}rows with recently_active, users with an active day in the
-- {{ recent_days }} days ending on the as-of day (the customers a retention team can
-- still save; the rule is user_features_daily's recently_active){% else %}every labelled row{% endif %}.
-- As-of dates before the first date + {{ warmup_days }} days are a warm-up, left out:
-- their {{ warmup_days + 1 }}-day windows are cut short by the start of the data.
-- Columns: every feature, then future_active_days and churn_label.
-- Large inputs are built a batch of users at a time (`batched`): the users
-- with user_id between $1 and $2, bound as parameters; the first as-of date
-- then comes from every user (first_date, read once before the batches).
with

features as (
    select * from user_features_daily
{% if batched is defined and batched %}
    where user_id between $1 and $2
{% endif %}
),

labels as (
    select * from labels_daily
{% if batched is defined and batched %}
    where user_id between $1 and $2
{% endif %}
),

bounds as (
{% if batched is defined and batched %}
    select date '{{ first_date }}' as first_date
{% else %}
    select min(as_of_date) as first_date from user_features_daily
{% endif %}
),

final as (
    select
        features.*,
        labels.future_active_days,
        labels.churn_label
    from features
    inner join labels
        on labels.user_id = features.user_id
        and labels.as_of_date = features.as_of_date
    cross join bounds
    where features.as_of_date >= bounds.first_date + {{ warmup_days }}
{% if population == "active" %}
        and features.recently_active
{% endif %}
)

select * from final
