"""What `group-etl status` shows: per load date, the audit counts and whether the
lake partition changed since it was loaded (stale: re-run it)."""

from __future__ import annotations

import re
from datetime import date

import sqlalchemy as sa

from etl.lake import Lake, partition_prefix
from etl.records import input_fingerprint
from etl.warehouse import Warehouse

_DAY = re.compile(r"^events/dt=(\d{4}-\d{2}-\d{2})/")


def lake_days(lake: Lake) -> set[date]:
    days = set()
    for obj in lake.list("events/"):
        match = _DAY.match(obj.key)
        if match:
            days.add(date.fromisoformat(match.group(1)))
    return days


def day_status(warehouse: Warehouse, lake: Lake, first: date | None, last: date | None) -> list[dict]:
    with warehouse.begin() as conn:
        audits = {
            row.load_date: row
            for row in conn.execute(
                sa.text(
                    "SELECT load_date, input_fingerprint, input_records, loaded, rejected, "
                    "duplicates, invalid_group_id, finished_at FROM load_audit WHERE stage = 'events'"
                )
            )
        }
        reasons: dict[date, dict[str, int]] = {}
        for row in conn.execute(
            sa.text(
                "SELECT load_date, reason, count(*) AS n FROM rejected_records "
                "GROUP BY load_date, reason ORDER BY load_date, reason"
            )
        ):
            reasons.setdefault(row.load_date, {})[row.reason] = row.n
    days = sorted(set(audits) | lake_days(lake))
    rows = []
    for day in days:
        if (first and day < first) or (last and day > last):
            continue
        audit = audits.get(day)
        current = input_fingerprint(lake.list(partition_prefix("events", day.isoformat())))
        if audit is None:
            state = "not loaded"
        elif audit.input_fingerprint != current:
            state = "stale"
        else:
            state = "ok"
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
