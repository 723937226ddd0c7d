"""Read commands against a DuckDB file that other processes hold, through the real
console script: readers share the file with readers, never take the writer's
lock, and a writer in the way is a clear one-line error, not a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from etl.store.lake import open_lake
from tests.support import event, write_jsonl

D1 = date(2024, 7, 1)
T = int(datetime(2024, 7, 1, 12, tzinfo=UTC).timestamp())
SCRIPT = Path(sys.executable).parent / "group-etl"


@pytest.fixture
def loaded(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A DuckDB warehouse with one loaded day, and the environment that points at it."""
    path = tmp_path / "warehouse.duckdb"
    env = {**os.environ, "GROUP_ETL_WAREHOUSE_URL": f"duckdb:///{path}", "GROUP_ETL_LAKE_URL": str(tmp_path / "lake"),
           "GROUP_ETL_SCHEMA": "analytics", "GROUP_ETL_SESSION_DIR": str(tmp_path / "sessions"), "COLUMNS": "200"}
    lake = open_lake(str(tmp_path / "lake"))
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [event("Open", "u1", T, "a"), event("Open", "u2", T, "b")])
    write_jsonl(lake, f"people/dt={D1}/a.jsonl", [{"$distinct_id": "u1", "$time": T, "$set": {"plan": "pro"}}])
    assert group_etl(env, "run", "--date", str(D1))[0] == 0
    return path, env


def group_etl(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    done = subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=300, check=False)
    return done.returncode, done.stdout, done.stderr


def holder(path: Path, read_only: bool) -> subprocess.Popen:
    """Another process holding the DuckDB file open until its stdin closes."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == '1'); "
                               "print('ready', flush=True); sys.stdin.read()", str(path), "1" if read_only else "0"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "ready\n"
    return process


def release(process: subprocess.Popen) -> None:
    process.stdin.close()
    assert process.wait(timeout=60) == 0


@pytest.mark.parametrize("read_only", [True, False], ids=["analyst-reader", "other-writer"])
def test_a_writer_waits_for_the_process_holding_the_file_then_runs(loaded, read_only) -> None:  # noqa: ANN001
    path, env = loaded
    held = holder(path, read_only)
    try:
        run = subprocess.Popen([str(SCRIPT), "run", "--date", str(D1), "--format", "json"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # the writer says once that it waits, naming the file; then the holder lets go
        assert run.stderr.readline() == (f"warehouse {path} is in use by another process: "
                                         "waiting up to 300s for it (GROUP_ETL_LOCK_TIMEOUT)\n")
    finally:
        release(held)
    out, err = run.communicate(timeout=300)
    assert (run.returncode, err) == (0, "")
    [row] = json.loads(out)["rows"]
    assert (row["date"], row["loaded"]) == ("2024-07-01", 2)


def test_a_writer_gives_up_after_the_lock_timeout_with_a_retryable_error(loaded) -> None:  # noqa: ANN001
    path, env = loaded
    held = holder(path, read_only=True)
    try:
        code, out, err = group_etl({**env, "GROUP_ETL_LOCK_TIMEOUT": "0.3"}, "run", "--date", str(D1))
    finally:
        release(held)
    waiting, error = err.splitlines()
    assert (code, out) == (1, "")
    assert waiting == f"warehouse {path} is in use by another process: waiting up to 0.3s for it (GROUP_ETL_LOCK_TIMEOUT)"
    assert error.startswith(f"error: warehouse duckdb:///{path} is in use by another process (DuckDB allows one "
                            "writer at a time; waited 0.3s (GROUP_ETL_LOCK_TIMEOUT)): IO Error: Could not set lock")


def test_the_busy_error_is_a_storage_error_airflow_retries(loaded) -> None:  # noqa: ANN001
    from etl.config import load_settings
    from etl.errors import StorageError, WarehouseBusyError
    from etl.store.warehouse import Warehouse, transient_error

    path, env = loaded
    settings = load_settings(environ={**env, "GROUP_ETL_LOCK_TIMEOUT": "0"})
    held = holder(path, read_only=True)
    try:
        with pytest.raises(WarehouseBusyError) as caught:
            Warehouse(settings)
    finally:
        release(held)
    assert isinstance(caught.value, StorageError) and transient_error(caught.value)
    with Warehouse(settings) as warehouse:  # released: the writer gets in at once
        assert warehouse.check_version() >= 6


def test_a_reader_holds_the_file_only_while_it_reads(loaded) -> None:  # noqa: ANN001
    """`etl.connect()` kept open by an analyst between queries does not lock a writer out."""
    from etl.config import load_settings
    from etl.serve.frames import Analytics
    from etl.store.warehouse import Warehouse

    path, env = loaded
    settings = load_settings(environ={**env, "GROUP_ETL_LOCK_TIMEOUT": "0"})
    with Analytics(settings) as analyst:
        assert len(analyst.table("events")) == 2
        with Warehouse(settings) as writer, writer.begin() as conn:  # no wait, no error
            assert conn.exec_driver_sql("SELECT count(*) FROM events").scalar() == 2
        assert len(analyst.table("events")) == 2


@pytest.fixture
def writer(loaded: tuple[Path, dict[str, str]]) -> Iterator[None]:
    """Another process holding the warehouse open for writing until the test ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
                               "sys.stdin.read()", str(loaded[0])],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "ready\n"
        yield
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)


def test_read_commands_share_the_file_with_another_reader(loaded) -> None:  # noqa: ANN001
    path, env = loaded
    with duckdb.connect(str(path), read_only=True) as held:
        code, out, err = group_etl(env, "status", "--format", "json")
        assert (code, err) == (0, "")
        [row] = json.loads(out)["rows"]
        assert (row["date"], row["state"], row["loaded"]) == ("2024-07-01", "ok", 2)

        code, out, err = group_etl(env, "report", "insights", "--event", "Open", "--from", str(D1), "--to", str(D1),
                                   "--format", "json")
        assert (code, err) == (0, "")
        assert json.loads(out)["rows"] == [{"date": "2024-07-01", "breakdown": None, "events": 2, "uniques": 2,
                                                  "value": 2}]

        code, out, err = group_etl(env, "export", "profiles")
        assert (code, err) == (0, "")
        page = json.loads(out)
        assert (page["total"], page["results"]) == (1, [{"$distinct_id": "u1", "$properties": {"plan": "pro"}}])
        assert sorted(p.name for p in Path(env["GROUP_ETL_SESSION_DIR"]).iterdir()) == [
            f"{page['session_id']}.parquet"]

        # the test's reader was there all along: a writer is the one that must wait
        code, out, err = group_etl({**env, "GROUP_ETL_LOCK_TIMEOUT": "0"}, "run", "--date", str(D1))
        assert (code, out) == (1, "")
        assert err.startswith(f"error: warehouse duckdb:///{path} is in use by another process "
                              "(DuckDB allows one writer at a time; waited 0s (GROUP_ETL_LOCK_TIMEOUT)): "
                              "IO Error: Could not set lock on file")
        assert len(err.strip().splitlines()) == 1
        assert held.execute("SELECT count(*) FROM analytics.events").fetchone() == (2,)


def test_a_reader_blocked_by_a_writer_gets_a_clear_error(loaded, writer) -> None:  # noqa: ANN001
    path, env = loaded
    code, out, err = group_etl(env, "status")
    assert (code, out) == (1, "")
    assert err.startswith(f"error: warehouse duckdb:///{path} is in use by another process that writes it "
                          "(DuckDB lets readers in only while nobody writes; try again when it finishes): "
                          "IO Error: Could not set lock on file")
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_read_commands_on_a_missing_warehouse_create_nothing(tmp_path: Path) -> None:
    path = tmp_path / "data" / "warehouse.duckdb"
    env = {**os.environ, "GROUP_ETL_WAREHOUSE_URL": f"duckdb:///{path}", "GROUP_ETL_LAKE_URL": str(tmp_path / "lake")}
    for args in (["status"], ["keys", "list"], ["cohorts", "list"]):
        assert group_etl(env, *args) == (1, "", f"error: warehouse duckdb:///{path} does not exist: "
                                                "run `group-etl init`\n")
    assert not path.parent.exists()
