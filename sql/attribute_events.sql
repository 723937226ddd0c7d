-- Attribution of the touched event dates, from group_values (see
-- group_values.sql). Replaces event_groups, hot_shards and
-- group_daily_metrics for exactly those dates. Parameters: :dates,
-- :max_ids (300), :hot_shard_limit.
DELETE FROM event_groups WHERE event_date IN :dates;
DELETE FROM hot_shards WHERE event_date IN :dates;
DELETE FROM group_daily_metrics WHERE event_date IN :dates;

-- Distinct valid ids per event and key, in list order, at most :max_ids; then
-- each (group, date) ranked by event time, then $insert_id (hot shards).
CREATE TEMP TABLE attributed AS
WITH distinct_ids AS (
    SELECT event_date, event_id, insert_id, event, distinct_id, event_time,
           data_group_id, group_key, group_id, min(position) AS first_position
    FROM group_values
    WHERE group_id IS NOT NULL
    GROUP BY event_date, event_id, insert_id, event, distinct_id, event_time,
             data_group_id, group_key, group_id
),
limited AS (
    SELECT *,
           row_number() OVER (PARTITION BY event_date, event_id, data_group_id
                              ORDER BY first_position) AS id_rank
    FROM distinct_ids
)
SELECT event_date, event_id, insert_id, event, distinct_id, event_time,
       data_group_id, group_key, group_id,
       row_number() OVER (PARTITION BY event_date, data_group_id, group_id
                          ORDER BY event_time, insert_id NULLS LAST, event_id) AS shard_rank
FROM limited
WHERE id_rank <= :max_ids;

INSERT INTO event_groups (event_date, event_id, insert_id, event, distinct_id, event_time,
                          data_group_id, group_key, group_id)
SELECT event_date, event_id, insert_id, event, distinct_id, event_time,
       data_group_id, group_key, group_id
FROM attributed
WHERE shard_rank <= :hot_shard_limit;

INSERT INTO hot_shards (event_date, data_group_id, group_key, group_id, events_over)
SELECT event_date, data_group_id, group_key, group_id, count(*)
FROM attributed
WHERE shard_rank > :hot_shard_limit
GROUP BY event_date, data_group_id, group_key, group_id;

INSERT INTO group_daily_metrics (event_date, group_key, group_id, event, event_count, user_count)
SELECT event_date, group_key, group_id, event, count(*), count(DISTINCT distinct_id)
FROM event_groups
WHERE event_date IN :dates
GROUP BY event_date, group_key, group_id, event;
