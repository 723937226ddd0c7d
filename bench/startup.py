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

`--against DIR` also measures another version of the code, alternately with this
one (run after run, so a busy machine slows both alike): DIR holds that version's
`etl` package, put first on PYTHONPATH, e.g. the code before issue 21:

    mkdir -p /tmp/before && git archive ccb1ed5 etl | tar -x -C /tmp/before \
        && git archive ccb1ed5 sql | tar -x -C /tmp/before/etl
    python bench/startup.py [--runs 7] [--days 30] [--data bench/data/startup] [--against /tmp/before]
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


def timed(args: list[str], envs: dict[str, dict], runs: int) -> dict:
    """For each version: the median and each of `runs` wall times, after one unmeasured run;
    the versions take turns."""
    walls: dict[str, list[float]] = {label: [] for label in envs}
    for env in envs.values():
        group_etl(args, env)
    for _ in range(runs):
        for label, env in envs.items():
            walls[label].append(group_etl(args, env)[0])
    return {label: {"median": round(statistics.median(w), 3), "runs": [round(s, 3) for s in w]}
            for label, w in walls.items()}


def run_overhead(day: date, envs: dict[str, dict], runs: int) -> dict:
    """`run --date D`: wall, the sum of its stages, and the rest (the overhead), medians."""
    args = ["run", "--date", day.isoformat(), "--format", "json"]
    measured: dict[str, list[tuple[float, float]]] = {label: [] for label in envs}
    for env in envs.values():
        group_etl(args, env)
    for _ in range(runs):
        for label, env in envs.items():
            wall, out = group_etl(args, env)
            [row] = json.loads(out)["rows"]
            measured[label].append((wall, sum(row["seconds"].values())))
    result = {}
    for label, pairs in measured.items():
        overheads = [wall - stages for wall, stages in pairs]
        result[label] = {"median": round(statistics.median(w for w, _ in pairs), 3),
                         "stages_median": round(statistics.median(s for _, s in pairs), 3),
                         "overhead_median": round(statistics.median(overheads), 3),
                         "overhead_runs": [round(o, 3) for o in overheads]}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="measured runs of each command")
    parser.add_argument("--days", type=int, default=30, help="days of the demo warehouse")
    parser.add_argument("--data", type=Path, default=Path("bench/data/startup"),
                        help="folder of the warehouse and lake (built when missing, then reused)")
    parser.add_argument("--against", type=Path, default=None,
                        help="a folder holding another version's etl package, measured alternately")
    args = parser.parse_args()

    folder = args.data.resolve() / f"demo-{args.days}"
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("GROUP_ETL_") and name != "PYTHONPATH"}  # the defaults, whatever the shell sets
    env.update(GROUP_ETL_WAREHOUSE_URL=f"duckdb:///{folder / 'warehouse.duckdb'}",
               GROUP_ETL_LAKE_URL=str(folder / "lake"))
    envs = {"this": env}
    if args.against:
        envs["against"] = {**env, "PYTHONPATH": str(args.against.resolve())}
    if not (folder / "warehouse.duckdb").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        group_etl(["demo", "--days", str(args.days), "--first-day", FIRST_DAY.isoformat()], env)
    last_day = FIRST_DAY + timedelta(days=args.days - 1)
    _, status = group_etl(["status", "--format", "json"], env)
    loaded = sum(row["state"] == "ok" for row in json.loads(status)["rows"])

    load_before = [round(n, 2) for n in os.getloadavg()]
    measured = {"help": timed(["--help"], envs, args.runs), "version": timed(["--version"], envs, args.runs),
                "status": timed(["status"], envs, args.runs), "run": run_overhead(last_day, envs, args.runs)}
    result = {"python": sys.executable, "runs": args.runs, "warehouse_days": loaded,
              "against": str(args.against) if args.against else None,
              "load_average": {"before": load_before, "after": [round(n, 2) for n in os.getloadavg()]},
              **{label: {name: figures[label] for name, figures in measured.items()} for label in envs}}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
