"""load_audit: one row per (stage, load date) run, replaced by each re-run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection


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
