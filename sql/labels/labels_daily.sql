-- labels_daily: one row per (user_id, as_of_date) whose look-ahead, the
-- {{ horizon_days + inactive_days }} days after the as-of day, lies inside the data.
-- churn_label = 1 when the user has no active day in
-- (as_of_date + {{ horizon_days }}, as_of_date + {{ horizon_days + inactive_days }}]: the user leaves within
-- {{ horizon_days }} days and stays away for at least {{ inactive_days }} more. future_active_days counts
-- the active days of that interval. user_daily is dense per user up to the
-- last date, or stops after the user's last active day (population active),
-- so the frame's rows are its days, and the days it lacks are inactive.
-- Large inputs are built a batch of users at a time (`batched`): the users
-- with user_id between $1 and $2, bound as parameters; the data's last date
-- then comes from every user (last_date, read once before the batches).
-- A day's work for a day's data (`incremental`, docs/design.md §9): the rows
-- of the users in the temp table _affected (user_id, from_date) from their
-- from_date on (the look-ahead reads forward only), last_date given.
{% set incremental = incremental is defined and incremental %}
{% import "macros/incremental.sql" as changed %}
with

user_daily as (
{% if incremental %}
{{ changed.rows("user_daily", "activity_date", from_date) }}
{% else %}
    select * from user_daily
{% endif %}
{% if batched is defined and batched %}
    where user_id between $1 and $2
{% endif %}
),

observed as (
{% if (batched is defined and batched) or incremental %}
    select date '{{ last_date }}' as last_date
{% else %}
    select max(activity_date) as last_date from user_daily
{% endif %}
),

future as (
    select
        user_id,
        activity_date as as_of_date,
        sum(is_active_day) over (
            partition by user_id order by activity_date
            rows between {{ horizon_days + 1 }} following and {{ horizon_days + inactive_days }} following
        ) as future_active_days
    from user_daily
),

final as (
    select
        future.user_id,
        future.as_of_date,
        coalesce(future.future_active_days, 0)::integer as future_active_days,
        case when coalesce(future.future_active_days, 0) = 0 then 1 else 0 end as churn_label
    from future
    cross join observed
    where future.as_of_date + {{ horizon_days + inactive_days }} <= observed.last_date
)

select * from final
order by user_id, as_of_date
