"""What `group-etl status` shows: per load date, the audit counts and whether the
lake partitions changed since they were loaded.

States: `ok`; `stale` (its own events/, groups/ or people/ objects changed:
re-run it); `stale after D` (an earlier day D changed, and profile state
carries over from day to day: re-run from D to the last day); `not loaded`.
`problems` says, one line a day, what `status --check` alerts on.

The lake is listed once, a listing an input prefix (`ListedLake`): each day's
objects come from it through the same `day_listings` rule a run uses, not from
three listings a day (on S3, three requests a day: issue 21).
"""

from __future__ import annotations

import logging
import re
from datetime import date

import sqlalchemy as sa

from etl.days import day_range
from etl.ingest.landing import day_listings
from etl.store.lake import INPUT_PREFIXES, Lake, LakeObject, input_fingerprint
from etl.store.warehouse import Warehouse

log = logging.getLogger("group_etl")
_DAY = re.compile(rf"^({'|'.join(INPUT_PREFIXES)})/dt=(\d{{4}}-\d{{2}}-\d{{2}})/")


class ListedLake:
    """The lake's input objects, listed once (one `list` an input prefix), answering
    `list(prefix)` for a prefix under one of them as the lake would: the objects whose
    key starts with it, sorted by key. A day's partition is a lookup."""

    def __init__(self, lake: Lake) -> None:
        self.url = lake.url
        self._objects = {stage: lake.list(f"{stage}/") for stage in INPUT_PREFIXES}
        self._partitions: dict[str, list[LakeObject]] = {}
        for objects in self._objects.values():
            for obj in objects:  # sorted by key, so each partition's list is too
                stage, _, rest = obj.key.partition("/")
                folder, slash, _name = rest.partition("/")
                if slash:
                    self._partitions.setdefault(f"{stage}/{folder}/", []).append(obj)

    def list(self, prefix: str) -> list[LakeObject]:
        stage, slash, rest = prefix.partition("/")
        if not slash or stage not in self._objects:
            raise ValueError(f"{prefix!r} is not under an input prefix")
        folder, slash, name = rest.partition("/")
        if slash and not name:
            return list(self._partitions.get(prefix, []))
        return [obj for obj in self._objects[stage] if obj.key.startswith(prefix)]


def lake_days(lake: Lake | ListedLake) -> set[date]:
    """The days with input in the lake. A folder named like a day that is no date
    (`dt=2026-02-30`) is no day's input: it is left out, with a warning."""
    days = set()
    bad = set()
    for stage in INPUT_PREFIXES:
        for obj in lake.list(f"{stage}/"):
            match = _DAY.match(obj.key)
            if match:
                try:
                    days.add(date.fromisoformat(match.group(2)))
                except ValueError:
                    bad.add(match.group(0))
    for folder in sorted(bad):
        log.warning("warning: lake folder %s is not a date; ignored", folder)
    return days


def day_status(warehouse: Warehouse, lake: Lake, first: date | None, last: date | None,
               marker: str | None = None) -> list[dict]:
    """`marker` is GROUP_ETL_LANDING_MARKER: it is no input, as for `run` (one listing)."""
    with warehouse.begin() as conn:
        all_audits = conn.execute(
            sa.text(
                "SELECT stage, load_date, input_fingerprint, input_records, loaded, rejected, "
                "duplicates, invalid_group_id, finished_at FROM load_audit"
            )
        ).all()
        audits = {row.load_date: row for row in all_audits if row.stage == "events"}
        fingerprints = {(row.stage, row.load_date): row.input_fingerprint for row in all_audits}
        reasons: dict[date, dict[str, int]] = {}
        for row in conn.execute(
            sa.text(
                "SELECT load_date, reason, count(*) AS n FROM rejected_records "
                "GROUP BY load_date, reason ORDER BY load_date, reason"
            )
        ):
            reasons.setdefault(row.load_date, {})[row.reason] = row.n
    listed = ListedLake(lake)
    days = sorted(set(audits) | lake_days(listed))
    rows = []
    first_stale: date | None = None
    for day in days:
        audit = audits.get(day)
        listings = day_listings(listed, day, marker)
        changed = any(fingerprints.get((stage, day)) != input_fingerprint(listings[stage])
                      for stage in INPUT_PREFIXES)
        if audit is None:
            state = "not loaded"
        elif changed:
            state = "stale"
        elif first_stale is not None:
            state = f"stale after {first_stale.isoformat()}"
        else:
            state = "ok"
        if audit is not None and changed and first_stale is None:
            first_stale = day
        if (first and day < first) or (last and day > last):
            continue
        rows.append(
            {
                "date": day.isoformat(),
                "state": state,
                "input_records": audit.input_records if audit else None,
                "loaded": audit.loaded if audit else None,
                "rejected": audit.rejected if audit else None,
                "duplicates": audit.duplicates if audit else None,
                "invalid_group_id": audit.invalid_group_id if audit else None,
                "rejected_by_reason": reasons.get(day, {}),
                "loaded_at": audit.finished_at.isoformat() if audit else None,
            }
        )
    return rows


def loaded_problems(row: dict, reject_warn: float) -> list[str]:
    """What stands out in a loaded day, as one line (or none): a rejected share of its
    events over `reject_warn`, records of a gzip object cut short (`truncated_gzip`)."""
    parts = []
    rejected, records = row["rejected"], row["input_records"]
    if records and rejected / records > reject_warn:
        parts.append(f"{rejected} of {records} event records rejected ({rejected / records:.1%}, "
                     f"over GROUP_ETL_REJECT_WARN={reject_warn:g})")
    cut = row["rejected_by_reason"].get("truncated_gzip", 0)
    if cut:
        parts.append(f"{cut} record{'s' if cut > 1 else ''} rejected as truncated_gzip "
                     "(a .gz object was cut short: check the dump)")
    return [f"{row['date']}: " + "; ".join(parts)] if parts else []


def problems(rows: list[dict], reject_warn: float, first: date | None = None,
             last: date | None = None) -> list[str]:
    """What needs an operator, one line a day: stale days, days in the lake never loaded,
    days whose rejected share is over `reject_warn` or with truncated_gzip rejects, and (given a whole range) days of
    the range with nothing anywhere."""
    lines = []
    for row in rows:
        state = row["state"]
        if state == "stale":
            lines.append(f"{row['date']}: stale (its lake input changed since it was loaded): re-run it")
        elif state.startswith("stale after "):
            lines.append(f"{row['date']}: {state} (profile state carries over): re-run from "
                         f"{state.removeprefix('stale after ')}")
        elif state == "not loaded":
            lines.append(f"{row['date']}: not loaded (in the lake, never run)")
        else:
            lines.extend(loaded_problems(row, reject_warn))
    if first and last:
        known = {row["date"] for row in rows}
        lines += [f"{day}: missing (nothing in the lake, never loaded)" for day in day_range(first, last)
                  if day.isoformat() not in known]
        lines.sort()
    return lines
