-- assert: every event belongs to a known user
-- severity: error
select
    events.event_id,
    events.user_id
from {{ checked_events }} as events
anti join users on users.user_id = events.user_id
