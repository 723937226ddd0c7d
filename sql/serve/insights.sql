-- Insights: per event date (and breakdown value), events and distinct units.
-- {units}: report_units_users.sql or report_units_groups.sql; {where} and
-- {breakdown}: compiled by etl.expressions with bound parameters.
WITH unit_events AS (
    {units}
),
filtered AS (
    SELECT u.event_date, u.unit, {breakdown} AS breakdown
    FROM unit_events AS u
    WHERE u.event = :event AND u.event_date BETWEEN :d1 AND :d2 AND {where}
)
SELECT event_date, breakdown, count(*) AS events, count(DISTINCT unit) AS uniques
FROM filtered
GROUP BY event_date, breakdown
ORDER BY event_date, breakdown
