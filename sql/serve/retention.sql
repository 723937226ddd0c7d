{#- Retention: a unit is born on the date of its first :born in :d1..:d2 (its
    cohort); it is retained in period n when it does :returned on a date in
    period n after that (n = whole :period_days since the cohort date; period
    0 is the cohort date's own period), up to :d2. A cohort's size is its row
    with a NULL period.

    Context: `units` (rendered report units) and `conditions` (compiled
    filters, values bound). -#}
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
),

returned AS (
    SELECT DISTINCT b.unit, b.cohort_date,
           CAST(floor((c.event_date - b.cohort_date) / :period_days) AS INTEGER) AS period
    FROM born AS b
    JOIN considered AS c ON c.unit = b.unit
    WHERE c.event = :returned AND c.event_date >= b.cohort_date AND c.event_date <= :d2
),

final AS (
    SELECT cohort_date, CAST(NULL AS INTEGER) AS period, count(*) AS units
    FROM born
    GROUP BY cohort_date
    UNION ALL
    SELECT cohort_date, period, count(*) AS units
    FROM returned
    GROUP BY cohort_date, period
)

SELECT cohort_date, period, units
FROM final
ORDER BY cohort_date, period
