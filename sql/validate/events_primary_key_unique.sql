-- assert: every event has an event_id, and no event_id appears twice
-- severity: error
-- Checking new loads only, a key of theirs is looked up among every row.
{% if checked_events == "events" %}
select
    event_id,
    count(*) as n_rows
from events
group by event_id
having event_id is null or count(*) > 1
{% else %}
select
    event_id,
    count(*) as n_rows
from events
where event_id in (select event_id from {{ checked_events }})
group by event_id
having count(*) > 1
union all
select
    event_id,
    count(*) as n_rows
from {{ checked_events }}
where event_id is null
group by event_id
{% endif %}
