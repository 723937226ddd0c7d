{#- True when the user in column `member` belongs to a group of key `key`
    (a bound parameter) whose current profile meets `condition` (a filter
    compiled over gp.properties, values bound). One-way link of
    docs/rules.md: users are filtered by their groups, never groups by users. -#}
EXISTS (
    SELECT 1
    FROM user_groups AS ug
    JOIN group_profiles AS gp ON gp.group_key = ug.group_key AND gp.group_id = ug.group_id
    WHERE ug.distinct_id = {{ member }}
      AND ug.group_key = {{ key }}
      AND {{ condition }}
)
