-- user_features_daily: one row per (user_id, as_of_date) of user_daily.
-- Every rolling column covers the W days ending on the as-of day (fewer at the
-- start of a user's history) and reads nothing after it. user_daily is dense
-- per user, so a frame of W rows is a window of W days.
-- Windows: {{ windows | join(", ") }}; fail rate over {{ fail_rate_window }} days.
-- The user's whole history up to the as-of day (since the later of signup and
-- the data's first day: observed_days): lifetime_active_days, lifetime_events,
-- lifetime_activity_rate = active days / observed days, mean_active_gap = the
-- mean number of days between active days (2 active days at least), and
-- silence_ratio = days since the last active day / that mean gap. The
-- lifetime counts grow with the length of the data, so they are not model
-- inputs (the rate, the gap and the ratio are).
-- recently_active: an active day in the {{ recent_days }} days ending on the as-of day;
-- the one definition of the "active" population that training and scoring use.
-- Large inputs are built a batch of users at a time (`batched`): the users
-- with user_id between $1 and $2, bound as parameters.
{% import "dialect/" ~ dialect ~ ".sql" as d %}
{% set daily_columns = ["signup_date", "plan", "is_paid", "country", "marketing_source"] + daily_numeric %}
{# daily_numeric and window_numeric come from the context (src/sql.rs), the one
   list of the numeric columns that scoring reads too. #}
{% set window_columns = window_numeric %}
with

user_daily as (
    select * from user_daily
{% if batched is defined and batched %}
    where user_id between $1 and $2
{% endif %}
),

rolling as (
    select
        user_id,
        activity_date as as_of_date,
{% for c in daily_columns %}
        {{ c }},
{% endfor %}
{% for w in windows %}
        (sum(is_active_day) over w{{ w }})::integer as active_days_{{ w }}d,
        (sum(total_events) over w{{ w }})::integer as events_{{ w }}d,
        (sum(logins_count) over w{{ w }})::integer as logins_{{ w }}d,
        (sum(enroll_count) over w{{ w }})::integer as enroll_{{ w }}d,
        sum(watch_minutes_sum) over w{{ w }} as watch_minutes_{{ w }}d,
        (sum(quiz_attempts_count) over w{{ w }})::integer as quiz_attempts_{{ w }}d,
        (sum(payment_success_count) over w{{ w }})::integer as payment_success_{{ w }}d,
        (sum(payment_failed_count) over w{{ w }})::integer as payment_failed_{{ w }}d,
        (sum(support_ticket_count) over w{{ w }})::integer as support_ticket_{{ w }}d,
        avg(quiz_avg_score) over w{{ w }} as quiz_avg_score_{{ w }}d,
        sum(payment_amount_sum) over w{{ w }} as payment_amount_{{ w }}d,
{% endfor %}
        max(case when is_active_day = 1 then activity_date end) over history as last_active_date,
        min(case when is_active_day = 1 then activity_date end) over history as first_active_date,
        (sum(is_active_day) over history)::integer as lifetime_active_days,
        (sum(total_events) over history)::integer as lifetime_events,
        (count(*) over history)::integer as observed_days
    from user_daily
    window
{% for w in windows %}
        w{{ w }} as (partition by user_id order by activity_date rows between {{ w - 1 }} preceding and current row),
{% endfor %}
        history as (partition by user_id order by activity_date rows between unbounded preceding and current row)
),

final as (
    select
        user_id,
        as_of_date,
{% for c in daily_columns %}
        {{ c }},
{% endfor %}
{% for w in windows %}
{% for c in window_columns %}
        {{ c }}_{{ w }}d,
{% endfor %}
{% endfor %}
        case
            when payment_failed_{{ fail_rate_window }}d + payment_success_{{ fail_rate_window }}d = 0 then 0.0
            else payment_failed_{{ fail_rate_window }}d
                / (payment_failed_{{ fail_rate_window }}d + payment_success_{{ fail_rate_window }}d)
        end as payment_fail_rate_{{ fail_rate_window }}d,
        coalesce({{ d.days_between("last_active_date", "as_of_date") }}, days_since_signup) as days_since_last_activity,
        lifetime_active_days,
        lifetime_events,
        observed_days,
        lifetime_active_days / observed_days as lifetime_activity_rate,
        case
            when lifetime_active_days >= 2
            then {{ d.days_between("first_active_date", "last_active_date") }} / (lifetime_active_days - 1)
        end as mean_active_gap,
        case
            when lifetime_active_days >= 2
            then {{ d.days_between("last_active_date", "as_of_date") }}
                * (lifetime_active_days - 1) / {{ d.days_between("first_active_date", "last_active_date") }}
        end as silence_ratio,
        coalesce(last_active_date > as_of_date - {{ recent_days }}, false) as recently_active
    from rolling
)

select * from final
