-- Attribution's scratch (etl.model.attribution), after group_values.sql: the
-- (event, key) pairs whose value is a list of several elements (rare), which
-- alone are made distinct and capped (attributed.sql). group_values is read
-- directly each time: a CTE read twice is materialized.
SELECT DISTINCT event_date, event_id, data_group_id
FROM group_values
WHERE position > 1
