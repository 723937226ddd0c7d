"""Operating the DAGs: retry delays per try of the current run (etl.run.retries); task
errors retried (storage, transient warehouse errors, a held DuckDB file) or failed at
once (wrong settings such as another time zone); the first scheduled day in the
project time zone; the pool of the Airflow connection's warehouse."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from tests.dags import test_dags  # noqa: E402, F401 - its throwaway AIRFLOW_HOME, set before airflow loads
from tests.dags.test_dags import airflow_db  # noqa: E402, F401 - the migrated metadata DB

pytest.importorskip("airflow", reason="the airflow extra is not installed")

import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from airflow.sdk import RetryDecision  # noqa: E402
from airflow.sdk.exceptions import AirflowFailException  # noqa: E402

from etl.errors import ConfigError, NotLandedError, StorageError, WarehouseBusyError  # noqa: E402
from etl.run.airflow import failing_at_once_on_wrong_input  # noqa: E402
from etl.run.retries import RunRetryPolicy, retry_delay, run_attempt  # noqa: E402


def test_the_delay_doubles_per_try_of_the_run_up_to_the_cap() -> None:
    assert [retry_delay(n, 60, 1800) for n in range(1, 8)] == [60, 120, 240, 480, 960, 1800, 1800]
    assert retry_delay(10_000, 60, 1800) == 1800  # no overflow


def test_the_try_of_the_current_run_ignores_tries_before_a_clear() -> None:
    # a first run with 3 retries: max_tries = 3, tries 1..4
    assert [run_attempt(t, 3, 3) for t in (1, 2, 3, 4)] == [1, 2, 3, 4]
    # cleared after try 4: Airflow sets max_tries = 4 + 3; the next try (5) is this run's first
    assert [run_attempt(t, 7, 3) for t in (5, 6, 7, 8)] == [1, 2, 3, 4]
    # cleared again after try 6 (max_tries = 9)
    assert run_attempt(7, 9, 3) == 1


def test_the_policy_retries_after_the_delay_of_this_runs_try() -> None:
    policy = RunRetryPolicy(first=60, cap=1800)
    context = {"ti": SimpleNamespace(task=SimpleNamespace(retries=3))}
    decision = policy.evaluate(StorageError("s3 down"), try_number=5, max_tries=7, context=context)
    assert decision == RetryDecision.retry(timedelta(seconds=60), reason="try 1 of this run failed: retry in 60s")
    decision = policy.evaluate(StorageError("s3 down"), try_number=7, max_tries=7, context=context)
    assert (decision.retry_delay.total_seconds(), decision.reason) == (240, "try 3 of this run failed: retry in 240s")
    decision = policy.evaluate(StorageError("s3 down"), try_number=8, max_tries=7, context=context)
    assert decision == RetryDecision.fail(reason="try 4 of this run failed: no retry left")


def test_wrong_input_fails_at_once_and_transient_faults_are_retried() -> None:
    with pytest.raises(AirflowFailException, match="^run_day 2026-03-01: GROUP_ETL_TIMEZONE: bad$"), \
            failing_at_once_on_wrong_input("run_day 2026-03-01: "):
        raise ConfigError("GROUP_ETL_TIMEZONE: bad")
    for retried in (NotLandedError("late"), WarehouseBusyError("locked")):
        with pytest.raises(type(retried)), failing_at_once_on_wrong_input():
            raise retried
    # a lost connection raised past the warehouse's own translation is retried too
    lost = sa.exc.OperationalError("SELECT 1", {}, psycopg.OperationalError("server closed the connection"))
    with pytest.raises(StorageError, match="^audit: OperationalError: "), failing_at_once_on_wrong_input("audit: "):
        raise lost
    with pytest.raises(KeyError), failing_at_once_on_wrong_input():
        raise KeyError("a bug is raised as is")


def test_a_task_whose_time_zone_differs_from_the_warehouses_fails_at_once(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from datetime import UTC, datetime

    from etl.run.airflow import run_task
    from etl.store.warehouse import Warehouse
    from tests.support import make_settings

    (tmp_path / "lake").mkdir()
    env = {"GROUP_ETL_WAREHOUSE_URL": f"duckdb:///{tmp_path / 'w.duckdb'}",
           "GROUP_ETL_LAKE_URL": str(tmp_path / "lake"), "GROUP_ETL_SCHEMA": "analytics"}
    with Warehouse(make_settings(*env.values(), GROUP_ETL_TIMEZONE="Asia/Tokyo")) as warehouse:
        warehouse.init()
    for name, value in {**env, "GROUP_ETL_TIMEZONE": "UTC"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(AirflowFailException) as failed:
        run_task("run_day", datetime(2026, 3, 1, tzinfo=UTC))
    assert str(failed.value) == (
        f"run_day 2026-03-01: GROUP_ETL_TIMEZONE is UTC but warehouse duckdb:///{tmp_path / 'w.duckdb'} "
        "(schema analytics) was built in Asia/Tokyo: its event dates and days are in Asia/Tokyo; "
        "set GROUP_ETL_TIMEZONE=Asia/Tokyo")


@pytest.mark.parametrize("timezone", ["Asia/Tokyo", "America/New_York", "UTC"])
def test_the_first_scheduled_day_is_the_start_date_in_the_project_time_zone(airflow_db, monkeypatch, timezone) -> None:  # noqa: ANN001, F811
    """As the scheduler computes it (from the serialized DAG): a naive start date was
    UTC to Airflow, and with Asia/Tokyo the first interval began on the day after."""
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    from airflow.serialization.serialized_objects import LazyDeserializedDAG

    from etl.config import load_settings
    from etl.run.airflow import day_of

    bag = test_dags.dagbag(monkeypatch, GROUP_ETL_TIMEZONE=timezone, GROUP_ETL_START_DATE="2026-03-01",
                           GROUP_ETL_WAREHOUSE_URL="duckdb:///x.duckdb")
    daily = bag.get_dag("group_analytics_daily")
    first = LazyDeserializedDAG.from_dag(daily).next_dagrun_info(last_automated_run_info=None)
    assert first.data_interval.start == datetime(2026, 3, 1, tzinfo=ZoneInfo(timezone))
    assert first.data_interval.end == datetime(2026, 3, 2, tzinfo=ZoneInfo(timezone))
    assert day_of(first.data_interval.start, load_settings()) == date(2026, 3, 1)
    assert type(day_of(first.data_interval.start, load_settings())) is date  # not pendulum's: Spark refuses it


def test_the_pool_follows_the_warehouse_of_the_airflow_connection(airflow_db, monkeypatch) -> None:  # noqa: ANN001, F811
    from etl.run.airflow import task_settings

    monkeypatch.delenv("GROUP_ETL_WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_GROUP_ETL_WAREHOUSE", "postgresql://etl:s3cret@db.internal:5432/analytics")
    bag = test_dags.dagbag(monkeypatch)
    assert {t.pool for dag in bag.dags.values() for t in dag.tasks} == {"default_pool"}
    assert task_settings().warehouse_url == "postgresql+psycopg://etl:s3cret@db.internal:5432/analytics"

    monkeypatch.delenv("AIRFLOW_CONN_GROUP_ETL_WAREHOUSE")  # neither: the default DuckDB file
    bag = test_dags.dagbag(monkeypatch)  # the sensor only lists the lake: never in the DuckDB pool
    assert {t.pool for dag in bag.dags.values() for t in dag.tasks if t.task_id != "wait_for_dump"} == {
        "group_etl_duckdb"}


@pytest.mark.slow
def test_a_duckdb_file_held_by_a_reader_is_retried_not_failed_at_once(airflow_db, monkeypatch, tmp_path) -> None:  # noqa: ANN001, F811
    import subprocess
    import sys

    from etl.store.warehouse import Warehouse
    from tests.support import make_settings

    path = tmp_path / "w.duckdb"
    landed = tmp_path / "lake" / "events" / f"dt={test_dags.DAYS[0]}"  # the sensor lets run_day start
    landed.mkdir(parents=True)
    (landed / "part-0.jsonl").write_text('{"event": "e", "properties": {"distinct_id": "u", "time": 1}}\n')
    with Warehouse(make_settings(f"duckdb:///{path}", str(tmp_path / "lake"), "analytics")) as warehouse:
        warehouse.init()
    reader = subprocess.Popen(  # an analyst's read-only connection, open all along
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
                               "print('ready', flush=True); sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline() == "ready\n"
        bag = test_dags.dagbag(monkeypatch, GROUP_ETL_WAREHOUSE_URL=f"duckdb:///{path}",
                               GROUP_ETL_LAKE_URL=str(tmp_path / "lake"), GROUP_ETL_SCHEMA="analytics",
                               GROUP_ETL_LOCK_TIMEOUT="0", GROUP_ETL_TASK_RETRIES="1",
                               GROUP_ETL_RETRY_DELAY_SECONDS="0.1", GROUP_ETL_LANDING_TIMEOUT_SECONDS="5")
        run = test_dags.run_dag(bag.get_dag("group_analytics_daily"), test_dags.DAYS[0])
    finally:
        reader.stdin.close()
        reader.wait(timeout=60)
    [load] = [ti for ti in run.get_task_instances() if ti.task_id == "run_day"]
    assert (run.state, load.state, load.try_number) == ("failed", "failed", 2)  # retried once, as configured
