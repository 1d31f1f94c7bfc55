-- assert: there is at least one user and at least one event
-- severity: error
select 'users' as empty_table
where not exists (select 1 from users)
union all
select 'events' as empty_table
where not exists (select 1 from events)
