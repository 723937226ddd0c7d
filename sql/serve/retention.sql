{#- Retention: a unit is born on the date of its first :born in :d1..:d2 (its
    cohort; by time, then event id, that event is its birth event); it is
    retained in period n when it does :returned on a date in period n after
    that (n = whole :period_days since the cohort date; period 0 is the cohort
    date's own period), up to :d2. Per breakdown value (the property at the
    birth event) a cohort's size is its row with a NULL period.

    Context: `units` (rendered report units), `conditions` (compiled filters,
    values bound), `breakdown` (see _breakdown.sql; none for none) and `fold`
    (as in _breakdown.sql). With `listed` (optional; the drill-down of
    etl.serve.drilldown), the units of cohort :cohort_date retained in period
    :period instead. -#}
{% import 'serve/_breakdown.sql' as b with context -%}
{% import 'serve/_first_events.sql' as f with context -%}
WITH unit_events AS (
{{ units | trim | indent(4, first=true) }}
),

{{ f.considered("u.unit, u.event, u.event_time, u.event_id, u.event_date") }},

births AS (
    SELECT unit, event_id, event_date AS cohort_date
    {{ f.first_of(":born") }}
),

entered AS (
{%- if breakdown %}
    SELECT s.unit, s.cohort_date, {{ breakdown.value }} AS value
    FROM births AS s
    JOIN unit_events AS u ON u.unit = s.unit AND u.event_id = s.event_id{{ b.joins(breakdown) }}
{%- else %}
    SELECT unit, cohort_date FROM births
{%- endif %}
),

{{ b.labelled("entered", "unit, cohort_date", breakdown) }},
{%- if fold %}

folded AS (
    {{ b.folded("labelled", "unit, cohort_date", fold) }}
),
{%- endif %}

born AS (
    SELECT unit, cohort_date, breakdown FROM {{ "folded" if fold else "labelled" }}
),

returned AS (
    SELECT DISTINCT b.unit, b.cohort_date, b.breakdown,
           CAST(floor({{ dialect.days_between('c.event_date', 'b.cohort_date') }} / :period_days) AS INTEGER) AS period
    FROM born AS b
    JOIN considered AS c ON c.unit = b.unit
    WHERE c.event = :returned AND c.event_date >= b.cohort_date AND c.event_date <= :d2
),

{%- if listed is defined and listed %}

listed AS (
    SELECT DISTINCT unit
    FROM returned
    WHERE cohort_date = :cohort_date AND period = :period
)

SELECT unit FROM listed
{%- else %}

final AS (
    SELECT cohort_date, breakdown, CAST(NULL AS INTEGER) AS period, count(*) AS units
    FROM born
    GROUP BY cohort_date, breakdown
    UNION ALL
    SELECT cohort_date, breakdown, period, count(*) AS units
    FROM returned
    GROUP BY cohort_date, breakdown, period
)

SELECT cohort_date, breakdown, period, units
FROM final
ORDER BY cohort_date, breakdown, period
{%- endif %}
