{#- Insights: per event date (and breakdown value), events and distinct units.

    Context: `units` (report_units_users.sql or report_units_groups.sql,
    rendered), `conditions` (filters compiled by etl.serve.filters, values
    bound) and `breakdown` (an expression over `u`, or none). Binds :event,
    :d1, :d2. -#}
WITH unit_events AS (
{{ units | trim | indent(4, first=true) }}
),

filtered AS (
    SELECT u.event_date, u.unit,
           {{ breakdown if breakdown else "CAST(NULL AS VARCHAR)" }} AS breakdown
    FROM unit_events AS u
    WHERE u.event = :event
      AND u.event_date BETWEEN :d1 AND :d2
{%- for condition in conditions %}
      AND {{ condition }}
{%- endfor %}
),

final AS (
    SELECT event_date, breakdown, count(*) AS events, count(DISTINCT unit) AS uniques
    FROM filtered
    GROUP BY event_date, breakdown
)

SELECT event_date, breakdown, events, uniques
FROM final
ORDER BY event_date, breakdown
