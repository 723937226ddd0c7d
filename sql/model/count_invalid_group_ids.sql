{% import 'model/_rules.sql' as rules with context -%}
-- load_audit.invalid_group_id of load :d: the invalid values of registered group
-- keys (the rule: group_id in sql/ingest/_rules.sql) on every event record load :d
-- kept, copies included. Read from the load's own records, not from the
-- deduplicated events, so a later load that replaces one of its events never
-- changes the count of a re-run (docs/rules.md). :dates are the event dates the
-- load touched (all of its records are on them).
WITH keyed AS (
    SELECT e.load_date, {{ rules.key_value('e.properties', 'k.group_key') }} AS value
    FROM events AS e
    JOIN group_keys AS k
      ON e.event_time >= k.setup_at
     AND (k.removed_at IS NULL OR e.event_time < k.removed_at)
    WHERE e.event_date IN :dates AND e.load_date = :d
)
SELECT count(*) FROM ({{ rules.group_values('keyed', 'load_date') }}) AS v WHERE v.group_id IS NULL
