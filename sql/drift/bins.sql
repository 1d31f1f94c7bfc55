-- Bin counts and shares of both samples, and each bin's PSI term:
-- reference = the profile of the training rows of model {{ model_id }}
-- ({{ reference_rows }} rows, model_reference_bins with {{ n_bins }} bins),
-- current = drift_binned. Shares clipped at {{ min_share }},
-- psi_term = (cur - ref) * ln(cur / ref). Every numeric bin of the profile
-- is listed (empty ones too); the NULL bin (0) and the categories appear
-- when either sample has them.
{% import "dialect/" ~ dialect ~ ".sql" as d %}
with

reference as (
    select feature, kind, bin, lower, upper, category, reference_count
    from model_reference_bins
    where model_id = {{ model_id }}
        and bins = {{ n_bins }}
),

sizes as (
    select
        {{ reference_rows }} as reference_rows,
        (select count(*) from drift_binned) as current_rows
),

numeric_counts as (
{% for f in numeric %}
    select
        '{{ f.name }}' as feature,
        {{ d.ident(f.name) }} as bin,
        count(*) as current_count
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
        {{ d.ident(c) }} as category,
        count(*) as current_count
    from drift_binned
    group by all
{% if not loop.last %}
    union all
{% endif %}
{% else %}
    select null::string as feature, null::string as category, 0 as current_count
    where false
{% endfor %}
),

numeric_bins as (
    select
        coalesce(reference.feature, counts.feature) as feature,
        coalesce(reference.kind, numeric_kinds.kind) as kind,
        coalesce(reference.bin, counts.bin) as bin,
        reference.lower,
        reference.upper,
        null::string as category,
        coalesce(reference.reference_count, 0) as reference_count,
        coalesce(counts.current_count, 0) as current_count
    from (select * from reference where kind <> 'categorical') as reference
    full outer join numeric_counts as counts
        on counts.feature = reference.feature
        and counts.bin = reference.bin
    left join (select distinct feature, kind from reference where kind <> 'categorical') as numeric_kinds
        on numeric_kinds.feature = counts.feature
),

categorical_bins as (
    select
        coalesce(reference.feature, counts.feature) as feature,
        'categorical' as kind,
        coalesce(reference.category, counts.category) as category,
        coalesce(reference.reference_count, 0) as reference_count,
        coalesce(counts.current_count, 0) as current_count
    from (select * from reference where kind = 'categorical') as reference
    full outer join categorical_counts as counts
        on counts.feature = reference.feature
        and counts.category is not distinct from reference.category
),

numbered_categorical_bins as (
    select
        feature,
        kind,
        case
            when category is null then 0
            else row_number() over (partition by feature, category is null order by category)
        end::integer as bin,
        null::double as lower,
        null::double as upper,
        category,
        reference_count,
        current_count
    from categorical_bins
),

shares as (
    select
        bins.*,
        greatest(reference_count / sizes.reference_rows, {{ min_share }}) as reference_share,
        greatest(current_count / sizes.current_rows, {{ min_share }}) as current_share
    from (select * from numeric_bins union all select * from numbered_categorical_bins) as bins
    cross join sizes
)

select
    {{ run_id }} as run_id,
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
    (current_share - reference_share) * ln(current_share / reference_share) as psi_term
from shares
order by feature, bin
