"""Generate one day of N Mixpanel-format events as gzip JSON lines, with DuckDB.

About 40% of events carry company_id (a tenth of those a list of two), 1% are
duplicate deliveries (exact copies), a few lines are malformed; 20k companies,
200k users. Deterministic for a given N and day.
"""

from __future__ import annotations

import argparse
import gzip
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

EVENTS = ["Page Viewed", "Search", "Report Viewed", "Sign Up", "Purchase", "Invite Sent"]
EVENTS_SQL = """        WITH base AS (
            SELECT i,
                   $events[1 + CAST(hash(i, 1) % $n_events AS INTEGER)] AS event,
                   json_object(
                       'distinct_id', 'u' || CAST(hash(i, 2) % 200000 AS VARCHAR),
                       'time', $start + CAST(i * 86399 // $total AS BIGINT),
                       '$insert_id', md5(CAST(i AS VARCHAR)),
                       'token', 'bench',
                       '$browser', ['Chrome', 'Firefox', 'Safari'][1 + CAST(hash(i, 3) % 3 AS INTEGER)],
                       'plan_seen', ['free', 'pro', 'enterprise'][1 + CAST(hash(i, 4) % 3 AS INTEGER)],
                       'amount', CAST(hash(i, 5) % 50000 AS DOUBLE) / 100
                   ) AS base_properties,
                   hash(i, 6) % 100 AS company_roll,
                   'c' || CAST(hash(i, 7) % 20000 AS VARCHAR) AS company,
                   'c' || CAST(hash(i, 8) % 20000 AS VARCHAR) AS other_company
            FROM range($low, $high) AS t(i)
        ),
        shaped AS (
            SELECT i, event,
                   CASE WHEN company_roll < 4
                            THEN json_merge_patch(base_properties, json_object('company_id', json_array(company, other_company)))
                        WHEN company_roll < 40
                            THEN json_merge_patch(base_properties, json_object('company_id', company))
                        ELSE base_properties END AS properties
            FROM base
        )
        SELECT event, properties FROM shaped
        UNION ALL
        SELECT event, properties FROM shaped WHERE hash(i, 9) % 100 = 0

"""
BAD_LINES = [b'{"event": "Page Viewed", "properties": {', b'{"event": "Search", "properties": {"distinct_id": "anon", "time": 1}}']


def generate(lake: Path, day: date, events: int, objects: int = 4) -> list[Path]:
    folder = lake / "events" / f"dt={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    paths = []
    per_object = -(-events // objects)
    for part in range(objects):
        low, high = part * per_object, min(events, (part + 1) * per_object)
        path = folder / f"part-{part:04d}.jsonl.gz"
        copy = f"COPY ({EVENTS_SQL}) TO '{path}' (FORMAT json, COMPRESSION gzip)"  # noqa: S608
        con.execute(copy, {"events": EVENTS, "n_events": len(EVENTS), "start": start, "total": events,
                           "low": low, "high": high}).fetchall()
        paths.append(path)
    with open(paths[0], "ab") as handle:  # a gzip member appended: rare malformed lines
        handle.write(gzip.compress(b"\n".join(BAD_LINES) + b"\n"))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--lake", type=Path, default=Path("bench/data/lake"))
    parser.add_argument("--date", type=date.fromisoformat, default=date(2026, 1, 15))
    args = parser.parse_args()
    for path in generate(args.lake, args.date, args.events):
        print(path, path.stat().st_size)


if __name__ == "__main__":
    main()
