-- Every row of both samples (tables drift_reference and drift_current) with
-- its bin per feature: numeric bin k holds
-- edge(k-1) < x <= edge(k), the outer bins are open, NULL is bin 0;
-- categorical features keep their category (the category is the bin).
{% for sample in ["reference", "current"] %}
select
    '{{ sample }}' as sample,
{% for f in numeric %}
    case
        when "{{ f.name }}" is null then 0
{% for b in f.bins %}
{% if not loop.last %}
        when "{{ f.name }}" <= {{ b.upper }} then {{ b.bin }}
{% endif %}
{% endfor %}
        else {{ f.bins|length }}
    end as "{{ f.name }}",
{% endfor %}
{% for c in categorical %}
    "{{ c }}"::varchar as "{{ c }}",
{% endfor %}
from drift_{{ sample }}
{% if not loop.last %}
union all
{% endif %}
{% endfor %}
