-- assert: event_type is one of the seven known types
-- severity: error
select
    event_id,
    event_type
from {{ checked_events }} as events
where event_type is null
    or event_type not in (
        'login', 'video_watch', 'quiz_attempt', 'course_enroll',
        'payment_success', 'payment_failed', 'support_ticket'
    )
