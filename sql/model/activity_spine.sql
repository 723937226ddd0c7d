-- The dates each target has rows for: from from_date (or, for a group with no
-- earlier events, its first active day) to the horizon. The first active days
-- are one grouping joined in, not a subquery per target: PostgreSQL ran that as
-- a scan of activity_events per group (36 s for a 1M-event first day, 0.1 s so).
WITH first_active AS (
    SELECT a.group_key, a.group_id, min(a.event_date) AS first_day
    FROM activity_events AS a
    GROUP BY a.group_key, a.group_id
),
starts AS (
    SELECT s.group_key, s.group_id, s.last_active,
           CASE WHEN s.last_active IS NOT NULL THEN s.from_date ELSE f.first_day END AS first_row
    FROM activity_seeds AS s
    LEFT JOIN first_active AS f ON f.group_key = s.group_key AND f.group_id = s.group_id
),
calendar AS (
    SELECT c.d AS activity_date
    FROM ({{ dialect.date_series(':lowest', ':horizon') }}) AS c
)
SELECT s.group_key, s.group_id, s.last_active AS seed_last_active, c.activity_date
FROM starts AS s
JOIN calendar AS c ON c.activity_date >= s.first_row
