"""Drill-down: the units (users, or groups with `by`) behind one number of a report,
counted by the report's own templates (funnel.sql and retention.sql in their listing
mode, insights_units.sql): who dropped at a funnel step, who was retained in a period,
who was counted on an insights date. A list is sorted by id (code point order) and
may be saved as a static cohort."""

from __future__ import annotations

import re
from datetime import date

from etl.errors import EtlError
from etl.serve.measures import BUCKETS, buckets, check_interval
from etl.serve.reports import Scope, _compile, _run, funnel_params
from etl.store.sql import render_sql
from etl.store.warehouse import Warehouse


def _listing(report: str, scope: Scope, what: dict, rows: list) -> dict:
    return {"report": report, "unit": scope.unit, **what, "units": sorted(r.unit for r in rows)}


def funnel_units(warehouse: Warehouse, steps: list[str], window_seconds: int, first: date, last: date,
                 scope: Scope, step: int, converted: bool = False) -> dict:
    """Units that reached step `step` - 1 and not `step` (or, `converted`, reached `step`)."""
    params = funnel_params(steps, window_seconds, first, last, first_steps=step)
    if not 1 <= step <= len(steps):
        raise EtlError(f"--list-units {step}: the funnel's steps are 1 to {len(steps)}")
    if step == 1 and not converted:
        raise EtlError("--list-units 1 lists who dropped before step 1, which nobody can: "
                       "add --converted to list who entered the funnel")
    reached = step if converted else step - 1
    pieces = _compile(warehouse, scope, params)
    sql = render_sql("serve/funnel", warehouse.dialect, units=pieces.units, conditions=pieces.conditions,
                     step_count=step, reached=reached, dropped=not converted, breakdown=None, fold=None)
    return _listing("funnel", scope, {"step": step, "event": steps[step - 1], "converted": converted},
                    _run(warehouse, sql, params))


def parse_cohort_period(text: str) -> tuple[date, int]:
    """`COHORT_DATE:PERIOD` (2026-10-05:3) of retention's --list-units."""
    # ASCII digits only: int() would take "1_0" as 10 and "\u0663" as 3, fromisoformat
    # "20261005" and the week date "2026-W40-1"
    found = re.fullmatch(r"(\d{4}-\d{2}-\d{2}):(\d+)", text, re.ASCII)
    try:
        return date.fromisoformat(found[1]), int(found[2])
    except (TypeError, ValueError):
        raise EtlError(f"--list-units: expected COHORT_DATE:PERIOD such as 2026-10-05:1, got {text!r}") from None


def retention_units(warehouse: Warehouse, born: str, returned: str, first: date, last: date, scope: Scope,
                    cohort_date: date, period: int, unit: str = "day") -> dict:
    """Units of cohort `cohort_date` retained in period `period` (0: the cohort's own)."""
    if unit not in ("day", "week"):
        raise EtlError("--unit must be day or week")
    days = 1 if unit == "day" else 7
    if not first <= cohort_date <= last:
        raise EtlError(f"--list-units: cohort date {cohort_date} is outside --from {first} --to {last}")
    periods = (last - cohort_date).days // days
    if not 0 <= period <= periods:
        raise EtlError(f"--list-units: cohort {cohort_date} has {unit}s 0 to {periods} up to --to {last}, "
                       f"not {period}")
    params: dict = {"born": born, "returned": returned, "events": sorted({born, returned}), "d1": first,
                    "d2": last, "lo": first, "hi": last, "period_days": days, "cohort_date": cohort_date,
                    "period": period}
    pieces = _compile(warehouse, scope, params)
    sql = render_sql("serve/retention", warehouse.dialect, units=pieces.units, conditions=pieces.conditions,
                     listed=True, breakdown=None, fold=None)
    return _listing("retention", scope, {"cohort_date": cohort_date, "period": period},
                    _run(warehouse, sql, params))


def insights_units(warehouse: Warehouse, event: str, first: date, last: date, scope: Scope, bucket: date,
                   interval: str = "day") -> dict:
    """Units counted (uniques) in the bucket that starts on `bucket`."""
    interval = check_interval(interval)
    labels = buckets(first, last, interval)
    if bucket not in labels:
        raise EtlError(f"--list-units {bucket}: not a {interval} of the report; its {interval}s start on "
                       f"{labels[0]}" + (f" ... {labels[-1]}" if len(labels) > 1 else ""))
    params: dict = {"event": event, "events": [event], "d1": first, "d2": last, "lo": first, "hi": last,
                    "bucket": bucket}
    pieces = _compile(warehouse, scope, params)
    sql = render_sql("serve/insights_units", warehouse.dialect, units=pieces.units, conditions=pieces.conditions,
                     bucket=BUCKETS[interval])
    return _listing("insights", scope, {"date": bucket, "event": event}, _run(warehouse, sql, params))
