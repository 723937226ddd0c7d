{#- The names a report may use, for the warning that names the closest ones when a
    report asks for a name never seen: `kind` is one of
      events           event names seen in :lo .. :hi
      event_properties property names of those events (:events) in the range
      user_properties  property names of user profiles
      group_properties property names of the profiles of groups of key :key
      group_keys       group keys with attributed events in the range
    With :name bound (`seen`), a query that stops at the first row holding it. -#}
{%- if kind == "events" %}
SELECT DISTINCT e.event AS name
FROM events_deduped AS e
WHERE e.event_date BETWEEN :lo AND :hi {% if seen %}AND e.event = :name{% endif %}
{%- elif kind == "event_properties" %}
{%- if seen %}
SELECT 1 AS name
FROM events_deduped AS e
WHERE e.event_date BETWEEN :lo AND :hi AND e.event IN :events
  AND {{ dialect.json_present("e.properties", ":name") }}
{%- else %}
SELECT DISTINCT k.name
FROM (SELECT {{ dialect.json_object_keys("e.properties") }} AS name
      FROM events_deduped AS e
      WHERE e.event_date BETWEEN :lo AND :hi AND e.event IN :events) AS k
{%- endif %}
{%- elif kind in ("user_properties", "group_properties") %}
{%- set profiles = "user_profiles" if kind == "user_properties" else "group_profiles" %}
{%- set mine = "" if kind == "user_properties" else "AND p.group_key = :key" %}
{%- if seen %}
SELECT 1 AS name
FROM {{ profiles }} AS p
WHERE {{ dialect.json_present("p.properties", ":name") }} {{ mine }}
{%- else %}
SELECT DISTINCT k.name
FROM (SELECT {{ dialect.json_object_keys("p.properties") }} AS name
      FROM {{ profiles }} AS p WHERE 1 = 1 {{ mine }}) AS k
{%- endif %}
{%- elif kind == "group_keys" %}
SELECT DISTINCT g.group_key AS name
FROM event_groups AS g
WHERE g.event_date BETWEEN :lo AND :hi {% if seen %}AND g.group_key = :name{% endif %}
{%- endif %}
{%- if seen %}
LIMIT 1
{%- endif %}
