"""Measures and intervals of insights: parsing and bucket labels."""

from __future__ import annotations

from datetime import date

import pytest

from etl.errors import EtlError
from etl.serve.measures import Measure, buckets, check_interval, parse_measure


def test_measures_parse_and_label() -> None:
    assert parse_measure("events") == Measure("events")
    assert parse_measure("median:a:b") == Measure("median", "a:b")  # only the first colon splits
    assert parse_measure("sum:revenue").label == "sum:revenue"
    assert [parse_measure(m).empty() for m in ("events", "uniques", "sum:x", "avg:x", "median:x")] == [0, 0, 0, None, None]
    for bad in ("total", "sum", "sum:", "uniques:x", "max:x", ""):
        with pytest.raises(EtlError, match="--measure: expected events, uniques, sum:PROP"):
            parse_measure(bad)
    with pytest.raises(EtlError, match="--interval must be day, week or month, got 'year'"):
        check_interval("year")


def test_buckets_start_on_monday_or_the_first_and_cover_the_range() -> None:
    assert buckets(date(2026, 12, 30), date(2027, 1, 2), "day") == [
        date(2026, 12, 30), date(2026, 12, 31), date(2027, 1, 1), date(2027, 1, 2)]
    # Wednesday 30 Dec 2026 is in the week of Monday 28 Dec; Monday 4 Jan starts the next
    assert buckets(date(2026, 12, 30), date(2027, 1, 4), "week") == [date(2026, 12, 28), date(2027, 1, 4)]
    assert buckets(date(2026, 12, 31), date(2027, 3, 1), "month") == [
        date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1), date(2027, 3, 1)]
    assert buckets(date(2027, 1, 31), date(2027, 1, 31), "month") == [date(2027, 1, 1)]
