{#- Retention drill-down: the units of cohort :cohort_date retained in period
    :period (etl.serve.drilldown). Born and returned are retention.sql's rule
    (born on the date of the first :born in :d1..:d2; retained in period n when
    doing :returned n whole :period_days after, up to :d2), written again here
    while retention.sql gains its breakdown (issue 17): after that merge both
    should import one macro.

    Context: `units`, `conditions` (as retention.sql). -#}
WITH unit_events AS (
{{ units | trim | indent(4, first=true) }}
),

considered AS (
    SELECT u.unit, u.event, u.event_date
    FROM unit_events AS u
{%- for condition in conditions %}
    {{ "WHERE" if loop.first else "  AND" }} {{ condition }}
{%- endfor %}
),

born AS (
    SELECT unit, min(event_date) AS cohort_date
    FROM considered
    WHERE event = :born AND event_date BETWEEN :d1 AND :d2
    GROUP BY unit
)

SELECT DISTINCT b.unit
FROM born AS b
JOIN considered AS c ON c.unit = b.unit
WHERE b.cohort_date = :cohort_date
  AND c.event = :returned AND c.event_date >= b.cohort_date AND c.event_date <= :d2
  AND CAST(floor((c.event_date - b.cohort_date) / :period_days) AS INTEGER) = :period
