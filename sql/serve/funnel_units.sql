{#- Funnel drill-down: the units that reached step :reached and, with
    `dropped`, not step :reached + 1 (etl.serve.drilldown). The steps are
    funnel.sql's rule (a unit enters at its first :step_1 in :d1..:d2; each next
    step is its first such event strictly after the previous one, within :window
    seconds of entering), written again here while funnel.sql gains its
    breakdown (issue 17): after that merge both should import one macro.

    Context: `units`, `conditions` (as funnel.sql), `step_count` (the steps
    computed: :reached, plus one when `dropped`). -#}
WITH unit_events AS (
{{ units | trim | indent(4, first=true) }}
),

considered AS (
    SELECT u.unit, u.event, u.event_time, u.event_id, u.event_date,
           extract(epoch FROM u.event_time) AS t
    FROM unit_events AS u
{%- for condition in conditions %}
    {{ "WHERE" if loop.first else "  AND" }} {{ condition }}
{%- endfor %}
),

step_1 AS (
    SELECT unit, event_time, event_id, t, t AS t_first
    FROM (
        SELECT c.*, row_number() OVER (PARTITION BY c.unit ORDER BY c.event_time, c.event_id) AS nth
        FROM considered AS c
        WHERE c.event = :step_1 AND c.event_date BETWEEN :d1 AND :d2
    ) AS firsts
    WHERE nth = 1
){{ "," if step_count > 1 }}
{% for n in range(2, step_count + 1) %}
step_{{ n }} AS (
    SELECT unit, event_time, event_id, t, t_first
    FROM (
        SELECT c.unit, c.event_time, c.event_id, c.t, p.t_first,
               row_number() OVER (PARTITION BY c.unit ORDER BY c.event_time, c.event_id) AS nth
        FROM step_{{ n - 1 }} AS p
        JOIN considered AS c ON c.unit = p.unit
        WHERE c.event = :step_{{ n }}
          AND (c.event_time > p.event_time OR (c.event_time = p.event_time AND c.event_id > p.event_id))
          AND c.t <= p.t_first + :window
    ) AS nexts
    WHERE nth = 1
){{ "," if not loop.last }}
{% endfor %}
SELECT r.unit
FROM step_{{ reached }} AS r
{%- if dropped %}
WHERE NOT EXISTS (SELECT 1 FROM step_{{ reached + 1 }} AS s WHERE s.unit = r.unit)
{%- endif %}
