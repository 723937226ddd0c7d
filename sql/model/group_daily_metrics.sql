-- group_daily_metrics of the touched event dates, from the event_groups the
-- same run has just written for them.
SELECT event_date, group_key, group_id, event, count(*) AS event_count, count(DISTINCT distinct_id) AS user_count
FROM event_groups
WHERE event_date IN :dates
GROUP BY event_date, group_key, group_id, event
