-- assert: watch_minutes is never negative
-- severity: error
select
    event_id,
    watch_minutes
from events
where watch_minutes < 0
