-- Migration 9: the duplicate identity of an event whose event, distinct_id or
-- $insert_id holds U+001F (the character that joined the fields) is length-prefixed,
-- so two different events never share it (docs/rules.md, Duplicates). Only those
-- rows change; the new identity is a function of stored columns, as the parse
-- computes it (sql/ingest/parse_events.sql).
UPDATE events SET event_id = md5('event2:' || octet_length(event) || ':' || event || octet_length(distinct_id)
    || ':' || distinct_id || CAST(floor(extract(epoch FROM event_time)) AS BIGINT) || ':'
    || octet_length(insert_id) || ':' || insert_id)
WHERE insert_id IS NOT NULL AND strpos(event || distinct_id || insert_id, chr(31)) > 0;
UPDATE event_groups SET event_id = md5('event2:' || octet_length(event) || ':' || event || octet_length(distinct_id)
    || ':' || distinct_id || CAST(floor(extract(epoch FROM event_time)) AS BIGINT) || ':'
    || octet_length(insert_id) || ':' || insert_id)
WHERE insert_id IS NOT NULL AND strpos(event || distinct_id || insert_id, chr(31)) > 0;
