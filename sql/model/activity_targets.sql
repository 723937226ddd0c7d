-- Account health's first scratch (etl.model.activity): the groups whose rows of
-- group_activity_daily change, each from its first changed date. Parameters:
-- :dates (the event dates this load touched; `touched` renders their part
-- only when there are some), :horizon (the last loaded day), :previous (the
-- table's last date before this run; `built` false when the table is empty:
-- every group is then new to it). Constant date bounds let both engines prune
-- event_groups by date (zonemaps, the event_date index).

-- Each group whose rows change, from which date.
WITH changed (group_key, group_id, from_date) AS (
    {%- if touched %}
    -- events on a touched date now (attribution has just rebuilt them) ...
    SELECT group_key, group_id, min(event_date) AS from_date
    FROM event_groups
    WHERE event_date IN :dates AND event_date <= :horizon
    GROUP BY group_key, group_id
    UNION ALL
    -- ... or before this load
    SELECT group_key, group_id, min(activity_date)
    FROM group_activity_daily
    WHERE activity_date IN :dates AND events > 0
    GROUP BY group_key, group_id
    UNION ALL
    {%- endif %}
    {%- if built %}
    -- every group carries its rows on to a later horizon
    SELECT a.group_key, a.group_id, a.activity_date + 1
    FROM group_activity_daily AS a
    WHERE a.activity_date = :previous AND :previous < :horizon
    UNION ALL
    {%- endif %}
    -- events dated past the previous horizon (or every event, on a table not built yet)
    SELECT e.group_key, e.group_id, min(e.event_date)
    FROM event_groups AS e
    WHERE {{ "e.event_date > :previous AND " if built }}e.event_date <= :horizon
    GROUP BY e.group_key, e.group_id
)
SELECT c.group_key, c.group_id, min(c.from_date) AS from_date
FROM changed AS c
GROUP BY c.group_key, c.group_id
