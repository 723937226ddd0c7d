-- Attribution's scratch: the events of each (group, date), for hot shards.
SELECT event_date, data_group_id, group_key, group_id, count(*) AS events
FROM attributed
GROUP BY event_date, data_group_id, group_key, group_id
