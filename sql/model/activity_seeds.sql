-- What a target carries in: its last active date before from_date, from its row
-- of the day before (none: the group has no earlier events).
SELECT t.group_key, t.group_id, t.from_date,
       p.activity_date - p.days_since_active AS last_active
FROM activity_targets AS t
LEFT JOIN group_activity_daily AS p
  ON p.group_key = t.group_key AND p.group_id = t.group_id AND p.activity_date = t.from_date - 1
