-- user_features_daily: one row per (user_id, as_of_date) of user_daily.
-- Every rolling column covers the W days ending on the as-of day (fewer at the
-- start of a user's history) and reads nothing after it. user_daily is dense
-- per user, so the W days are the W rows up to the as-of day's: a full build
-- sums each column once over the user's history (running_*) and takes the
-- running sum W rows back from it: one window aggregate per column where a
-- frame per window takes three, and exact for integers and decimals alike
-- (bench/README.md: the two side by side).
-- Windows: {{ windows | join(", ") }}; fail rate over {{ fail_rate_window }} days.
-- The user's whole history up to the as-of day (since the later of signup and
-- the data's first day: observed_days): lifetime_active_days, lifetime_events,
-- lifetime_activity_rate = active days / observed days, mean_active_gap = the
-- mean number of days between active days (2 active days at least), and
-- silence_ratio = days since the last active day / that mean gap. The
-- lifetime counts grow with the length of the data, so they are not model
-- inputs (the rate, the gap and the ratio are).
-- active_day_bits: the user's last {{ bits_days }} days one by one, bit i (the value 2^i)
-- set when the user was active i days before the as-of day (bit 0: the as-of
-- day; days before the user's first row are 0). The windows above count the
-- active days; this keeps which ones, the shape of a fade.
-- recently_active: an active day in the {{ recent_days }} days ending on the as-of day;
-- the one definition of the "active" population that training and scoring use.
-- Large inputs are built a batch of users at a time (`batched`): the users
-- with user_id between $1 and $2, bound as parameters.
-- A day's work for a day's data (`incremental`, docs/design.md §9): the rows
-- of the users in the temp table _affected (user_id, from_date) from their
-- from_date on. The windows then sum the rows of the {{ windows | last }} days up to each
-- as-of day (a join, not a window over the whole history), and the
-- lifetime columns continue the user's stored row of the day before
-- from_date. Sums of decimals and of integers are exact, so both ways give
-- the same bits.
{% import "dialect/" ~ dialect ~ ".sql" as d %}
{% import "macros/incremental.sql" as changed %}
{% set daily_columns = ["signup_date", "plan", "is_paid", "country", "marketing_source"] + daily_numeric %}
{# daily_numeric and window_numeric come from the context (src/sql.rs), the one
   list of the numeric columns that scoring reads too. #}
{% set window_columns = window_numeric %}
{% set incremental = incremental is defined and incremental %}
{% set longest = windows | last %}
{# The rows the incremental join reads back: the longest window, or the
   day-by-day bits when they reach further. #}
{% set reach = [longest, bits_days] | max %}
{# Incremental: one window's aggregate of column x over the joined rows of
   the window's days (a case, not a filter clause: a third faster at 100,000
   users; the longest window is every joined row). #}
{% macro in_window(x, w) %}{% if w < reach %}case when span.activity_date > targets.as_of_date - {{ w }} then span.{{ x }} end{% else %}span.{{ x }}{% endif %}{% endmacro %}
{% macro epoch_day(day) %}{{ d.days_between("date '1970-01-01'", day) }}{% endmacro %}
{# Full build: what a running sum gained over the last w rows. #}
{% macro last(running, w) %}({{ running }} - coalesce(lag({{ running }}, {{ w }}) over dated, 0)){% endmacro %}
{# The window columns: name, daily column, the scale of the decimal it is
   summed as (none: an integer sum), and whether it is a mean of the days
   with a value. #}
{% set sums = [
    ["active_days", "is_active_day", none, false],
    ["events", "total_events", none, false],
    ["logins", "logins_count", none, false],
    ["enroll", "enroll_count", none, false],
    ["watch_minutes", "watch_minutes_sum", 6, false],
    ["quiz_attempts", "quiz_attempts_count", none, false],
    ["payment_success", "payment_success_count", none, false],
    ["payment_failed", "payment_failed_count", none, false],
    ["support_ticket", "support_ticket_count", none, false],
    ["quiz_avg_score", "quiz_avg_score", 9, true],
    ["payment_amount", "payment_amount_sum", 6, false],
] %}
{% macro exact(column, scale) %}{{ column }}{% if scale is not none %}::decimal(18, {{ scale }}){% endif %}{% endmacro %}
{# The sums over one window, either way. #}
{% macro window_sums(w) %}
{% for name, column, scale, mean in sums %}
{% set type = "integer" if scale is none else "double" %}
{% if not incremental and mean %}
        case
            when {{ last("running_" ~ name ~ "_days", w) }} > 0
            then {{ last("running_" ~ name, w) }}::double / {{ last("running_" ~ name ~ "_days", w) }}
        end as {{ name }}_{{ w }}d,
{% elif not incremental %}
        {{ last("running_" ~ name, w) }}::{{ type }} as {{ name }}_{{ w }}d,
{% elif mean %}
        (sum({{ in_window(exact(column, scale), w) }}))::double
            / count({{ in_window(column, w) }}) as {{ name }}_{{ w }}d,
{% else %}
        (sum({{ in_window(exact(column, scale), w) }}))::{{ type }} as {{ name }}_{{ w }}d,
{% endif %}
{% endfor %}
{% endmacro %}
with

{% if incremental %}
{% set slide = last_date is defined and last_date %}
{% set slide_day = last_date if slide else from_date %}
{# Two ways to the window sums of the new as-of days.
   Slid: a user whose one new as-of day is the data's last day (`last_date`),
   the day after their stored row: each sum is the stored row's, plus the new
   day, minus the day that leaves the window (4 rows a user, not the
   window's 30). The stored doubles of the decimal sums are read back as the
   decimals they were cast from (exact below 1e9: a double carries 15
   significant digits, the sums 15 at most there; a larger sum takes the
   other way), so the result is the same decimal, cast the same way. A mean
   cannot be slid without its count, so the quiz mean reads the window's days
   with a quiz score.
   Joined: any other user (a late event, a new user, a comeback) sums the
   rows of each window joined to each new as-of day. #}
news as (
    -- The rows of the new as-of days.
{{ changed.rows("user_daily", "activity_date", from_date) }}
),

slid as (
    -- The users whose window sums slide from their stored row of the day before.
    select stored.*
    from user_features_daily as stored
    inner join _affected as affected
        on affected.user_id = stored.user_id
        and affected.from_date = stored.as_of_date + 1
{% if slide %}
    where affected.from_date = date '{{ last_date }}'
        and stored.as_of_date = date '{{ last_date }}' - 1
{% else %}
    where false
{% endif %}
{% for w in windows %}
{% for name, column, scale, mean in sums if scale is not none and not mean %}
        and abs({{ name }}_{{ w }}d) < 1e9
{% endfor %}
{% endfor %}
),

moved as (
    -- Per slid user and window: the new day's value less the leaving day's,
    -- the new day's row joined to the rows of the days leaving each window
    -- (none when the user's history is shorter than the window). NULL only
    -- when both are NULL, as a sum of the two would be.
    select
        today.user_id,
{% for w in windows %}
{% for name, column, scale, mean in sums if not mean %}
{% set new_value = "today." ~ exact(column, scale) %}
{% set old_value = "leaving_" ~ w ~ "." ~ exact(column, scale) %}
        case
            when {{ new_value }} is null and {{ old_value }} is null then null
            else coalesce({{ new_value }}, 0) - coalesce({{ old_value }}, 0)
        end as {{ name }}_{{ w }}d,
{% endfor %}
{% endfor %}
        today.is_active_day as active_today,
    from user_daily as today
    semi join slid on slid.user_id = today.user_id
{% for w in windows %}
    left join user_daily as leaving_{{ w }}
        on leaving_{{ w }}.user_id = today.user_id
        and leaving_{{ w }}.activity_date = date '{{ slide_day }}' - {{ w }}
{% endfor %}
    where today.activity_date = date '{{ slide_day }}'
),

means as (
    -- Per slid user: the means over the window's days with a value (there
    -- is one mean column).
{% for name, column, scale, mean in sums if mean %}
    select
        user_daily.user_id,
{% for w in windows %}
        (sum(case when user_daily.activity_date > date '{{ slide_day }}' - {{ w }} then user_daily.{{ exact(column, scale) }} end))::double
            / count(case when user_daily.activity_date > date '{{ slide_day }}' - {{ w }} then user_daily.{{ column }} end)
            as {{ name }}_{{ w }}d,
{% endfor %}
    from user_daily
    semi join slid on slid.user_id = user_daily.user_id
    where user_daily.activity_date > date '{{ slide_day }}' - {{ longest }}
        and user_daily.{{ column }} is not null
    group by user_daily.user_id
{% endfor %}
),

slid_windows as (
    select
        slid.user_id,
        slid.as_of_date + 1 as as_of_date,
{% for w in windows %}
{% for name, column, scale, mean in sums %}
{% if mean %}
        means.{{ name }}_{{ w }}d,
{% elif scale is not none %}
        (slid.{{ name }}_{{ w }}d::decimal(18, {{ scale }}) + moved.{{ name }}_{{ w }}d)::decimal(38, {{ scale }})::double
            as {{ name }}_{{ w }}d,
{% else %}
        (slid.{{ name }}_{{ w }}d + moved.{{ name }}_{{ w }}d)::integer as {{ name }}_{{ w }}d,
{% endif %}
{% endfor %}
{% endfor %}
        -- the bits move a day older, the oldest leaves, the new day is bit 0
        ((slid.active_day_bits * 2) % {{ 2 ** bits_days }} + moved.active_today)::integer as active_day_bits,
    from slid
    inner join moved on moved.user_id = slid.user_id
    left join means on means.user_id = slid.user_id
),

targets as (
    -- The other new as-of days, whose windows are summed from their rows.
    select
        news.user_id,
        news.activity_date as as_of_date
    from news
    anti join slid on slid.user_id = news.user_id and slid.as_of_date + 1 = news.activity_date
),

span as (
    -- The rows those windows read.
{{ changed.rows("user_daily", "activity_date", from_date, reach - 1) }}
        and user_daily.user_id in (select user_id from targets)
),

windowed as (
    select * from slid_windows
    union all by name
    select
        targets.user_id,
        targets.as_of_date,
{% for w in windows %}
{{ window_sums(w) }}
{% endfor %}
        sum(case
            when span.activity_date > targets.as_of_date - {{ bits_days }}
            then span.is_active_day * power(2, targets.as_of_date - span.activity_date)
        end)::integer as active_day_bits,
    from targets
    inner join span
        on span.user_id = targets.user_id
        and span.activity_date between targets.as_of_date - {{ reach - 1 }} and targets.as_of_date
    group by targets.user_id, targets.as_of_date
),

prior as (
    -- The lifetime state on the day before from_date, read back from that
    -- day's stored row.
    select
        user_id,
        lifetime_active_days,
        lifetime_events,
        observed_days,
        last_active_date,
        case
            when lifetime_active_days = 1 then last_active_date
            when lifetime_active_days >= 2
            then last_active_date - round(mean_active_gap * (lifetime_active_days - 1))::integer
        end as first_active_date
    from (
        select
            stored.*,
            case
                when stored.lifetime_active_days > 0 then stored.as_of_date - stored.days_since_last_activity
            end as last_active_date
        from user_features_daily as stored
        inner join _affected as affected
            on affected.user_id = stored.user_id
            and stored.as_of_date = affected.from_date - 1
        where stored.as_of_date >= date '{{ from_date }}' - 1
    )
),

rolling as (
    select
        span.user_id,
        span.activity_date as as_of_date,
{% for c in daily_columns %}
        span.{{ c }},
{% endfor %}
{% for w in windows %}
{% for c in window_columns %}
        windowed.{{ c }}_{{ w }}d,
{% endfor %}
{% endfor %}
        windowed.active_day_bits,
        coalesce(
            max(case when span.is_active_day = 1 then span.activity_date end) over history,
            prior.last_active_date
        ) as last_active_date,
        coalesce(
            prior.first_active_date,
            min(case when span.is_active_day = 1 then span.activity_date end) over history
        ) as first_active_date,
        (coalesce(prior.lifetime_active_days, 0) + sum(span.is_active_day) over history)::integer as lifetime_active_days,
        (coalesce(prior.lifetime_events, 0) + sum(span.total_events) over history)::integer as lifetime_events,
        (coalesce(prior.observed_days, 0) + count(*) over history)::integer as observed_days
    -- the new as-of days only: the days before from_date are in prior
    from news as span
    inner join windowed
        on windowed.user_id = span.user_id
        and windowed.as_of_date = span.activity_date
    left join prior on prior.user_id = span.user_id
    window
        history as (partition by span.user_id order by span.activity_date rows between unbounded preceding and current row)
),
{% else %}
user_daily as (
    select * from user_daily
{% if batched is defined and batched %}
    where user_id between $1 and $2
{% endif %}
),

running as (
    -- Each column summed over the user's history up to the as-of day.
    select
        *,
{% for name, column, scale, mean in sums %}
        sum({{ exact(column, scale) }}) over history as running_{{ name }},
{% if mean %}
        count({{ column }}) over history as running_{{ name }}_days,
{% endif %}
{% endfor %}
        -- The day-by-day bits, rotated: day t is bit (-t mod {{ bits_days }}), t counted
        -- from 1970-01-01, so the {{ bits_days }} days up to the as-of day hold {{ bits_days }}
        -- different bits; final turns them to the as-of day's order.
        sum(is_active_day * power(2, ({{ bits_days }} - {{ epoch_day("activity_date") }} % {{ bits_days }}) % {{ bits_days }})) over history as running_bits,
        max(case when is_active_day = 1 then activity_date end) over history as last_active_date,
        min(case when is_active_day = 1 then activity_date end) over history as first_active_date,
        row_number() over dated as observed_days
    from user_daily
    window
        history as (partition by user_id order by activity_date rows between unbounded preceding and current row),
        dated as (partition by user_id order by activity_date)
),

rolling as (
    select
        user_id,
        activity_date as as_of_date,
{% for c in daily_columns %}
        {{ c }},
{% endfor %}
{% for w in windows %}
{{ window_sums(w) }}
{% endfor %}
        {{ last("running_bits", bits_days) }} as rotated_bits,
        last_active_date,
        first_active_date,
        running_active_days::integer as lifetime_active_days,
        running_events::integer as lifetime_events,
        observed_days::integer as observed_days
    from running
    window
        dated as (partition by user_id order by activity_date)
),
{% endif %}

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
{% if incremental %}
        active_day_bits,
{% else %}
        -- rotated left by k = the as-of day mod {{ bits_days }}: bit (i - k) mod {{ bits_days }}
        -- moves to bit i (exact in doubles: below 2^{{ 2 * bits_days }})
        cast(
            (rotated_bits * power(2, {{ epoch_day("as_of_date") }} % {{ bits_days }})) % {{ 2 ** bits_days }}
            + floor(rotated_bits / power(2, {{ bits_days }} - {{ epoch_day("as_of_date") }} % {{ bits_days }}))
            as integer
        ) as active_day_bits,
{% endif %}
        coalesce(last_active_date > as_of_date - {{ recent_days }}, false) as recently_active
    from rolling
)

select * from final
{% if not incremental %}
-- In date order (as user_daily is written): a day's work reads the day before
-- its new day, which then sits in a few row groups instead of all of them.
order by as_of_date, user_id
{% endif %}
