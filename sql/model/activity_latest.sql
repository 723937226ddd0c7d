-- Targets of the horizon only (the usual day): each user's last day in its
-- trailing 28 days, all the windows need.
SELECT e.group_key, e.group_id, e.distinct_id, max(e.event_date) AS last_day
FROM event_groups AS e
JOIN activity_targets AS t ON t.group_key = e.group_key AND t.group_id = e.group_id
WHERE t.from_date = :horizon
  AND e.event_date BETWEEN CAST(:horizon AS DATE) - 27 AND :horizon
GROUP BY e.group_key, e.group_id, e.distinct_id
