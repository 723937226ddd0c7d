{% import 'model/_rules.sql' as rules with context -%}
-- Attribution's scratch: distinct valid ids per event and key, in list order,
-- at most :max_ids (the cap: first_distinct_ids in sql/model/_rules.sql). A
-- value that is not a list names one id and needs no work; only events whose
-- value is a list of several elements (listed.sql) are made distinct and capped.
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
FROM ({{ rules.first_distinct_ids('listed_values', 'event_date, event_id, data_group_id') }}) AS capped
