-- The column names of one table of the main schema ($1 = table name).
select column_name
from information_schema.columns
where table_schema = 'main' and table_name = $1
order by ordinal_position
