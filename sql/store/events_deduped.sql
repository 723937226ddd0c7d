{% import 'store/_rules.sql' as copies with context -%}
-- The view events_deduped, as an engine without migrations of views makes it (the
-- Spark engine: a temporary view of each session, etl.store.spark): one row per
-- duplicate identity, the copy from the latest load date, then the last object,
-- line and batch element (docs/rules.md). DuckDB and PostgreSQL have the same
-- text as a view since migration 0005; tests/sql/test_declared_views.py checks
-- that the two give the same rows.
SELECT load_date, source_object, source_line, source_index, event_id, insert_id,
       event, distinct_id, event_time, event_date, properties
FROM (
    SELECT e.*, row_number() OVER (
        PARTITION BY {{ copies.copy_identity('e.') }}
        ORDER BY {{ copies.copy_order('e.', latest_first=true) }}
    ) AS copy_rank
    FROM events AS e
) AS ranked
WHERE copy_rank = 1
