"""Attribution: which deduplicated events count for which groups (docs/rules.md:
setup-time eligibility, valid group ids, at most 300 ids an event, hot shards),
and the per-group daily metrics built from it. The rule's SQL is
`sql/model/group_values.sql` then `sql/model/attribute_events.sql`; what a valid
group id is and the cap are written once, in `sql/model/_rules.sql`, and
user_groups uses the same text (`sql/model/user_groups.sql`)."""

from __future__ import annotations

from datetime import date

from sqlalchemy.engine import Connection

from etl.config import Settings
from etl.store.sql import render_sql, run_script, sql_clause
from etl.store.warehouse import Warehouse

MAX_GROUP_IDS_PER_EVENT = 300  # the cap's one value: events and user profiles (:max_ids)
TEMP_TABLES = ("shard_sizes", "attributed", "listed", "group_values")  # attribution's scratch tables


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
    for temp in TEMP_TABLES:
        warehouse.drop_temp(conn, temp)
    run_script(conn, render_sql("model/group_values", warehouse.dialect), params, warehouse.analyze)
    # event_groups' statistics: the metrics and the health refresh read its new rows next
    # (measured: without any, PostgreSQL planned 1.5k rows where a 1M-event day has 441k)
    run_script(conn, render_sql("model/attribute_events", warehouse.dialect), params, warehouse.analyze,
               filled=("event_groups",))
    invalid = conn.execute(sql_clause(render_sql("model/count_invalid_group_ids", warehouse.dialect), params),
                           params).scalar()
    for temp in TEMP_TABLES:
        warehouse.drop_temp(conn, temp)
    return invalid


