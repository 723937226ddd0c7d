"""Loaded events: a load date's partition of `events` replaced whole, and the
duplicate count of a load (which copy of an event is kept is the view
`events_deduped`'s business: the latest wins)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from etl.ingest.events import EVENT_COLUMNS
from etl.ingest.records import ACCEPTED, REJECT_COLUMNS, REJECTED, ParsedPartition
from etl.store.sql import render_sql, sql_clause
from etl.store.warehouse import Warehouse


def replace_event_partition(
    conn: Connection, warehouse: Warehouse, day: date, parsed: ParsedPartition, hook: Callable[[str], None]
) -> list[date]:
    """Replace load date D in events and rejected_records; return the event dates it touched
    (those it had before and those it has now), which later stages recompute."""
    before = set(
        conn.execute(
            sa.text("SELECT DISTINCT event_date FROM events WHERE load_date = :d"), {"d": day}
        ).scalars()
    )
    hook("events_deleted")
    warehouse.write(conn, "events", EVENT_COLUMNS, rows=parsed.rows(), where=ACCEPTED, partitions=[day])
    warehouse.write(conn, "rejected_records", REJECT_COLUMNS, rows=parsed.rows(), where=REJECTED,
                    partitions=[day], replacing="kind = 'event'")
    after = set(
        conn.execute(
            sa.text("SELECT DISTINCT event_date FROM events WHERE load_date = :d"), {"d": day}
        ).scalars()
    )
    return sorted(before | after)


def count_duplicates(conn: Connection, dialect: str, day: date, dates: list[date]) -> int:
    """Records of this load whose event had already arrived (earlier in this load or in
    an earlier one). Later loads do not change it, so a re-run of D gives the same count;
    which copy is kept is the view events_deduped's business (the latest wins)."""
    if not dates:
        return 0
    return conn.execute(
        sql_clause(render_sql("model/count_duplicates", dialect)), {"d": day, "dates": dates}
    ).scalar()


