{#- Funnel: a unit enters at its first :step_1 in :d1..:d2; each next step is
    the unit's first such event strictly after the previous step (by time, then
    event id) and within :window seconds of entering. Per breakdown value (the
    property at the unit's entering event) and step: units and the median
    seconds from the previous step.

    Context: `units` (rendered report units), `conditions` (compiled filters,
    values bound), `step_count` (2 or more): one CTE step_<n> per step, each
    reading the one before; `breakdown` (see _breakdown.sql; none for none)
    and `fold` (as in _breakdown.sql: a unit whose values fold counts once in
    '(other)'). With `reached` (a step number; the drill-down of
    etl.serve.drilldown), the units that reached that step instead, and with
    `dropped` only those that did not reach the next one. -#}
{% import 'serve/_breakdown.sql' as b with context -%}
{% import 'serve/_first_events.sql' as f with context -%}
WITH unit_events AS (
{{ units | trim | indent(4, first=true) }}
),

{{ f.considered("u.unit, u.event, u.event_time, u.event_id, u.event_date, " ~ dialect.epoch_seconds("u.event_time") ~ " AS t") }},

step_1 AS (
    SELECT unit, event_time, event_id, t, t AS t_first, CAST(NULL AS {{ dialect.double }}) AS t_previous
    {{ f.first_of(":step_1") }}
),
{% for n in range(2, step_count + 1) %}
step_{{ n }} AS (
    SELECT unit, event_time, event_id, t, t_first, t_previous
    FROM (
        SELECT c.unit, c.event_time, c.event_id, c.t, p.t_first, p.t AS t_previous,
               row_number() OVER (PARTITION BY c.unit ORDER BY c.event_time, c.event_id) AS nth
        FROM step_{{ n - 1 }} AS p
        JOIN considered AS c ON c.unit = p.unit
        WHERE c.event = :step_{{ n }}
          AND (c.event_time > p.event_time OR (c.event_time = p.event_time AND c.event_id > p.event_id))
          AND c.t <= p.t_first + :window
    ) AS nexts
    WHERE nth = 1
),
{% endfor %}
{%- if reached is defined and reached %}
listed AS (
    SELECT r.unit
    FROM step_{{ reached }} AS r
{%- if dropped %}
    WHERE NOT EXISTS (SELECT 1 FROM step_{{ reached + 1 }} AS s WHERE s.unit = r.unit)
{%- endif %}
)

SELECT unit FROM listed
{%- else %}
entered AS (
{%- if breakdown %}
    SELECT s.unit, {{ breakdown.value }} AS value
    FROM step_1 AS s
    JOIN unit_events AS u ON u.unit = s.unit AND u.event_id = s.event_id{{ b.joins(breakdown) }}
{%- else %}
    SELECT unit FROM step_1
{%- endif %}
),

{{ b.labelled("entered", "unit", breakdown) }},
{%- if fold %}

folded AS (
    {{ b.folded("labelled", "unit", fold) }}
),
{%- endif %}

final AS (
{%- for n in range(1, step_count + 1) %}
    SELECT {{ n }} AS step, l.breakdown, count(*) AS units,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY s.t - s.t_previous) AS median_seconds
    FROM step_{{ n }} AS s
    JOIN {{ "folded" if fold else "labelled" }} AS l ON l.unit = s.unit
    GROUP BY l.breakdown
{%- if not loop.last %}
    UNION ALL
{%- endif %}
{%- endfor %}
)

SELECT step, breakdown, units, median_seconds
FROM final
ORDER BY breakdown, step
{%- endif %}
