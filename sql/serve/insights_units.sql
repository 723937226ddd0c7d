{#- Insights drill-down: the units insights.sql counts in the bucket that
    starts on :bucket (etl.serve.drilldown): units of :event in :d1..:d2 whose
    events pass the filters.

    Context: `units`, `conditions`, `bucket` (as insights.sql). -#}
WITH unit_events AS (
{{ units | trim | indent(4, first=true) }}
)

SELECT DISTINCT u.unit
FROM unit_events AS u
WHERE u.event = :event
  AND u.event_date BETWEEN :d1 AND :d2
  AND {{ bucket }} = :bucket
{%- for condition in conditions %}
  AND {{ condition }}
{%- endfor %}
