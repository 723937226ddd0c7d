{#- True when the user in column `member` belongs to a group of key `key`
    (a bound parameter) whose profile meets `condition` (a filter compiled
    over gp.properties, values bound): the current profile, or with `at` (a
    bound instant; optional) the version of group_profile_history valid then. One-way
    link of docs/rules.md: users are filtered by their groups, never groups
    by users. -#}
EXISTS (
    SELECT 1
    FROM user_groups AS ug
{%- if at is defined and at %}
    JOIN group_profile_history AS gp ON gp.group_key = ug.group_key AND gp.group_id = ug.group_id
     AND NOT gp.deleted AND gp.valid_from <= {{ at }} AND (gp.valid_to IS NULL OR gp.valid_to > {{ at }})
{%- else %}
    JOIN group_profiles AS gp ON gp.group_key = ug.group_key AND gp.group_id = ug.group_id
{%- endif %}
    WHERE ug.distinct_id = {{ member }}
      AND ug.group_key = {{ key }}
      AND {{ condition }}
)
