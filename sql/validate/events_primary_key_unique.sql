-- assert: every event has an event_id, and no event_id appears twice
-- severity: error
select
    event_id,
    count(*) as n_rows
from events
group by event_id
having event_id is null or count(*) > 1
