"""A real Spark standalone cluster (tests/spark/cluster.py): tasks leave the driver, run on
both workers, in this venv's Python, where group-etl and DuckDB import.

The driver runs in a child process (`python -m tests.spark.test_cluster <master>`), not in
pytest's: a process holds one SparkContext, and the session-scoped local[2] `spark_session`
that other modules share must not be stopped under them, nor block this one. A child
costs one more JVM start (seconds) and keeps the two independent in any test order.

Which Python the executors run is the driver's choice: its PYSPARK_PYTHON, else `python3`
from PATH, which under `make test` (PATH without .venv/bin) is not the venv's. Neither a
worker's environment nor `spark.pyspark.python` set on the builder changes it (tried)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.spark.cluster import driver_environment, standalone_cluster
from tests.spark.conftest import require_spark

pytestmark = [pytest.mark.spark, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TASKS = 8


def where_it_ran(_: int) -> dict[str, str]:
    """In a task: the executor's folder (a worker starts each executor in
    <work dir>/<app id>/<executor id>, and its Python workers inherit it), the Python
    running, and where our packages import from."""
    import duckdb

    import etl

    return {"executor_dir": os.getcwd(), "python": sys.executable,
            "etl": str(Path(etl.__file__).parent), "duckdb": duckdb.__version__}


def run_probe(master: str) -> list[dict[str, str]]:
    """The driver (child process): one task a partition, each on whichever executor is free."""
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master(master).appName("group-etl-cluster-probe")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.ui.enabled", "false")
               .config("spark.executor.memory", "512m")  # fits a 1g worker
               .config("spark.executor.cores", "1")
               # start no task before every worker's executor has registered: otherwise
               # the first executor up may run all eight tasks before the second is there
               .config("spark.cores.max", "2")
               .config("spark.scheduler.minRegisteredResourcesRatio", "1.0")
               .config("spark.scheduler.maxRegisteredResourcesWaitingTime", "60s")
               .getOrCreate())
    try:
        session.sparkContext.setLogLevel("ERROR")
        return session.sparkContext.parallelize(range(TASKS), TASKS).map(where_it_ran).collect()
    finally:
        session.stop()


def our_spark_processes() -> set[int]:
    """Spark JVMs started by this process's clusters: their class path holds the cluster's
    conf folder, named group-etl-<our pid>-*. Linux (/proc) only."""
    mark = f"group-etl-{os.getpid()}-".encode()
    found = set()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:  # ended meanwhile
            continue
        if mark in command and b"org.apache.spark" in command:
            found.add(int(entry.name))
    return found


def test_tasks_run_on_both_workers_in_this_venvs_python(spark_cluster: str) -> None:
    assert len(our_spark_processes()) >= 3  # the master and two workers (and our check sees them)
    done = subprocess.run([sys.executable, "-m", "tests.spark.test_cluster", spark_cluster],
                          cwd=ROOT, env=driver_environment(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    tasks = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(tasks) == TASKS
    # executor folders: <cluster folder>/worker-<n>/<app id>/<executor id>
    workers = {Path(t["executor_dir"]).parents[1].name for t in tasks}
    assert workers == {"worker-1", "worker-2"}, tasks
    assert {t["python"] for t in tasks} == {sys.executable}
    import duckdb

    import etl

    assert {t["etl"] for t in tasks} == {str(Path(etl.__file__).parent)}
    assert {t["duckdb"] for t in tasks} == {duckdb.__version__}


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
def test_a_cluster_that_cannot_start_fails_with_its_logs_and_leaves_nothing() -> None:
    """A worker that exits at once: the error comes without waiting for the deadline, with
    the worker's own words; the master is stopped and the folder removed."""
    require_spark()
    before_processes = our_spark_processes()
    before_folders = {p.name for p in Path(tempfile.gettempdir()).glob(f"group-etl-{os.getpid()}-*")}
    with pytest.raises(RuntimeError, match="exited early") as failure:
        with standalone_cluster(workers=1, memory="lots"):
            pytest.fail("a worker with --memory lots started")
    assert "Usage: Worker" in str(failure.value)
    assert our_spark_processes() <= before_processes
    assert {p.name for p in Path(tempfile.gettempdir()).glob(f"group-etl-{os.getpid()}-*")} <= before_folders


if __name__ == "__main__":
    print(json.dumps(run_probe(sys.argv[1])))
