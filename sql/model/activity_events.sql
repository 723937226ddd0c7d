-- Account health's scratch: each target's events per day from its from_date.
SELECT e.group_key, e.group_id, e.event_date, count(*) AS events
FROM event_groups AS e
JOIN activity_targets AS t ON t.group_key = e.group_key AND t.group_id = e.group_id
WHERE e.event_date >= t.from_date
  AND e.event_date BETWEEN :lowest AND :horizon
GROUP BY e.group_key, e.group_id, e.event_date
