-- group_user_first_days of the health targets (etl.model.activity: a write that
-- replaces each target's first days from its from_date): a user's first day
-- before from_date stands; the others are found again.
SELECT e.group_key, e.group_id, e.distinct_id, min(e.event_date)
FROM event_groups AS e
JOIN activity_targets AS t ON t.group_key = e.group_key AND t.group_id = e.group_id
WHERE e.event_date >= t.from_date
  AND e.event_date BETWEEN :lowest AND :horizon
  -- a first day the write keeps (before the target's from_date) stands
  AND NOT EXISTS (SELECT 1 FROM group_user_first_days AS f
                  WHERE f.group_key = e.group_key AND f.group_id = e.group_id AND f.distinct_id = e.distinct_id
                    AND f.first_date < t.from_date)
GROUP BY e.group_key, e.group_id, e.distinct_id
