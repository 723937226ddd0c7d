"""Two writers of one Spark warehouse: the second waits up to GROUP_ETL_LOCK_TIMEOUT,
then is refused with WarehouseBusyError and writes nothing; once the first lets go it
writes. The first writer is another process holding the location's writer lock
(etl.store.spark_lock), as a running `group-etl run` does for each transaction."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from etl.config import load_settings
from etl.errors import WarehouseBusyError
from etl.model.keys import add_key
from etl.store.spark_lock import LOCK_NAME, HadoopStore
from tests.unit.test_spark_lock import HOLDER, let_go

pytestmark = [pytest.mark.spark, pytest.mark.slow]
SETUP = datetime(2026, 10, 1, 6, tzinfo=UTC)


def settings_for(folder: Path, timeout: str = "0.3"):  # noqa: ANN201
    return load_settings(environ={"GROUP_ETL_ENGINE": "spark", "GROUP_ETL_LAKE_URL": str(folder / "lake"),
                                  "GROUP_ETL_SPARK_MASTER": "local[2]", "GROUP_ETL_LOCK_TIMEOUT": timeout,
                                  "GROUP_ETL_SPARK_WAREHOUSE": str(folder / "spark-warehouse")})


def hold(location: str) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", HOLDER, location], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "held\n"
    return child


def test_a_second_writer_is_refused_while_the_first_writes_then_writes(spark_session, tmp_path, caplog) -> None:  # noqa: ANN001
    from etl.store.spark import SparkWarehouse

    settings = settings_for(tmp_path)
    writer = SparkWarehouse(settings, spark=spark_session)
    writer.init()
    lock = Path(writer.root.removeprefix("file://")) / LOCK_NAME
    assert not lock.exists()  # released after each transaction
    first = hold(writer.root)
    try:
        owner = json.loads(lock.read_text())
        refused = (f"Spark warehouse {writer.root} is being written by another process (pid {first.pid} on "
                   f"{owner['host']}, since {owner['started_at']}; waited 0.3s (GROUP_ETL_LOCK_TIMEOUT)): try "
                   f"again when it finishes. If that process is gone, remove {lock}")
        with pytest.raises(WarehouseBusyError) as busy:
            add_key(writer, "company_id", max_keys=6, setup_at=SETUP)
        assert str(busy.value) == refused
        with pytest.raises(WarehouseBusyError) as busy:  # a writer opened meanwhile: refused at once too
            SparkWarehouse(settings, spark=spark_session)
        assert str(busy.value) == refused
        assert writer.stored("group_keys").count() == 0  # nothing written
        assert json.loads(lock.read_text()) == owner
    finally:
        let_go(first)
    add_key(writer, "company_id", max_keys=6, setup_at=SETUP)
    assert [r.group_key for r in writer.stored("group_keys").collect()] == ["company_id"]
    assert not lock.exists()


def test_a_transaction_holds_the_lock_and_lets_go_when_it_fails(spark_session, tmp_path) -> None:  # noqa: ANN001
    from etl.store.spark import SparkWarehouse

    writer = SparkWarehouse(settings_for(tmp_path), spark=spark_session)
    writer.init()
    lock = Path(writer.root.removeprefix("file://")) / LOCK_NAME
    with pytest.raises(RuntimeError), writer.begin() as conn:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
        writer.write(conn, "project_settings", ["name", "value", "recorded_at"], replacing=None,
                     query="SELECT 'x', 'y', CAST(:at AS TIMESTAMP)", params={"at": SETUP})
        raise RuntimeError("a stage failed")
    assert not lock.exists()
    reader = SparkWarehouse(settings_for(tmp_path), read_only=True, spark=spark_session)
    with reader.begin():
        assert not lock.exists()  # readers take no lock
    assert {r.name for r in writer.stored("project_settings").collect()} == {"timezone"}


def test_hadoops_exclusive_create(spark_session, tmp_path) -> None:  # noqa: ANN001
    """The store of hdfs://, abfss://, gs:// locations, here on Hadoop's local file system."""
    store = HadoopStore(spark_session, f"file://{tmp_path}/group_etl/{LOCK_NAME}")
    assert store.read() is None
    assert store.create(b'{"pid": 1}') and not store.create(b"second")
    assert store.read() == b'{"pid": 1}'
    store.delete()
    assert store.read() is None
