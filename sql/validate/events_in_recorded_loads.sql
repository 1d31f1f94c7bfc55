-- assert: every event belongs to a load recorded in the loads ledger
-- severity: error
select
    events.event_id,
    events.load_id
from events
where events.load_id is not null
    and events.load_id not in (select load_id from loads)
