"""Benchmark: the account-health refresh's share of a day's run, and whether its cost
stays flat as history grows (issue 18: at most 30% added on the 10M-event day; flat
per day over 365 days of 200k events).

Runs `group-etl run --from D1 --to DN --format json` once over generated days
(bench/generate.py: 20k companies, 200k users, ~40% of events attributed) on a
fresh warehouse and reads each day's stage times: `health_refreshed` is the
refresh (group_activity_daily and group_user_first_days), the other stages are
the rest of the day. Prints one JSON line a day, then a summary: the refresh's
share of each day's run and of the rest (what it adds), and its mean seconds
over the first and the last tenth of the days (flat: about equal).

    python bench/health.py --events 10000000 --days 1       # the share on a big day
    python bench/health.py --events 200000 --days 365       # flat over a year
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import bench_project, group_etl  # noqa: E402

HEALTH = "health_refreshed"


def summary(rows: list[dict]) -> dict:
    """The refresh's share of each day and its trend over the days."""
    health = [row["seconds"][HEALTH] for row in rows]
    total = [sum(row["seconds"].values()) for row in rows]
    share = [h / t for h, t in zip(health, total, strict=True)]
    added = [h / (t - h) for h, t in zip(health, total, strict=True)]
    tenth = max(1, len(rows) // 10)
    return {"days": len(rows), "health_share_median": round(statistics.median(share), 3),
            "health_share_max": round(max(share), 3),
            "health_adds_median": round(statistics.median(added), 3), "health_adds_max": round(max(added), 3),
            "health_seconds_first_tenth": round(statistics.mean(health[:tenth]), 3),
            "health_seconds_last_tenth": round(statistics.mean(health[-tenth:]), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000, help="events a day")
    parser.add_argument("--days", type=int, default=365, help="days run in a row")
    parser.add_argument("--warehouse", default=None, help="SQLAlchemy URL; default: a fresh DuckDB file")
    parser.add_argument("--data", type=Path, default=Path("bench/data"), help="where generated lakes are kept")
    args = parser.parse_args()

    with bench_project(args, "group-etl-health-bench-") as project:
        print(f"machine: {os.cpu_count()} cores; warehouse: {project.url.split(':')[0]}; "
              f"events a day: {args.events:,}; days: {args.days}")
        days = project.days
        wall, rss, out = group_etl(["run", "--from", days[0].isoformat(), "--to", days[-1].isoformat(),
                                    "--format", "json"], project.env)
    rows = json.loads(out)["rows"]
    for row in rows:
        seconds = row["seconds"]
        print(json.dumps({"date": row["date"], "input_records": row["input_records"],
                          "health_seconds": seconds[HEALTH], "stages": seconds}))
    print(json.dumps({"wall_seconds": round(wall, 1), "peak_rss_mb": rss, **summary(rows)}))


if __name__ == "__main__":
    main()
