{% import 'model/_profile_limit.sql' as limit with context -%}
{#- The rows of profile_updates that over_limit.sql refuses: what the write that
    moves them to rejected_records replaces (with no rows). -#}
{{ limit.in_partition() }}
  AND EXISTS (SELECT 1 FROM over_limit AS o
              WHERE o.group_key = profile_updates.group_key AND o.profile_id = profile_updates.profile_id)
