-- Validate event records (after split_records.sql) into events and rejects
-- (runs in the in-process DuckDB engine). Output: the temp table
-- parsed_records, one row per input record, reject_reason NULL for an event
-- that loads. Parameters: $load_date, $latest_epoch (end of the dump's day +
-- 1 hour), $earliest_epoch (1971-01-01), $token (NULL: any), $timezone,
-- $placeholders.
CREATE OR REPLACE TEMP TABLE parsed_records AS
-- Each record is parsed twice (its top level, then its properties); the
-- small values extracted are typed without parsing the record again.
WITH top AS MATERIALIZED (
    SELECT *, json_extract(raw, ['$.event', '$.properties']) AS parts
    FROM input_records WHERE reason IS NULL
),
fields AS MATERIALIZED (
    SELECT *,
           json_type(parts[1]) AS event_type,
           json_extract_string(parts[1], '$') AS event,
           json_type(parts[2]) AS properties_type,
           parts[2] AS properties,
           CASE WHEN json_type(parts[2]) = 'OBJECT' THEN
               json_extract(parts[2], ['$.distinct_id', '$.time', '$."$insert_id"', '$.token'])
           END AS known
    FROM top
),
props AS (
    SELECT *,
           json_type(known[1]) AS distinct_id_type,
           json_extract_string(known[1], '$') AS distinct_id,
           json_type(known[2]) AS time_type,
           TRY_CAST(known[2] AS DOUBLE) AS time_raw,
           json_type(known[3]) AS insert_id_type,
           json_extract_string(known[3], '$') AS insert_id,
           json_extract_string(known[4], '$') AS token
    FROM fields
),
timed AS (
    SELECT *,
           CASE WHEN time_raw > 1e11 THEN time_raw / 1000 ELSE time_raw END AS time_seconds
    FROM props
),
checked AS (
    SELECT *,
           CASE
               WHEN event_type IS NULL OR event_type = 'NULL' THEN 'missing_event'
               WHEN event_type <> 'VARCHAR' OR event = '' THEN 'invalid_event'
               WHEN properties_type IS NULL OR properties_type = 'NULL' THEN 'missing_properties'
               WHEN properties_type <> 'OBJECT' THEN 'invalid_properties'
               WHEN distinct_id_type IS NULL OR distinct_id_type = 'NULL' THEN 'missing_distinct_id'
               WHEN distinct_id_type NOT IN ('VARCHAR', 'BIGINT', 'UBIGINT')
                    OR list_contains($placeholders, lower(trim(distinct_id))) THEN 'invalid_distinct_id'
               WHEN time_type IS NULL OR time_type = 'NULL' THEN 'missing_time'
               WHEN time_type NOT IN ('BIGINT', 'UBIGINT', 'DOUBLE') OR NOT isfinite(time_raw) THEN 'invalid_time'
               WHEN time_seconds < $earliest_epoch THEN 'time_before_1971'
               WHEN time_seconds > $latest_epoch THEN 'time_in_future'
               WHEN $token IS NOT NULL AND token IS DISTINCT FROM $token THEN 'wrong_token'
               WHEN len(json_keys(properties)) > 255 THEN 'too_many_properties'
           END AS record_reason
    FROM timed
)
SELECT source_object, source_line, source_index, reason AS reject_reason, raw,
       NULL::VARCHAR AS event_id, NULL::VARCHAR AS insert_id, NULL::VARCHAR AS event,
       NULL::VARCHAR AS distinct_id, NULL::TIMESTAMPTZ AS event_time, NULL::DATE AS event_date,
       NULL::JSON AS properties
FROM input_records WHERE reason IS NOT NULL
UNION ALL
SELECT source_object, source_line, source_index, record_reason, raw,
       CASE WHEN record_reason IS NOT NULL THEN NULL
            -- copies of one event share this identity (DESIGN.md section 7);
            -- without $insert_id a record is never anyone's duplicate
            WHEN insert_id_type IN ('VARCHAR', 'BIGINT', 'UBIGINT') THEN
                md5(concat_ws(chr(31), 'event', event, distinct_id,
                              CAST(floor(time_seconds) AS BIGINT), insert_id))
            ELSE md5(concat_ws(chr(31), 'record', $load_date, source_object, source_line, source_index))
       END,
       CASE WHEN insert_id_type IN ('VARCHAR', 'BIGINT', 'UBIGINT') THEN insert_id END,
       event, distinct_id,
       CASE WHEN record_reason IS NULL THEN to_timestamp(time_seconds) END,
       CASE WHEN record_reason IS NULL THEN CAST(timezone($timezone, to_timestamp(time_seconds)) AS DATE) END,
       properties
FROM checked;
