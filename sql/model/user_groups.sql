{% import 'model/_rules.sql' as rules with context -%}
-- user_groups from user_profiles: the groups a user's profile names for each
-- registered key, by the very rule and cap that attribute events
-- (sql/model/_rules.sql). With `affected`, only the users in the scratch table
-- affected_profiles (group_key '') are rebuilt (the write replaces theirs);
-- otherwise every user (the write replaces the table).
-- Parameters: :max_ids.
WITH keyed AS (
    SELECT u.distinct_id, k.group_key, {{ rules.key_value('u.properties', 'k.group_key') }} AS value
    FROM user_profiles AS u
    CROSS JOIN (SELECT DISTINCT group_key FROM group_keys WHERE removed_at IS NULL) AS k
{%- if affected %}
    WHERE EXISTS (SELECT 1 FROM affected_profiles AS a
                  WHERE a.group_key = '' AND a.profile_id = u.distinct_id)
{%- endif %}
),
user_values AS (
    {{ rules.group_values('keyed', 'distinct_id, group_key') }}
)
SELECT distinct_id, group_key, group_id
FROM ({{ rules.first_distinct_ids('user_values', 'distinct_id, group_key') }}) AS capped
