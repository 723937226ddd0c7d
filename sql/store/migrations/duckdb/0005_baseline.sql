-- DuckDB: no indexes. Its ART indexes must fit in memory (they cannot spill),
-- which breaks the memory bound on large days, and zonemaps already prune the
-- date-partitioned scans. Warehouses created before schema version 4 had them.
DROP INDEX IF EXISTS events_load_date;
DROP INDEX IF EXISTS events_event_date_id;
DROP INDEX IF EXISTS event_groups_date;
DROP INDEX IF EXISTS event_groups_group;
DROP INDEX IF EXISTS profile_updates_load;
DROP INDEX IF EXISTS profile_updates_profile;
DROP INDEX IF EXISTS group_daily_metrics_date;
DROP INDEX IF EXISTS rejected_records_load;
