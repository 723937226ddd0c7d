"""Attribution: which deduplicated events count for which groups (docs/rules.md:
setup-time eligibility, valid group ids, at most 300 ids an event, hot shards),
and the per-group daily metrics built from it. The rule's SQL is
`sql/model/group_values.sql`, then `listed`, `attributed` and `shard_sizes`
(scratch), then the tables it writes: `event_groups`, `hot_shards` and
`group_daily_metrics` (STEPS); what a valid group id is and the cap are written
once, in `sql/model/_rules.sql`, and user_groups uses the same text
(`sql/model/user_groups.sql`)."""

from __future__ import annotations

from datetime import date

from sqlalchemy.engine import Connection

from etl.config import Settings
from etl.model.models import Model, Scratch, drop_scratch, run_steps
from etl.store.sql import render_sql, sql_clause
from etl.store.warehouse import Warehouse

MAX_GROUP_IDS_PER_EVENT = 300  # the cap's one value: events and user profiles (:max_ids)

GROUP_COLUMNS = ("event_date", "event_id", "insert_id", "event", "distinct_id", "event_time", "data_group_id",
                 "group_key", "group_id")
# Attribution, in order: each a SELECT of sql/model/, written by event_date (etl.store.tables)
STEPS = (
    Scratch("group_values"), Scratch("listed"), Scratch("attributed"), Scratch("shard_sizes"),
    Model("event_groups", GROUP_COLUMNS),
    Model("hot_shards", ("event_date", "data_group_id", "group_key", "group_id", "events_over")),
    Model("group_daily_metrics", ("event_date", "group_key", "group_id", "event", "event_count", "user_count")),
)


def attribute(
    conn: Connection, warehouse: Warehouse, settings: Settings, day: date, dates: list[date]
) -> int:
    """Rebuild event_groups, hot_shards and group_daily_metrics for the touched dates.

    Returns the number of invalid group id values on this load's own event records
    (`sql/model/count_invalid_group_ids.sql`): later loads never change it.
    """
    if not dates:
        return 0
    params = {
        "dates": dates,
        "d": day,
        "max_ids": MAX_GROUP_IDS_PER_EVENT,
        "hot_shard_limit": settings.hot_shard_limit,
    }
    run_steps(conn, warehouse, STEPS, params, partitions=dates)
    invalid = conn.execute(sql_clause(render_sql("model/count_invalid_group_ids", warehouse.dialect), params),
                           params).scalar()
    drop_scratch(conn, warehouse, STEPS)
    return invalid
