"""Insights measures (`--measure`) and intervals (`--interval`).

A measure says which figure a row's `value` holds: events, distinct units, or
the sum, average or median of an event property's numbers. An interval
buckets event dates (already in the project time zone) into days, weeks from
Monday or calendar months, each labelled by its first day. The SQL pieces
here are fixed texts: a property name only ever reaches SQL as a bound
parameter (through the filters' compiler).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from etl.days import day_range
from etl.errors import EtlError

COUNTS = ("events", "uniques")
AGGREGATES = {"sum": "sum(amount)", "avg": "avg(amount)",
              "median": "percentile_cont(0.5) WITHIN GROUP (ORDER BY amount)"}
BUCKETS = {"day": "u.event_date",
           "week": "CAST(date_trunc('week', CAST(u.event_date AS TIMESTAMP)) AS DATE)",
           "month": "CAST(date_trunc('month', CAST(u.event_date AS TIMESTAMP)) AS DATE)"}


@dataclass(frozen=True)
class Measure:
    """`kind` is events, uniques, sum, avg or median; `prop` the event property of the last three."""

    kind: str
    prop: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.prop}" if self.prop else self.kind

    @property
    def aggregate(self) -> str | None:
        """The SQL aggregate of `amount` (None for a count measure: counts are columns already)."""
        return AGGREGATES.get(self.kind)

    def empty(self) -> int | None:
        """The value of a bucket without events: counts and sums are 0, an average or median has none."""
        return 0 if self.kind in (*COUNTS, "sum") else None


def parse_measure(text: str) -> Measure:
    kind, colon, prop = text.partition(":")
    if not colon and kind in COUNTS:
        return Measure(kind)
    if colon and kind in AGGREGATES and prop:
        return Measure(kind, prop)
    raise EtlError(f"--measure: expected events, uniques, sum:PROP, avg:PROP or median:PROP, got {text!r}")


def check_interval(interval: str) -> str:
    if interval not in BUCKETS:
        raise EtlError(f"--interval must be day, week or month, got {interval!r}")
    return interval


def bucket_of(day: date, interval: str) -> date:
    """The first day of the bucket holding `day`: itself, its week's Monday, or its month's 1st."""
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def buckets(first: date, last: date, interval: str) -> list[date]:
    """Every bucket from the one holding `first` to the one holding `last`, in order."""
    return sorted({bucket_of(day, interval) for day in day_range(first, last)})
