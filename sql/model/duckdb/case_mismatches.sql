-- Deduplicated events in the preview window that carry the key's property
-- under another capitalisation (e.g. Company_ID for company_id).
SELECT count(*)
FROM events_deduped
WHERE event_date IN :dates
  AND event_time >= :setup_at
  AND len(list_filter(json_keys(properties), lambda k: lower(k) = lower(:group_key) AND k <> :group_key)) > 0
