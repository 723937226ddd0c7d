"""Profile exports in Mixpanel's Engage shape, and the scheduled cohort exports.

`export_profiles` answers one page: `{page, page_size, session_id, status,
total, results: [{"$distinct_id", "$properties"}]}`. Page 0 (or any request
without a session) pins the ordered result under a new `session_id` (a file in
the session folder, etl.serve.sessions: the warehouse is only read); pages
asked with that id read the pinned rows, so they never shift while the
pipeline runs. `--to` writes every row as JSON lines, CSV or Parquet by the
target's extension. An export as of a day or an instant selects each group as it
was then (group_profile_history), so a past day's export can be written again
identically; a behavioural cohort's members without a profile come too, with
empty properties (Mixpanel's include_all_users).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from etl.errors import EtlError
from etl.serve.cohorts import (
    Cohort,
    behaviour_window,
    check_name,
    get_cohort,
    list_cohorts,
    member_conditions,
)
from etl.serve.filters import Ref, SqlCompiler, parse
from etl.serve.sessions import ROW_GROUP, SessionStore
from etl.serve.spreadsheet import spreadsheet_cell
from etl.store.lake import Lake, open_lake, replace_partition, write_new_file
from etl.store.sql import render_sql, sql_clause
from etl.store.warehouse import Warehouse, json_value

DEFAULT_PAGE_SIZE = 1000
FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}


@dataclass(frozen=True)
class Selection:
    """Which profiles: groups of one key (by data_group_id) or users, a cohort, a filter;
    `at`: each group as it was at that instant (None: now); `include_all_users`: members
    without a profile too (None: for cohorts with behaviours and static cohorts, as
    Mixpanel's default)."""

    data_group_id: int | None = None
    cohort: str | None = None
    where: str | None = None
    at: datetime | None = None
    include_all_users: bool | None = None
    #: only these profile ids (Engage's distinct_id / distinct_ids); None: every one
    ids: tuple[str, ...] | None = None

    def describe(self) -> str:
        """The options that ask for this selection: what a pinned session records and compares."""
        parts = [f"{flag} {shlex.quote(str(value))}" for flag, value in (
            ("--data-group-id", self.data_group_id), ("--cohort", self.cohort), ("--where", self.where),
            ("--as-of", self.at.isoformat() if self.at else None)) if value is not None]
        if self.include_all_users is not None:
            parts.append("--include-all-users" if self.include_all_users else "--no-include-all-users")
        if self.ids is not None:
            parts.append(f"distinct_ids {shlex.quote(json.dumps(list(self.ids)))}")
        return " ".join(parts) or "every user (no --data-group-id, --cohort or --where)"


def _group_key(warehouse: Warehouse, data_group_id: int) -> str:
    with warehouse.begin() as conn:
        key = conn.execute(sa.text("SELECT group_key FROM group_keys WHERE data_group_id = :i"),
                           {"i": data_group_id}).scalar()
    if key is None:
        raise EtlError(f"data_group_id {data_group_id} is not a group key (see `group-etl keys list`)")
    return key


def selection_sql(warehouse: Warehouse, selection: Selection, as_of: date, params: dict) -> str:
    """SELECT profile_id, properties (as text) of the selected profiles, ordered by id."""
    cohort: Cohort | None = get_cohort(warehouse, selection.cohort) if selection.cohort else None
    if selection.data_group_id is not None:
        key = _group_key(warehouse, selection.data_group_id)
        if cohort and cohort.group_key != key:
            raise EtlError(f"cohort {cohort.name!r} is a cohort of {cohort.group_key or 'users'}, not of {key}")
        params["export_key"] = key
    elif cohort and cohort.group_key:
        raise EtlError(f"cohort {cohort.name!r} is a cohort of {cohort.group_key}: give --data-group-id")
    if selection.include_all_users and not cohort:
        raise EtlError("--include-all-users: needs --cohort (members without a profile are found by behaviour)")
    window = behaviour_window(cohort, as_of) if cohort else None
    static = bool(cohort and cohort.definition.get("static"))
    all_members = selection.include_all_users is not False and (window is not None or static)
    if static:
        params["static_cohort"] = cohort.name
    elif all_members:
        params["members_first"], params["members_last"] = window
    if selection.at is not None:
        params["export_at"] = selection.at
    conditions = member_conditions(cohort, warehouse.dialect, params, as_of, at=selection.at) if cohort else []
    if selection.where:
        node = parse(selection.where, "--where")

        def column(ref: Ref) -> str:
            if ref.scope is not None:
                raise EtlError(f"--where: {ref.scope}.{ref.name}: an export filters on the profile's own "
                               "properties (properties[\"name\"] or name)")
            return "p.properties"

        conditions.append(SqlCompiler(warehouse.dialect, params, prefix="w").compile(node, column))
    if selection.ids is not None:
        compiler = SqlCompiler(warehouse.dialect, params, prefix="i")
        binds = ", ".join(compiler.bind(i) for i in selection.ids)
        conditions.append(f"(p.profile_id IN ({binds}))" if binds else "false")
    return render_sql("serve/export_selection", warehouse.dialect, groups=selection.data_group_id is not None,
                      at=selection.at is not None, all_members=all_members, static=static,
                      conditions=conditions)


def export_profiles(
    warehouse: Warehouse, selection: Selection, *, page: int = 0, page_size: int = DEFAULT_PAGE_SIZE,
    session_id: str | None = None, output_properties: list[str] | None = None, as_of: date | None = None,
    session_dir: Path | None = None,
) -> dict:
    """One page of the Engage answer; without `session_id`, the selection is pinned first
    (in `session_dir`, by default the settings' export_session_dir)."""
    if page < 0 or page_size < 1:
        raise EtlError("--page must be 0 or more and --page-size at least 1")
    sessions = _sessions(warehouse, session_dir)
    if session_id is None:
        params: dict = {}
        select = selection_sql(warehouse, selection, as_of or datetime.now(UTC).date(), params)
        session_id = sessions.create(_ordered_rows(warehouse, select, params), selection.describe())
    total, rows = sessions.read(session_id, page * page_size, (page + 1) * page_size, selection.describe())
    return {"page": page, "page_size": page_size, "session_id": session_id, "status": "ok", "total": total,
            "results": _results(rows, output_properties)}


def session_results(warehouse: Warehouse, session_id: str, output_properties: list[str] | None,
                    session_dir: Path | None = None) -> list[dict]:
    """Every row of a pinned session: what `--to` writes, the same snapshot as the pages."""
    return _results(_sessions(warehouse, session_dir).read(session_id, 0, None)[1], output_properties)


def _sessions(warehouse: Warehouse, session_dir: Path | None) -> SessionStore:
    return SessionStore(session_dir or warehouse.settings.export_session_dir, warehouse.settings.session_ttl)


def _ordered_rows(warehouse: Warehouse, select: str, params: dict) -> Iterator[list[tuple[str, str]]]:
    """The selection ordered by profile id, in batches, read in one (read-only) transaction."""
    with warehouse.begin() as conn:
        if warehouse.dialect == "postgresql":  # a server-side cursor: a big export is not held in memory twice
            conn = conn.execution_options(yield_per=ROW_GROUP)
        result = conn.execute(sql_clause(select, params), params)
        for batch in result.partitions(ROW_GROUP):
            yield [(profile_id, properties) for profile_id, properties in batch]


def _results(rows: list[tuple[str, str]], output_properties: list[str] | None) -> list[dict]:
    return [{"$distinct_id": pid, "$properties": _pick(json_value(props), output_properties)} for pid, props in rows]


def all_results(warehouse: Warehouse, selection: Selection, output_properties: list[str] | None,
                as_of: date) -> list[dict]:
    params: dict = {}
    sql = selection_sql(warehouse, selection, as_of, params)
    with warehouse.begin() as conn:
        rows = conn.execute(sql_clause(sql, params), params).all()
    return _results(rows, output_properties)


def _pick(properties: dict, names: list[str] | None) -> dict:
    return properties if not names else {n: properties[n] for n in names if n in properties}


def encode(results: list[dict], fmt: str) -> bytes:
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results).encode()
    if fmt == "csv":
        names = sorted({n for r in results for n in r["$properties"]})
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["$distinct_id", *map(spreadsheet_cell, names)])
        for r in results:
            writer.writerow([spreadsheet_cell(r["$distinct_id"]), *[_cell(r["$properties"].get(n)) for n in names]])
        return out.getvalue().encode()
    table = pa.table({"$distinct_id": [r["$distinct_id"] for r in results],
                      "$properties": [json.dumps(r["$properties"], ensure_ascii=False) for r in results]})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def _cell(value: object) -> str:
    """A property value: strings as they are, others as JSON; never a formula."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return spreadsheet_cell(value, text)


def write_target(target: str, data: bytes) -> None:
    """A local path, file:// or s3://bucket/key."""
    if target.startswith("s3://"):
        bucket, _, key = target[len("s3://"):].partition("/")
        if not key:
            raise EtlError(f"--to {target}: name an object, as in s3://bucket/path/file.jsonl")
        open_lake(f"s3://{bucket}").write(key, data)
        return
    path = Path(target[len("file://"):] if target.startswith("file://") else target)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:  # through <name>.tmp, created anew: a link placed at that name cannot redirect the write
        write_new_file(folder, path.name + ".tmp", data, target)
        os.replace(path.name + ".tmp", path.name, src_dir_fd=folder, dst_dir_fd=folder)
    finally:
        os.close(folder)


def format_of(target: str) -> str:
    suffix = Path(target).suffix.lower()
    if suffix not in FORMATS:
        raise EtlError(f"--to {target}: use a .jsonl, .json, .csv or .parquet name")
    return FORMATS[suffix]


def export_partition(name: str, day: date) -> str:
    """exports/<cohort>/dt=D/: the name is validated, so nothing lands outside exports/."""
    return f"exports/{check_name(name)}/dt={day.isoformat()}/"


def pending_export_days(warehouse: Warehouse) -> list[tuple[date, datetime]]:
    """(day, when its load finished) of every day loaded since the exports last wrote it,
    oldest first: the work of `export run` and the cohort_exports DAG, read from the
    warehouse rather than from the Asset events a run happened to consume."""
    with warehouse.begin() as conn:
        return [(_as_date(day), loaded_at) for day, loaded_at in
                conn.execute(sa.text(render_sql("serve/pending_exports", warehouse.dialect)))]


def run_pending_exports(warehouse: Warehouse, lake: Lake) -> list[dict]:
    """run_exports for every pending day, oldest first; each day is recorded once written."""
    return [row for day, loaded_at in pending_export_days(warehouse)
            for row in run_exports(warehouse, lake, day, loaded_at=loaded_at)]


def run_exports(warehouse: Warehouse, lake: Lake, day: date, *, loaded_at: datetime | None = None) -> list[dict]:
    """Write each cohort saved with "export": true to exports/<cohort>/dt=D/, replacing it whole,
    each group as it was at the end of D (so a re-run writes the same file), then record in
    export_days which load of D was exported (`loaded_at`: read here when not given; a day
    never loaded is refused). A load of D finishing meanwhile leaves D pending, so it is
    exported again."""
    if loaded_at is None:
        with warehouse.begin() as conn:
            loaded_at = conn.execute(sa.text("SELECT max(finished_at) FROM load_audit WHERE load_date = :d"),
                                     {"d": day}).scalar()
    if loaded_at is None:
        raise EtlError(f"export run --date {day.isoformat()}: that day was never loaded (load it first, "
                       "e.g. `group-etl run --date D`); nothing written")
    at = end_of_day(day, warehouse.settings.tz)
    written = []
    for cohort in list_cohorts(warehouse):
        if not cohort.exported:
            continue
        data_group_id = None
        if cohort.group_key:
            with warehouse.begin() as conn:
                data_group_id = conn.execute(sa.text(
                    "SELECT data_group_id FROM group_keys WHERE group_key = :k ORDER BY removed_at IS NULL DESC, "
                    "setup_at DESC LIMIT 1"), {"k": cohort.group_key}).scalar()
        results = all_results(warehouse, Selection(data_group_id, cohort.name, at=at), None, day)
        prefix = export_partition(cohort.name, day)
        key = prefix + "part-0000.jsonl"
        replace_partition(lake, prefix, key, encode(results, "jsonl"))
        written.append({"cohort": cohort.name, "date": day.isoformat(), "profiles": len(results),
                        "object": prefix + "part-0000.jsonl"})
    _record_export(warehouse, day, loaded_at)
    return written


def as_of_instant(text: str, tz: ZoneInfo, what: str = "--as-of") -> datetime:
    """An as-of: a day (YYYY-MM-DD) means its end in the project time zone, an ISO 8601
    time that instant. ValueError for a malformed day, EtlError for a malformed time."""
    from etl.model.keys import parse_instant

    return end_of_day(date.fromisoformat(text), tz) if len(text) == 10 else parse_instant(text, tz, what)


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The last instant (microsecond) of `day` in the project time zone, in UTC: the
    profiles of day D are the versions valid then, whatever was loaded after."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC) - timedelta(microseconds=1)


def _record_export(warehouse: Warehouse, day: date, loaded_at: datetime) -> None:
    with warehouse.begin() as conn:
        warehouse.write(conn, "export_days", ("day", "loaded_at", "exported_at"), params={"d": day},
                        replacing="day = :d", values=[{"day": day, "loaded_at": loaded_at,
                                                       "exported_at": datetime.now(UTC)}])


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)
