-- assert: every user has a signup_date
-- severity: error
select
    user_id,
    signup_date
from {{ checked_users }} as users
where signup_date is null
