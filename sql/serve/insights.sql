{#- Insights: per interval bucket (and breakdown value), events, distinct units
    and the measure's value.

    Context: `units` (report_units_users.sql or report_units_groups.sql,
    rendered), `conditions` (filters compiled by etl.serve.filters, values
    bound), `breakdown` (see _breakdown.sql; none for none), `bucket` (the
    bucket's first day, an expression over `u.event_date`), `amount` (a
    property's number over `u`, or none), `aggregate` (of `amount`, from
    etl.serve.measures; none for a count) and `fold` (false, or how values past the top N fold
    into '(other)': see _breakdown.sql). Binds :event, :d1, :d2.

    An event with plan ["P1", "P2"] counts once under each element (the
    labelling rule of _breakdown.sql). -#}
{% import 'serve/_breakdown.sql' as b with context -%}
WITH unit_events AS (
{{ units | trim | indent(4, first=true) }}
),

filtered AS (
    SELECT {{ bucket }} AS bucket, u.unit,
           u.event_id,
           {{ breakdown.value if breakdown else "CAST(NULL AS " ~ dialect.json ~ ")" }} AS value,
           {{ amount if amount else "CAST(NULL AS " ~ dialect.double ~ ")" }} AS amount
    FROM unit_events AS u{{ b.joins(breakdown) }}
    WHERE u.event = :event
      AND u.event_date BETWEEN :d1 AND :d2
{%- for condition in conditions %}
      AND {{ condition }}
{%- endfor %}
),

{{ b.labelled("filtered", "bucket, unit, event_id, amount", breakdown) }},
{%- if fold %}

folded AS (
    {{ b.folded("labelled", "bucket, unit, event_id, amount", fold) }}
),
{%- endif %}

final AS (
    SELECT bucket, breakdown, count(*) AS events, count(DISTINCT unit) AS uniques,
           {{ aggregate or "CAST(NULL AS " ~ dialect.double ~ ")" }} AS amount
    FROM {{ "folded" if fold else "labelled" }}
    GROUP BY bucket, breakdown
)

SELECT bucket, breakdown, events, uniques, amount
FROM final
ORDER BY bucket, breakdown
