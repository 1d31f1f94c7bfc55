-- user_daily: one row per (user_id, activity_date), dense: every day from the
-- later of the user's signup date and the dataset's first event date to the
-- dataset's last event date. Counts are zero-filled; quiz_avg_score is NULL on
-- days without a scored quiz. is_active_day = 1 when the user had any event.
-- payment_amount_sum: the amounts of the day's successful payments.
-- Large inputs are built a batch of users at a time (`batched`): the users
-- with user_id between $1 and $2, the batch's first and last id, bound as
-- parameters (the batches follow user_id order); the dataset's dates always
-- come from every event (first_date and last_date, read once before the
-- batches).
{% import "dialect/" ~ dialect ~ ".sql" as d %}
with

users as (
    select * from users
{% if batched is defined and batched %}
    where user_id between $1 and $2
{% endif %}
),

events as (
    select
        user_id,
        event_time::date as activity_date,
        event_type,
        watch_minutes,
        quiz_score,
        amount
    from events
),

bounds as (
{% if batched is defined and batched %}
    select
        date '{{ first_date }}' as first_date,
        date '{{ last_date }}' as last_date,
{% else %}
    select
        min(activity_date) as first_date,
        max(activity_date) as last_date
    from events
{% endif %}
),

user_span as (
    select
        users.user_id,
        greatest(users.signup_date, bounds.first_date) as span_start,
        bounds.last_date as span_end
    from users
    cross join bounds
    where greatest(users.signup_date, bounds.first_date) <= bounds.last_date
),

grid as (
    select
        user_id,
        {{ d.date_series("span_start", "span_end") }} as activity_date
    from user_span
),

daily_events as (
    select
        user_id,
        activity_date,
        count(*)::integer as total_events,
        count(*) filter (where event_type = 'login')::integer as logins_count,
        count(*) filter (where event_type = 'course_enroll')::integer as enroll_count,
        coalesce(sum(watch_minutes) filter (where event_type = 'video_watch'), 0) as watch_minutes_sum,
        count(*) filter (where event_type = 'quiz_attempt')::integer as quiz_attempts_count,
        avg(quiz_score) filter (where event_type = 'quiz_attempt') as quiz_avg_score,
        count(*) filter (where event_type = 'payment_success')::integer as payment_success_count,
        count(*) filter (where event_type = 'payment_failed')::integer as payment_failed_count,
        count(*) filter (where event_type = 'support_ticket')::integer as support_ticket_count,
        coalesce(sum(amount) filter (where event_type = 'payment_success'), 0) as payment_amount_sum
    from events
{% if batched is defined and batched %}
    where user_id between $1 and $2
{% endif %}
    group by user_id, activity_date
),

final as (
    select
        grid.user_id,
        grid.activity_date,
        case when coalesce(daily_events.total_events, 0) > 0 then 1 else 0 end as is_active_day,
        coalesce(daily_events.total_events, 0) as total_events,
        coalesce(daily_events.logins_count, 0) as logins_count,
        coalesce(daily_events.enroll_count, 0) as enroll_count,
        coalesce(daily_events.watch_minutes_sum, 0)::double as watch_minutes_sum,
        coalesce(daily_events.quiz_attempts_count, 0) as quiz_attempts_count,
        daily_events.quiz_avg_score,
        coalesce(daily_events.payment_success_count, 0) as payment_success_count,
        coalesce(daily_events.payment_failed_count, 0) as payment_failed_count,
        coalesce(daily_events.support_ticket_count, 0) as support_ticket_count,
        coalesce(daily_events.payment_amount_sum, 0)::double as payment_amount_sum,
        {{ d.days_between("users.signup_date", "grid.activity_date") }} as days_since_signup,
        users.signup_date,
        users.plan,
        users.is_paid,
        users.country,
        users.marketing_source
    from grid
    inner join users on users.user_id = grid.user_id
    left join daily_events
        on daily_events.user_id = grid.user_id
        and daily_events.activity_date = grid.activity_date
)

select * from final
order by user_id, activity_date
