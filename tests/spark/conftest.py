"""Spark fixtures: a local Spark session shared by the whole run (starting a JVM
costs seconds). Spark needs Java: under CI=true a missing Java or pyspark fails
the tests; elsewhere they skip with the reason."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest


def _spark_missing() -> str | None:
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java found (install a JDK 17 or newer, or set JAVA_HOME)"
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

    folder = tmp_path_factory.mktemp("spark")
    session = (SparkSession.builder.master("local[2]").appName("group-etl-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.sql.warehouse.dir", str(folder / "warehouse"))
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
