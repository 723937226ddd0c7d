{% import 'model/_profile_limit.sql' as limit with context -%}
-- The updates over_limit.sql refuses, as rejected_records rows (profile_limit):
-- added to load date :d's.
SELECT u.kind, u.load_date, u.source_object, u.source_line, u.source_index, 'profile_limit', u.raw
FROM profile_updates AS u
JOIN over_limit AS o ON o.group_key = u.group_key AND o.profile_id = u.profile_id
WHERE {{ limit.in_partition('u.') }}
