"""The Spark warehouse's writer lock (etl.store.spark_lock) on a folder and on moto's
S3, without Spark: a real second process holds the lock where a second writer is
needed. Timeouts are tiny; nothing sleeps but a waiting writer."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from etl.errors import WarehouseBusyError
from etl.store.spark_lock import (
    LOCK_NAME,
    FolderStore,
    S3Store,
    WriterLock,
    held,
    owner_record,
    store_for,
)
from etl.store.warehouse import transient_error

HOLDER = """
import sys
from etl.store.spark_lock import held
with held(sys.argv[1], 0):
    print("held", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """Another process holding the writer lock of a folder location until told to let go."""
    location = str(tmp_path / "warehouse" / "group_etl")
    child = subprocess.Popen([sys.executable, "-c", HOLDER, location], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "held\n"
    yield location, child
    if child.poll() is None:
        child.kill()
        child.wait()


def let_go(child: subprocess.Popen) -> None:
    child.stdin.write("\n")
    child.stdin.flush()
    assert child.stdout.readline() == "released\n"
    assert child.wait(timeout=30) == 0


def lock_file(location: str) -> Path:
    return Path(location) / LOCK_NAME


def test_a_second_writer_waits_then_is_refused_and_gets_in_once_the_first_lets_go(holder, caplog) -> None:  # noqa: ANN001
    location, child = holder
    owner = json.loads(lock_file(location).read_text())
    assert owner["pid"] == child.pid and owner["host"] == socket.gethostname()
    assert set(owner) >= {"host", "pid", "started_at", "token"}
    with caplog.at_level(logging.WARNING, "group_etl"), pytest.raises(WarehouseBusyError) as refused:
        with held(location, 0.3):
            pytest.fail("two writers held the lock")
    assert str(refused.value) == (
        f"Spark warehouse {location} is being written by another process (pid {child.pid} on "
        f"{socket.gethostname()}, since {owner['started_at']}; waited 0.3s (GROUP_ETL_LOCK_TIMEOUT)): try again "
        f"when it finishes. If that process is gone, remove {location}/{LOCK_NAME}")
    assert transient_error(refused.value)  # Airflow retries it
    assert [r.getMessage() for r in caplog.records] == [  # said once, however many looks
        f"Spark warehouse {location} is being written by another process (pid {child.pid} on "
        f"{socket.gethostname()}, since {owner['started_at']}): waiting up to 0.3s for it (GROUP_ETL_LOCK_TIMEOUT)"]
    assert json.loads(lock_file(location).read_text()) == owner  # the refused writer left it alone

    let_go(child)
    assert not lock_file(location).exists()
    with held(location, 0.3):
        assert json.loads(lock_file(location).read_text())["pid"] == os.getpid()
    assert not lock_file(location).exists()


def test_the_lock_is_released_when_the_block_fails(tmp_path: Path) -> None:
    location = str(tmp_path / "group_etl")
    with pytest.raises(RuntimeError), held(location, 0):
        assert lock_file(location).exists()
        raise RuntimeError("a stage failed")
    assert not lock_file(location).exists()


def test_a_process_holds_it_once_however_many_transactions_it_nests(tmp_path: Path) -> None:
    location = str(tmp_path / "group_etl")
    with held(location, 0):
        first = lock_file(location).read_text()
        with held(location, 0):
            assert lock_file(location).read_text() == first
        assert lock_file(location).read_text() == first  # the inner one does not release it
    assert not lock_file(location).exists()


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def write_lock(location: str, **owner: object) -> dict:
    record = {**owner_record("f" * 32), **owner}
    Path(location).mkdir(parents=True, exist_ok=True)
    lock_file(location).write_text(json.dumps(record))
    return record


def test_a_lock_whose_process_is_gone_on_this_machine_is_taken_over_with_a_warning(tmp_path, caplog) -> None:  # noqa: ANN001
    location = str(tmp_path / "group_etl")
    stale = write_lock(location, pid=dead_pid(), started_at="2026-11-27T03:00:00+00:00")
    with caplog.at_level(logging.WARNING, "group_etl"), held(location, 0):
        now = json.loads(lock_file(location).read_text())
        assert now["pid"] == os.getpid() and now["token"] != stale["token"]
    assert [r.getMessage() for r in caplog.records] == [
        f"Spark warehouse {location}: the writer lock of pid {stale['pid']} on {socket.gethostname()}, since "
        f"2026-11-27T03:00:00+00:00 outlived its process: taken over ({location}/{LOCK_NAME})"]
    assert not lock_file(location).exists()


@pytest.mark.skipif(not Path("/proc/sys/kernel/random/boot_id").exists(), reason="no boot id (not Linux)")
def test_a_lock_from_before_this_machine_rebooted_is_taken_over(tmp_path: Path) -> None:
    location = str(tmp_path / "group_etl")
    write_lock(location, pid=os.getppid(), boot="an-earlier-boot")  # a pid that runs now: it was reused
    with held(location, 0):
        assert json.loads(lock_file(location).read_text())["pid"] == os.getpid()


@pytest.mark.parametrize("owner", [
    {"host": "worker-7"},  # another machine: its pid cannot be checked from here
    {"pid_namespace": "pid:[1]"},  # a container of this host: its own pids
])
def test_a_lock_whose_owner_cannot_be_checked_is_never_taken_over(tmp_path: Path, owner: dict) -> None:
    location = str(tmp_path / "group_etl")
    record = write_lock(location, pid=dead_pid(), **owner)
    with pytest.raises(WarehouseBusyError, match=re.escape(
            f"(pid {record['pid']} on {record['host']}, since {record['started_at']}; waited 0s "
            f"(GROUP_ETL_LOCK_TIMEOUT)): try again when it finishes. If that process is gone, remove "
            f"{location}/{LOCK_NAME}")):
        with held(location, 0):
            pass
    assert json.loads(lock_file(location).read_text()) == record


def test_a_lock_that_is_not_groupetls_is_left_alone(tmp_path: Path) -> None:
    location = str(tmp_path / "group_etl")
    Path(location).mkdir(parents=True)
    lock_file(location).write_text("half a rec")
    with pytest.raises(WarehouseBusyError, match=re.escape(
            "(owner unknown: the lock is being created, or is not group-etl's; waited 0s")):
        with held(location, 0):
            pass
    assert lock_file(location).read_text() == "half a rec"


def test_a_lock_taken_over_meanwhile_is_not_removed_at_release(tmp_path, caplog) -> None:  # noqa: ANN001
    location = str(tmp_path / "group_etl")
    lock = WriterLock(FolderStore(f"{location}/{LOCK_NAME}"), location)
    lock.acquire(0)
    other = write_lock(location, host="worker-7")
    with caplog.at_level(logging.WARNING, "group_etl"):
        lock.release()
    assert json.loads(lock_file(location).read_text()) == other
    assert "no longer this process's" in caplog.records[0].getMessage()


def test_the_folder_create_is_exclusive(tmp_path: Path) -> None:
    store = FolderStore(str(tmp_path / "w" / LOCK_NAME))
    assert store.read() is None
    assert store.create(b"first") and not store.create(b"second")
    assert store.read() == b"first"
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == [LOCK_NAME]  # no staged file left
    store.delete()
    store.delete()  # gone already: nothing
    assert store.read() is None


@pytest.mark.parametrize("location", ["/data/wh/group_etl", "file:///data/wh/group_etl"])
def test_a_folder_location_is_locked_in_the_folder(location: str) -> None:
    store = store_for(location)
    assert isinstance(store, FolderStore) and store.path == f"/data/wh/group_etl/{LOCK_NAME}"


# --- S3: a conditional put, against moto's server --------------------------------------

@pytest.fixture
def s3a_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """moto's S3 as an HTTP endpoint, named only by Spark's S3A settings (none of boto3's
    own variables point there), with a bucket `warehouse-bucket`."""
    import boto3
    from moto.server import ThreadedMotoServer

    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST"))  # noqa: S310
    conf = {"fs.s3a.endpoint": f"{host}:{port}", "fs.s3a.connection.ssl.enabled": "false",
            "fs.s3a.access.key": "testing", "fs.s3a.secret.key": "testing", "fs.s3a.path.style.access": "true"}
    boto3.client("s3", endpoint_url=f"http://{host}:{port}", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket="warehouse-bucket")
    yield conf
    server.stop()


def test_the_s3_lock_is_a_conditional_put_with_spark_s3a_settings(s3a_settings) -> None:  # noqa: ANN001
    store = S3Store(f"s3a://warehouse-bucket/prefix/group_etl/{LOCK_NAME}", s3a_settings.get)
    assert store.client.meta.endpoint_url == f"http://{s3a_settings['fs.s3a.endpoint']}"
    assert store.read() is None
    assert store.create(b"first") and not store.create(b"second")  # If-None-Match: *
    assert store.read() == b"first"
    store.delete()
    assert store.read() is None and store.create(b"third")


def spark_with(conf: dict[str, str]) -> SimpleNamespace:
    """What the lock reads of a SparkSession for S3: its Hadoop configuration."""
    hadoop = SimpleNamespace(get=conf.get)
    return SimpleNamespace(sparkContext=SimpleNamespace(_jsc=SimpleNamespace(hadoopConfiguration=lambda: hadoop)))


def test_a_second_s3_writer_waits_then_is_refused_then_gets_in(s3a_settings, caplog) -> None:  # noqa: ANN001
    location = "s3a://warehouse-bucket/prefix/group_etl"
    spark = spark_with(s3a_settings)
    assert isinstance(store_for(location, spark), S3Store)
    other = S3Store(f"{location}/{LOCK_NAME}", s3a_settings.get)
    record = {**owner_record("e" * 32), "host": "worker-7"}
    assert other.create(json.dumps(record).encode())
    with caplog.at_level(logging.WARNING, "group_etl"), pytest.raises(WarehouseBusyError) as refused:
        with held(location, 0.2, spark):
            pytest.fail("two writers held the lock")
    assert str(refused.value) == (
        f"Spark warehouse {location} is being written by another process (pid {os.getpid()} on worker-7, since "
        f"{record['started_at']}; waited 0.2s (GROUP_ETL_LOCK_TIMEOUT)): try again when it finishes. If that "
        f"process is gone, remove {location}/{LOCK_NAME}")
    said = [r.getMessage() for r in caplog.records if r.name.startswith("group_etl")]
    assert len(said) == 1 and "waiting up to 0.2s" in said[0]
    assert json.loads(other.read()) == record
    other.delete()
    with held(location, 0.2, spark):
        assert json.loads(other.read())["token"] != record["token"]
    assert other.read() is None


def test_an_s3_location_uses_boto3_with_the_bucket_s_own_settings(s3a_settings) -> None:  # noqa: ANN001
    conf = {f"fs.s3a.bucket.warehouse-bucket.{k.removeprefix('fs.s3a.')}": v for k, v in s3a_settings.items()}
    conf["fs.s3a.endpoint"] = "https://elsewhere.example"  # the bucket's own wins
    store = S3Store(f"s3://warehouse-bucket/group_etl/{LOCK_NAME}", conf.get)
    assert store.client.meta.endpoint_url == f"http://{s3a_settings['fs.s3a.endpoint']}"
    assert store.create(b"x") and store.read() == b"x"
