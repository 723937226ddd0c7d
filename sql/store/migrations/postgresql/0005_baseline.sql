-- PostgreSQL indexes: the partitions each stage replaces, and the lookups
-- of reports and the activity feed.
CREATE INDEX IF NOT EXISTS events_load_date ON events (load_date);
-- By event date only: deduplication and attribution read whole event dates
-- (hash joins), and an index on the random event_id made COPY ~1.7x slower.
DROP INDEX IF EXISTS events_event_date_id;
CREATE INDEX IF NOT EXISTS events_event_date ON events (event_date);
CREATE INDEX IF NOT EXISTS event_groups_date ON event_groups (event_date);
CREATE INDEX IF NOT EXISTS event_groups_group ON event_groups (group_key, group_id, event_time);
CREATE INDEX IF NOT EXISTS profile_updates_load ON profile_updates (kind, load_date);
CREATE INDEX IF NOT EXISTS profile_updates_profile ON profile_updates (group_key, profile_id);
CREATE INDEX IF NOT EXISTS group_daily_metrics_date ON group_daily_metrics (event_date);
CREATE INDEX IF NOT EXISTS rejected_records_load ON rejected_records (kind, load_date);
