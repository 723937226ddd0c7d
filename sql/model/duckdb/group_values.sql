-- Every value of a registered group key on the deduplicated events of the
-- touched dates, one row per value (a list gives one row per element, with its
-- position). group_id is NULL for an invalid value (empty string, null,
-- float, boolean, object, nested list). Keys apply only from setup_at (to the
-- second) until removed_at. The key name reaches the JSON path as a value.
CREATE TEMP TABLE group_values AS
-- Deduplicated as events_deduped is (the latest copy of an event carries its
-- groups), cheaply: only events whose id hash occurs more than once on these
-- dates (rare; a hash collision only adds an event to rank) are ranked, by
-- their exact id, and the copies a later one replaces are dropped by an
-- anti-join whose build side is as small as the duplicates.
WITH copied AS (
    SELECT event_date, hash(event_id) AS id_hash
    FROM events
    WHERE event_date IN :dates
    GROUP BY event_date, id_hash
    HAVING count(*) > 1
),
replaced AS (
    SELECT event_date, event_id, load_date, source_object, source_line, source_index
    FROM (
        SELECT e.event_date, e.event_id, e.load_date, e.source_object, e.source_line, e.source_index,
               row_number() OVER (
                   PARTITION BY e.event_date, e.event_id
                   ORDER BY e.load_date DESC, e.source_object DESC, e.source_line DESC, e.source_index DESC
               ) AS copy_rank
        FROM events AS e
        SEMI JOIN copied AS c ON c.event_date = e.event_date AND c.id_hash = hash(e.event_id)
        WHERE e.event_date IN :dates
    ) AS ranked
    WHERE copy_rank > 1
),
keyed AS (
    SELECT e.event_date, e.event_id, e.insert_id, e.event, e.distinct_id, e.event_time, e.load_date,
           e.source_object, e.source_line, e.source_index, k.data_group_id, k.group_key,
           json_extract(e.properties,
                        '$."' || replace(replace(k.group_key, '\', '\\'), '"', '\"') || '"') AS value
    FROM events AS e
    JOIN group_keys AS k
      ON e.event_time >= k.setup_at
     AND (k.removed_at IS NULL OR e.event_time < k.removed_at)
    WHERE e.event_date IN :dates
),
present AS (
    SELECT p.* EXCLUDE (source_object, source_line, source_index)
    FROM keyed AS p
    ANTI JOIN replaced AS r
      ON r.event_date = p.event_date AND r.event_id = p.event_id AND r.load_date = p.load_date
     AND r.source_object = p.source_object AND r.source_line = p.source_line
     AND r.source_index = p.source_index
),
-- One pass: a list gives its elements, any other value itself (position 1),
-- an absent key nothing (an empty list, not a filter: DuckDB would push a
-- filter into the join with group_keys and extract every value twice).
elements AS (
    SELECT * EXCLUDE (value, listed), generate_subscripts(listed, 1) AS position, unnest(listed) AS element
    FROM (
        SELECT *, CASE WHEN value IS NULL THEN []::JSON[]
                       WHEN json_type(value) = 'ARRAY' THEN json_extract(value, '$[*]')
                       ELSE [value] END AS listed
        FROM present
    ) AS with_lists
)
SELECT load_date, event_date, event_id, insert_id, event, distinct_id, event_time,
       data_group_id, group_key, position,
       CASE json_type(element)
           WHEN 'VARCHAR' THEN nullif(json_extract_string(element, '$'), '')
           WHEN 'BIGINT' THEN json_extract_string(element, '$')
           WHEN 'UBIGINT' THEN json_extract_string(element, '$')
       END AS group_id
FROM elements;
