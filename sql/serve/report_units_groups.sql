{#- Events of the report's date range as the units of a group report: one row
    per (deduplicated event, group of key :by_key); an event attributed to two
    groups counts once for each. The group's profile beside it: as it was at the
    event's time with `at_event`, else its current one. Binds :lo, :hi, :events
    and :by_key. Rendered on its own and passed to a report as `units`. -#}
{% import 'serve/_profiles.sql' as profiles with context -%}
SELECT g.group_id AS unit, g.event, g.event_time, g.event_id, g.event_date,
       e.properties AS event_properties, gp.properties AS group_properties
FROM event_groups AS g
JOIN events_deduped AS e
  ON e.event_date = g.event_date AND e.event_id = g.event_id AND e.event_date BETWEEN :lo AND :hi
LEFT JOIN {{ profiles.profile("gp", "g.group_key", "g.group_id", "g.event_time" if at_event else none) }}
WHERE g.group_key = :by_key AND g.event_date BETWEEN :lo AND :hi AND g.event IN :events
