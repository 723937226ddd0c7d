-- group_activity_daily of the health targets (etl.model.activity: a write of the
-- dates :lowest..:horizon that replaces each target's rows from its from_date),
-- from the scratch tables activity_targets.sql and the others made.
-- Rows run from a group's first attributed event to :horizon, the last loaded
-- day. What a row says about date d depends only on the group's event_groups
-- rows up to d, so a change of a group's events on date t changes its rows
-- from t on, and nothing else: each such group is recomputed from its first
-- changed date to the horizon (days since active and "new" reach past any
-- fixed window); every other group only gains rows when the horizon moves.
-- Parameters: :horizon, :lowest (the earliest from_date of any target),
-- :window_start (:lowest - 27 days, for the trailing windows), :churn_days.
-- The constant date bounds let both engines prune by date.
WITH rolling AS (
    -- a target of the horizon only
    SELECT l.group_key, l.group_id, CAST(:horizon AS DATE) AS activity_date,
           sum(CASE WHEN l.last_day = :horizon THEN 1 ELSE 0 END) AS active_users,
           sum(CASE WHEN l.last_day > CAST(:horizon AS DATE) - 7 THEN 1 ELSE 0 END) AS active_users_7d,
           count(*) AS active_users_28d
    FROM activity_latest AS l
    GROUP BY l.group_key, l.group_id
    UNION ALL
    -- a target of several days: the distinct users of each day's windows
    SELECT s.group_key, s.group_id, s.activity_date,
           count(DISTINCT CASE WHEN u.event_date = s.activity_date THEN u.distinct_id END),
           count(DISTINCT CASE WHEN u.event_date > s.activity_date - 7 THEN u.distinct_id END),
           count(DISTINCT u.distinct_id)
    FROM activity_spine AS s
    JOIN activity_targets AS t ON t.group_key = s.group_key AND t.group_id = s.group_id AND t.from_date < :horizon
    JOIN activity_user_days AS u
      ON u.group_key = s.group_key AND u.group_id = s.group_id
     AND u.event_date <= s.activity_date AND u.event_date > s.activity_date - 28
    GROUP BY s.group_key, s.group_id, s.activity_date
),
firsts AS (
    SELECT f.group_key, f.group_id, f.first_date, count(*) AS new_users
    FROM group_user_first_days AS f
    JOIN activity_targets AS t ON t.group_key = f.group_key AND t.group_id = f.group_id
    WHERE f.first_date >= t.from_date AND f.first_date >= :lowest
    GROUP BY f.group_key, f.group_id, f.first_date
),
daily AS (
    SELECT s.group_key, s.group_id, s.activity_date, s.seed_last_active,
           coalesce(a.events, 0) AS events
    FROM activity_spine AS s
    LEFT JOIN activity_events AS a
      ON a.group_key = s.group_key AND a.group_id = s.group_id AND a.event_date = s.activity_date
),
marked AS (
    SELECT d.*,
           coalesce(max(CASE WHEN d.events > 0 THEN d.activity_date END) OVER (
                        PARTITION BY d.group_key, d.group_id ORDER BY d.activity_date
                        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
                    d.seed_last_active) AS last_active,
           coalesce(max(CASE WHEN d.events > 0 THEN d.activity_date END) OVER (
                        PARTITION BY d.group_key, d.group_id ORDER BY d.activity_date
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                    d.seed_last_active) AS active_before
    FROM daily AS d
)
SELECT m.activity_date, m.group_key, m.group_id,
       m.events,
       coalesce(r.active_users, 0),
       coalesce(r.active_users_7d, 0),
       coalesce(r.active_users_28d, 0),
       coalesce(f.new_users, 0),
       CAST({{ dialect.days_between('m.activity_date', 'm.last_active') }} AS INTEGER),
       CASE WHEN m.events = 0 THEN 'dormant'
            WHEN m.active_before IS NULL THEN 'new'
            WHEN m.active_before = m.activity_date - 1 THEN 'returning'
            ELSE 'resurrected' END,
       m.events = 0 AND {{ dialect.days_between('m.activity_date', 'm.last_active') }} >= :churn_days
FROM marked AS m
LEFT JOIN rolling AS r
  ON r.group_key = m.group_key AND r.group_id = m.group_id AND r.activity_date = m.activity_date
LEFT JOIN firsts AS f
  ON f.group_key = m.group_key AND f.group_id = m.group_id AND f.first_date = m.activity_date
