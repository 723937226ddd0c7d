"""The cross-engine differential test (tests/sql/test_engines_equal.py) with Spark:
the same generated days (adversarial group ids, duplicate JSON keys, late copies,
profile updates) and the same two measured cases, run on DuckDB and on the Spark
engine; every table must match row for row. Fewer generated examples than
DuckDB against PostgreSQL: a Spark day costs seconds of job scheduling even when tiny.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, example, given
from hypothesis import settings as hypothesis_settings

from tests.spark.conftest import spark_settings
from tests.sql.test_engines_equal import (
    DRIFT,
    HOSTILE,
    assert_same_tables,
    events_of,
    run_days,
    run_days_on,
    updates_of,
    write_lake,
)

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@hypothesis_settings(max_examples=1, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(day1=events_of(1), day1_late=events_of(1), day2=events_of(2), updates=updates_of())
@example(**DRIFT)
@example(**HOSTILE)
def test_duckdb_and_spark_give_identical_tables(spark_session, day1, day1_late, day2, updates) -> None:  # noqa: ANN001
    from etl.store.spark import SparkWarehouse

    with tempfile.TemporaryDirectory() as tmp:
        lake_path = Path(tmp) / "lake"
        write_lake(lake_path, day1, day1_late, day2, updates)
        duck = run_days(f"duckdb:///{Path(tmp) / 'w.duckdb'}", "analytics", lake_path)
        settings = replace(spark_settings(lake_path, Path(tmp) / "spark"), max_group_profiles=3)
        spark = run_days_on(settings, SparkWarehouse(settings, spark=spark_session))
    assert_same_tables(duck, spark, ("DuckDB", "Spark"))
