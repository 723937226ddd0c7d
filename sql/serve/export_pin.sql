{#- Pins an export's selection under session :sid, numbered from 0 in id
    order, so the pages asked later read the same rows while the pipeline runs.

    Context: `selection` (export_selection.sql, rendered). -#}
INSERT INTO export_sessions (session_id, position, profile_id, properties, created_at)
SELECT :sid, row_number() OVER (ORDER BY s.profile_id) - 1, s.profile_id,
       CAST(s.properties AS {{ dialect.json }}), :now
FROM (
{{ selection | trim | indent(4, first=true) }}
) AS s
