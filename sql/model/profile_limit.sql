-- GROUP_ETL_MAX_GROUP_PROFILES, for a day's group updates and for a CSV upload
-- alike: the group profiles new in the partition being applied are admitted in
-- arrival order while the key has room; the updates of the others move to
-- rejected_records as profile_limit. A profile exists once any update of kind
-- group or upload has created it (:creating operations) on or before :d;
-- existing profiles always update.
-- The partition (`partition`, from the caller): 'group' is load date :d's group updates;
-- 'upload' is one upload's rows (kind upload, load date :d, object :source,
-- applied at :now). Parameters: :d, :max_profiles, :creating (and :source,
-- :now for an upload).
{%- macro in_partition(u='') -%}
{%- if partition == 'group' -%}
{{ u }}kind = 'group' AND {{ u }}load_date = :d
{%- elif partition == 'upload' -%}
{{ u }}kind = 'upload' AND {{ u }}load_date = :d AND {{ u }}source_object = :source AND {{ u }}update_time = :now
{%- endif -%}
{%- endmacro %}
CREATE TEMP TABLE over_limit AS
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
    WHERE {{ in_partition() }}
),
existing AS (
    SELECT group_key, count(*) AS profiles
    FROM firsts
    WHERE NOT ({{ in_partition() }})
    GROUP BY group_key
)
SELECT n.group_key, n.profile_id
FROM newcomers AS n
LEFT JOIN existing AS e ON e.group_key = n.group_key
WHERE coalesce(e.profiles, 0) + n.arrival > :max_profiles;

INSERT INTO rejected_records (kind, load_date, source_object, source_line, source_index, reason, raw)
SELECT u.kind, u.load_date, u.source_object, u.source_line, u.source_index, 'profile_limit', u.raw
FROM profile_updates AS u
JOIN over_limit AS o ON o.group_key = u.group_key AND o.profile_id = u.profile_id
WHERE {{ in_partition('u.') }};

DELETE FROM profile_updates
WHERE {{ in_partition() }}
  AND EXISTS (SELECT 1 FROM over_limit AS o
              WHERE o.group_key = profile_updates.group_key AND o.profile_id = profile_updates.profile_id);
