-- assert: every event belongs to a load recorded in the loads ledger
-- severity: error
-- Checking new loads only, their rows are checked; rows of a load that never
-- committed are removed by every open for writing (src/store/ledger.rs).
select
    events.event_id,
    events.load_id
from {{ checked_events }} as events
where events.load_id is not null
    and events.load_id not in (select load_id from loads)
