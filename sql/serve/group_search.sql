{#- Groups of key :key for the search page, by id and by profile: the id holds
    :text (when `text`), and every one of `conditions` (compiled over
    gp.properties by etl.serve.filters, values bound) holds. First :limit by id. -#}
WITH candidates AS (
    SELECT gp.group_id, CAST(gp.properties AS VARCHAR) AS properties
    FROM group_profiles AS gp
    WHERE gp.group_key = :key
{%- if text %}
      AND {{ dialect.contains('gp.group_id', ':text') }}
{%- endif %}
{%- for condition in conditions %}
      AND coalesce({{ condition }}, false)
{%- endfor %}
)

SELECT group_id, properties
FROM candidates
ORDER BY group_id
LIMIT :limit
