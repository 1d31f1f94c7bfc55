-- assert: no event is dated before validate.earliest_date
-- severity: error
-- A date far in the past (1900-01-01, a zero epoch) would make prepare's
-- daily grid start there for every user.
select
    events.event_id,
    events.user_id,
    events.event_time
from {{ checked_events }} as events
where events.event_time < timestamp '{{ earliest_date }}'
