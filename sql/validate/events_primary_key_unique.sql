-- assert: every event has an event_id, and no event_id appears twice
-- severity: error
-- Checking new loads only, a key of theirs is looked up among every row.
{% if checked_events == "events" %}
{% if dialect == "duckdb" %}
-- Ids that rise from row to row in the table's scan order are all there and
-- all different: one ordered pass over the ids (0.2 s for 60 million events)
-- shows it without the hash table of every id that the grouping below
-- builds (7-9 s at 100,000 users, bench/README.md), which then runs only
-- when they do not rise. A generated world writes rising ids; the ids of an
-- ingested file come in the file's order, whatever it is.
with rising as (
    select bool_and(event_id is not null and (previous is null or event_id > previous)) as rising
    from (select event_id, lag(event_id) over () as previous from events)
)
{% endif %}
select
    event_id,
    count(*) as n_rows
from events
{% if dialect == "duckdb" %}
where not coalesce((select rising from rising), false)
{% endif %}
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
