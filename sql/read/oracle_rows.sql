-- The test rows of training_set with what the Bayes oracle reads
-- (src/oracle.rs): the user's hidden state (synthetic_truth), plan and
-- signup date (users), active_mask, whose bit k is set when the user had an
-- active day on as_of_date - k (k < $3: the days a churn day can fade, and
-- the recent days the oracles not told who has left weigh as churn days),
-- and active_before, the user's active days before those $3 days (with
-- `history`; else 0: only the oracle that integrates engagement reads it).
-- $1, $2: the first and last as-of dates of the test window. With
-- `sampled`, the rows of the users in the temp table _oracle_users only
-- (`truth::sample_users`).
with

test as (
    select user_id, as_of_date, churn_label
    from training_set
    where as_of_date between $1::date and $2::date
{%- if sampled %}
        and user_id in (select user_id from _oracle_users)
{%- endif %}
),

active as (
    select user_id, activity_date
    from user_daily
    where is_active_day = 1
        and activity_date between $1::date - $3::integer and $2::date
        and user_id in (select user_id from test)
),

masks as (
    select
        test.user_id,
        test.as_of_date,
        coalesce(bit_or(1::bigint << (test.as_of_date - active.activity_date)::integer), 0) as active_mask
    from test
    left join active
        on active.user_id = test.user_id
        and active.activity_date between test.as_of_date - ($3::integer - 1) and test.as_of_date
    group by all
),
{%- if history %}

-- Each active day with the user's count of active days up to it; the
-- latest before the window gives the count before it.
history as (
    select
        user_id,
        activity_date,
        count(*) over (partition by user_id order by activity_date) as active_so_far
    from user_daily
    where is_active_day = 1
        and activity_date <= $2::date
        and user_id in (select user_id from test)
),

before as (
    select test.user_id, test.as_of_date, coalesce(history.active_so_far, 0) as active_before
    from test
    asof left join history
        on history.user_id = test.user_id
        and history.activity_date < test.as_of_date - ($3::integer - 1)
)
{%- else %}

before as (
    select user_id, as_of_date, 0::bigint as active_before from test
)
{%- endif %}

select
    test.user_id,
    test.as_of_date,
    test.churn_label,
    users.signup_date,
    users.is_paid,
    truth.engagement,
    truth.daily_hazard,
    truth.churn_date,
    masks.active_mask,
    before.active_before
from test
inner join synthetic_truth as truth on truth.user_id = test.user_id
inner join users on users.user_id = test.user_id
inner join masks on masks.user_id = test.user_id and masks.as_of_date = test.as_of_date
inner join before on before.user_id = test.user_id and before.as_of_date = test.as_of_date
