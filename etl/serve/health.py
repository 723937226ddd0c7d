"""Account health as users meet it: a group's health summary (`groups show`), the
lifecycle report (groups per state per day) and the health conditions of group
cohorts, all read from group_activity_daily (README, "Account health")."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from etl.errors import EtlError
from etl.model.activity import LIFECYCLE_STATES
from etl.store.sql import render_sql
from etl.store.warehouse import Warehouse

#: the columns a health condition may test, and the comparisons it may use
HEALTH_METRICS = ("events", "active_users", "active_users_7d", "active_users_28d", "new_users",
                  "days_since_active")
HEALTH_OPS = {"eq": "=", "neq": "<>", "gt": ">", "lt": "<", "gte": ">=", "lte": "<="}
#: the largest value a health condition may compare with: the columns are BIGINT
HEALTH_VALUE_LIMIT = 2**63 - 1
#: what `{"lifecycle": ...}` may name: a state, or churned (dormant past GROUP_ETL_CHURN_DAYS)
LIFECYCLE_CHOICES = (*LIFECYCLE_STATES, "churned")
#: the report's columns: dormant groups that have not churned, then churned ones
REPORT_STATES = ("new", "returning", "resurrected", "dormant", "churned")
SUMMARY = ("activity_date", "events", "active_users", "active_users_7d", "active_users_28d", "new_users",
           "days_since_active", "lifecycle", "churned")


def group_health(conn: Connection, group_key: str, group_id: str) -> dict | None:
    """The group's row of the last loaded day (None: no attributed event yet)."""
    row = conn.execute(sa.text(
        f"SELECT {', '.join(SUMMARY)} FROM group_activity_daily "  # noqa: S608 - our column names
        "WHERE group_key = :k AND group_id = :g ORDER BY activity_date DESC LIMIT 1"),
        {"k": group_key, "g": group_id}).first()
    return dict(row._mapping) if row is not None else None


def lifecycle_report(warehouse: Warehouse, group_key: str, first: date, last: date) -> dict:
    """Groups of `group_key` per lifecycle state per day, first to last; a day not loaded
    yet has no row."""
    if first > last:
        raise EtlError(f"--from {first} is after --to {last}")
    with warehouse.begin() as conn:
        if not conn.execute(sa.text("SELECT count(*) FROM group_keys WHERE group_key = :k"), {"k": group_key}).scalar():
            raise EtlError(f"group key {group_key!r} is not set up (see `group-etl keys list`)")
        found = conn.execute(sa.text(render_sql("serve/lifecycle", warehouse.dialect)),
                             {"k": group_key, "first": first, "last": last}).all()
    rows = [{"date": r.activity_date, **{state: int(getattr(r, state)) for state in REPORT_STATES}} for r in found]
    return {"report": "lifecycle", "unit": group_key, "from": first, "to": last, "rows": rows}


def check_health(definition: dict) -> None:
    """A cohort's `health` and `lifecycle` conditions, checked; raises saying what is wrong."""
    health, lifecycle = definition.get("health", []), definition.get("lifecycle")
    if (health or lifecycle is not None) and not definition.get("group_key"):
        raise EtlError("--definition: 'health' and 'lifecycle' need a group_key: health is kept per group")
    if not isinstance(health, list):
        raise EtlError("--definition: 'health' must be a list")
    for n, item in enumerate(health):
        where = f"--definition: health[{n}]"
        if not isinstance(item, dict) or set(item) != {"metric", "op", "value"}:
            raise EtlError(f'{where}: expected {{"metric": M, "op": OP, "value": N}}')
        if not isinstance(item["metric"], str) or item["metric"] not in HEALTH_METRICS:
            raise EtlError(f"{where}: 'metric' must be one of {', '.join(HEALTH_METRICS)}, got {item['metric']!r}")
        if not isinstance(item["op"], str) or item["op"] not in HEALTH_OPS:
            raise EtlError(f"{where}: 'op' must be one of {', '.join(HEALTH_OPS)}, got {item['op']!r}")
        value = item["value"]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise EtlError(f"{where}: 'value' must be a number")
        if not abs(value) <= HEALTH_VALUE_LIMIT:  # also false for NaN and infinities
            # NaN compares differently in Python (the never-active groups) and in SQL, and
            # a number past the BIGINT range does not bind on DuckDB
            raise EtlError(f"{where}: 'value' must be a finite number of at most {HEALTH_VALUE_LIMIT} "
                           f"in magnitude, got {value!r}")
    if lifecycle is not None and (not isinstance(lifecycle, str) or lifecycle not in LIFECYCLE_CHOICES):
        raise EtlError(f"--definition: 'lifecycle' must be one of {', '.join(LIFECYCLE_CHOICES)}, got {lifecycle!r}")


def health_conditions(definition: dict, dialect: str, member: str, bind, day: date) -> list[str]:  # noqa: ANN001
    """SQL conditions on the group in column `member` for a checked definition, as of
    `day` (the last loaded day up to it). `bind` binds a value and returns its
    placeholder. A group with no row that day (never active) has 0 of every count:
    `active_users_28d lt 3` holds for it; `days_since_active` and `lifecycle` do not."""
    tests = []
    for item in definition.get("health", []):
        test = f"a.{item['metric']} {HEALTH_OPS[item['op']]} {bind(item['value'])}"
        # holds for a group without a row: every group but those whose row fails it
        zero_holds = item["metric"] != "days_since_active" and _compare(0, item["op"], item["value"])
        tests.append((test, zero_holds))
    lifecycle = definition.get("lifecycle")
    if lifecycle == "churned":
        tests.append(("a.churned", False))
    elif lifecycle is not None:
        tests.append((f"a.lifecycle = {bind(lifecycle)}", False))
    if not tests:
        return []
    key, at = bind(definition["group_key"]), bind(day)
    return [render_sql("serve/cohort_health", dialect, member=member, group_key=key, day=at, test=test,
                       negate=zero_holds).strip() for test, zero_holds in tests]


def _compare(left: float, op: str, right: float) -> bool:
    return {"eq": left == right, "neq": left != right, "gt": left > right, "lt": left < right,
            "gte": left >= right, "lte": left <= right}[op]
