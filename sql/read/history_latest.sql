-- The newest moment in the file's history tables (promotions, drift checks,
-- evaluations, stage runs): the API rebuilds its report and gauges when it
-- moves. The tables are those that exist.
select max(newest) as newest
from (
{% for t in tables %}
    {% if not loop.first %}union all {% endif %}select max({{ t.column }}) as newest from {{ t.table }}
{% endfor %}
) as history
