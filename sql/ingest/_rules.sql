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

{#- A distinct_id placeholder Mixpanel refuses ($placeholders, etl.ingest.records):
    compared lower-cased, with the whitespace Unicode names (White_Space: tabs, line
    ends, spaces, NBSP, ideographic space...) trimmed from both ends. One rule for
    events and user updates. -#}
{% macro is_placeholder(value) -%}
list_contains($placeholders, lower(regexp_replace({{ value }},
    '^[\t\n\x{0b}\f\r \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]+|[\t\n\x{0b}\f\r \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]+$',
    '', 'g')))
{%- endmacro %}

{#- Epoch seconds of the end of the dump's day ($load_date) in the project time zone
    ($timezone), by DuckDB's zone data: the same data that gives each event its
    event_date, so the date and the future-time check never disagree. -#}
{% macro end_of_day_epoch() -%}
epoch(timezone($timezone, CAST(CAST($load_date AS DATE) + 1 AS TIMESTAMP)))
{%- endmacro %}
