"""A report's document as a listing people read: shares as percentages, durations
as `1d 9h 52m`, retention one column per period, the null breakdown bucket as
`(none)`. JSON keeps the document as it is; CSV keeps raw numbers, but gets
`(none)` and retention's column per period too."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from etl.cli.output import Format, Formatter, percent, print_rows
from etl.serve.durations import format_duration

NONE = "(none)"


@dataclass
class Listing:
    rows: list[dict]
    columns: list[str]
    formats: dict[str, Formatter] = field(default_factory=dict)
    csv_formats: dict[str, Formatter] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def _bucket(value: Any) -> str:
    return NONE if value is None else str(value)


def insights_listing(document: dict, breakdown: str | None, fmt: Format) -> Listing:
    """A table has no breakdown column without a breakdown, and no value column when the
    measure is events or uniques (the same numbers again); CSV keeps every column."""
    columns = ["date", "breakdown", "events", "uniques", "value"]
    listing = Listing(document["rows"], list(columns), headers={"value": document["measure"]})
    if breakdown:
        listing.formats["breakdown"] = listing.csv_formats["breakdown"] = _bucket
        listing.headers["breakdown"] = breakdown
    if fmt is not Format.table:
        return listing
    if not breakdown:
        listing.columns.remove("breakdown")
    if document["measure"] in ("events", "uniques"):
        listing.columns.remove("value")
    return listing


def _broken_down(listing: Listing, breakdown: str | None) -> Listing:
    """A funnel's or retention's listing broken down: the value first, `(none)` for null."""
    if breakdown:
        listing.columns.insert(0, "breakdown")
        listing.formats["breakdown"] = listing.csv_formats["breakdown"] = _bucket
        listing.headers["breakdown"] = breakdown
    return listing


def funnel_listing(document: dict, breakdown: str | None = None) -> Listing:
    columns = ["event", "units", "conversion_from_previous", "conversion_from_first", "median_seconds_to_convert"]
    return _broken_down(Listing(
        document["steps"], columns,
        formats={"conversion_from_previous": percent, "conversion_from_first": percent,
                 "median_seconds_to_convert": format_duration},
        headers={"units": document["unit"], "conversion_from_previous": "from previous",
                 "conversion_from_first": "from first", "median_seconds_to_convert": "median time to convert"}),
        breakdown)


def retention_listing(document: dict, fmt: Format, breakdown: str | None = None) -> Listing:
    """One column per period: `day_0`, `day_1`, ... (`week_N`); a table cell shows the
    count and its share of the cohort, a CSV row the counts then `day_N_share` columns;
    empty where the period lies past the range."""
    cohorts = document["cohorts"]
    period = document["period"]
    width = max((len(c["retained"]) for c in cohorts), default=0)
    counts = [f"{period}_{n}" for n in range(width)]
    shares = [f"{name}_share" for name in counts]
    rows = []
    for cohort in cohorts:
        row = {"breakdown": cohort.get("breakdown"), "cohort_date": cohort["cohort_date"], "size": cohort["size"]}
        for n, retained in enumerate(cohort["retained"]):
            share = retained / cohort["size"] if cohort["size"] else 0.0
            row[counts[n]] = f"{retained} ({percent(share)})" if fmt is Format.table else retained
            row[shares[n]] = share
        rows.append(row)
    if fmt is Format.table:
        headers = {name: f"{period} {n}" for n, name in enumerate(counts)}
        return _broken_down(Listing(rows, ["cohort_date", "size", *counts], headers=headers), breakdown)
    return _broken_down(Listing(rows, ["cohort_date", "size", *counts, *shares]), breakdown)


def print_listing(listing: Listing, fmt: Format, title: str) -> None:
    print_rows(listing.rows, listing.columns, fmt, title=title, formats=listing.formats,
               headers=listing.headers, csv_formats=listing.csv_formats)
