-- Every row of the current sample (table drift_current) with its bin per
-- input, by the bins of the reference profile: numeric bin k holds
-- edge(k-1) < x <= edge(k), the outer bins are open, NULL is bin 0;
-- categorical inputs keep their category (the category is the bin).
-- active_day_bits is binned by its count of active days (the profile's
-- reading, src/model/profile.rs): the mask's value depends on the weekday
-- each bit falls on, so one day's population differs from the training
-- rows' mix of days even when nothing drifts.
{% import "dialect/" ~ dialect ~ ".sql" as d %}
select
{% for f in numeric %}
{% set x = "bit_count(" ~ d.ident(f.name) ~ ")" if f.name == "active_day_bits" else d.ident(f.name) %}
    case
        when {{ x }} is null then 0
{% for b in f.bins %}
{% if not loop.last %}
        when {{ x }} <= {{ b.upper }} then {{ b.bin }}
{% endif %}
{% endfor %}
        else {{ f.bins|length }}
    end as {{ d.ident(f.name) }}{% if not loop.last or categorical %},{% endif %}

{% endfor %}
{% for c in categorical %}
    {{ d.ident(c) }}::string as {{ d.ident(c) }}{% if not loop.last %},{% endif %}

{% endfor %}
from drift_current
