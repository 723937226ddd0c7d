"""The daily pipeline for load date D, declared once: the CLI's `group-etl run` and
the daily DAG's `run_day` task both execute `STAGES` through `run_day`.

A day is a pure function of (the lake partitions of D, the project settings, the
warehouse before D). Every stage that reads the lake parses first, outside any
transaction; then every stage writes, in declared order, inside one
transaction. A crash at any point leaves every table as it was, and no reader
ever sees a day half-built (new events with old attribution, say); a re-run
with the same inputs leaves every table identical (load_audit's
started_at/finished_at aside).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from etl.config import Settings
from etl.errors import EtlError, NotLandedError, ShrinkError
from etl.ingest.events import parse_day
from etl.ingest.landing import day_listings, not_landed
from etl.ingest.records import Parse, ParsedPartition, parse_partition
from etl.ingest.updates import parse_updates
from etl.model.activity import refresh_activity
from etl.model.attribution import attribute
from etl.model.events import count_duplicates, replace_event_partition
from etl.model.keys import registered_keys
from etl.model.profile_updates import replace_update_partition
from etl.run.audit import StageCounts, write_audit
from etl.store.columnar import Engine, columnar_engine
from etl.store.lake import Lake, LakeObject, input_fingerprint, open_lake
from etl.store.warehouse import Warehouse, open_warehouse

log = logging.getLogger("group_etl.run")

# Called between stages with a mark's name; tests inject faults here.
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
    rejected_by_reason: dict[str, int] = field(default_factory=dict)  # every kind of record of D

    def summary(self) -> dict:
        """The result as plain JSON values (a `run --format json` row, an Airflow XCom)."""
        return {
            "day": self.day.isoformat(), "input_records": self.input_records, "loaded": self.loaded,
            "rejected": self.rejected, "duplicates": self.duplicates,
            "invalid_group_id": self.invalid_group_id,
            "touched_dates": [d.isoformat() for d in self.touched_dates],
            "group_updates": list(self.group_updates), "user_updates": list(self.user_updates),
            "seconds": self.seconds,
        }


@dataclass
class DayRun:
    """What the stages of one run of day D share: its inputs, parses and result."""

    settings: Settings
    warehouse: Warehouse
    lake: Lake
    day: date
    hook: StageHook
    progress: Callable[[int], None] | None = None
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    listings: dict[str, list[LakeObject]] = field(default_factory=dict)
    parsed: dict[str, ParsedPartition] = field(default_factory=dict)
    registered: list[str] = field(default_factory=list)
    result: DayResult | None = None
    parse: Parse = parse_partition  # how a stage's lake partition is parsed (see run_day)


@dataclass(frozen=True)
class Stage:
    """One stage of a day: what it reads, the partition it owns (and replaces whole
    on every run), and how it runs.

    A stage with a `source` parses the lake partition `<source>/dt=D/` before the
    day's transaction and writes its `load_audit` row (stage = source) inside it.
    `done` is the hook mark called once its writes are done (its key in
    DayResult.seconds).
    """

    name: str
    reads: str
    owns: str
    done: str
    write: Callable[[DayRun, Connection], None]
    source: str | None = None
    parse: Callable[[DayRun, Engine], ParsedPartition] | None = None


def _parse_events(run: DayRun, engine: Engine) -> ParsedPartition:
    return parse_day(engine, run.lake, run.listings["events"], run.day, run.settings.tz,
                     run.settings.project_token, run.progress, run.parse)


def _write_events(run: DayRun, conn: Connection) -> None:
    parsed = run.parsed["events"]
    result = run.result = DayResult(run.day, parsed.loaded + parsed.rejected, parsed.loaded, parsed.rejected)
    result.touched_dates = replace_event_partition(conn, run.warehouse, run.day, parsed, run.hook)
    result.duplicates = count_duplicates(conn, run.warehouse.dialect, run.day, result.touched_dates)


def _write_attribution(run: DayRun, conn: Connection) -> None:
    """Attribution, then the events stage's load_audit row: written once, with the
    invalid group ids attribution counts."""
    result = run.result
    result.invalid_group_id = attribute(conn, run.warehouse, run.settings, run.day, result.touched_dates)
    write_audit(conn, run.warehouse, "events", run.day, input_fingerprint(run.listings["events"]),
                StageCounts(result.loaded, result.rejected, result.duplicates, result.invalid_group_id),
                run.started, touched_dates=result.touched_dates)


def _write_health(run: DayRun, conn: Connection) -> None:
    refresh_activity(conn, run.warehouse, run.result.touched_dates, run.settings.churn_days)


def _profiles(kind: str, source: str) -> tuple[Callable, Callable]:
    def parse(run: DayRun, engine: Engine) -> ParsedPartition:
        return parse_updates(engine, run.lake, run.listings[source], kind, run.day, run.settings.tz,
                             run.settings.project_token, run.registered, run.parse)

    def write(run: DayRun, conn: Connection) -> None:
        applied, rejected = replace_update_partition(
            conn, run.warehouse, kind, run.day, run.parsed[source], run.settings.max_group_profiles)
        write_audit(conn, run.warehouse, source, run.day, input_fingerprint(run.listings[source]),
                    StageCounts(applied, rejected), run.started)
        setattr(run.result, f"{kind}_updates", (applied, rejected))

    return parse, write


_groups_parse, _groups_write = _profiles("group", "groups")
_people_parse, _people_write = _profiles("user", "people")

# The day, in order. Every write of every stage commits together.
STAGES: tuple[Stage, ...] = (
    Stage("events", reads="lake events/dt=D",
          owns="events and rejected_records (kind event) of load date D",
          done="events_loaded", write=_write_events, source="events", parse=_parse_events),
    Stage("attribution", reads="events of the event dates load D touched; group_keys",
          owns="event_groups, hot_shards, group_daily_metrics of those event dates; load_audit (events, D), "
               "with the load's invalid group ids",
          done="attributed", write=_write_attribution),
    Stage("health", reads="event_groups of the groups those dates changed; the last loaded day",
          owns="group_activity_daily and group_user_first_days of those groups from their first changed "
               "date, and every group's rows past the previous last loaded day",
          done="health_refreshed", write=_write_health),
    Stage("groups", reads="lake groups/dt=D; group_keys; earlier group updates",
          owns="profile_updates and rejected_records (kind group) of D; the group profiles they touch "
               "(group_profiles, group_profile_history); load_audit (groups, D)",
          done="groups_applied", write=_groups_write, source="groups", parse=_groups_parse),
    Stage("people", reads="lake people/dt=D; group_keys; earlier user updates",
          owns="profile_updates and rejected_records (kind user) of D; the user profiles they touch "
               "(user_profiles, user_groups); load_audit (people, D)",
          done="people_applied", write=_people_write, source="people", parse=_people_parse),
)


# How each stage's records are named in messages.
KINDS = {"events": "events", "groups": "group updates", "people": "user updates"}
EMPTY_WAY = "run with --allow-empty to load it as an empty day"
SHRINK_WAY = "check the lake, or run again with --allow-shrink"


def refuse_shrink(conn: Connection, day: date, loaded: dict[str, int], limit: float) -> None:
    """A re-run that would drop more than `limit` of any kind of record day D has loaded
    (events, group updates, user updates; `loaded` by stage source) stops before
    writing: dumps that expired or were half-copied must not replace a good day. The
    comparison is with the day's current load (load_audit keeps no history)."""
    before = dict(conn.execute(
        sa.text("SELECT stage, loaded FROM load_audit WHERE load_date = :d"), {"d": day}).all())
    for source, now in loaded.items():
        was = before.get(source)
        if was and (was - now) / was > limit:
            raise ShrinkError(
                f"{day}: this run would load {now} {KINDS[source]} where {was} are loaded now "
                f"(a loss of {(was - now) / was:.0%}, over GROUP_ETL_SHRINK_LIMIT={limit:g})", SHRINK_WAY)


def lake_listings(settings: Settings, lake: Lake, day: date) -> dict[str, list[LakeObject]]:
    """The input objects of day D, by stage source; the landing marker is never a record
    (etl.ingest.landing: the listing `group-etl status` fingerprints too)."""
    return day_listings(lake, day, settings.landing_marker)


def check_landed(settings: Settings, lake: Lake, day: date, listings: dict[str, list[LakeObject]],
                 way: str = EMPTY_WAY) -> None:
    """Raise NotLandedError unless day D's dump is there (etl.ingest.landing.not_landed:
    its landing marker when one is set, else an object under events/dt=D/). An empty
    listing is a missing dump far more often than an empty day: a mistyped range, a
    late or expired dump; groups/ alone is a dump still landing."""
    reason = not_landed(lake, day, settings.landing_marker, listings)
    if reason:
        raise NotLandedError(reason, way)


def audited_stages() -> list[str]:
    """The load_audit stages a complete day D has: one per stage that reads the lake."""
    return [stage.source for stage in STAGES if stage.source]


@contextlib.contextmanager
def open_stores(settings: Settings) -> Iterator[tuple[Warehouse, Lake]]:
    """The warehouse (schema created or migrated) and the lake days run on: the CLI's
    `run` and the DAG's task open them here, the same way."""
    lake = open_lake(settings.lake_url)
    with open_warehouse(settings) as warehouse:
        warehouse.migrate()
        yield warehouse, lake


def run_day(
    settings: Settings,
    warehouse: Warehouse,
    lake: Lake,
    day: date,
    progress: Callable[[int], None] | None = None,
    hook: StageHook | None = None,
    allow_empty: bool = False,
    allow_shrink: bool = False,
    listings: dict[str, list[LakeObject]] | None = None,
) -> DayResult:
    """Every stage of day D: the lake parsed first, then every write in one transaction.

    A day that has not landed (check_landed) is refused unless `allow_empty`; a run
    that would drop more than GROUP_ETL_SHRINK_LIMIT of the day's loaded events is
    refused unless `allow_shrink`, and so is one that would drop that share of its group
    or user updates. Both stop before anything is written. `listings`
    are the day's input objects (lake_listings) when the caller has just listed them."""
    timer = StageTimer(hook or (lambda _mark: None))
    run = DayRun(settings, warehouse, lake, day, timer.mark, progress)
    run.listings = listings if listings is not None else lake_listings(settings, lake, day)
    if warehouse.dialect == "spark":  # the lake parsed on Spark's executors
        from etl.ingest.spark import parse_on_executors

        run.parse = functools.partial(parse_on_executors, warehouse.spark)
    if not allow_empty:
        check_landed(settings, lake, day, run.listings)
    with columnar_engine() as engine:
        run.registered = registered_keys(warehouse)
        run.parsed = {s.source: s.parse(run, engine) for s in STAGES if s.parse}
        engine.release()
        run.hook("parsed")
        with warehouse.begin() as conn:
            warehouse.lock(conn, "pipeline")
            if not allow_shrink:
                refuse_shrink(conn, day, {source: p.loaded for source, p in run.parsed.items()},
                              settings.shrink_limit)
            for stage in STAGES:
                stage.write(run, conn)
                run.hook(stage.done)
            run.result.rejected_by_reason = rejects_by_reason(conn, day)
            run.hook("audited")
    run.hook("committed")
    run.result.seconds = timer.seconds
    for line in day_warnings(run.result, settings.reject_warn):
        log.warning("warning: %s", line)
    return run.result


def rejects_by_reason(conn: Connection, day: date) -> dict[str, int]:
    return {row.reason: row.n for row in conn.execute(sa.text(
        "SELECT reason, count(*) AS n FROM rejected_records WHERE load_date = :d GROUP BY reason "
        "ORDER BY reason"), {"d": day})}


def day_warnings(result: DayResult, reject_warn: float) -> list[str]:
    """What stands out in a loaded day, as one line (or none): the lines `status --check`
    shows for it (etl.serve.status.loaded_problems)."""
    from etl.serve.status import loaded_problems

    return loaded_problems({"date": result.day.isoformat(), "rejected": result.rejected,
                            "input_records": result.input_records,
                            "rejected_by_reason": result.rejected_by_reason}, reject_warn)


def check_day(warehouse: Warehouse, day: date) -> dict:
    """Day D is complete: every stage left its audit row, and nothing was lost
    (input_records = loaded + rejected). Returns {stage: {loaded, rejected}}."""
    with warehouse.begin() as conn:
        rows = {r.stage: r for r in conn.execute(sa.text(
            "SELECT stage, input_records, loaded, rejected FROM load_audit WHERE load_date = :d"), {"d": day})}
    missing = [stage for stage in audited_stages() if stage not in rows]
    if missing:
        raise EtlError(f"stages not run for {day}: {', '.join(missing)}")
    broken = [s for s, r in sorted(rows.items()) if r.input_records != r.loaded + r.rejected]
    if broken:
        raise EtlError(f"input_records != loaded + rejected for {day}: {', '.join(broken)}")
    return {stage: {"loaded": r.loaded, "rejected": r.rejected} for stage, r in sorted(rows.items())}


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
