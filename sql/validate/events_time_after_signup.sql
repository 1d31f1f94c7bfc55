-- assert: every event has an event_time, not before its user's signup date
-- severity: error
select
    events.event_id,
    events.user_id,
    events.event_time,
    users.signup_date
from {{ checked_events }} as events
inner join users on users.user_id = events.user_id
where events.event_time is null
    or events.event_time < users.signup_date
