{% import 'ingest/_rules.sql' as ids with context -%}
-- Validate profile update records (input_records, from split_records.sql):
-- group updates ($kind = 'group') or user updates ($kind = 'user'). One row
-- per input record, `reason` NULL for an update that applies; every row keeps
-- its raw text (profile_updates stores it).
-- Parameters: those of parse_events.sql plus $operations (allowed for the
-- kind), $all_operations, $meta_keys, $registered_keys, $max_properties,
-- $max_name_length. A $group_id is valid by the rule events follow
-- (sql/ingest/_rules.sql): 1e3 names group '1000'.
WITH fields AS (
    SELECT *,
           list_filter(json_keys(raw), lambda k: list_contains($all_operations, k)) AS operations,
           list_filter(json_keys(raw), lambda k: NOT list_contains($all_operations, k)
                                                 AND NOT list_contains($meta_keys, k)) AS unknown
    FROM input_records WHERE reason IS NULL
),
members AS (
    -- of repeated names the last wins (docs/rules.md), as JSONB reads them
    SELECT *,
           {{ dialect.json_member('raw', "'$time'") }} AS time_value,
           {{ dialect.json_member('raw', "'$group_key'") }} AS group_key_value,
           {{ dialect.json_member('raw', "'$group_id'") }} AS group_id_value,
           {{ dialect.json_member('raw', "'$distinct_id'") }} AS distinct_id_value,
           {{ dialect.json_member('raw', "'$token'") }} AS token_value
    FROM fields
),
shaped AS (
    SELECT *,
           operations[1] AS operation,
           -- operation names come from our own list, so this path is safe
           json_extract(raw, '$."' || operations[1] || '"') AS value,
           json_type(time_value) AS time_type,
           TRY_CAST(time_value AS DOUBLE) AS time_raw,
           json_type(group_key_value) AS group_key_type,
           json_extract_string(group_key_value, '$') AS group_key,
           json_type(group_id_value) AS group_id_type,
           json_type(distinct_id_value) AS distinct_id_type,
           json_extract_string(distinct_id_value, '$') AS distinct_id,
           json_extract_string(token_value, '$') AS token
    FROM members
),
measured AS (
    SELECT *,
           json_type(value) AS value_type,
           CASE WHEN json_type(value) = 'OBJECT' THEN json_keys(value)
                WHEN json_type(value) = 'ARRAY' THEN json_extract_string(value, '$[*]') END AS names,
           CASE WHEN json_type(value) = 'OBJECT' THEN json_extract(value, '$.*')
                WHEN json_type(value) = 'ARRAY' THEN json_extract(value, '$[*]') END AS items,
           CASE WHEN time_raw > 1e11 THEN time_raw / 1000 ELSE time_raw END AS time_seconds,
           {{ ids.group_id('group_id_value') }} AS group_id
    FROM shaped
),
checked AS (
    SELECT *,
           CASE
               WHEN len(unknown) > 0 THEN 'unknown_operation'
               WHEN len(operations) = 0 THEN 'missing_operation'
               WHEN len(operations) > 1 THEN 'multiple_operations'
               WHEN NOT list_contains($operations, operation) THEN 'unknown_operation'
               WHEN $kind = 'group' AND (group_key_type IS NULL OR group_key_type = 'NULL') THEN 'missing_group_key'
               WHEN $kind = 'group' AND NOT list_contains($registered_keys, group_key)
                   THEN 'unregistered_group_key'
               WHEN $kind = 'group' AND (group_id_type IS NULL OR group_id_type = 'NULL') THEN 'missing_group_id'
               WHEN $kind = 'group' AND group_id IS NULL THEN 'invalid_group_id'
               WHEN $kind = 'user' AND (distinct_id_type IS NULL OR distinct_id_type = 'NULL')
                   THEN 'missing_distinct_id'
               WHEN $kind = 'user' AND (distinct_id_type NOT IN ('VARCHAR', 'BIGINT', 'UBIGINT')
                                        OR {{ ids.is_placeholder('distinct_id') }})
                   THEN 'invalid_distinct_id'
               WHEN $token IS NOT NULL AND token IS DISTINCT FROM $token THEN 'wrong_token'
               WHEN time_type IS NOT NULL AND time_type <> 'NULL'
                    AND (time_type NOT IN ('BIGINT', 'UBIGINT', 'DOUBLE') OR NOT isfinite(time_raw))
                   THEN 'invalid_time'
               WHEN time_seconds < $earliest_epoch THEN 'time_before_1971'
               WHEN time_seconds > {{ ids.end_of_day_epoch() }} + $future_tolerance THEN 'time_in_future'
               WHEN operation IN ('$set', '$set_once', '$union', '$remove', '$add', '$append')
                    AND value_type IS DISTINCT FROM 'OBJECT' THEN 'invalid_value'
               WHEN operation = '$unset' AND (value_type IS DISTINCT FROM 'ARRAY'
                    OR len(list_filter(items, lambda v: json_type(v) <> 'VARCHAR')) > 0) THEN 'invalid_value'
               WHEN operation = '$union' AND len(list_filter(items, lambda v: json_type(v) <> 'ARRAY')) > 0
                   THEN 'invalid_value'
               WHEN operation = '$add'
                    AND len(list_filter(items, lambda v: json_type(v) NOT IN ('BIGINT', 'UBIGINT', 'DOUBLE'))) > 0
                   THEN 'invalid_value'
               WHEN len(names) > $max_properties THEN 'too_many_properties'
               WHEN len(list_filter(names, lambda k: length(k) > $max_name_length)) > 0
                   THEN 'property_name_too_long'
           END AS record_reason
    FROM measured
)
SELECT source_object, source_line, source_index, reason, rtrim(raw, chr(10)) AS raw,
       NULL::VARCHAR AS group_key, NULL::VARCHAR AS profile_id, NULL::TIMESTAMPTZ AS update_time,
       NULL::BOOLEAN AS timed, NULL::VARCHAR AS operation, NULL::JSON AS value
FROM input_records WHERE reason IS NOT NULL
UNION ALL
SELECT source_object, source_line, source_index, record_reason, rtrim(raw, chr(10)),
       CASE WHEN $kind = 'group' THEN group_key END,
       CASE WHEN $kind = 'group' THEN group_id ELSE distinct_id END,
       CASE WHEN record_reason IS NULL THEN to_timestamp(coalesce(time_seconds, {{ ids.end_of_day_epoch() }})) END,
       time_seconds IS NOT NULL,
       operation, value
FROM checked
