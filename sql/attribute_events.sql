-- Attribution of the touched event dates, from group_values (see
-- group_values.sql). Replaces event_groups, hot_shards and
-- group_daily_metrics for exactly those dates. Parameters: :dates,
-- :max_ids (300), :hot_shard_limit.
DELETE FROM event_groups WHERE event_date IN :dates;
DELETE FROM hot_shards WHERE event_date IN :dates;
DELETE FROM group_daily_metrics WHERE event_date IN :dates;

-- Distinct valid ids per event and key, in list order, at most :max_ids.
-- Only events naming more than :max_ids ids for one key (rare) are ranked.
CREATE TEMP TABLE attributed AS
WITH distinct_ids AS (
    SELECT event_date, event_id, insert_id, event, distinct_id, event_time,
           data_group_id, group_key, group_id, min(position) AS first_position
    FROM group_values
    WHERE group_id IS NOT NULL
    GROUP BY event_date, event_id, insert_id, event, distinct_id, event_time,
             data_group_id, group_key, group_id
),
crowded AS (
    SELECT event_date, event_id, data_group_id
    FROM distinct_ids
    GROUP BY event_date, event_id, data_group_id
    HAVING count(*) > :max_ids
)
SELECT event_date, event_id, insert_id, event, distinct_id, event_time, data_group_id, group_key, group_id
FROM distinct_ids AS d
WHERE NOT EXISTS (SELECT 1 FROM crowded AS c WHERE c.event_date = d.event_date
                  AND c.event_id = d.event_id AND c.data_group_id = d.data_group_id)
UNION ALL
SELECT event_date, event_id, insert_id, event, distinct_id, event_time, data_group_id, group_key, group_id
FROM (
    SELECT d.*, row_number() OVER (PARTITION BY d.event_date, d.event_id, d.data_group_id
                                   ORDER BY d.first_position) AS id_rank
    FROM distinct_ids AS d
    JOIN crowded AS c ON c.event_date = d.event_date AND c.event_id = d.event_id
                     AND c.data_group_id = d.data_group_id
) AS capped
WHERE id_rank <= :max_ids;

-- Hot shards: a (group, date) keeps its first :hot_shard_limit events by event
-- time, then $insert_id; only shards over the limit (rare) are ranked.
CREATE TEMP TABLE shard_sizes AS
SELECT event_date, data_group_id, group_key, group_id, count(*) AS events
FROM attributed
GROUP BY event_date, data_group_id, group_key, group_id;

INSERT INTO event_groups (event_date, event_id, insert_id, event, distinct_id, event_time,
                          data_group_id, group_key, group_id)
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
WHERE shard_rank <= :hot_shard_limit;

INSERT INTO hot_shards (event_date, data_group_id, group_key, group_id, events_over)
SELECT event_date, data_group_id, group_key, group_id, events - :hot_shard_limit
FROM shard_sizes
WHERE events > :hot_shard_limit;

INSERT INTO group_daily_metrics (event_date, group_key, group_id, event, event_count, user_count)
SELECT event_date, group_key, group_id, event, count(*), count(DISTINCT distinct_id)
FROM event_groups
WHERE event_date IN :dates
GROUP BY event_date, group_key, group_id, event;
