{#- A group's activity per day, from its attributed events: distinct users
    (active users) and distinct events, for event dates :first..:last. Days
    without an event have no row (the chart draws them as 0). -#}
WITH attributed AS (
    SELECT eg.event_date, eg.distinct_id, eg.event_id
    FROM event_groups AS eg
    WHERE eg.group_key = :key
      AND eg.group_id = :group_id
      AND eg.event_date BETWEEN :first AND :last
)

SELECT event_date,
       count(DISTINCT distinct_id) AS active_users,
       count(DISTINCT event_id) AS events
FROM attributed
GROUP BY event_date
ORDER BY event_date
