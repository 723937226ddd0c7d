{% import 'model/_rules.sql' as rules with context -%}
-- Attribution of the touched event dates, from group_values (see
-- group_values.sql). Replaces event_groups, hot_shards and
-- group_daily_metrics for exactly those dates. Parameters: :dates,
-- :max_ids (300), :hot_shard_limit.
DELETE FROM event_groups WHERE event_date IN :dates;
DELETE FROM hot_shards WHERE event_date IN :dates;
DELETE FROM group_daily_metrics WHERE event_date IN :dates;

-- Distinct valid ids per event and key, in list order, at most :max_ids (the
-- cap: first_distinct_ids in sql/model/_rules.sql). A value that is not a
-- list names one id and needs no work; only events whose value is a list of
-- several elements (rare) are made distinct and capped.
-- group_values is read directly each time: a CTE read twice is materialized.
CREATE TEMP TABLE listed AS
SELECT DISTINCT event_date, event_id, data_group_id
FROM group_values
WHERE position > 1;

CREATE TEMP TABLE attributed AS
WITH listed_values AS (
    SELECT g.*
    FROM group_values AS g
    WHERE g.group_id IS NOT NULL
      AND EXISTS (SELECT 1 FROM listed AS l WHERE l.event_date = g.event_date AND l.event_id = g.event_id
                  AND l.data_group_id = g.data_group_id)
)
SELECT event_date, event_id, insert_id, event, distinct_id, event_time, data_group_id, group_key, group_id
FROM group_values AS g
WHERE g.group_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM listed AS l WHERE l.event_date = g.event_date AND l.event_id = g.event_id
                  AND l.data_group_id = g.data_group_id)
UNION ALL
SELECT event_date, event_id, insert_id, event, distinct_id, event_time, data_group_id, group_key, group_id
FROM ({{ rules.first_distinct_ids('listed_values', 'event_date, event_id, data_group_id') }}) AS capped;

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
