-- hot_shards of the touched event dates: the events over :hot_shard_limit of
-- each (group, date) that has more, from shard_sizes.sql.
SELECT event_date, data_group_id, group_key, group_id, events - :hot_shard_limit AS events_over
FROM shard_sizes
WHERE events > :hot_shard_limit
