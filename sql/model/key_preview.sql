-- What a key would attribute, from group_values restricted to that key (see
-- group_values.sql): events with at least one valid id, distinct groups, and
-- invalid values.
SELECT count(DISTINCT CASE WHEN group_id IS NOT NULL THEN event_id END) AS events,
       count(DISTINCT group_id) AS groups,
       count(*) - count(group_id) AS invalid_values
FROM group_values
WHERE data_group_id = :data_group_id
