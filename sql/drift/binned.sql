-- Every row of the current sample (table drift_current) with its bin per
-- input, by the bins of the reference profile: numeric bin k holds
-- edge(k-1) < x <= edge(k), the outer bins are open, NULL is bin 0;
-- categorical inputs keep their category (the category is the bin).
{% import "dialect/" ~ dialect ~ ".sql" as d %}
select
{% for f in numeric %}
    case
        when {{ d.ident(f.name) }} is null then 0
{% for b in f.bins %}
{% if not loop.last %}
        when {{ d.ident(f.name) }} <= {{ b.upper }} then {{ b.bin }}
{% endif %}
{% endfor %}
        else {{ f.bins|length }}
    end as {{ d.ident(f.name) }}{% if not loop.last or categorical %},{% endif %}

{% endfor %}
{% for c in categorical %}
    {{ d.ident(c) }}::string as {{ d.ident(c) }}{% if not loop.last %},{% endif %}

{% endfor %}
from drift_current
