{#- The profiles an export selects, ordered by id: groups of key :export_key
    (`groups` true) or users, kept when every one of `conditions` holds.

    Context: `groups`, and `conditions` compiled over `p` (profile_id,
    properties) by etl.serve.filters and etl.serve.cohorts, values bound. -#}
WITH profiles AS (
{%- if groups %}
    SELECT gp.group_id AS profile_id, gp.properties
    FROM group_profiles AS gp
    WHERE gp.group_key = :export_key
{%- else %}
    SELECT up.distinct_id AS profile_id, up.properties
    FROM user_profiles AS up
{%- endif %}
),

selected AS (
    SELECT p.profile_id, CAST(p.properties AS VARCHAR) AS properties
    FROM profiles AS p
{%- for condition in conditions %}
    {{ "WHERE" if loop.first else "  AND" }} {{ condition }}
{%- endfor %}
)

SELECT profile_id, properties
FROM selected
ORDER BY profile_id
