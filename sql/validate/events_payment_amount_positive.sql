-- assert: payment events carry an amount above zero
-- severity: error
select
    event_id,
    event_type,
    amount
from {{ checked_events }} as events
where event_type in ('payment_success', 'payment_failed')
    and (amount is null or amount <= 0)
