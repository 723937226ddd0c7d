"""load_audit: one row per (stage, load date) run, replaced by each re-run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.engine import Connection

from etl.store.warehouse import Warehouse

AUDIT_COLUMNS = ("stage", "load_date", "input_fingerprint", "input_records", "loaded", "rejected", "duplicates",
                 "invalid_group_id", "touched_dates", "started_at", "finished_at")


@dataclass
class StageCounts:
    loaded: int
    rejected: int
    duplicates: int = 0
    invalid_group_id: int = 0


def write_audit(
    conn: Connection, warehouse: Warehouse, stage: str, day: date, fingerprint: str, result: StageCounts,
    started: datetime, touched_dates: list[date] | None = None,
) -> None:
    """The stage's row of load date D, written once with every count it has (the events
    stage's is written after attribution, which counts its invalid group ids)."""
    row = {
        "stage": stage, "load_date": day, "input_fingerprint": fingerprint,
        "input_records": result.loaded + result.rejected, "loaded": result.loaded, "rejected": result.rejected,
        "duplicates": result.duplicates, "invalid_group_id": result.invalid_group_id,
        "touched_dates": None if touched_dates is None else ",".join(d.isoformat() for d in touched_dates),
        "started_at": started, "finished_at": datetime.now(UTC),
    }
    warehouse.write(conn, "load_audit", AUDIT_COLUMNS, values=[row], params={"s": stage, "d": day},
                    replacing="stage = :s AND load_date = :d")
