-- Migration 6: export sessions are pinned outside the warehouse (Parquet files in
-- GROUP_ETL_SESSION_DIR), so `export profiles` opens the warehouse read-only
-- and nothing reads or writes this table any more.
DROP TABLE IF EXISTS export_sessions;
