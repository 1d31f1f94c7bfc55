{# The DuckDB side of the few constructs whose spelling differs between the
   engines the templates render for (`churn sql --dialect duckdb|spark`).
   sql/dialect/spark.sql defines the same macros; a template imports the
   file of its dialect: {% import "dialect/" ~ dialect ~ ".sql" as d %}. #}
{# One row per day from start to stop, both included, as a date column. #}
{% macro date_series(start, stop) %}unnest(generate_series({{ start }}, {{ stop }}, interval 1 day))::date{% endmacro %}
{# Whole days from the date `earlier` to the date `later`, as an integer. #}
{% macro days_between(earlier, later) %}({{ later }} - {{ earlier }})::integer{% endmacro %}
{# x is a finite number: not NaN, not infinite (NULL stays NULL). #}
{% macro is_finite(x) %}isfinite({{ x }}){% endmacro %}
{# A column name, quoted. #}
{% macro ident(name) %}"{{ name }}"{% endmacro %}
