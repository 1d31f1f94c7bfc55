-- assert: watch_minutes, quiz_score and amount are finite numbers (no NaN, no infinity)
-- severity: error
select
    event_id,
    watch_minutes,
    quiz_score,
    amount,
from events
where not isfinite(watch_minutes)
    or not isfinite(quiz_score)
    or not isfinite(amount)
