-- Deduplicated events in the preview window that carry the key's property
-- under another capitalisation (e.g. Company_ID for company_id).
SELECT count(*)
FROM events_deduped AS e
WHERE e.event_date IN :dates
  AND e.event_time >= :setup_at
  AND {{ dialect.json_has_other_case_key('e.properties', ':group_key') }}
