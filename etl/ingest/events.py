"""Events: how a record of `events/dt=D/` is validated and what of it is kept.

The validation is `sql/ingest/parse_events.sql`; see `etl.ingest.records` for how a
partition is read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from zoneinfo import ZoneInfo

from etl.ingest.records import Parse, ParsedPartition, RecordKind, common_params, parse_partition
from etl.store.columnar import Engine
from etl.store.lake import Lake, LakeObject
from etl.store.sql import render_sql

EVENT_COLUMNS = [
    "load_date", "source_object", "source_line", "source_index", "event_id", "insert_id",
    "event", "distinct_id", "event_time", "event_date", "properties",
]


def event_kind() -> RecordKind:
    return RecordKind("event", render_sql("ingest/parse_events", "duckdb"))


def parse_day(
    engine: Engine,
    lake: Lake,
    objects: list[LakeObject],
    day: date,
    tz: ZoneInfo,
    token: str | None,
    progress: Callable[[int], None] | None = None,
    parse: Parse = parse_partition,
) -> ParsedPartition:
    """Parse a day's event dumps (`parse`: on this process, into Arrow parts under the
    engine's folder, or the Spark engine's parse on its executors)."""
    return parse(engine, lake, objects, event_kind(), common_params(day, tz, token), progress)
