-- Migration 7: settings the warehouse's data depends on, recorded by the first writer
-- (`init`, or the first run after this upgrade): name -> value. `timezone` is the
-- project time zone the event dates and days were computed in; a writer with
-- another GROUP_ETL_TIMEZONE is refused (etl.store.warehouse.Warehouse.migrate).
CREATE TABLE IF NOT EXISTS project_settings (
    name         VARCHAR NOT NULL PRIMARY KEY,
    value        VARCHAR NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL
);
