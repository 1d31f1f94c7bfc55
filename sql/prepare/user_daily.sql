-- user_daily: one row per (user_id, activity_date), dense: every day from the
-- later of the user's signup date and the dataset's first event date to the
-- dataset's last event date{% if tail_days is not none %}, or {{ tail_days }} days after the user's last active day
-- if that is earlier (the later of signup and the first date for a user
-- never active): the last as-of day the user is recently active and its
-- look-ahead; later rows would change no training row, label or score, and a
-- user who left long ago costs nothing on a new day{% endif %}.
-- Counts are zero-filled; quiz_avg_score is NULL on
-- days without a scored quiz. is_active_day = 1 when the user had any event.
-- payment_amount_sum: the amounts of the day's successful payments.
-- Large inputs are built a batch of users at a time (`batched`): the users
-- with user_id between $1 and $2, the batch's first and last id, bound as
-- parameters (the batches follow user_id order); the dataset's dates always
-- come from every event (first_date and last_date, read once before the
-- batches).
-- A day's work for a day's data (`incremental`, docs/design.md §9): the
-- rows of the users in the temp table _affected (user_id, from_date) from
-- their from_date on (from_date: the earliest of them), the data's dates
-- given as for batches.
{% if quarantine %}
-- Events of a load that validate refused (load_checks) are left out.
{% endif %}
-- Rows are written in date order (within each batch of users): the days a
-- day's work reads, the last few, then sit in a few row groups of the file
-- and a scan for them skips the rest (in user order every row group held
-- every day). The date alone is the sort key: the users of a day are in no
-- order, which no read needs, and sorting by them too cost a fifth of the
-- statement (bench/README.md).
-- Sums of decimals are exact (watch minutes and amounts to 1e-6, quiz
-- scores to 1e-9), so a day comes out the same bits whichever rows are
-- added in whichever order.
{% import "dialect/" ~ dialect ~ ".sql" as d %}
{% set incremental = incremental is defined and incremental %}
{% set given_dates = (batched is defined and batched) or incremental %}
{% set span_start = "greatest(users.signup_date, bounds.first_date, users.from_date)" if incremental
    else "greatest(users.signup_date, bounds.first_date)" %}
{% set span_end = ("least(bounds.last_date, coalesce(last_active.last_active_date, greatest(users.signup_date, bounds.first_date)) + "
    ~ tail_days ~ ")") if tail_days is not none else "bounds.last_date" %}
with

users as (
{% if incremental %}
    select users.*, affected.from_date
    from users
    inner join _affected as affected on affected.user_id = users.user_id
{% else %}
    select * from users
{% endif %}
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
{% if quarantine %}
    where (load_id is null or load_id not in (select load_id from load_checks where verdict = 'refused'))
{% else %}
    where true
{% endif %}
{% if incremental %}
        and event_time >= timestamp '{{ from_date }}'
        and user_id in (select user_id from _affected)
{% endif %}
),

daily_events as (
    -- The days with events, read once: the bounds and each user's last
    -- active day come from these rows, not from the events again (a second
    -- read of the events had DuckDB keep a copy of them all).
    select
        user_id,
        activity_date,
        count(*)::integer as total_events,
        count(*) filter (where event_type = 'login')::integer as logins_count,
        count(*) filter (where event_type = 'course_enroll')::integer as enroll_count,
        coalesce(sum(watch_minutes::decimal(18, 6)) filter (where event_type = 'video_watch'), 0) as watch_minutes_sum,
        count(*) filter (where event_type = 'quiz_attempt')::integer as quiz_attempts_count,
        (sum(quiz_score::decimal(18, 9)) filter (where event_type = 'quiz_attempt'))::double
            / count(quiz_score) filter (where event_type = 'quiz_attempt') as quiz_avg_score,
        count(*) filter (where event_type = 'payment_success')::integer as payment_success_count,
        count(*) filter (where event_type = 'payment_failed')::integer as payment_failed_count,
        count(*) filter (where event_type = 'support_ticket')::integer as support_ticket_count,
        coalesce(sum(amount::decimal(18, 6)) filter (where event_type = 'payment_success'), 0) as payment_amount_sum
    from events
{% if batched is defined and batched %}
    where user_id between $1 and $2
{% endif %}
    group by user_id, activity_date
),

bounds as (
{% if given_dates %}
    select
        date '{{ first_date }}' as first_date,
        date '{{ last_date }}' as last_date,
{% else %}
    select
        min(activity_date) as first_date,
        max(activity_date) as last_date
    from daily_events
{% endif %}
),

{% if tail_days is not none %}
last_active as (
    -- The user's last active day. A day's work reads the new events and
    -- the stored active days just before from_date: the user's last active
    -- day before it is no earlier than from_date - {{ tail_days + 1 }} when the user
    -- has rows to continue.
    select
        user_id,
        max(activity_date) as last_active_date
    from (
        select user_id, activity_date from daily_events
{% if incremental %}
        union all
        select
            user_daily.user_id,
            user_daily.activity_date
        from user_daily
        inner join _affected as affected on affected.user_id = user_daily.user_id
        where user_daily.is_active_day = 1
            and user_daily.activity_date < affected.from_date
            and user_daily.activity_date >= affected.from_date - {{ tail_days + 1 }}
            and user_daily.activity_date >= date '{{ from_date }}' - {{ tail_days + 1 }}
{% endif %}
    ) as active_days
    group by user_id
),
{% endif %}

user_span as (
    select
        users.user_id,
        {{ span_start }} as span_start,
        {{ span_end }} as span_end
    from users
    cross join bounds
{% if tail_days is not none %}
    left join last_active on last_active.user_id = users.user_id
{% endif %}
    where {{ span_start }} <= {{ span_end }}
),

grid as (
    select
        user_id,
        {{ d.date_series("span_start", "span_end") }} as activity_date
    from user_span
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
order by activity_date
