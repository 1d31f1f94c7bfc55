-- assert: no ingested event is dated more than validate.future_slack_days after the load that brought it
-- severity: error
-- A far-future date (a typo, a placeholder such as 2100-01-01) would make
-- prepare's daily grid run to that date for every user. Generated worlds are
-- simulated and may lie anywhere in time: only ingested loads are checked.
select
    events.event_id,
    events.user_id,
    events.event_time,
    loads.committed_at as loaded_at
from {{ checked_events }} as events
inner join loads on loads.load_id = events.load_id
where loads.stage = 'ingest'
    and events.event_time > loads.committed_at + interval {{ future_slack_days }} day
