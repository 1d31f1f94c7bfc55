-- assert: every user has a user_id, and no user_id appears twice
-- severity: error
-- Checking new loads only, a key of theirs is looked up among every row.
{% if checked_users == "users" %}
select
    user_id,
    count(*) as n_rows
from users
group by user_id
having user_id is null or count(*) > 1
{% else %}
select
    user_id,
    count(*) as n_rows
from users
where user_id in (select user_id from {{ checked_users }})
group by user_id
having count(*) > 1
union all
select
    user_id,
    count(*) as n_rows
from {{ checked_users }}
where user_id is null
group by user_id
{% endif %}
