-- Split one batch of raw lines of a dump into records (runs in the in-process
-- DuckDB engine, as the CTE `input_records` of a kind's validation query; see
-- etl.ingest.records). Input: raw_lines(source_object, source_line, text, bytes, flag,
-- size), the lines of one or more objects (one query for many small objects): `text`
-- is the line (with its newline) when the batch is valid UTF-8, else NULL and
-- `bytes` holds the line; `flag` marks a truncated gzip tail or an empty
-- object; `size` is the line's length in bytes. Output: one row per record (a
-- line, or an element of a batch line) with `reason` set for a record that is
-- unusable as a whole or fails a check every kind of record shares.
-- One streaming pass over the lines: nothing is materialized. Batch lines (a
-- JSON array, rare) take the second branch, found by a cheap anchored match.
-- The decoded lines are written twice, once per branch: a CTE read by both
-- branches is buffered, which made the whole split 2.5x slower (measured).
WITH object_lines AS (
    SELECT source_object, source_line, flag, size, bytes, text
    FROM (
        SELECT source_object, source_line, flag, size, bytes,
               -- a UTF-8 byte-order mark before an object's first line is tolerated
               CASE WHEN source_line = 1 THEN ltrim(coalesce(text, try(decode(bytes))), chr(65279))
                    ELSE coalesce(text, try(decode(bytes))) END AS text
        FROM raw_lines
    )
    WHERE text IS NULL OR flag IS NOT NULL OR NOT regexp_matches(text, '^[ \t\r]*\[')
),
batch_lines AS (
    SELECT source_object, source_line, size, text
    FROM (
        SELECT source_object, source_line, flag, size,
               CASE WHEN source_line = 1 THEN ltrim(coalesce(text, try(decode(bytes))), chr(65279))
                    ELSE coalesce(text, try(decode(bytes))) END AS text
        FROM raw_lines
    )
    WHERE text IS NOT NULL AND flag IS NULL AND regexp_matches(text, '^[ \t\r]*\[')
),
objects AS (
    -- a line over $max_record_bytes keeps `truncated:<bytes>:` and its first $raw_prefix
    -- characters (or bytes, in base64, when it is not UTF-8) as its raw text
    SELECT source_object, source_line, 0 AS source_index,
           -- (and so do the bytes after a gzip's last member, flagged truncated_gzip)
           CASE WHEN coalesce(flag, 'truncated_gzip') = 'truncated_gzip' AND size > $max_record_bytes
                THEN 'truncated:' || size || ':' || coalesce(left(text, $raw_prefix),
                                                             'base64:' || to_base64(bytes[1:$raw_prefix]))
                ELSE text END AS raw,
           CASE WHEN coalesce(flag, 'truncated_gzip') = 'truncated_gzip' AND size > $max_record_bytes
                THEN NULL ELSE bytes END AS bytes,
           CASE
               WHEN flag IS NOT NULL THEN flag
               WHEN size > $max_record_bytes THEN 'oversized_record'
               WHEN text IS NULL THEN 'invalid_utf8'
               WHEN NOT json_valid(text) THEN 'invalid_json'
               -- valid JSON starting with { is an object: no second parse (json_type) needed
               WHEN NOT regexp_matches(text, '^[ \t\r\n]*\{') THEN 'not_an_object'
           END AS line_reason
    FROM object_lines
    -- blank lines (and the end of a file) are not records
    -- (a line with a character other than JSON whitespace; found without copying it)
    WHERE flag IS NOT NULL OR text IS NULL OR regexp_matches(text, '[^ \t\r\n]')
),
batches AS (
    SELECT source_object, source_line, text, size,
           CASE
               WHEN size > $max_record_bytes AND NOT json_valid(text) THEN 'oversized_record'
               WHEN NOT json_valid(text) THEN 'invalid_json'
               WHEN regexp_matches(text, ',[ \t\r\n]*[]}]')
                    AND regexp_matches(regexp_replace(text, '"(?:[^"\\]|\\.)*"', '', 'g'), ',[ \t\r\n]*[]}]')
                   THEN 'invalid_json'
               WHEN json_array_length(text) = 0 THEN 'empty_batch'
           END AS line_reason
    FROM batch_lines
),
elements AS (
    SELECT source_object, source_line, 0 AS source_index,
           CASE WHEN line_reason = 'oversized_record'
                THEN 'truncated:' || size || ':' || left(text, $raw_prefix)
                ELSE rtrim(text, chr(10)) END AS raw,
           line_reason AS reason
    FROM batches WHERE line_reason IS NOT NULL
    UNION ALL
    SELECT source_object, source_line, source_index - 1,
           CASE WHEN strlen(raw) > $max_record_bytes
                THEN 'truncated:' || strlen(raw) || ':' || left(raw, $raw_prefix) ELSE raw END,
           CASE WHEN json_type(raw) <> 'OBJECT' THEN 'not_an_object'
                WHEN strlen(raw) > $max_record_bytes THEN 'oversized_record' END
    FROM (
        SELECT source_object, source_line,
               unnest(json_extract(text, '$[*]'))::VARCHAR AS raw,
               generate_subscripts(json_extract(text, '$[*]'), 1) AS source_index
        FROM batches WHERE line_reason IS NULL
    )
),
records AS (
    SELECT source_object, source_line, source_index,
           CASE WHEN raw IS NULL THEN 'base64:' || to_base64(bytes) ELSE raw END AS raw,
           line_reason AS reason
    FROM objects
    UNION ALL
    SELECT source_object, source_line, source_index, raw, reason FROM elements
),
-- One regular-expression pass a record flags the rare ones that need a closer look
-- (`suspect`; measured: one pass of the union costs what one of its parts costs
-- alone): a comma before } or ], a number (after : , or [) with an exponent of 3
-- digits or 20 digits in a row, a value (after : , or [) starting like NaN or Inf,
-- the escape \u0000, a field name the validation reads written twice (its own `suspect`).
-- (NaN and Inf were a case-blind search of every record of their own: 0.75 s of CPU
-- for 1M events, a third of the split; in this pass they cost nothing measurable.)
suspects AS (
    SELECT *, regexp_matches(raw, ',[ \t\r\n]*[]}]|[:,[][ \t\r\n]*-?[0-9.]+[eE][+-]?[0-9]{3}|[:,[][ \t\r\n]*-?[0-9.]{20}|\\u0000|'
                                  '[:,[][ \t\r\n]*[-+]?(?:[iI]|[nN][aA])|'
                                  '"event".*"event"|"properties".*"properties"|"distinct_id".*"distinct_id"|'
                                  '"time".*"time"|"\$insert_id".*"\$insert_id"|"token".*"token"') AS suspect
    FROM records
)
SELECT source_object, source_line, source_index, suspect,
       -- a raw NUL byte is kept as base64 (no warehouse text column takes it), like bytes not UTF-8
       CASE WHEN contains(raw, chr(0)) THEN 'base64:' || to_base64(encode(rtrim(raw, chr(10)))) ELSE raw END AS raw,
       CASE
           -- a raw NUL makes a line invalid JSON too: the NUL is the reason that says why
           WHEN contains(raw, chr(0)) AND coalesce(reason, 'invalid_json') IN ('invalid_json', 'not_an_object')
               THEN 'nul_character'
           WHEN reason IS NOT NULL THEN reason
           -- DuckDB's reader accepts a comma before } or ]: JSON (and PostgreSQL) do not
           WHEN suspect AND regexp_matches(regexp_replace(raw, '"(?:[^"\\]|\\.)*"', '""', 'g'), ',[ \t\r\n]*[]}]')
               THEN 'invalid_json'
           -- the escape \u0000, not a literal backslash before u0000 (an even run of backslashes)
           WHEN suspect AND regexp_matches(raw, '(?:^|[^\\])(?:\\\\)*\\u0000') THEN 'nul_character'
           -- NaN, Inf, Infinity in any case (DuckDB's json_valid takes them), only as a bare
           -- token outside strings: the only words valid JSON has there are true, false, null
           -- (so such a token is a value: after : , or [, the case `suspect` flags)
           WHEN suspect AND regexp_matches(raw, 'nan|inf', 'i')
                AND regexp_matches(regexp_replace(raw, '"(?:[^"\\]|\\.)*"', '', 'g'), 'nan|inf', 'i')
               THEN 'invalid_number'
           -- a number no double holds (its magnitude overflows, or it is not 0 but rounds to 0):
           -- rejected, so both engines store the same value and Python never parses a huge
           -- integer. Each number outside strings is read as a double
           WHEN suspect
                AND len(list_filter(
                    regexp_extract_all(regexp_replace(raw, '"(?:[^"\\]|\\.)*"', '', 'g'),
                                       '-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?'),
                    lambda t: coalesce(NOT isfinite(TRY_CAST(t AS DOUBLE)), true)
                              OR (TRY_CAST(t AS DOUBLE) = 0 AND regexp_matches(regexp_extract(t, '^-?[0-9.]*'), '[1-9]'))
                )) > 0 THEN 'number_out_of_range'
           -- a cheap count first; json_depth runs only on records with more brackets than the limit
           WHEN strlen(raw) - strlen(replace(replace(raw, '[', ''), '{', '')) > $max_nesting
                AND json_depth(raw) > $max_nesting THEN 'nesting_too_deep'
       END AS reason
FROM suspects
