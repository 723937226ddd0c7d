{#- Events of the report's date range as the units of a user report: one row
    per deduplicated event, the user's current profile beside it. Binds :lo,
    :hi and :events. Rendered on its own and passed to a report as `units`. -#}
SELECT e.distinct_id AS unit, e.event, e.event_time, e.event_id, e.event_date,
       e.properties AS event_properties, up.properties AS user_properties
FROM events_deduped AS e
LEFT JOIN user_profiles AS up ON up.distinct_id = e.distinct_id
WHERE e.event_date BETWEEN :lo AND :hi AND e.event IN :events
