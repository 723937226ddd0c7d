{#- A cohort's health condition: true when the group in column `member` meets
    `test` (over `a`, a row of group_activity_daily; metric and op from
    etl.serve.health's lists, the value bound) on the last loaded day up to
    `day` (bound). With `negate`: true unless the group's row fails the test,
    so a group with no row (never active, every count 0) is kept. Uncorrelated:
    the day's qualifying groups are found once. -#}
{{ member }} {{ "NOT IN" if negate else "IN" }} (
    SELECT a.group_id
    FROM group_activity_daily AS a
    WHERE a.group_key = {{ group_key }}
      AND a.activity_date = (SELECT max(h.activity_date) FROM group_activity_daily AS h
                             WHERE h.activity_date <= {{ day }})
      AND {{ "NOT " if negate }}({{ test }})
)
