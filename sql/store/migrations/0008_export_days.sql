-- Migration 8: which load of each day the cohort exports last wrote, so `export run`
-- (and the cohort_exports DAG) exports every day loaded since, whatever Asset events
-- a run consumed. A day is pending when it has no row here, or its load finished
-- (max load_audit.finished_at) after `loaded_at`.
CREATE TABLE IF NOT EXISTS export_days (
    day          DATE PRIMARY KEY,
    loaded_at    TIMESTAMPTZ NOT NULL,   -- the load of `day` this export read
    exported_at  TIMESTAMPTZ NOT NULL
);

-- Days loaded before this version were exported by Asset events: they count as
-- exported, so upgrading does not rewrite every past export partition.
INSERT INTO export_days (day, loaded_at, exported_at)
SELECT load_date, max(finished_at), max(finished_at) FROM load_audit
GROUP BY load_date;
