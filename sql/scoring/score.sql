-- Churn risk by the production model in plain SQL, from model_terms alone:
-- one row per user of the latest as-of snapshot of user_features_daily
-- (population "{{ population }}"). The same numbers as `churn run --stage score`.
-- Each numeric feature column, then each category, becomes a (user_id,
-- feature, value) row (a NULL value gives no row: it is imputed, z = 0).
--   numeric term:     z = (t(x) * y - center) / scale  (NULL: imputed, z = 0), where t(x) = x,
--                     ln(1 + greatest(x, 0)) for a log1p term (transform = 'log1p'), or
--                     floor(greatest(x, 0) / 2^i) % 2 for a day term (transform = 'bit:i');
--                     y = 1, or the value of by_feature when the term has one (NULL: z = 0)
--   categorical term: z = 1 when x = category, else 0
--   churn_risk = 1 / (1 + exp(-(intercept + sum(coefficient * z))))
with

model as (
    select model_id from production_model
),

terms as (
    select * from model_terms
    where model_id = (select model_id from model)
),

snapshot as (
    select * from user_features_daily
    where as_of_date = (select max(as_of_date) from user_features_daily)
{% if population == "active" %}
        and recently_active
{% endif %}
),

numeric_values as (
{% for c in numeric_columns %}
    select user_id, '{{ c }}' as feature, {{ c }}::double as value from snapshot where {{ c }} is not null
{% if not loop.last %}
    union all
{% endif %}
{% endfor %}
),

categorical_values as (
{% for c in ["plan", "country", "marketing_source"] %}
    select user_id, '{{ c }}' as feature, {{ c }} as category from snapshot where {{ c }} is not null
{% if not loop.last %}
    union all
{% endif %}
{% endfor %}
),

contributions as (
    select
        numeric_values.user_id,
        terms.coefficient * (
            case
                when terms.transform = 'log1p' then ln(1 + greatest(numeric_values.value, 0))
                when terms.transform like 'bit:%'
                then floor(greatest(numeric_values.value, 0) / power(2, cast(substr(terms.transform, 5) as integer))) % 2
                else numeric_values.value
            end * coalesce(by_values.value, 1) - terms.center
        ) / terms.scale as contribution
    from numeric_values
    inner join terms
        on terms.feature = numeric_values.feature
        and terms.category is null
    left join numeric_values as by_values
        on by_values.user_id = numeric_values.user_id
        and by_values.feature = terms.by_feature
    -- a NULL by value is imputed: no contribution
    where terms.by_feature is null or by_values.value is not null
    union all
    select
        categorical_values.user_id,
        terms.coefficient as contribution
    from categorical_values
    inner join terms
        on terms.feature = categorical_values.feature
        and terms.category = categorical_values.category
),

margins as (
    select
        snapshot.user_id,
        snapshot.as_of_date,
        (select coefficient from terms where feature is null)
            + coalesce(sum(contributions.contribution), 0) as margin
    from snapshot
    left join contributions on contributions.user_id = snapshot.user_id
    group by snapshot.user_id, snapshot.as_of_date
),

final as (
    select
        as_of_date,
        user_id,
        (select model_id from model) as model_id,
        1 / (1 + exp(-margin)) as churn_risk
    from margins
)

select * from final
order by churn_risk desc, user_id
