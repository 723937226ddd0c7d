-- Records of load :d whose event had already arrived (earlier in this load or
-- in an earlier one), over the event dates :dates the load touched.
-- PostgreSQL ranks every copy by a window: faster here than first grouping
-- the ids as DuckDB does (sql/duckdb/count_duplicates.sql), a grouping that
-- spills at the default work_mem.
SELECT count(*)
FROM (
    SELECT load_date,
           row_number() OVER (
               PARTITION BY event_date, event_id
               ORDER BY load_date, source_object, source_line, source_index
           ) AS arrival
    FROM events
    WHERE event_date IN :dates AND load_date <= :d
) AS copies
WHERE load_date = :d AND arrival > 1
