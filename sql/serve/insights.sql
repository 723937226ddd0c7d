{#- Insights: per interval bucket (and breakdown value), events, distinct units
    and the measure's value.

    Context: `units` (report_units_users.sql or report_units_groups.sql,
    rendered), `conditions` (filters compiled by etl.serve.filters, values
    bound), `breakdown` (an expression over `u`, or none), `bucket` (the
    bucket's first day, an expression over `u.event_date`), `amount` (a
    property's number over `u`, or none), `aggregate` (of `amount`, from
    etl.serve.measures) and `fold` ('values': values outside :kept, and null
    unless :keep_null, become '(other)'; 'null': all but null if :keep_null). Binds :event, :d1, :d2.

    A breakdown property's JSON value is split into its distinct elements: an
    event with plan ["P1", "P2"] counts once under each; an empty list, a
    missing property and a JSON null count under the null bucket. -#}
WITH unit_events AS (
{{ units | trim | indent(4, first=true) }}
),

filtered AS (
    SELECT {{ bucket }} AS bucket, u.unit,
           u.event_id,
           {{ breakdown if breakdown else "CAST(NULL AS " ~ dialect.json ~ ")" }} AS value,
           {{ amount if amount else "CAST(NULL AS DOUBLE PRECISION)" }} AS amount
    FROM unit_events AS u
    WHERE u.event = :event
      AND u.event_date BETWEEN :d1 AND :d2
{%- for condition in conditions %}
      AND {{ condition }}
{%- endfor %}
),

{%- if breakdown %}
elements AS (
    SELECT DISTINCT bucket, unit, event_id, amount, {{ dialect.json_string("element") }} AS breakdown
    FROM ({{ dialect.json_elements("filtered") | indent(10) }}) AS listed
),

labelled AS (
    SELECT bucket, unit, event_id, amount, breakdown FROM elements
    UNION ALL
    SELECT f.bucket, f.unit, f.event_id, f.amount, CAST(NULL AS VARCHAR) AS breakdown
    FROM filtered AS f
    WHERE NOT EXISTS (SELECT 1 FROM elements AS e WHERE e.event_id = f.event_id AND e.unit = f.unit)
),
{%- else %}
labelled AS (
    SELECT bucket, unit, event_id, amount, CAST(NULL AS VARCHAR) AS breakdown FROM filtered
),
{%- endif %}
{%- if fold %}

folded AS (
    SELECT DISTINCT bucket, unit, event_id, amount,
           CASE WHEN {{ "breakdown IN :kept OR " if fold == "values" }}(breakdown IS NULL AND :keep_null) THEN breakdown
                ELSE '(other)' END AS breakdown
    FROM labelled
),
{%- endif %}

final AS (
    SELECT bucket, breakdown, count(*) AS events, count(DISTINCT unit) AS uniques,
           {{ aggregate }} AS amount
    FROM {{ "folded" if fold else "labelled" }}
    GROUP BY bucket, breakdown
)

SELECT bucket, breakdown, events, uniques, amount
FROM final
ORDER BY bucket, breakdown
