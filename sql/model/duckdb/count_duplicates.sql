-- Records of load :d whose event had already arrived (earlier in this load or
-- in an earlier one), over the event dates :dates the load touched. Only
-- events with more than one copy on those dates (rare) are ranked: a grouping
-- finds them, which is cheaper than a window over every event.
WITH copied AS (
    SELECT event_date, event_id
    FROM events
    WHERE event_date IN :dates AND load_date <= :d
    GROUP BY event_date, event_id
    HAVING count(*) > 1
)
SELECT count(*)
FROM (
    SELECT e.load_date,
           row_number() OVER (
               PARTITION BY e.event_date, e.event_id
               ORDER BY e.load_date, e.source_object, e.source_line, e.source_index
           ) AS arrival
    FROM events AS e
    JOIN copied AS c ON c.event_date = e.event_date AND c.event_id = e.event_id
    WHERE e.event_date IN :dates AND e.load_date <= :d
) AS copies
WHERE load_date = :d AND arrival > 1
