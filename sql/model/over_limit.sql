{% import 'model/_profile_limit.sql' as limit with context -%}
-- The scratch table of GROUP_ETL_MAX_GROUP_PROFILES (etl.model.profile_updates), for a day's group updates and for a CSV upload
-- alike: the group profiles new in the partition being applied are admitted in
-- arrival order while the key has room; the updates of the others move to
-- rejected_records as profile_limit. A profile exists once any update of kind
-- group or upload has created it (:creating operations) on or before :d;
-- existing profiles always update.
-- The partition: sql/model/_profile_limit.sql. Parameters: :d, :max_profiles, :creating (and :source,
-- :now for an upload).
WITH creations AS (
    SELECT group_key, profile_id, kind, load_date, source_object, source_line, source_index, update_time,
           row_number() OVER (PARTITION BY group_key, profile_id
                              ORDER BY load_date, kind, source_object, source_line, source_index,
                                       update_time) AS nth
    FROM profile_updates
    WHERE kind IN ('group', 'upload') AND operation IN :creating AND load_date <= :d
),
firsts AS (
    SELECT * FROM creations WHERE nth = 1
),
newcomers AS (
    SELECT group_key, profile_id,
           row_number() OVER (PARTITION BY group_key
                              ORDER BY source_object, source_line, source_index) AS arrival
    FROM firsts
    WHERE {{ limit.in_partition() }}
),
existing AS (
    SELECT group_key, count(*) AS profiles
    FROM firsts
    WHERE NOT ({{ limit.in_partition() }})
    GROUP BY group_key
)
SELECT n.group_key, n.profile_id
FROM newcomers AS n
LEFT JOIN existing AS e ON e.group_key = n.group_key
WHERE coalesce(e.profiles, 0) + n.arrival > :max_profiles
