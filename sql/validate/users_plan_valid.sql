-- assert: plan is 'free' or 'paid', and is_paid is true exactly for 'paid'
-- severity: error
select
    user_id,
    plan,
    is_paid
from {{ checked_users }} as users
where plan is null
    or plan not in ('free', 'paid')
    or is_paid is null
    or is_paid <> (plan = 'paid')
