-- assert: a successful payment carries an amount above zero (a failed one may have none)
-- severity: error
-- The amount of a failed payment is optional: a failed charge often records
-- none, and no feature reads it (payment_amount_* sums successful ones).
-- When it has one, it must be above zero too.
select
    event_id,
    event_type,
    amount
from {{ checked_events }} as events
where (event_type = 'payment_success' and (amount is null or amount <= 0))
    or (event_type = 'payment_failed' and amount <= 0)
