{#- True when the user in column `member` belongs to a group of key `key`
    (a bound parameter) whose profile meets `condition` (a filter compiled
    over gp.properties, values bound): the current profile, or with `at` (a
    bound instant or an event's time; optional) the version of
    group_profile_history valid then. One-way link of docs/rules.md: users are
    filtered by their groups, never groups by users. -#}
{% import 'serve/_profiles.sql' as profiles with context -%}
EXISTS (
    SELECT 1
    FROM user_groups AS ug
    JOIN {{ profiles.profile("gp", "ug.group_key", "ug.group_id", at if at is defined else none) }}
    WHERE ug.distinct_id = {{ member }}
      AND ug.group_key = {{ key }}
      AND {{ condition }}
)
