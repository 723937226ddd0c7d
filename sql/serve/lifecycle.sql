-- The lifecycle report: groups of key :k per state per day, :first to :last
-- (etl.serve.health.lifecycle_report). Dormant groups past
-- GROUP_ETL_CHURN_DAYS count as churned, not dormant: each group counts once a day.
SELECT a.activity_date,
       sum(CASE WHEN a.lifecycle = 'new' THEN 1 ELSE 0 END) AS "new",
       sum(CASE WHEN a.lifecycle = 'returning' THEN 1 ELSE 0 END) AS "returning",
       sum(CASE WHEN a.lifecycle = 'resurrected' THEN 1 ELSE 0 END) AS "resurrected",
       sum(CASE WHEN a.lifecycle = 'dormant' AND NOT a.churned THEN 1 ELSE 0 END) AS "dormant",
       sum(CASE WHEN a.churned THEN 1 ELSE 0 END) AS "churned"
FROM group_activity_daily AS a
WHERE a.group_key = :k
  AND a.activity_date BETWEEN :first AND :last
GROUP BY a.activity_date
ORDER BY a.activity_date
