"""Benchmark: start-up times of the console script (issue 21).

Runs `group-etl` as a user does (the console script beside this Python, a new
process each time, warm file cache: one unmeasured run first) and prints one
JSON document: for each command, the median and every run's wall time.

- `--help` and `--version`: the command line alone, no warehouse.
- `status`: on a 30-day DuckDB warehouse built by `group-etl demo --days 30`
  (in `--data`, kept and reused; about a minute to build).
- `run`: `run --date D` of the warehouse's last day, re-run (a re-run leaves every
  table identical); `overhead` is its wall time less the sum of its stages'
  seconds (`run --format json`): process start-up, imports, settings, opening and
  migrating the warehouse, listing the lake, exit.

    python bench/startup.py [--runs 7] [--days 30] [--data bench/data/startup]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

FIRST_DAY = date(2026, 10, 1)


def group_etl(args: list[str], env: dict) -> tuple[float, str]:
    """Run the console script; return its wall seconds and stdout (a failure stops the bench)."""
    script = Path(sys.executable).parent / "group-etl"
    started = time.perf_counter()
    done = subprocess.run([str(script), *args], env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"group-etl {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return seconds, done.stdout


def timed(args: list[str], env: dict, runs: int) -> dict:
    """Median and each of `runs` wall times, after one unmeasured run."""
    group_etl(args, env)
    walls = [group_etl(args, env)[0] for _ in range(runs)]
    return {"median": round(statistics.median(walls), 3), "runs": [round(w, 3) for w in walls]}


def run_overhead(day: date, env: dict, runs: int) -> dict:
    """`run --date D`: wall, the sum of its stages, and the rest (the overhead), medians."""
    args = ["run", "--date", day.isoformat(), "--format", "json"]
    group_etl(args, env)
    walls, stages = [], []
    for _ in range(runs):
        wall, out = group_etl(args, env)
        [row] = json.loads(out)["rows"]
        walls.append(wall)
        stages.append(sum(row["seconds"].values()))
    overheads = [w - s for w, s in zip(walls, stages, strict=True)]
    return {"median": round(statistics.median(walls), 3), "stages_median": round(statistics.median(stages), 3),
            "overhead_median": round(statistics.median(overheads), 3),
            "overhead_runs": [round(o, 3) for o in overheads]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="measured runs of each command")
    parser.add_argument("--days", type=int, default=30, help="days of the demo warehouse")
    parser.add_argument("--data", type=Path, default=Path("bench/data/startup"),
                        help="folder of the warehouse and lake (built when missing, then reused)")
    args = parser.parse_args()

    folder = args.data.resolve() / f"demo-{args.days}"
    env = {**os.environ, "GROUP_ETL_WAREHOUSE_URL": f"duckdb:///{folder / 'warehouse.duckdb'}",
           "GROUP_ETL_LAKE_URL": str(folder / "lake")}
    for name in [n for n in env if n.startswith("GROUP_ETL_") and n not in
                 ("GROUP_ETL_WAREHOUSE_URL", "GROUP_ETL_LAKE_URL")]:
        del env[name]  # the defaults, whatever the caller's shell sets
    if not (folder / "warehouse.duckdb").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        group_etl(["demo", "--days", str(args.days), "--first-day", FIRST_DAY.isoformat()], env)
    last_day = FIRST_DAY + timedelta(days=args.days - 1)
    _, status = group_etl(["status", "--format", "json"], env)
    loaded = sum(row["state"] == "ok" for row in json.loads(status)["rows"])

    result = {
        "python": sys.executable, "runs": args.runs, "warehouse_days": loaded,
        "load_average": [round(n, 2) for n in os.getloadavg()],
        "help": timed(["--help"], env, args.runs),
        "version": timed(["--version"], env, args.runs),
        "status": timed(["status"], env, args.runs),
        "run": run_overhead(last_day, env, args.runs),
    }
    result["load_average_after"] = [round(n, 2) for n in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
