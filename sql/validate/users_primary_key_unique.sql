-- assert: every user has a user_id, and no user_id appears twice
-- severity: error
select
    user_id,
    count(*) as n_rows
from users
group by user_id
having user_id is null or count(*) > 1
