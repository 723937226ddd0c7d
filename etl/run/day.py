"""The daily pipeline for load date D: load events, attribute, aggregate, audit.

A day is a pure function of (the lake partition D, the project settings, the
warehouse before D). All of its writes happen in one transaction, so a crash
at any point leaves every table as it was; a re-run with the same inputs
leaves every table identical (load_audit's started_at/finished_at aside).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from etl.config import Settings
from etl.errors import EtlError
from etl.ingest.events import parse_day
from etl.ingest.records import ParsedPartition, input_fingerprint
from etl.ingest.updates import PREFIXES, parse_updates
from etl.model.attribution import attribute
from etl.model.events import count_duplicates, replace_event_partition
from etl.model.keys import registered_keys
from etl.model.profile_updates import replace_update_partition
from etl.run.audit import StageCounts, write_audit
from etl.store.columnar import columnar_engine
from etl.store.lake import Lake, partition_prefix
from etl.store.warehouse import Warehouse

# Lake prefixes a day reads, which are also the stages of load_audit.
STAGES = ("events", "groups", "people")

# Called between stages with the stage's name; tests inject faults here.
StageHook = Callable[[str], None]


@dataclass
class DayResult:
    day: date
    input_records: int = 0
    loaded: int = 0
    rejected: int = 0
    duplicates: int = 0
    invalid_group_id: int = 0
    touched_dates: list[date] = field(default_factory=list)
    group_updates: tuple[int, int] = (0, 0)  # (applied, rejected)
    user_updates: tuple[int, int] = (0, 0)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per stage


def run_day(
    settings: Settings,
    warehouse: Warehouse,
    lake: Lake,
    day: date,
    progress: Callable[[int], None] | None = None,
    hook: StageHook | None = None,
) -> DayResult:
    """Every stage of day D in one transaction (the command line's `run`)."""
    timer = StageTimer(hook or (lambda _stage: None))
    hook = timer.mark
    started = datetime.now(UTC)
    listings = {kind: lake.list(partition_prefix(kind, day.isoformat())) for kind in STAGES}
    with columnar_engine() as engine:
        parsed = parse_day(engine, lake, listings["events"], day, settings.tz,
                           settings.project_token, progress)
        registered = registered_keys(warehouse)
        parsed_updates = {
            kind: parse_updates(engine, lake, listings[prefix], kind, day, settings.tz,
                                settings.project_token, registered)
            for kind, prefix in PREFIXES.items()
        }
        hook("parsed")
        with warehouse.begin() as conn:
            warehouse.lock(conn, "pipeline")
            result = load_events_stage(conn, warehouse, day, parsed, listings["events"], started, hook)
            hook("events_loaded")
            result.invalid_group_id = attribute_stage(conn, warehouse, settings, day)
            hook("attributed")
            for kind, prefix in PREFIXES.items():
                counts = profile_stage(conn, warehouse, settings, kind, day, parsed_updates[kind],
                                       listings[prefix], started)
                setattr(result, f"{kind}_updates", counts)
                hook(f"{prefix}_applied")
            hook("audited")
    hook("committed")
    result.seconds = timer.seconds
    return result


def load_events_stage(
    conn: Connection, warehouse: Warehouse, day: date, parsed: ParsedPartition,
    objects: list, started: datetime, hook: StageHook,
) -> DayResult:
    """Replace load date D in events and rejected_records and audit it, recording the
    event dates it touched for the attribution stage."""
    result = DayResult(day, parsed.loaded + parsed.rejected, parsed.loaded, parsed.rejected)
    result.touched_dates = replace_event_partition(conn, warehouse, day, parsed, hook)
    result.duplicates = count_duplicates(conn, warehouse.dialect, day, result.touched_dates)
    write_audit(conn, "events", day, input_fingerprint(objects),
                StageCounts(result.loaded, result.rejected, result.duplicates), started,
                touched_dates=result.touched_dates)
    return result


def attribute_stage(conn: Connection, warehouse: Warehouse, settings: Settings, day: date) -> int:
    """Attribution, hot shards and metrics for the event dates load D touched."""
    recorded = conn.execute(
        sa.text("SELECT touched_dates FROM load_audit WHERE stage = 'events' AND load_date = :d"),
        {"d": day},
    ).scalar()
    if recorded is None:
        raise EtlError(f"{day}: events are not loaded yet; run the load first")
    dates = [date.fromisoformat(d) for d in recorded.split(",") if d]
    invalid = attribute(conn, warehouse, settings, day, dates)
    conn.execute(
        sa.text("UPDATE load_audit SET invalid_group_id = :n WHERE stage = 'events' AND load_date = :d"),
        {"n": invalid, "d": day},
    )
    return invalid


def profile_stage(
    conn: Connection, warehouse: Warehouse, settings: Settings, kind: str, day: date,
    parsed: ParsedPartition, objects: list, started: datetime,
) -> tuple[int, int]:
    """Apply load D's group or user updates and audit them; (applied, rejected)."""
    applied, rejected = replace_update_partition(
        conn, warehouse, kind, day, parsed, settings.max_group_profiles)
    write_audit(conn, PREFIXES[kind], day, input_fingerprint(objects), StageCounts(applied, rejected), started)
    return applied, rejected


class StageTimer:
    """Wall time between stage marks (for `run` output and bench/); passes marks on."""

    def __init__(self, hook: StageHook) -> None:
        self.hook = hook
        self.seconds: dict[str, float] = {}
        self.last = time.perf_counter()

    def mark(self, stage: str) -> None:
        self.hook(stage)
        now = time.perf_counter()
        self.seconds[stage] = round(now - self.last, 3)
        self.last = now


