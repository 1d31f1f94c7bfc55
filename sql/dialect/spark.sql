{# The Spark SQL side of sql/dialect/duckdb.sql: the same macros. #}
{# One row per day from start to stop, both included, as a date column. #}
{% macro date_series(start, stop) %}explode(sequence({{ start }}, {{ stop }}, interval 1 day)){% endmacro %}
{# Whole days from the date `earlier` to the date `later`, as an integer
   (date - date is an interval in Spark). #}
{% macro days_between(earlier, later) %}datediff({{ later }}, {{ earlier }}){% endmacro %}
{# x is a finite number: not NaN, not infinite (NULL stays NULL; Spark has no
   isfinite, and its isnan(NULL) is false). #}
{% macro is_finite(x) %}not (isnan({{ x }}) or abs({{ x }}) = double('infinity')){% endmacro %}
{# A column name, quoted. #}
{% macro ident(name) %}`{{ name }}`{% endmacro %}
