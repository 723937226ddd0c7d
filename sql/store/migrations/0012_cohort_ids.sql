-- Migration 12: stable numeric cohort ids, for the Engage API's
-- filter_by_cohort={"id": N} (Mixpanel names cohorts by number). An id is never
-- reused: removing a cohort keeps its row here, and a cohort saved again under
-- that name gets the next number (its definition may differ). The cohort's id
-- is the largest one recorded for its name. Existing cohorts are numbered in
-- name order.
CREATE TABLE IF NOT EXISTS cohort_ids (
    cohort_id    INTEGER NOT NULL PRIMARY KEY,
    name         VARCHAR NOT NULL,
    assigned_at  TIMESTAMPTZ NOT NULL
);

INSERT INTO cohort_ids (cohort_id, name, assigned_at)
SELECT CAST(row_number() OVER (ORDER BY c.name) AS INTEGER), c.name, CURRENT_TIMESTAMP
FROM cohorts AS c
WHERE NOT EXISTS (SELECT 1 FROM cohort_ids);
