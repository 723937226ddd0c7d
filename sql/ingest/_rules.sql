{#- What a valid group id is (docs/rules.md), written once: events'
    group keys and user profiles' (sql/model/_rules.sql) and group updates'
    $group_id (parse_profile_updates.sql) all use it, on every engine; the
    engine parts come from etl.store.dialects. -#}

{#- A valid group id: a non-empty JSON string, as is; or a JSON number whose
    value is a whole number in the signed 64-bit range, as its decimal integer
    text (1e3 and 1000.0 give '1000', -0 gives '0'). Anything else (empty
    string, null, booleans, objects, lists inside lists, 1.5, 2^63, 1e400) is
    invalid: NULL. -#}
{% macro group_id(element) -%}
CASE WHEN {{ dialect.json_is_string(element) }} THEN nullif({{ dialect.json_string(element) }}, '')
     ELSE {{ dialect.json_int64_text(element) }} END
{%- endmacro %}
