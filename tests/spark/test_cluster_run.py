"""`group-etl run` on a real Spark standalone cluster (a master and two workers on
127.0.0.1): the sample lake's days run through the CLI as a data engineer runs them
(keys add, which creates the tables, then run over the range), the driver in the
CLI's process and the work on the workers; then every table the cluster wrote equals
the DuckDB run's, row for row (the DuckDB run ran the first day once more: a re-run
leaves every table as it was, tests/spark/test_spark_engine.py).

The CLI is a child process (it holds its own SparkContext); this process reads the
tables the cluster wrote with the local session.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.spark.cluster import driver_environment
from tests.spark.conftest import DAYS, SETUP, spark_settings
from tests.sql.test_engines_equal import comparable, tables
from tests.support import TABLES

pytestmark = [pytest.mark.spark, pytest.mark.slow]

# Spark's own way to configure a driver: spark-defaults.conf in SPARK_CONF_DIR
SPARK_DEFAULTS = """\
spark.driver.host 127.0.0.1
spark.ui.enabled false
spark.executor.memory 512m
spark.executor.cores 1
spark.cores.max 2
spark.sql.shuffle.partitions 4
spark.sql.adaptive.enabled false
spark.scheduler.minRegisteredResourcesRatio 1.0
"""


def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([str(Path(sys.executable).parent / "group-etl"), *args], env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, f"group-etl {' '.join(args)}: {done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def cluster_run(spark_cluster: str, sample_lake: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("cluster-run")
    (folder / "conf").mkdir()
    (folder / "conf" / "spark-defaults.conf").write_text(SPARK_DEFAULTS)
    env = {**driver_environment(), "SPARK_CONF_DIR": str(folder / "conf"), "GROUP_ETL_ENGINE": "spark",
           "GROUP_ETL_SPARK_MASTER": spark_cluster, "GROUP_ETL_SPARK_WAREHOUSE": str(folder / "warehouse"),
           "GROUP_ETL_LAKE_URL": str(sample_lake)}
    cli(env, "keys", "add", "company_id", "--setup-at", SETUP.isoformat())
    ran = json.loads(cli(env, "run", "--from", str(DAYS[0]), "--to", str(DAYS[1]), "--format", "json").stdout)
    return {"results": ran["rows"], "settings": spark_settings(sample_lake, folder / "warehouse", spark_cluster)}


def test_the_cluster_ran_the_days_as_duckdb_did(cluster_run: dict, duckdb_sample) -> None:  # noqa: ANN001
    counts = ("input_records", "loaded", "rejected", "duplicates", "invalid_group_id")
    ran = [(r["date"], *(r[k] for k in counts)) for r in cluster_run["results"]]
    assert ran == [(r["day"], *(r[k] for k in counts)) for r in duckdb_sample[0][:2]]


def test_every_table_the_cluster_wrote_equals_duckdbs(cluster_run: dict, duckdb_sample, spark_session) -> None:  # noqa: ANN001
    from etl.store.spark import SparkWarehouse

    written = comparable(tables(SparkWarehouse(cluster_run["settings"], read_only=True, spark=spark_session)))
    differing = [t for t in TABLES if written[t] != duckdb_sample[1][t]]
    assert differing == []
    assert sum(len(rows) for rows in written.values()) > 1000
