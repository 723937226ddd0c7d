-- Migration 5, the baseline: the whole schema as group-etl wrote it at schema
-- version 5 (docs/tables.md). Warehouses made by older versions (1-4) are
-- upgraded by it, so every statement is safe to repeat (IF NOT EXISTS, ADD
-- COLUMN IF NOT EXISTS, CREATE OR REPLACE). Never edit it: a change is a new
-- migration, 0006 onwards. Portable DDL; the types that differ come from
-- etl.store.dialects (dialect.json: JSON or JSONB; dialect.bytewise_text: text
-- that sorts by bytes on both engines, never by a locale; dialect.zstd: DuckDB's
-- zstd compression of high-entropy columns). The indexes are per dialect, in
-- migrations/<dialect>/0005_baseline.sql, run after this file.
-- Columns beyond the contract are marked "(extra)".

CREATE TABLE IF NOT EXISTS schema_version (
    version     INTEGER NOT NULL,
    applied_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS group_keys (
    data_group_id  BIGINT PRIMARY KEY,
    group_key      VARCHAR NOT NULL,
    display_name   VARCHAR NOT NULL,
    setup_at       TIMESTAMPTZ NOT NULL,
    removed_at     TIMESTAMPTZ
);

-- Raw events, one row per loaded record; a load date's rows are replaced whole.
-- event_id (extra) is the duplicate identity: copies of one event share it.
CREATE TABLE IF NOT EXISTS events (
    load_date      DATE NOT NULL,
    source_object  {{ dialect.bytewise_text }} NOT NULL,
    source_line    BIGINT NOT NULL,
    source_index   INTEGER NOT NULL,      -- (extra) element of a batch line, 0 otherwise
    event_id       {{ dialect.bytewise_text }} {{ dialect.zstd }} NOT NULL,      -- (extra)
    insert_id      {{ dialect.bytewise_text }} {{ dialect.zstd }},
    event          VARCHAR NOT NULL,
    distinct_id    VARCHAR NOT NULL,
    event_time     TIMESTAMPTZ NOT NULL,
    event_date     DATE NOT NULL,
    properties     {{ dialect.json }} {{ dialect.zstd }} NOT NULL
);

-- One row per (deduplicated event, group) attribution.
CREATE TABLE IF NOT EXISTS event_groups (
    event_date     DATE NOT NULL,
    event_id       {{ dialect.bytewise_text }} {{ dialect.zstd }} NOT NULL,
    insert_id      {{ dialect.bytewise_text }} {{ dialect.zstd }},
    event          VARCHAR NOT NULL,
    distinct_id    VARCHAR NOT NULL,
    event_time     TIMESTAMPTZ NOT NULL,
    data_group_id  BIGINT NOT NULL,       -- (extra) which registration of the key
    group_key      VARCHAR NOT NULL,
    group_id       {{ dialect.bytewise_text }} NOT NULL
);

-- (extra) Every accepted profile update, one partition per (kind, load date):
-- kind group (groups/dt=D/), user (people/dt=D/) or upload (a CSV row).
-- Profiles are rebuilt from these, so a re-run of any day is exact.
CREATE TABLE IF NOT EXISTS profile_updates (
    kind           VARCHAR NOT NULL,
    load_date      DATE NOT NULL,
    source_object  {{ dialect.bytewise_text }} NOT NULL,
    source_line    BIGINT NOT NULL,
    source_index   INTEGER NOT NULL,
    group_key      VARCHAR,               -- NULL for users
    profile_id     {{ dialect.bytewise_text }} NOT NULL,  -- group id or distinct_id
    update_time    TIMESTAMPTZ NOT NULL,  -- $time, or the end of the dump's day
    timed          BOOLEAN NOT NULL,      -- false: $time was absent
    operation      VARCHAR NOT NULL,
    value          {{ dialect.json }},
    raw            VARCHAR NOT NULL
);

-- (extra) CSV uploads applied: a file is applied once per content.
CREATE TABLE IF NOT EXISTS profile_uploads (
    source_object  VARCHAR NOT NULL,
    fingerprint    VARCHAR NOT NULL,
    group_key      VARCHAR NOT NULL,
    upload_date    DATE NOT NULL,
    applied_at     TIMESTAMPTZ NOT NULL,
    profiles       BIGINT NOT NULL,
    duplicates     BIGINT NOT NULL,
    PRIMARY KEY (source_object, fingerprint)
);

CREATE TABLE IF NOT EXISTS group_profiles (
    group_key   VARCHAR NOT NULL,
    group_id    VARCHAR NOT NULL,
    properties  {{ dialect.json }} NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (group_key, group_id)
);

CREATE TABLE IF NOT EXISTS group_profile_history (
    group_key   VARCHAR NOT NULL,
    group_id    VARCHAR NOT NULL,
    properties  {{ dialect.json }},
    valid_from  TIMESTAMPTZ NOT NULL,
    valid_to    TIMESTAMPTZ,
    deleted     BOOLEAN NOT NULL
);

CREATE TABLE IF NOT EXISTS user_profiles (
    distinct_id  VARCHAR PRIMARY KEY,
    properties   {{ dialect.json }} NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS user_groups (
    distinct_id  VARCHAR NOT NULL,
    group_key    VARCHAR NOT NULL,
    group_id     VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS group_daily_metrics (
    event_date   DATE NOT NULL,
    group_key    VARCHAR NOT NULL,
    group_id     VARCHAR NOT NULL,
    event        VARCHAR NOT NULL,
    event_count  BIGINT NOT NULL,
    user_count   BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS cohorts (
    name        VARCHAR PRIMARY KEY,
    group_key   VARCHAR,
    definition  {{ dialect.json }} NOT NULL
);

CREATE TABLE IF NOT EXISTS rejected_records (
    kind           VARCHAR NOT NULL,      -- event, group, user
    load_date      DATE NOT NULL,
    source_object  {{ dialect.bytewise_text }} NOT NULL,
    source_line    BIGINT NOT NULL,
    source_index   INTEGER NOT NULL,      -- (extra) element of a batch line, 0 otherwise
    reason         VARCHAR NOT NULL,
    raw            VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS load_audit (
    stage              VARCHAR NOT NULL,
    load_date          DATE NOT NULL,
    input_fingerprint  VARCHAR NOT NULL,
    input_records      BIGINT NOT NULL,
    loaded             BIGINT NOT NULL,
    rejected           BIGINT NOT NULL,
    duplicates         BIGINT NOT NULL,
    invalid_group_id   BIGINT NOT NULL DEFAULT 0,   -- (extra) attribution stage
    started_at         TIMESTAMPTZ NOT NULL,
    finished_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (stage, load_date)
);
-- (extra, version 3) the event dates a load touched: what attribution recomputes
ALTER TABLE load_audit ADD COLUMN IF NOT EXISTS touched_dates VARCHAR;

CREATE TABLE IF NOT EXISTS hot_shards (
    event_date     DATE NOT NULL,
    data_group_id  BIGINT NOT NULL,       -- (extra)
    group_key      VARCHAR NOT NULL,
    group_id       VARCHAR NOT NULL,
    events_over    BIGINT NOT NULL
);

-- Every count and report reads events through this view: one row per
-- duplicate identity, the copy from the latest load date, then the last
-- object, line and batch element (docs/rules.md). The window is
-- partitioned by event_date, so both DuckDB and PostgreSQL push a filter on
-- event_date below it: a day's cost does not grow with history (the 6-day
-- benchmark shows it), and it is half the cost of an anti-join on later copies.
-- Which copy wins is written once, in sql/store/_rules.sql.
{% import 'store/_rules.sql' as copies with context -%}
CREATE OR REPLACE VIEW events_deduped AS
SELECT load_date, source_object, source_line, source_index, event_id, insert_id,
       event, distinct_id, event_time, event_date, properties
FROM (
    SELECT e.*, row_number() OVER (
        PARTITION BY {{ copies.copy_identity('e.') }}
        ORDER BY {{ copies.copy_order('e.', latest_first=true) }}
    ) AS copy_rank
    FROM events AS e
) AS ranked
WHERE copy_rank = 1;

-- (extra, version 5) A pinned export: page 0 of an export stores its ordered
-- rows under a session_id; later pages read them, so pages never shift.
CREATE TABLE IF NOT EXISTS export_sessions (
    session_id   VARCHAR NOT NULL,
    position     BIGINT NOT NULL,
    profile_id   VARCHAR NOT NULL,
    properties   {{ dialect.json }} NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);
