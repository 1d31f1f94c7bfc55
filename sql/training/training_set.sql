-- training_set: one row per labelled (user_id, as_of_date) of the population
-- "{{ population }}": {% if population == "active" %}rows with recently_active, users with an active day in the
-- {{ recent_days }} days ending on the as-of day (recently active, which is not still
-- reachable: some have already left; the rule is user_features_daily's
-- recently_active, docs/data.md){% else %}every labelled row{% endif %}.
-- As-of dates before the first date + {{ warmup_days }} days are a warm-up, left out:
-- their {{ warmup_days + 1 }}-day windows are cut short by the start of the data.
-- Columns: every feature, then future_active_days and churn_label.
-- Large inputs are built a batch of users at a time (`batched`): the users
-- with user_id between $1 and $2, bound as parameters.
-- The stage reads the first as-of date once (first_date) and compares with
-- it as a constant: DuckDB then estimates the feature rows the warm-up
-- leaves, and builds the join's hash table on the narrow labels instead of
-- the wide feature rows (0.67x the time at 100,000 users, bench/README.md).
-- Printed alone (`churn sql`), the statement reads it itself (bounds).
-- A day's work for a day's data (`incremental`, docs/design.md §9): the rows
-- of the users in the temp table _affected (user_id, from_date) from their
-- from_date on.
{% set incremental = incremental is defined and incremental %}
{% import "macros/incremental.sql" as changed %}
with

features as (
{% if incremental %}
{{ changed.rows("user_features_daily", "as_of_date", from_date) }}
{% else %}
    select * from user_features_daily
{% endif %}
{% if batched is defined and batched %}
    where user_id between $1 and $2
{% endif %}
),

labels as (
{% if incremental %}
    -- the same rows of labels_daily (the join's small side: at 1,000,000
    -- users the whole table made it spill gigabytes to disk)
{{ changed.rows("labels_daily", "as_of_date", from_date) }}
{% else %}
    select * from labels_daily
{% endif %}
{% if batched is defined and batched %}
    where user_id between $1 and $2
{% endif %}
),

{% set first_given = first_date is defined and first_date %}
{% if not first_given %}
bounds as (
    select min(as_of_date) as first_date from user_features_daily
),

{% endif %}
final as (
    select
        features.*,
        labels.future_active_days,
        labels.churn_label
    from features
    inner join labels
        on labels.user_id = features.user_id
        and labels.as_of_date = features.as_of_date
{% if first_given %}
    where features.as_of_date >= date '{{ first_date }}' + {{ warmup_days }}
{% else %}
    cross join bounds
    where features.as_of_date >= bounds.first_date + {{ warmup_days }}
{% endif %}
{% if population == "active" %}
        and features.recently_active
{% endif %}
)

select * from final
