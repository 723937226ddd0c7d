-- Targets of several days: their users per day (a row per event), from 27 days
-- before from_date (the trailing windows) to the horizon.
SELECT e.group_key, e.group_id, e.event_date, e.distinct_id
FROM event_groups AS e
JOIN activity_targets AS t ON t.group_key = e.group_key AND t.group_id = e.group_id
WHERE t.from_date < :horizon
  AND e.event_date >= t.from_date - 27
  AND e.event_date BETWEEN :window_start AND :horizon
