{#- A cohort's behaviour: true when the member in column `member` did event
    `event` at least `at_least` times from `first` to `last` (all bound
    parameters); counted per group of key `group_key` (a bound parameter), or
    per user when `group_key` is none. Uncorrelated: the qualifying members
    are found once, in the behaviour's date window. -#}
{%- if group_key %}
{{ member }} IN (
    SELECT eg.group_id
    FROM event_groups AS eg
    WHERE eg.group_key = {{ group_key }}
      AND eg.event = {{ event }}
      AND eg.event_date BETWEEN {{ first }} AND {{ last }}
    GROUP BY eg.group_id
    HAVING count(*) >= {{ at_least }}
)
{%- else %}
{{ member }} IN (
    SELECT ed.distinct_id
    FROM events_deduped AS ed
    WHERE ed.event = {{ event }}
      AND ed.event_date BETWEEN {{ first }} AND {{ last }}
    GROUP BY ed.distinct_id
    HAVING count(*) >= {{ at_least }}
)
{%- endif %}
