{#- A static cohort's membership: the id in column `member` is one of the ids
    saved for cohort `cohort` (a bound parameter) in cohort_members. -#}
{{ member }} IN (SELECT cm.member_id FROM cohort_members AS cm WHERE cm.cohort = {{ cohort }})
