"""Spark fixtures: a local Spark session and a standalone cluster, each shared by the
whole run (starting JVMs costs seconds). Spark 4 needs Java 17 or newer: under CI=true
a missing or older Java, or a missing pyspark, fails the tests; elsewhere they skip
with the reason. A process holds one SparkContext: tests on the cluster drive it from
a child process (tests/spark/test_cluster.py says why)."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

JAVA_NEEDED = 17  # Spark 4's minimum


def java_major(java: str) -> int | None:
    """The feature version of a `java` binary: 17 for "17.0.15", 8 for "1.8.0_402"."""
    try:
        shown = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r'version "(?:1\.)?(\d+)', shown)
    return int(found.group(1)) if found else None


@functools.cache
def _spark_missing() -> str | None:
    # spark-class's own rule: $JAVA_HOME/bin/java when JAVA_HOME is set, else java on PATH
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if java is None or not os.path.exists(java):
        return f"no Java found (install a JDK {JAVA_NEEDED} or newer, or set JAVA_HOME)"
    major = java_major(java)
    if major is None or major < JAVA_NEEDED:
        return f"{java} is Java {major or '(unknown version)'}; Spark 4 needs {JAVA_NEEDED} or newer"
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'group-analytics-etl[spark]')"
    return None


def require_spark() -> None:
    problem = _spark_missing()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but Spark cannot run: {problem}")
        pytest.skip(f"Spark cannot run: {problem}")


@pytest.fixture(scope="session")
def spark_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A local[2] Spark session in UTC, with its own warehouse folder."""
    require_spark()
    from pyspark.sql import SparkSession

    # Python tasks run the interpreter in PYSPARK_PYTHON, else `python3` from PATH, which
    # under `make test` is not this venv's (no group-etl there)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    folder = tmp_path_factory.mktemp("spark")
    session = (SparkSession.builder.master("local[2]").appName("group-etl-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.shuffle.partitions", "4")
               # tiny data: adaptive execution's extra job per shuffle costs more than it saves
               # (measured on a sample day: 203 jobs and 35.9 s with it, 124 and 29.9 s without)
               .config("spark.sql.adaptive.enabled", "false")
               .config("spark.sql.warehouse.dir", str(folder / "warehouse"))
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_cluster() -> Iterator[str]:
    """A standalone cluster (a master, two workers of one core and 1 GB each) on 127.0.0.1:
    its master URL. Drive it from a child process with `cluster.driver_environment()`."""
    require_spark()
    from tests.spark.cluster import standalone_cluster

    with standalone_cluster(workers=2, cores=1, memory="1g") as master:
        yield master


# The sample lake every engine runs in these tests: two days, then the first again
# (a re-run after a later load), with company_id set up after the first events.
FIRST = date(2026, 10, 1)
DAYS = [FIRST, FIRST + timedelta(days=1), FIRST]
SETUP = datetime(2026, 10, 1, 6, tzinfo=UTC)


@pytest.fixture(scope="session")
def sample_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from etl.cli.sample import write_sample_lake
    from etl.store.lake import open_lake

    path = tmp_path_factory.mktemp("sample") / "lake"
    write_sample_lake(open_lake(str(path)), FIRST, days=2, companies=12, users=80)
    return path


def run_all(settings, warehouse) -> list[dict]:  # noqa: ANN001 - either engine's
    from etl.model.keys import add_key
    from etl.run.day import run_day
    from etl.store.lake import open_lake

    lake = open_lake(settings.lake_url)
    warehouse.init()
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    return [run_day(settings, warehouse, lake, day).summary() for day in DAYS]


@pytest.fixture(scope="session")
def duckdb_sample(sample_lake: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], dict]:
    """The sample lake's days on DuckDB: (each day's result, every table comparable)."""
    from etl.config import load_settings
    from etl.store.warehouse import Warehouse
    from tests.sql.test_engines_equal import comparable, tables

    url = f"duckdb:///{tmp_path_factory.mktemp('duck') / 'warehouse.duckdb'}"
    settings = load_settings(environ={"GROUP_ETL_WAREHOUSE_URL": url, "GROUP_ETL_LAKE_URL": str(sample_lake)})
    with Warehouse(settings) as warehouse:
        results = run_all(settings, warehouse)
        return results, comparable(tables(warehouse))


def spark_settings(lake: Path, folder: Path, master: str = "local[2]"):  # noqa: ANN201
    from etl.config import load_settings

    return load_settings(environ={"GROUP_ETL_ENGINE": "spark", "GROUP_ETL_LAKE_URL": str(lake),
                                  "GROUP_ETL_SPARK_MASTER": master, "GROUP_ETL_SPARK_WAREHOUSE": str(folder)})
