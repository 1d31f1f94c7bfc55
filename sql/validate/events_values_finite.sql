-- assert: watch_minutes, quiz_score and amount are finite numbers (no NaN, no infinity)
-- severity: error
{% import "dialect/" ~ dialect ~ ".sql" as d %}
select
    event_id,
    watch_minutes,
    quiz_score,
    amount
from {{ checked_events }} as events
where not {{ d.is_finite("watch_minutes") }}
    or not {{ d.is_finite("quiz_score") }}
    or not {{ d.is_finite("amount") }}
