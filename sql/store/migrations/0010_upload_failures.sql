-- Migration 10: a CSV upload under uploads/groups/<key>/ that failed is remembered
-- by its object and ETag, so an unchanged bad file is reported once, not retried
-- every hour, and never blocks the good files; a changed one is retried.
CREATE TABLE IF NOT EXISTS upload_failures (
    source_object  VARCHAR NOT NULL PRIMARY KEY,
    etag           VARCHAR NOT NULL,
    error          VARCHAR NOT NULL,
    failed_at      TIMESTAMPTZ NOT NULL
);
