{% import 'store/_rules.sql' as copies with context -%}
-- Records of load :d whose event had already arrived (earlier in this load or
-- in an earlier one), over the event dates :dates the load touched: copies in
-- arrival order (sql/store/_rules.sql), all but the first. Where the engine
-- allows it cheaply (dialect.rank_every_copy false), only events with more
-- than one copy on those dates (rare) are ranked.
{%- if not dialect.rank_every_copy %}
WITH repeated AS (
    {{ copies.repeated_ids('event_date IN :dates AND load_date <= :d') }}
)
{%- endif %}
SELECT count(*)
FROM (
    SELECT e.load_date,
           row_number() OVER (
               PARTITION BY {{ copies.copy_identity('e.') }}
               ORDER BY {{ copies.copy_order('e.') }}
           ) AS arrival
    FROM events AS e
    WHERE e.event_date IN :dates AND e.load_date <= :d
{%- if not dialect.rank_every_copy %}
      AND {{ copies.is_repeated('e', 'repeated') }}
{%- endif %}
) AS copies
WHERE load_date = :d AND arrival > 1
