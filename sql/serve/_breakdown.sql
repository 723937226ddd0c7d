{#- Breakdowns, shared by insights, funnels and retention. `breakdown` is a
    etl.serve.reports.Breakdown (or none): `value`, the property's JSON value
    over `u` (a report unit's event row) or, for a user report broken down by a
    group key's profiles, over `bp`; `key`, that group key (bound), or none;
    `at_event`, whether `bp` is the profile as it was at the event. -#}
{% import 'serve/_profiles.sql' as profiles with context %}

{#- The joins a breakdown by KEY.PROP adds after `FROM unit_events AS u` (on the same line): each of
    the user's groups of that key (through user_groups) and its profile; a user
    in no such group keeps one row, with no profile. -#}
{% macro joins(breakdown) -%}
{%- if breakdown and breakdown.key %}
    LEFT JOIN user_groups AS bg ON bg.distinct_id = u.unit AND bg.group_key = {{ breakdown.key }}
    LEFT JOIN {{ profiles.profile("bp", "bg.group_key", "bg.group_id", "u.event_time" if breakdown.at_event else none) }}
{%- endif -%}
{%- endmacro %}

{#- Two CTEs, `valued` and `labelled` (only `labelled` without a breakdown): each
    row of `relation` (its `columns` and a JSON `value`) once per distinct element
    of the value, as text `breakdown`. A list counts once under each distinct
    element; an empty list, a missing value (SQL NULL), a JSON null and a null
    element under the null bucket; a number or boolean under its JSON text. Rows
    of one unit that differ only in `value` (a user's two groups) merge: the unit
    counts under the union of their elements. -#}
{% macro labelled(relation, columns, breakdown) -%}
{%- if breakdown -%}
valued AS (
    SELECT {{ columns }},
           CASE WHEN value IS NULL OR value = CAST('[]' AS {{ dialect.json }}) THEN CAST('null' AS {{ dialect.json }})
                ELSE value END AS value
    FROM {{ relation }}
),

labelled AS (
    SELECT DISTINCT {{ columns }}, {{ dialect.json_string("element") }} AS breakdown
    FROM ({{ dialect.json_elements("valued") }}) AS listed
)
{%- else -%}
labelled AS (
    SELECT {{ columns }}, CAST(NULL AS VARCHAR) AS breakdown FROM {{ relation }}
)
{%- endif -%}
{%- endmacro %}

{#- `relation` (its `columns` and `breakdown`) with the values past the top N
    folded into '(other)': with fold 'values', values outside :kept, and null
    unless :keep_null; with fold 'null' (an empty IN list has no type to compare
    with), all but null if :keep_null. A row that folds several of its elements
    into '(other)' counts there once. -#}
{% macro folded(relation, columns, fold) -%}
SELECT DISTINCT {{ columns }},
           CASE WHEN {{ "breakdown IN :kept OR " if fold == "values" }}(breakdown IS NULL AND :keep_null) THEN breakdown
                ELSE '(other)' END AS breakdown
    FROM {{ relation }}
{%- endmacro %}
