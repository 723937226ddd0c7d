{#- Insights: per interval bucket (and breakdown value), events, distinct units
    and the measure's value.

    Context: `units` (report_units_users.sql or report_units_groups.sql,
    rendered), `conditions` (filters compiled by etl.serve.filters, values
    bound), `breakdown` (an expression over `u`, or none), `bucket` (the
    bucket's first day, an expression over `u.event_date`), `amount` (a
    property's number over `u`, or none) and `aggregate` (of `amount`, from
    etl.serve.measures). Binds :event, :d1, :d2. -#}
WITH unit_events AS (
{{ units | trim | indent(4, first=true) }}
),

filtered AS (
    SELECT {{ bucket }} AS bucket, u.unit,
           {{ breakdown if breakdown else "CAST(NULL AS VARCHAR)" }} AS breakdown,
           {{ amount if amount else "CAST(NULL AS DOUBLE PRECISION)" }} AS amount
    FROM unit_events AS u
    WHERE u.event = :event
      AND u.event_date BETWEEN :d1 AND :d2
{%- for condition in conditions %}
      AND {{ condition }}
{%- endfor %}
),

final AS (
    SELECT bucket, breakdown, count(*) AS events, count(DISTINCT unit) AS uniques,
           {{ aggregate }} AS amount
    FROM filtered
    GROUP BY bucket, breakdown
)

SELECT bucket, breakdown, events, uniques, amount
FROM final
ORDER BY bucket, breakdown
