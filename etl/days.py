"""Calendar days: the unit every partition, run and report is cut by."""

from __future__ import annotations

from datetime import date, timedelta


def day_range(first: date, last: date) -> list[date]:
    """Every day from first to last, both included."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
