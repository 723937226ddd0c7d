{#- The attribution rules (docs/rules.md), written once for every engine
    and used by both attribution (events) and user_groups (user profiles). What
    differs between engines comes from etl.store.dialects. What a valid group id
    is: group_id in sql/ingest/_rules.sql (group updates' $group_id too). -#}
{% import 'ingest/_rules.sql' as ids with context %}

{#- The JSON value that names a document's groups for a key: the member named
    like the key (case-sensitive; of duplicate names the last). -#}
{% macro key_value(doc, key) -%}
{{ dialect.json_member(doc, key) }}
{%- endmacro %}

{#- One row per element of each row's `value` in `relation` (see
    dialect.json_elements): the `columns` named, then `position` and `group_id`
    (NULL when invalid). -#}
{% macro group_values(relation, columns) -%}
SELECT {{ columns }}, position, ({{ ids.group_id('element') }}){{ dialect.collate_bytewise }} AS group_id
FROM ({{ dialect.json_elements(relation) }}) AS elements
{%- endmacro %}

{#- The cap: a unit (an event, or a user's profile) names at most :max_ids
    groups of a key: its first :max_ids distinct valid ids in list order
    (repeats and invalid elements do not count). `source` has `group_id` and
    `position`; `unit` lists the columns that make one unit. -#}
{% macro first_distinct_ids(source, unit) -%}
SELECT * FROM (
    SELECT ids.*, row_number() OVER (PARTITION BY {{ unit }} ORDER BY ids.position) AS id_rank
    FROM (
        SELECT s.*, row_number() OVER (PARTITION BY {{ unit }}, s.group_id ORDER BY s.position) AS repeat_rank
        FROM {{ source }} AS s
        WHERE s.group_id IS NOT NULL
    ) AS ids
    WHERE ids.repeat_rank = 1
) AS ranked
WHERE ranked.id_rank <= :max_ids
{%- endmacro %}
