-- event_groups of the touched event dates (a `partitions` write by event_date,
-- etl.store.tables), from attributed.sql. Hot shards: a (group, date) keeps its
-- first :hot_shard_limit events by event time, then $insert_id; only shards over
-- the limit (rare) are ranked.
SELECT a.event_date, a.event_id, a.insert_id, a.event, a.distinct_id, a.event_time,
       a.data_group_id, a.group_key, a.group_id
FROM attributed AS a
WHERE NOT EXISTS (SELECT 1 FROM shard_sizes AS s
                  WHERE s.events > :hot_shard_limit AND s.event_date = a.event_date
                    AND s.data_group_id = a.data_group_id AND s.group_id = a.group_id)
UNION ALL
SELECT event_date, event_id, insert_id, event, distinct_id, event_time, data_group_id, group_key, group_id
FROM (
    SELECT a.*, row_number() OVER (PARTITION BY a.event_date, a.data_group_id, a.group_id
                                   ORDER BY a.event_time, a.insert_id NULLS LAST, a.event_id) AS shard_rank
    FROM attributed AS a
    JOIN shard_sizes AS s ON s.event_date = a.event_date AND s.data_group_id = a.data_group_id
                         AND s.group_id = a.group_id AND s.events > :hot_shard_limit
) AS hot
WHERE shard_rank <= :hot_shard_limit
