-- Split one batch of raw lines of a dump into records (runs in the in-process
-- DuckDB engine). Input: raw_lines(source_line, bytes, flag) of the object
-- $source_object ($max_nesting: etl.engine.MAX_NESTING). Output: the temp table input_records, one row per record
-- (a line, or an element of a batch line) with `reason` set for a line that
-- is unusable as a whole or fails a check every kind of record shares.
-- Steps are MATERIALIZED so each line is decoded and parsed once.
CREATE OR REPLACE TEMP TABLE input_records AS
WITH decoded AS MATERIALIZED (
    SELECT $source_object AS source_object, source_line, bytes, flag,
           -- a UTF-8 byte-order mark before an object's first line is tolerated
           CASE WHEN source_line = 1 THEN ltrim(try(decode(bytes)), chr(65279))
                ELSE try(decode(bytes)) END AS text
    FROM raw_lines
),
lines AS MATERIALIZED (
    SELECT source_object, source_line, bytes, text, line_type,
           CASE
               WHEN flag IS NOT NULL THEN flag
               WHEN text IS NULL THEN 'invalid_utf8'
               WHEN octet_length(bytes) > 1048576 AND line_type IS DISTINCT FROM 'ARRAY' THEN 'oversized_record'
               WHEN line_type IS NULL THEN 'invalid_json'
               WHEN line_type NOT IN ('OBJECT', 'ARRAY') THEN 'not_an_object'
               WHEN line_type = 'ARRAY' AND json_array_length(text) = 0 THEN 'empty_batch'
           END AS line_reason
    FROM (
        SELECT *, CASE WHEN flag IS NULL AND json_valid(text) THEN json_type(text) END AS line_type
        FROM decoded
        -- blank lines (and the end of a file) are not records
        WHERE flag IS NOT NULL OR text IS NULL OR trim(text, ' ' || chr(9) || chr(13)) <> ''
    )
),
elements AS (
    SELECT source_object, source_line, 0 AS source_index, text AS raw, 'OBJECT' AS record_type
    FROM lines WHERE line_reason IS NULL AND line_type = 'OBJECT'
    UNION ALL
    SELECT source_object, source_line, source_index - 1, raw, json_type(raw)
    FROM (
        SELECT source_object, source_line,
               unnest(json_extract(text, '$[*]'))::VARCHAR AS raw,
               generate_subscripts(json_extract(text, '$[*]'), 1) AS source_index
        FROM lines WHERE line_reason IS NULL AND line_type = 'ARRAY'
    )
)
SELECT source_object, source_line, 0 AS source_index,
       CASE WHEN text IS NULL THEN 'base64:' || to_base64(bytes) ELSE text END AS raw,
       line_reason AS reason
FROM lines WHERE line_reason IS NOT NULL
UNION ALL
SELECT source_object, source_line, source_index, raw,
       CASE
           WHEN record_type <> 'OBJECT' THEN 'not_an_object'
           WHEN strlen(raw) > 1048576 THEN 'oversized_record'
           WHEN contains(raw, '\u0000') OR contains(raw, chr(0)) THEN 'nul_character'
           WHEN (contains(raw, 'NaN') OR contains(raw, 'Infinity'))
                AND regexp_matches(regexp_replace(raw, '"(?:[^"\\]|\\.)*"', '', 'g'), 'NaN|Infinity')
               THEN 'invalid_number'
           -- a cheap count first; json_depth runs only on records with more brackets than the limit
           WHEN strlen(raw) - strlen(replace(replace(raw, '[', ''), '{', '')) > $max_nesting
                AND json_depth(raw) > $max_nesting THEN 'nesting_too_deep'
       END
FROM elements;
