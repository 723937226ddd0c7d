-- GROUP_ETL_MAX_GROUP_PROFILES: group profiles new on load date :d are
-- admitted in arrival order while the key has room; the updates of the others
-- move to rejected_records as profile_limit. A profile exists once any update
-- of kind group or upload has created it (:creating operations) on or before
-- :d; existing profiles always update. Parameters: :d, :max_profiles, :creating.
CREATE TEMP TABLE over_limit AS
WITH creations AS (
    SELECT group_key, profile_id, kind, load_date,
           row_number() OVER (PARTITION BY group_key, profile_id
                              ORDER BY load_date, kind, source_object, source_line, source_index) AS nth,
           source_object, source_line, source_index
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
    WHERE kind = 'group' AND load_date = :d
),
existing AS (
    SELECT group_key, count(*) AS profiles
    FROM firsts
    WHERE NOT (kind = 'group' AND load_date = :d)
    GROUP BY group_key
)
SELECT n.group_key, n.profile_id
FROM newcomers AS n
LEFT JOIN existing AS e ON e.group_key = n.group_key
WHERE coalesce(e.profiles, 0) + n.arrival > :max_profiles;

INSERT INTO rejected_records (kind, load_date, source_object, source_line, source_index, reason, raw)
SELECT 'group', u.load_date, u.source_object, u.source_line, u.source_index, 'profile_limit', u.raw
FROM profile_updates AS u
JOIN over_limit AS o ON o.group_key = u.group_key AND o.profile_id = u.profile_id
WHERE u.kind = 'group' AND u.load_date = :d;

DELETE FROM profile_updates
WHERE kind = 'group' AND load_date = :d
  AND EXISTS (SELECT 1 FROM over_limit AS o
              WHERE o.group_key = profile_updates.group_key AND o.profile_id = profile_updates.profile_id);
