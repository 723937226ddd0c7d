"""Benchmark: `group-etl run --date D` on a fresh warehouse against the floor.

The floor is one DuckDB query over the same files that computes the same
per-group daily metrics (dedupe, attribution, counts) and does nothing else:
no rejects kept, no raw events stored, no audit. Both must give the same
metric rows. Prints wall time, events per second, peak RSS of the run's
process, time per stage, the floor's time and the ratio.

It also measures the *storing floor*: the least a run that keeps every event
with every property can do, in DuckDB alone. One statement stores each
line's event name and properties in a fresh DuckDB file (no validation, no
ids, no rejects kept), then the floor's query computes the metrics from that
table. It must give the same rows too. The floors are best of `--floor-runs`.

    python bench/run.py --events 1000000 [--warehouse URL] [--days K]
    python bench/run.py --events 1000000 --engine spark [--spark-master local[2]]

With `--engine spark` the tables are Parquet folders in the run's work folder
(docs/spark.md); the peak RSS is the driver's Python process only (Spark's JVM
is its own process).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import generate  # noqa: E402

FIRST_DAY = date(2026, 1, 15)
READ_EVENTS = """
    SELECT event, properties
    FROM read_json($files, format = 'newline_delimited', ignore_errors = true,
                   columns = {event: 'VARCHAR', properties: 'JSON'})
"""
METRICS_SQL = """
WITH raw AS ({raw}),
events AS (
    SELECT DISTINCT event,
           json_extract_string(properties, '$.distinct_id') AS distinct_id,
           floor(CAST(json_extract(properties, '$.time') AS DOUBLE)) AS t,
           json_extract_string(properties, '$."$insert_id"') AS insert_id,
           json_extract(properties, '$.company_id') AS company
    FROM raw
    WHERE event IS NOT NULL
      AND CAST(json_extract(properties, '$.time') AS DOUBLE) >= 31536000
),
attributed AS (
    SELECT event, distinct_id, t,
           unnest(CASE WHEN json_type(company) = 'ARRAY' THEN json_extract_string(company, '$[*]')
                       ELSE [json_extract_string(company, '$')] END) AS group_id
    FROM events WHERE company IS NOT NULL
)
SELECT CAST(to_timestamp(t) AS DATE) AS event_date, 'company_id' AS group_key, group_id, event,
       count(*) AS event_count, count(DISTINCT distinct_id) AS user_count
FROM attributed
GROUP BY ALL
ORDER BY ALL
"""
FLOOR_SQL = METRICS_SQL.format(raw=READ_EVENTS)


def group_etl(args: list[str], env: dict) -> tuple[float, int, str]:
    """Run the console script; return wall seconds, peak RSS in MB, stdout."""
    script = Path(sys.executable).parent / "group-etl"
    started = time.perf_counter()
    process = subprocess.Popen([str(script), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # both pipes at once: Spark's logs fill stderr's pipe while stdout is still open
    errors: list[bytes] = []
    reader = threading.Thread(target=lambda: errors.append(process.stderr.read()), daemon=True)
    reader.start()
    out = process.stdout.read()
    reader.join()
    err = errors[0] if errors else b""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"group-etl {' '.join(args)} failed: {err.decode()}")
    return seconds, usage.ru_maxrss // 1024, out.decode()


def floor(files: list[Path], runs: int) -> tuple[float, list[tuple]]:
    """The floor's best time of `runs`, and its metric rows."""
    con = duckdb.connect()
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        rows = con.execute(FLOOR_SQL, {"files": [str(f) for f in files]}).fetchall()
        best = min(best, time.perf_counter() - started)
    con.close()
    return best, rows


def storing_floor(files: list[Path], work: Path, runs: int) -> tuple[float, list[tuple]]:
    """Store every event with its properties in a DuckDB file, then the metrics from
    that table: best time of `runs` (each into a fresh file), and the metric rows."""
    best = float("inf")
    for run in range(runs):
        path = work / f"storing-floor-{run}.duckdb"
        con = duckdb.connect(str(path))
        started = time.perf_counter()
        con.execute(f"CREATE TABLE stored AS {READ_EVENTS}", {"files": [str(f) for f in files]})  # noqa: S608
        con.execute("CHECKPOINT")
        rows = con.execute(METRICS_SQL.format(raw="SELECT event, properties FROM stored")).fetchall()
        best = min(best, time.perf_counter() - started)
        con.close()
        path.unlink()
    return best, rows


def project_metrics(url: str, schema: str, day: date) -> list[tuple]:
    if url.startswith("spark:"):  # the Spark engine's table: its Parquet folder, read by DuckDB
        folder = Path(url.removeprefix("spark:")) / "group_etl" / "group_daily_metrics" / f"event_date={day}"
        con = duckdb.connect()
        rows = con.execute(
            "SELECT CAST(? AS DATE), group_key, group_id, event, event_count, user_count "
            "FROM read_parquet(?) ORDER BY 1, 2, 3, 4", [day, str(folder / "*.parquet")]).fetchall()
        con.close()
        return [tuple(r) for r in rows]
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        conn.exec_driver_sql(f'SET search_path = "{schema}"' if url.startswith("postgresql")
                             else f"SET search_path = '{schema}'")
        rows = conn.execute(sa.text(
            "SELECT event_date, group_key, group_id, event, event_count, user_count "
            "FROM group_daily_metrics WHERE event_date = :d ORDER BY 1, 2, 3, 4"), {"d": day}).all()
    engine.dispose()
    return [tuple(r) for r in rows]


@dataclass
class Project:
    """A fresh project on the benchmark's lake (`bench_project`)."""

    url: str
    schema: str
    env: dict
    lake: Path
    work: Path
    days: list[date]


@contextlib.contextmanager
def bench_project(args: argparse.Namespace, prefix: str) -> Iterator[Project]:
    """The lake of `args.days` days of `args.events` events (generated on first use under
    `args.data`) and a fresh project on it, company_id registered: a new DuckDB file in a
    folder removed at the end (1 GB a 10M day), or a new schema of `args.warehouse`
    dropped at the end. bench/health.py runs on it too."""
    lake = args.data / f"lake-{args.events}"
    days = [FIRST_DAY + timedelta(days=n) for n in range(args.days)]
    for day in days:
        if not (lake / "events" / f"dt={day.isoformat()}").exists():
            generate(lake, day, args.events)
    work = Path(tempfile.mkdtemp(prefix=prefix))
    url = args.warehouse or f"duckdb:///{work / 'warehouse.duckdb'}"
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "GROUP_ETL_WAREHOUSE_URL": url, "GROUP_ETL_LAKE_URL": str(lake.resolve()),
           "GROUP_ETL_SCHEMA": schema}
    if getattr(args, "engine", None) == "spark":
        url = f"spark:{work / 'spark-warehouse'}"
        env.update(GROUP_ETL_ENGINE="spark", GROUP_ETL_SPARK_MASTER=args.spark_master,
                   GROUP_ETL_SPARK_WAREHOUSE=str(work / "spark-warehouse"),
                   # a local master's executor is the driver's JVM: Spark's default 1 GB ran out
                   # of memory on a 1M-event day (UNABLE_TO_ACQUIRE_MEMORY)
                   PYSPARK_SUBMIT_ARGS=f"--driver-memory {args.spark_memory} pyspark-shell")
    try:
        group_etl(["keys", "add", "company_id", "--setup-at", "2026-01-01T00:00:00Z"], env)
        yield Project(url, schema, env, lake, work, days)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if url.startswith("postgresql"):
            engine = sa.create_engine(url)
            with engine.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events a day")
    parser.add_argument("--days", type=int, default=1, help="run this many days in a row (cost as history grows)")
    parser.add_argument("--warehouse", default=None, help="SQLAlchemy URL; default: a fresh DuckDB file")
    parser.add_argument("--data", type=Path, default=Path("bench/data"), help="where generated lakes are kept")
    parser.add_argument("--floor-runs", type=int, default=3, help="the floors are the best of this many runs")
    parser.add_argument("--engine", choices=["sql", "spark"], default="sql",
                        help="sql: the --warehouse database; spark: the Spark engine (docs/spark.md)")
    parser.add_argument("--spark-master", default="local[2]", help="with --engine spark: the Spark master")
    parser.add_argument("--spark-memory", default="8g", help="with --engine spark: the driver's memory")
    args = parser.parse_args()

    with bench_project(args, "group-etl-bench-") as project:
        backend = project.url.split(":")[0]
        print(f"machine: {os.cpu_count()} cores; warehouse: {backend}; events a day: {args.events:,}")
        results = [measure_day(project, day, args.floor_runs) for day in project.days]
    if not all(r["same_as_floor"] for r in results):
        raise SystemExit(1)


def measure_day(project: Project, day: date, floor_runs: int) -> dict:
    """Run day D, then the floors over its files; print and return the comparison."""
    wall, rss, out = group_etl(["run", "--date", day.isoformat(), "--format", "json"], project.env)
    [row] = json.loads(out)["rows"]
    files = sorted((project.lake / "events" / f"dt={day.isoformat()}").glob("*.gz"))
    floor_seconds, floor_rows = floor(files, floor_runs)
    storing_seconds, storing_rows = storing_floor(files, project.work, floor_runs)
    ours = project_metrics(project.url, project.schema, day)
    same = ours == floor_rows == storing_rows
    result = {"date": day.isoformat(), "wall_seconds": round(wall, 2),
              "events_per_second": round(row["input_records"] / wall),
              "peak_rss_mb": rss, "floor_seconds": round(floor_seconds, 2),
              "ratio": round(wall / floor_seconds, 2),
              "storing_floor_seconds": round(storing_seconds, 2),
              "storing_floor_ratio": round(storing_seconds / floor_seconds, 2),
              "ratio_to_storing_floor": round(wall / storing_seconds, 2), "metric_rows": len(ours),
              "same_as_floor": same, "loaded": row["loaded"], "rejected": row["rejected"],
              "duplicates": row["duplicates"], "stages": row["seconds"]}
    print(json.dumps(result))
    if not same:
        missing = set(floor_rows) - set(ours)
        extra = set(ours) - set(floor_rows)
        print(f"MISMATCH: {len(missing)} floor rows missing, {len(extra)} extra; e.g. "
              f"{sorted(missing)[:2]} / {sorted(extra)[:2]}")
    return result


if __name__ == "__main__":
    main()
