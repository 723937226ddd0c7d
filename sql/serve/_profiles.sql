{#- A group's profile, current or as it was at an instant: one definition for the
    reports, their filters and the cohorts. -#}

{#- A join target and condition: `alias` is the profile of the group (`key`, `id`,
    expressions) as it is now (group_profiles) or, with `at` (an expression: a
    bound instant or an event's time), the version of group_profile_history valid
    then: valid_from <= at < valid_to, so an update at the very instant of an event
    is already seen by it. No version then, or a deleted one, matches no row. -#}
{% macro profile(alias, key, id, at=none) -%}
{%- if at -%}
group_profile_history AS {{ alias }} ON {{ alias }}.group_key = {{ key }} AND {{ alias }}.group_id = {{ id }}
     AND NOT {{ alias }}.deleted AND {{ alias }}.valid_from <= {{ at }}
     AND ({{ alias }}.valid_to IS NULL OR {{ alias }}.valid_to > {{ at }})
{%- else -%}
group_profiles AS {{ alias }} ON {{ alias }}.group_key = {{ key }} AND {{ alias }}.group_id = {{ id }}
{%- endif -%}
{%- endmacro %}
