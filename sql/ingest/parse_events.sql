{% import 'ingest/_rules.sql' as ids with context -%}
-- Validate event records (input_records, from split_records.sql) in one
-- streaming pass (runs in the in-process DuckDB engine). One row per input
-- record: `reason` NULL for an event that loads (with its columns), else the
-- reject reason and the record's raw text. Parameters: $load_date,
-- $future_tolerance (seconds allowed after the end of the dump's day),
-- $earliest_epoch (1971-01-01), $token (NULL: any), $timezone, $placeholders.
-- Each record is parsed once for the values checked here; the small values
-- extracted are typed without parsing the record again.
WITH first_parts AS (
    SELECT source_object, source_line, source_index, raw, reason,
           CASE WHEN reason IS NULL THEN
               json_extract(raw, ['$.event', '$.properties', '$.properties.distinct_id', '$.properties.time',
                                  '$.properties."$insert_id"', '$.properties.token'])
           END AS parts,
           -- json_extract reads the FIRST of repeated names; of repeated names the LAST wins
           -- (docs/rules.md, as JSONB reads them), so a record naming one of these twice
           -- (`suspect`, split_records.sql) reads them one by one, the last of each
           reason IS NULL AND suspect AS repeats
    FROM input_records
),
fields AS (
    SELECT source_object, source_line, source_index, raw, reason,
           CASE WHEN repeats THEN
               [{{ dialect.json_member('raw', "'event'") }}, {{ dialect.json_member('raw', "'properties'") }},
                {{ dialect.json_member(dialect.json_member('raw', "'properties'"), "'distinct_id'") }},
                {{ dialect.json_member(dialect.json_member('raw', "'properties'"), "'time'") }},
                {{ dialect.json_member(dialect.json_member('raw', "'properties'"), "'$insert_id'") }},
                {{ dialect.json_member(dialect.json_member('raw', "'properties'"), "'token'") }}]
           ELSE parts END AS parts
    FROM first_parts
),
typed AS (
    SELECT source_object, source_line, source_index, raw, reason,
           json_type(parts[1]) AS event_type,
           json_extract_string(parts[1], '$') AS event,
           -- parts[2] is JSON only when it is an object (json_type of a scalar is its type name)
           json_type(parts[2]) AS properties_type,
           parts[2] AS properties,
           json_type(parts[3]) AS distinct_id_type,
           json_extract_string(parts[3], '$') AS distinct_id,
           json_type(parts[4]) AS time_type,
           TRY_CAST(parts[4] AS DOUBLE) AS time_raw,
           json_type(parts[5]) AS insert_id_type,
           json_extract_string(parts[5], '$') AS insert_id,
           json_extract_string(parts[6], '$') AS token
    FROM fields
),
timed AS (
    SELECT *, CASE WHEN time_raw > 1e11 THEN time_raw / 1000 ELSE time_raw END AS time_seconds
    FROM typed
),
checked AS (
    SELECT *,
           CASE
               WHEN reason IS NOT NULL THEN reason
               WHEN event_type IS NULL OR event_type = 'NULL' THEN 'missing_event'
               WHEN event_type <> 'VARCHAR' OR event = '' THEN 'invalid_event'
               WHEN properties_type IS NULL OR properties_type = 'NULL' THEN 'missing_properties'
               WHEN properties_type <> 'OBJECT' THEN 'invalid_properties'
               WHEN distinct_id_type IS NULL OR distinct_id_type = 'NULL' THEN 'missing_distinct_id'
               WHEN distinct_id_type NOT IN ('VARCHAR', 'BIGINT', 'UBIGINT')
                    OR {{ ids.is_placeholder('distinct_id') }} THEN 'invalid_distinct_id'
               WHEN time_type IS NULL OR time_type = 'NULL' THEN 'missing_time'
               WHEN time_type NOT IN ('BIGINT', 'UBIGINT', 'DOUBLE') OR NOT isfinite(time_raw) THEN 'invalid_time'
               WHEN time_seconds < $earliest_epoch THEN 'time_before_1971'
               WHEN time_seconds > {{ ids.end_of_day_epoch() }} + $future_tolerance THEN 'time_in_future'
               WHEN $token IS NOT NULL AND token IS DISTINCT FROM $token THEN 'wrong_token'
               -- a cheap count of colons first: json_keys runs only where 255 keys are possible
               WHEN strlen(properties) - strlen(replace(properties, ':', '')) > 255
                    AND len(json_keys(properties)) > 255 THEN 'too_many_properties'
           END AS final_reason
    FROM timed
)
SELECT source_object, source_line, source_index, final_reason AS reason,
       CASE WHEN final_reason IS NOT NULL THEN rtrim(raw, chr(10)) END AS raw,
       CASE WHEN final_reason IS NOT NULL THEN NULL
            -- copies of one event share this identity (docs/rules.md);
            -- without $insert_id a record is never anyone's duplicate.
            -- The fields joined by U+001F; when a field holds U+001F itself, length-prefixed
            -- (bytes) after the tag event2, so no two different events share a text (and
            -- events stored before keep their identity: migration 0009)
            WHEN insert_id_type IN ('VARCHAR', 'BIGINT', 'UBIGINT')
                 AND contains(event || distinct_id || insert_id, chr(31)) THEN
                md5('event2:' || strlen(event) || ':' || event || strlen(distinct_id) || ':' || distinct_id
                    || CAST(floor(time_seconds) AS BIGINT) || ':' || strlen(insert_id) || ':' || insert_id)
            WHEN insert_id_type IN ('VARCHAR', 'BIGINT', 'UBIGINT') THEN
                md5(concat_ws(chr(31), 'event', event, distinct_id,
                              CAST(floor(time_seconds) AS BIGINT), insert_id))
            ELSE md5(concat_ws(chr(31), 'record', $load_date, source_object, source_line, source_index))
       END AS event_id,
       CASE WHEN final_reason IS NULL AND insert_id_type IN ('VARCHAR', 'BIGINT', 'UBIGINT') THEN insert_id END
           AS insert_id,
       CASE WHEN final_reason IS NULL THEN event END AS event,
       CASE WHEN final_reason IS NULL THEN distinct_id END AS distinct_id,
       CASE WHEN final_reason IS NULL THEN to_timestamp(time_seconds) END AS event_time,
       CASE WHEN final_reason IS NULL THEN CAST(timezone($timezone, to_timestamp(time_seconds)) AS DATE) END
           AS event_date,
       CASE WHEN final_reason IS NULL THEN properties END AS properties
FROM checked
