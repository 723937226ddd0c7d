{#- The load dates the cohort exports have not written since their last load:
    never exported, or loaded again (load_audit.finished_at) after the load the
    last export read (export_days.loaded_at). One row a day, oldest first. -#}
WITH loads AS (
    SELECT la.load_date AS day, max(la.finished_at) AS loaded_at
    FROM load_audit AS la
    GROUP BY la.load_date
),

pending AS (
    SELECT l.day, l.loaded_at
    FROM loads AS l
    LEFT JOIN export_days AS e ON e.day = l.day
    WHERE e.day IS NULL OR e.loaded_at < l.loaded_at
)

SELECT day, loaded_at
FROM pending
ORDER BY day
