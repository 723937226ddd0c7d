"""The daily pipeline for load date D: load events, attribute, aggregate, audit.

A day is a pure function of (the lake partition D, the project settings, the
warehouse before D). All of its writes happen in one transaction, so a crash
at any point leaves every table as it was; a re-run with the same inputs
leaves every table identical (load_audit's started_at/finished_at aside).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from etl.config import Settings
from etl.engine import columnar_engine
from etl.errors import EtlError
from etl.events import EVENT_COLUMNS, parse_day
from etl.lake import Lake, partition_prefix
from etl.records import ACCEPTED, REJECT_COLUMNS, REJECTED, ParsedPartition, input_fingerprint
from etl.updates import PREFIXES, parse_updates, replace_update_partition
from etl.warehouse import Warehouse, load_sql, split_statements

MAX_GROUP_IDS_PER_EVENT = 300
TEMP_TABLES = ("shard_sizes", "attributed", "listed", "group_values")  # attribution's scratch tables
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


def day_range(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def sql_clause(sql: str, params: dict | None = None) -> sa.TextClause:
    """A text clause whose list-valued parameters render as IN (...) lists."""
    clause = sa.text(sql)
    lists = [name for name, value in (params or {}).items() if isinstance(value, list | tuple)]
    lists = [name for name in lists if f":{name}" in sql] or (["dates"] if ":dates" in sql else [])
    if lists:
        clause = clause.bindparams(*[sa.bindparam(name, expanding=True) for name in lists])
    return clause


def run_script(conn: Connection, script: str, params: dict, warehouse: Warehouse | None = None) -> None:
    """Run a SQL file's statements; with `warehouse`, each temporary table the script
    creates gets statistics (`Warehouse.analyze`) before the statements that read it."""
    for statement in split_statements(script):
        conn.execute(sql_clause(statement, params), params)
        created = re.match(r"CREATE TEMP TABLE (\w+)", statement)
        if warehouse is not None and created:
            warehouse.analyze(conn, created.group(1))


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


def registered_keys(warehouse: Warehouse) -> list[str]:
    """Every property ever registered as a group key: group updates must name one."""
    with warehouse.begin() as conn:
        return list(conn.execute(sa.text("SELECT DISTINCT group_key FROM group_keys")).scalars())


def replace_event_partition(
    conn: Connection, warehouse: Warehouse, day: date, parsed: ParsedPartition, hook: StageHook
) -> list[date]:
    """Replace load date D in events and rejected_records; return the event dates it touched
    (those it had before and those it has now), which later stages recompute."""
    before = set(
        conn.execute(
            sa.text("SELECT DISTINCT event_date FROM events WHERE load_date = :d"), {"d": day}
        ).scalars()
    )
    conn.execute(sa.text("DELETE FROM events WHERE load_date = :d"), {"d": day})
    conn.execute(
        sa.text("DELETE FROM rejected_records WHERE kind = 'event' AND load_date = :d"), {"d": day}
    )
    hook("events_deleted")
    warehouse.bulk_insert(conn, "events", EVENT_COLUMNS, parsed.rows(), ACCEPTED)
    warehouse.bulk_insert(conn, "rejected_records", REJECT_COLUMNS, parsed.rows(), REJECTED)
    warehouse.analyze(conn, "events")
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
        sql_clause(load_sql("count_duplicates", dialect)), {"d": day, "dates": dates}
    ).scalar()


def attribute(
    conn: Connection, warehouse: Warehouse, settings: Settings, day: date, dates: list[date]
) -> int:
    """Rebuild event_groups, hot_shards and group_daily_metrics for the touched dates.

    Returns the number of invalid group id values on this load's events.
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
    run_script(conn, load_sql("group_values", warehouse.dialect), params, warehouse)
    run_script(conn, load_sql("attribute_events", warehouse.dialect), params, warehouse)
    invalid = conn.execute(
        sa.text("SELECT count(*) FROM group_values WHERE group_id IS NULL AND load_date = :d"),
        params,
    ).scalar()
    for temp in TEMP_TABLES:
        warehouse.drop_temp(conn, temp)
    return invalid


@dataclass
class StageCounts:
    loaded: int
    rejected: int
    duplicates: int = 0
    invalid_group_id: int = 0


def write_audit(
    conn: Connection, stage: str, day: date, fingerprint: str, result: StageCounts, started: datetime,
    touched_dates: list[date] | None = None,
) -> None:
    conn.execute(
        sa.text("DELETE FROM load_audit WHERE stage = :s AND load_date = :d"), {"s": stage, "d": day}
    )
    conn.execute(
        sa.text(
            "INSERT INTO load_audit (stage, load_date, input_fingerprint, input_records, loaded, "
            "rejected, duplicates, invalid_group_id, touched_dates, started_at, finished_at) VALUES "
            "(:s, :d, :f, :i, :l, :r, :dup, :inv, :touched, :start, :finish)"
        ),
        {
            "s": stage, "d": day, "f": fingerprint, "i": result.loaded + result.rejected,
            "l": result.loaded, "r": result.rejected, "dup": result.duplicates,
            "inv": result.invalid_group_id, "start": started, "finish": datetime.now(UTC),
            "touched": None if touched_dates is None else ",".join(d.isoformat() for d in touched_dates),
        },
    )
