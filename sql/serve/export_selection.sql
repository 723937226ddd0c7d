{#- The profiles an export selects, ordered by id: groups of key :export_key
    (`groups` true) or users, kept when every one of `conditions` holds.

    Context: `groups`; `at` true: each group as it was at instant :export_at
    (the version of group_profile_history valid then; users have no history,
    so their current profile); `all_members` true: ids that did an event of
    key :export_key (or users) from :members_first to :members_last and have
    no profile (then) join with empty properties, as Mixpanel's
    include_all_users (`static` true: the ids of static cohort :static_cohort
    instead); `conditions` compiled over `p` (profile_id, properties)
    by etl.serve.filters and etl.serve.cohorts, values bound. -#}
WITH stored AS (
{%- if groups and at %}
    SELECT gh.group_id AS profile_id, gh.properties
    FROM group_profile_history AS gh
    WHERE gh.group_key = :export_key
      AND NOT gh.deleted
      AND gh.valid_from <= :export_at
      AND (gh.valid_to IS NULL OR gh.valid_to > :export_at)
{%- elif groups %}
    SELECT gp.group_id AS profile_id, gp.properties
    FROM group_profiles AS gp
    WHERE gp.group_key = :export_key
{%- else %}
    SELECT up.distinct_id AS profile_id, up.properties
    FROM user_profiles AS up
{%- endif %}
),

profiles AS (
    SELECT s.profile_id, s.properties
    FROM stored AS s
{%- if all_members %}
    UNION ALL
    SELECT m.profile_id, CAST('{}' AS {{ dialect.json }}) AS properties
    FROM (
{%- if static is defined and static %}
        SELECT DISTINCT cm.member_id AS profile_id
        FROM cohort_members AS cm
        WHERE cm.cohort = :static_cohort
{%- elif groups %}
        SELECT DISTINCT eg.group_id AS profile_id
        FROM event_groups AS eg
        WHERE eg.group_key = :export_key
          AND eg.event_date BETWEEN :members_first AND :members_last
{%- else %}
        SELECT DISTINCT ed.distinct_id AS profile_id
        FROM events_deduped AS ed
        WHERE ed.event_date BETWEEN :members_first AND :members_last
{%- endif %}
    ) AS m
    WHERE NOT EXISTS (SELECT 1 FROM stored AS s2 WHERE s2.profile_id = m.profile_id)
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
