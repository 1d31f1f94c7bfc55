{# What a day's work reads (docs/design.md §9), for the templates rendered
   with `incremental`: {% import "macros/incremental.sql" as changed %}. #}
{# The rows of `table` that a day's work rebuilds: those of the users in the
   temp table _affected from their from_date on, or `lead` days before it
   for a window that reads back. The earliest from_date (`from_date`) lets
   the scan skip older days before the join. #}
{% macro rows(table, column, from_date, lead=0) %}
    select {{ table }}.*
    from {{ table }}
    inner join _affected as affected on affected.user_id = {{ table }}.user_id
    where {{ table }}.{{ column }} >= affected.from_date{{ " - " ~ lead if lead else "" }}
        and {{ table }}.{{ column }} >= date '{{ from_date }}'{{ " - " ~ lead if lead else "" }}
{% endmacro %}
