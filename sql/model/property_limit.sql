-- The 2,000-properties-a-profile cap (etl/model/profile_updates.py finds the
-- updates while folding): one refused update, named by (:k, :d, :o, :l, :i),
-- moves from profile_updates to rejected_records as profile_property_limit.
INSERT INTO rejected_records (kind, load_date, source_object, source_line, source_index, reason, raw)
SELECT kind, load_date, source_object, source_line, source_index, 'profile_property_limit', raw
FROM profile_updates
WHERE kind = :k AND load_date = :d AND source_object = :o AND source_line = :l AND source_index = :i;

DELETE FROM profile_updates
WHERE kind = :k AND load_date = :d AND source_object = :o AND source_line = :l AND source_index = :i;
