-- The 2,000-properties-a-profile cap (etl/model/profile_updates.py finds the
-- updates while folding, into the scratch table refused_updates): the refused
-- updates as rejected_records rows (profile_property_limit), added to load
-- date :d's; the write of profile_updates that follows drops them there.
SELECT u.kind, u.load_date, u.source_object, u.source_line, u.source_index, 'profile_property_limit', u.raw
FROM profile_updates AS u
JOIN refused_updates AS r
  ON r.kind = u.kind AND r.load_date = u.load_date AND r.source_object = u.source_object
 AND r.source_line = u.source_line AND r.source_index = u.source_index
WHERE u.load_date = :d
