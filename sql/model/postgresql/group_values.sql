-- Every value of a registered group key on the deduplicated events of the
-- touched dates, one row per value (a list gives one row per element, with its
-- position). group_id is NULL for an invalid value (empty string, null,
-- float, boolean, object, nested list). Keys apply only from setup_at (to the
-- second) until removed_at.
CREATE TEMP TABLE group_values AS
WITH candidates AS (
    SELECT e.load_date, e.source_object, e.source_line, e.source_index,
           e.event_date, e.event_id, e.insert_id, e.event, e.distinct_id, e.event_time,
           k.data_group_id, k.group_key,
           e.properties -> k.group_key AS value
    FROM events AS e
    JOIN group_keys AS k
      ON e.event_time >= k.setup_at
     AND (k.removed_at IS NULL OR e.event_time < k.removed_at)
    WHERE e.event_date IN :dates
),
-- Deduplicated as events_deduped is (the latest copy of an event carries its
-- groups), but only where a key is present: cheaper than reading the view.
present AS (
    SELECT * FROM candidates AS c
    WHERE value IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM events AS later
          WHERE later.event_date IN :dates AND later.event_date = c.event_date AND later.event_id = c.event_id
            AND (later.load_date, later.source_object, later.source_line, later.source_index)
                > (c.load_date, c.source_object, c.source_line, c.source_index))
),
elements AS (
    SELECT p.*, 1::BIGINT AS position, p.value AS element
    FROM present AS p WHERE jsonb_typeof(p.value) <> 'array'
    UNION ALL
    SELECT p.*, x.position, x.element
    FROM present AS p
    CROSS JOIN LATERAL jsonb_array_elements(p.value) WITH ORDINALITY AS x(element, position)
    WHERE jsonb_typeof(p.value) = 'array'
)
SELECT load_date, event_date, event_id, insert_id, event, distinct_id, event_time,
       data_group_id, group_key, position,
       (CASE
           WHEN jsonb_typeof(element) = 'string' THEN nullif(element #>> '{}', '')
           WHEN jsonb_typeof(element) = 'number' AND (element #>> '{}') ~ '^-?[0-9]+$' THEN element #>> '{}'
       END) COLLATE "C" AS group_id
FROM elements;
