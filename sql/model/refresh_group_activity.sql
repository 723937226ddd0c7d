-- Account health, second half (etl.model.activity): group_activity_daily and
-- group_user_first_days rebuilt for the targets activity_targets.sql chose.
-- Rows run from a group's first attributed event to :horizon, the last loaded
-- day. What a row says about date d depends only on the group's event_groups
-- rows up to d, so a change of a group's events on date t changes its rows
-- from t on, and nothing else: each such group is recomputed from its first
-- changed date to the horizon (days since active and "new" reach past any
-- fixed window); every other group only gains rows when the horizon moves.
-- Parameters: :horizon, :lowest (the earliest from_date of any target),
-- :window_start (:lowest - 27 days, for the trailing windows), :churn_days.
-- The constant date bounds let both engines prune by date.

DELETE FROM group_activity_daily
WHERE EXISTS (SELECT 1 FROM activity_targets AS t
              WHERE t.group_key = group_activity_daily.group_key AND t.group_id = group_activity_daily.group_id
                AND group_activity_daily.activity_date >= t.from_date)
  AND activity_date >= :lowest;

-- First days: a user's first day before from_date stands; the others are found again.
DELETE FROM group_user_first_days
WHERE EXISTS (SELECT 1 FROM activity_targets AS t
              WHERE t.group_key = group_user_first_days.group_key AND t.group_id = group_user_first_days.group_id
                AND group_user_first_days.first_date >= t.from_date)
  AND first_date >= :lowest;

-- Targets of several days: their users per day (a row per event), from 27 days
-- before from_date (the trailing windows) to the horizon.
CREATE TEMP TABLE activity_user_days AS
SELECT e.group_key, e.group_id, e.event_date, e.distinct_id
FROM event_groups AS e
JOIN activity_targets AS t ON t.group_key = e.group_key AND t.group_id = e.group_id
WHERE t.from_date < :horizon
  AND e.event_date >= t.from_date - 27
  AND e.event_date BETWEEN :window_start AND :horizon;

-- Targets of the horizon only (the usual day): each user's last day in its
-- trailing 28 days, all the windows need.
CREATE TEMP TABLE activity_latest AS
SELECT e.group_key, e.group_id, e.distinct_id, max(e.event_date) AS last_day
FROM event_groups AS e
JOIN activity_targets AS t ON t.group_key = e.group_key AND t.group_id = e.group_id
WHERE t.from_date = :horizon
  AND e.event_date BETWEEN CAST(:horizon AS DATE) - 27 AND :horizon
GROUP BY e.group_key, e.group_id, e.distinct_id;

INSERT INTO group_user_first_days (group_key, group_id, distinct_id, first_date)
SELECT e.group_key, e.group_id, e.distinct_id, min(e.event_date)
FROM event_groups AS e
JOIN activity_targets AS t ON t.group_key = e.group_key AND t.group_id = e.group_id
WHERE e.event_date >= t.from_date
  AND e.event_date BETWEEN :lowest AND :horizon
  AND NOT EXISTS (SELECT 1 FROM group_user_first_days AS f
                  WHERE f.group_key = e.group_key AND f.group_id = e.group_id AND f.distinct_id = e.distinct_id)
GROUP BY e.group_key, e.group_id, e.distinct_id;

CREATE TEMP TABLE activity_events AS
SELECT e.group_key, e.group_id, e.event_date, count(*) AS events
FROM event_groups AS e
JOIN activity_targets AS t ON t.group_key = e.group_key AND t.group_id = e.group_id
WHERE e.event_date >= t.from_date
  AND e.event_date BETWEEN :lowest AND :horizon
GROUP BY e.group_key, e.group_id, e.event_date;

-- The dates each target has rows for: from from_date (or, for a group with no
-- earlier events, its first active day) to the horizon. The first active days
-- are one grouping joined in, not a subquery per target: PostgreSQL ran that as
-- a scan of activity_events per group (36 s for a 1M-event first day, 0.1 s so).
CREATE TEMP TABLE activity_spine AS
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
JOIN calendar AS c ON c.activity_date >= s.first_row;

INSERT INTO group_activity_daily (activity_date, group_key, group_id, events, active_users, active_users_7d,
                                  active_users_28d, new_users, days_since_active, lifecycle, churned)
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
  ON f.group_key = m.group_key AND f.group_id = m.group_id AND f.first_date = m.activity_date;
