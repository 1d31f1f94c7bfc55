-- assert: watch_minutes is never negative
-- severity: error
select
    event_id,
    watch_minutes
from {{ checked_events }} as events
where watch_minutes < 0
