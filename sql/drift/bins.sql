-- Bin counts and shares of both samples, and each bin's PSI term:
-- shares clipped at {{ min_share }}, psi_term = (cur - ref) * ln(cur / ref).
-- Every numeric bin is listed (empty ones too); the NULL bin (0) and the
-- categories appear when either sample has them.
with

sizes as (
    select
        count(*) filter (where sample = 'reference') as reference_rows,
        count(*) filter (where sample = 'current') as current_rows,
    from drift_binned
),

grid as (
    select * from (values
{% for f in numeric %}
{% for b in f.bins %}
        ('{{ f.name }}', '{{ f.kind }}', {{ b.bin }}, {{ b.lower }}, {{ b.upper }}),
{% endfor %}
{% endfor %}
    ) as g(feature, kind, bin, lower, upper)
),

numeric_counts as (
{% for f in numeric %}
    select
        '{{ f.name }}' as feature,
        '{{ f.kind }}' as kind,
        "{{ f.name }}" as bin,
        count(*) filter (where sample = 'reference') as reference_count,
        count(*) filter (where sample = 'current') as current_count,
    from drift_binned
    group by all
{% if not loop.last %}
    union all
{% endif %}
{% endfor %}
),

categorical_counts as (
{% for c in categorical %}
    select
        '{{ c }}' as feature,
        "{{ c }}" as category,
        count(*) filter (where sample = 'reference') as reference_count,
        count(*) filter (where sample = 'current') as current_count,
    from drift_binned
    group by all
{% if not loop.last %}
    union all
{% endif %}
{% else %}
    select null::varchar as feature, null::varchar as category, 0 as reference_count, 0 as current_count
    where false
{% endfor %}
),

numeric_bins as (
    select
        coalesce(grid.feature, counts.feature) as feature,
        coalesce(grid.kind, counts.kind) as kind,
        coalesce(grid.bin, counts.bin) as bin,
        grid.lower,
        grid.upper,
        null::varchar as category,
        coalesce(counts.reference_count, 0) as reference_count,
        coalesce(counts.current_count, 0) as current_count,
    from grid
    full outer join numeric_counts as counts
        on counts.feature = grid.feature
        and counts.bin = grid.bin
),

categorical_bins as (
    select
        feature,
        'categorical' as kind,
        case
            when category is null then 0
            else row_number() over (partition by feature, category is null order by category)
        end::integer as bin,
        null::double as lower,
        null::double as upper,
        category,
        reference_count,
        current_count,
    from categorical_counts
),

shares as (
    select
        bins.*,
        greatest(reference_count / sizes.reference_rows, {{ min_share }}) as reference_share,
        greatest(current_count / sizes.current_rows, {{ min_share }}) as current_share,
    from (select * from numeric_bins union all select * from categorical_bins) as bins
    cross join sizes
)

select
    '{{ run_id }}' as run_id,
    feature,
    kind,
    bin,
    lower,
    upper,
    category,
    reference_count,
    current_count,
    reference_share,
    current_share,
    (current_share - reference_share) * ln(current_share / reference_share) as psi_term,
from shares
order by feature, bin
