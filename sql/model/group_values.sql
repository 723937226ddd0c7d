{% import 'store/_rules.sql' as copies with context -%}
{% import 'model/_rules.sql' as rules with context -%}
-- Every value of a registered group key on the deduplicated events of the
-- touched dates, one row per value (a list gives one row per element, with its
-- position). group_id is NULL for an invalid value (the rule: group_id in
-- sql/model/_rules.sql). Keys apply only from setup_at (to the second) until
-- removed_at. The key name reaches the JSON lookup as a value. A scratch table
-- of attribution (etl.model.attribution) and of `keys preview`.
-- Deduplicated as events_deduped is (the latest copy of an event carries its
-- groups, sql/store/_rules.sql), by the engine's cheaper plan: on DuckDB only
-- events whose id occurs more than once on these dates (rare) are ranked, and
-- the copies a later one replaces are dropped by an anti-join as small as the
-- duplicates; on PostgreSQL (dialect.rank_every_copy) a value is kept when no
-- later copy of its event exists.
WITH
{%- if not dialect.rank_every_copy %}
repeated AS (
    {{ copies.repeated_ids('event_date IN :dates') }}
),
replaced AS (
    SELECT event_date, event_id, load_date, source_object, source_line, source_index
    FROM (
        SELECT e.event_date, e.event_id, e.load_date, e.source_object, e.source_line, e.source_index,
               row_number() OVER (
                   PARTITION BY {{ copies.copy_identity('e.') }}
                   ORDER BY {{ copies.copy_order('e.', latest_first=true) }}
               ) AS copy_rank
        FROM events AS e
        WHERE e.event_date IN :dates
          AND {{ copies.is_repeated('e', 'repeated') }}
    ) AS ranked
    WHERE copy_rank > 1
),
{%- endif %}
keyed AS (
    SELECT e.event_date, e.event_id, e.insert_id, e.event, e.distinct_id, e.event_time, e.load_date,
           e.source_object, e.source_line, e.source_index, k.data_group_id, k.group_key,
           {{ rules.key_value('e.properties', 'k.group_key') }} AS value
    FROM events AS e
    JOIN group_keys AS k
      ON e.event_time >= k.setup_at
     AND (k.removed_at IS NULL OR e.event_time < k.removed_at)
    WHERE e.event_date IN :dates
),
present AS (
    SELECT p.*
    FROM keyed AS p
{%- if dialect.rank_every_copy %}
    -- only where the key is present, no later copy of the event exists
    WHERE p.value IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM events AS later
                      WHERE later.event_date IN :dates AND later.event_date = p.event_date
                        AND later.event_id = p.event_id AND {{ copies.arrives_after('later', 'p') }})
{%- else %}
    WHERE NOT EXISTS (SELECT 1 FROM replaced AS r WHERE {{ copies.same_copy('r', 'p') }})
{%- endif %}
)
{{ rules.group_values('present', 'load_date, event_date, event_id, insert_id, event, distinct_id, event_time, '
                                 'data_group_id, group_key') }}
