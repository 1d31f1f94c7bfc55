-- assert: quiz_score lies in [0, 100]
-- severity: error
select
    event_id,
    quiz_score
from {{ checked_events }} as events
where quiz_score < 0 or quiz_score > 100
