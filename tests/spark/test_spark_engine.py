"""The Spark engine gives the tables DuckDB gives: the sample lake's days, a re-run
of the first after the second, through run_day on both; every table (tests/support.TABLES)
compared row for row, as tests/sql/test_engines_equal.py compares DuckDB and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from etl.run.day import run_day
from etl.store.lake import open_lake
from tests.spark.conftest import FIRST, run_all, spark_settings
from tests.sql.test_engines_equal import comparable, tables
from tests.support import TABLES

pytestmark = [pytest.mark.spark, pytest.mark.slow]

@pytest.fixture(scope="module")
def spark_run(spark_session, sample_lake: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN001, ANN201
    from etl.store.spark import SparkWarehouse

    settings = spark_settings(sample_lake, tmp_path_factory.mktemp("spark-warehouse"))
    warehouse = SparkWarehouse(settings, spark=spark_session)
    results = run_all(settings, warehouse)
    return results, comparable(tables(warehouse)), warehouse, settings


def without_seconds(results: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in results]


def test_the_day_results_are_duckdbs(duckdb_sample, spark_run) -> None:  # noqa: ANN001
    assert without_seconds(spark_run[0]) == without_seconds(duckdb_sample[0])
    assert spark_run[0][0]["loaded"] > 300 and spark_run[0][0]["group_updates"] == [12, 0]


@pytest.mark.parametrize("table", TABLES)
def test_every_table_equals_duckdbs_row_for_row(duckdb_sample, spark_run, table: str) -> None:  # noqa: ANN001
    assert spark_run[1][table] == duckdb_sample[1][table]


def test_the_sample_fills_the_tables_compared(duckdb_sample) -> None:  # noqa: ANN001
    """The comparison means something: the tables a day writes have rows."""
    filled = {t for t, rows in duckdb_sample[1].items() if rows}
    assert {"events", "event_groups", "group_daily_metrics", "group_profiles", "group_profile_history",
            "user_profiles", "user_groups", "load_audit", "profile_updates", "group_activity_daily",
            "group_user_first_days", "rejected_records", "group_keys"} <= filled


def test_a_rerun_leaves_every_table_identical(spark_run) -> None:  # noqa: ANN001
    _, before, warehouse, settings = spark_run
    run_day(settings, warehouse, open_lake(settings.lake_url), FIRST + timedelta(days=1))
    assert comparable(tables(warehouse)) == before


def test_a_table_swap_cut_short_is_finished_and_a_half_written_one_dropped(spark_run) -> None:  # noqa: ANN001
    """A run killed while storing a table without partitions: between moving the old
    folder aside and moving the new one in, the table is only aside; while writing the
    new one, only staged rows exist. The next writer moves the table back and drops
    the staged rows: every table is as before."""
    import shutil
    import uuid

    from etl.store.spark import SparkWarehouse

    _, before, warehouse, settings = spark_run
    root = Path(warehouse.root.removeprefix("file://"))
    staging = root / "_staging"
    staging.mkdir(exist_ok=True)
    shutil.move(root / "group_profiles", staging / f"group_profiles-old-{uuid.uuid4().hex}")
    shutil.copytree(root / "user_profiles", staging / f"user_profiles-new-{uuid.uuid4().hex}")
    assert not (root / "group_profiles").exists()
    writer = SparkWarehouse(settings, spark=warehouse.spark)
    assert list(staging.iterdir()) == []
    assert comparable(tables(writer)) == before


def test_a_run_killed_before_its_commit_leaves_every_table_as_before(spark_run, monkeypatch) -> None:  # noqa: ANN001
    """Killed mid-run (here: in the health stage, with no rollback, as a kill -9 gives):
    what its writes left in its transaction's folder is never shown, and the next
    writer drops it."""
    from etl.store.spark import SparkConnection, SparkWarehouse

    _, before, warehouse, settings = spark_run
    root = Path(warehouse.root.removeprefix("file://"))

    def killed(mark: str) -> None:
        if mark == "health_refreshed":
            raise KeyboardInterrupt

    monkeypatch.setattr(SparkConnection, "rollback", lambda self: self.close())
    with pytest.raises(KeyboardInterrupt):
        run_day(settings, warehouse, open_lake(settings.lake_url), FIRST + timedelta(days=1), hook=killed)
    [left] = list((root / "_txn").iterdir())
    assert (left / "events").is_dir() and not (left / "_COMMIT").exists()
    writer = SparkWarehouse(settings, spark=warehouse.spark)
    assert list((root / "_txn").iterdir()) == []
    assert comparable(tables(writer)) == before


def test_a_commit_cut_short_is_finished_by_the_next_writer(spark_run, monkeypatch) -> None:  # noqa: ANN001
    """Killed while moving its partitions in (its `_COMMIT` written, three folders moved):
    the next writer finishes the moves, so every table is as after the run (a re-run of
    the second day: as before it, the inputs being the same)."""
    from etl.store.spark import SparkWarehouse

    _, before, warehouse, settings = spark_run
    root = Path(warehouse.root.removeprefix("file://"))
    rename, moved = SparkWarehouse._rename, []

    def cut_short(self, source: str, target: str) -> None:  # noqa: ANN001
        if len(moved) == 3:
            raise KeyboardInterrupt
        moved.append(target)
        rename(self, source, target)

    monkeypatch.setattr(SparkWarehouse, "_rename", cut_short)
    with pytest.raises(KeyboardInterrupt):
        run_day(settings, warehouse, open_lake(settings.lake_url), FIRST + timedelta(days=1))
    monkeypatch.undo()
    [left] = list((root / "_txn").iterdir())
    assert (left / "_COMMIT").is_file() and len(moved) == 3
    writer = SparkWarehouse(settings, spark=warehouse.spark)
    assert list((root / "_txn").iterdir()) == []
    assert comparable(tables(writer)) == before
