-- Deduplicated events in the preview window that carry the key's property
-- under another capitalisation (e.g. Company_ID for company_id).
SELECT count(*)
FROM events_deduped AS e
WHERE e.event_date IN :dates
  AND e.event_time >= :setup_at
  AND jsonb_typeof(e.properties) = 'object'
  AND EXISTS (SELECT 1 FROM jsonb_object_keys(e.properties) AS k
              WHERE lower(k) = lower(:group_key) AND k <> :group_key)
