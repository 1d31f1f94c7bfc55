-- labels_daily: one row per (user_id, as_of_date) whose whole horizon, the
-- {{ label_window }} days after the as-of day, lies inside the observed range.
-- churn_label = 1 when the user has no active day in that horizon.
with

user_daily as (
    select * from user_daily
),

observed as (
    select max(activity_date) as last_date from user_daily
),

future as (
    select
        user_id,
        activity_date as as_of_date,
        sum(is_active_day) over (
            partition by user_id order by activity_date
            rows between 1 following and {{ label_window }} following
        ) as future_active_days,
    from user_daily
),

final as (
    select
        future.user_id,
        future.as_of_date,
        coalesce(future.future_active_days, 0)::integer as future_active_days,
        case when coalesce(future.future_active_days, 0) = 0 then 1 else 0 end as churn_label,
    from future
    cross join observed
    where future.as_of_date + {{ label_window }} <= observed.last_date
)

select * from final
order by user_id, as_of_date
