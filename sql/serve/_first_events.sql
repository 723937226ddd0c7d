{#- What funnels and retention share: the report's events that pass its filters,
    and a unit's first event of a kind in the range. -#}

{#- CTE `considered`: the rows of `unit_events` (the report's units query) that
    pass `conditions`, with `columns` of `u`. -#}
{% macro considered(columns) -%}
considered AS (
    SELECT {{ columns }}
    FROM unit_events AS u
{%- for condition in conditions %}
    {{ "WHERE" if loop.first else "  AND" }} {{ condition }}
{%- endfor %}
)
{%- endmacro %}

{#- After a SELECT list: each unit's first `considered` row of event `event` (a
    bound parameter) in :d1..:d2, by time, then event id. A funnel enters there;
    a retention cohort is born there. -#}
{% macro first_of(event) -%}
FROM (
        SELECT c.*, row_number() OVER (PARTITION BY c.unit ORDER BY c.event_time, c.event_id) AS nth
        FROM considered AS c
        WHERE c.event = {{ event }} AND c.event_date BETWEEN :d1 AND :d2
    ) AS firsts
    WHERE nth = 1
{%- endmacro %}
