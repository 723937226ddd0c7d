"""The Spark engine gives the tables DuckDB gives: the sample lake's days, a re-run
of the first after the second, through run_day on both; every table (tests/support.TABLES)
compared row for row, as tests/sql/test_engines_equal.py compares DuckDB and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from etl.cli.sample import write_sample_lake
from etl.config import Settings, load_settings
from etl.model.keys import add_key
from etl.run.day import run_day
from etl.store.lake import open_lake
from etl.store.warehouse import Warehouse
from tests.sql.test_engines_equal import comparable, tables
from tests.support import TABLES

pytestmark = [pytest.mark.spark, pytest.mark.slow]

FIRST = date(2026, 10, 1)
DAYS = [FIRST, FIRST + timedelta(days=1), FIRST]  # the first again: a re-run after a later load
SETUP = datetime(2026, 10, 1, 6, tzinfo=UTC)  # after the first events of the first day: some are not attributed


@pytest.fixture(scope="module")
def lake_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sample") / "lake"
    write_sample_lake(open_lake(str(path)), FIRST, days=2, companies=12, users=80)
    return path


def run_all(settings: Settings, warehouse) -> list[dict]:  # noqa: ANN001 - either engine's
    lake = open_lake(settings.lake_url)
    warehouse.init()
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    return [run_day(settings, warehouse, lake, day).summary() for day in DAYS]


@pytest.fixture(scope="module")
def duckdb_run(lake_path: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], dict]:
    url = f"duckdb:///{tmp_path_factory.mktemp('duck') / 'warehouse.duckdb'}"
    settings = load_settings(environ={"GROUP_ETL_WAREHOUSE_URL": url, "GROUP_ETL_LAKE_URL": str(lake_path)})
    with Warehouse(settings) as warehouse:
        results = run_all(settings, warehouse)
        return results, comparable(tables(warehouse))


def spark_settings(lake_path: Path, folder: Path, master: str = "local[2]") -> Settings:
    return load_settings(environ={"GROUP_ETL_ENGINE": "spark", "GROUP_ETL_LAKE_URL": str(lake_path),
                                  "GROUP_ETL_SPARK_MASTER": master, "GROUP_ETL_SPARK_WAREHOUSE": str(folder)})


@pytest.fixture(scope="module")
def spark_run(spark_session, lake_path: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN001, ANN201
    from etl.store.spark import SparkWarehouse

    settings = spark_settings(lake_path, tmp_path_factory.mktemp("spark-warehouse"))
    warehouse = SparkWarehouse(settings, spark=spark_session)
    results = run_all(settings, warehouse)
    return results, comparable(tables(warehouse)), warehouse, settings


def without_seconds(results: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in results]


def test_the_day_results_are_duckdbs(duckdb_run, spark_run) -> None:  # noqa: ANN001
    assert without_seconds(spark_run[0]) == without_seconds(duckdb_run[0])
    assert spark_run[0][0]["loaded"] > 300 and spark_run[0][0]["group_updates"] == [12, 0]


@pytest.mark.parametrize("table", TABLES)
def test_every_table_equals_duckdbs_row_for_row(duckdb_run, spark_run, table: str) -> None:  # noqa: ANN001
    assert spark_run[1][table] == duckdb_run[1][table]


def test_the_sample_fills_the_tables_compared(duckdb_run) -> None:  # noqa: ANN001
    """The comparison means something: the tables a day writes have rows."""
    filled = {t for t, rows in duckdb_run[1].items() if rows}
    assert {"events", "event_groups", "group_daily_metrics", "group_profiles", "group_profile_history",
            "user_profiles", "user_groups", "load_audit", "profile_updates", "group_activity_daily",
            "group_user_first_days", "rejected_records", "group_keys"} <= filled


def test_a_rerun_leaves_every_table_identical(spark_run) -> None:  # noqa: ANN001
    _, before, warehouse, settings = spark_run
    run_day(settings, warehouse, open_lake(settings.lake_url), FIRST + timedelta(days=1))
    assert comparable(tables(warehouse)) == before
