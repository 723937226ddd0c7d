"""Faults, concurrency and invariants: a killed run leaves every table as it was;
two runs never double-load; property-based checks of the load's invariants."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from etl.config import load_settings
from etl.model.keys import add_key
from etl.run.day import run_day
from etl.store.lake import open_lake
from etl.store.warehouse import Warehouse
from tests.support import event, make_settings, snapshot, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # processes killed and property runs: CI (make test), not the edit loop
DAY = date(2024, 6, 1)
T = 1717236000
KILL_SCRIPT = """
import os, signal, sys
sys.path.insert(0, {root!r})
from datetime import date
from etl.config import load_settings
from etl.store.lake import open_lake
from etl.run.day import run_day
from etl.store.warehouse import Warehouse

def hook(stage):
    if stage == {stage!r}:
        os.kill(os.getpid(), signal.SIGKILL)

settings = load_settings()
with Warehouse(settings) as warehouse:
    run_day(settings, warehouse, open_lake(settings.lake_url), date.fromisoformat({day!r}), hook=hook)
"""


def fill(lake, extra: int = 0) -> None:  # noqa: ANN001
    write_jsonl(lake, f"events/dt={DAY}/a.jsonl",
                [event("Open", f"u{n}", T + n, f"i{n}", company_id=f"c{n % 3}") for n in range(5 + extra)] + ["{bad"])
    write_jsonl(lake, f"groups/dt={DAY}/a.jsonl",
                [{"$group_key": "company_id", "$group_id": "c1", "$time": T, "$set": {"v": extra}}])
    write_jsonl(lake, f"people/dt={DAY}/a.jsonl", [{"$distinct_id": "u1", "$time": T, "$set": {"v": extra}}])


def env_for(settings) -> dict:  # noqa: ANN001
    return {**os.environ, "GROUP_ETL_WAREHOUSE_URL": settings.warehouse_url,
            "GROUP_ETL_LAKE_URL": settings.lake_url, "GROUP_ETL_SCHEMA": settings.schema}


@pytest.mark.parametrize("stage", ["events_deleted", "events_loaded", "attributed", "health_refreshed", "groups_applied",
                                   "people_applied"])
def test_a_killed_run_leaves_every_table_as_it_was(settings, warehouse, lake, stage) -> None:  # noqa: ANN001
    add_key(warehouse, "company_id", max_keys=6, setup_at=datetime(2024, 1, 1, tzinfo=UTC))
    fill(lake)
    run_day(settings, warehouse, lake, DAY)
    before = snapshot(warehouse)
    warehouse.close()  # release DuckDB's file for the child process
    fill(lake, extra=3)
    script = KILL_SCRIPT.format(root=str(ROOT), stage=stage, day=DAY.isoformat())
    done = subprocess.run([sys.executable, "-c", script], env=env_for(settings), capture_output=True,
                          timeout=120, check=False)
    assert done.returncode == -9, done.stderr.decode()[-2000:]  # SIGKILL, mid-transaction
    with Warehouse(settings) as again:
        assert snapshot(again) == before
        result = run_day(settings, again, lake, DAY)
        assert (result.loaded, result.rejected, result.group_updates) == (8, 1, (1, 0))


def test_postgres_runs_of_one_day_queue_on_an_advisory_lock(postgres_url, tmp_path) -> None:  # noqa: ANN001
    schema = f"t_{uuid.uuid4().hex[:12]}"
    settings = make_settings(postgres_url, str(tmp_path / "lake"), schema)
    lake = open_lake(settings.lake_url)
    fill(lake)
    engine = sa.create_engine(postgres_url)
    with Warehouse(settings) as warehouse:
        warehouse.init()
        lock = warehouse.lock_id("pipeline")
    holder = engine.connect()
    try:
        holder.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": lock})
        holder.commit()
        script = Path(sys.executable).parent / "group-etl"
        run = subprocess.Popen([str(script), "run", "--date", DAY.isoformat(), "--format", "json"],
                               env=env_for(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        waiting = 0
        while waiting == 0:  # poll until the run is seen waiting on our lock
            assert run.poll() is None, run.stderr.read().decode()
            assert time.monotonic() < deadline, "the run never waited for the lock"
            with engine.connect() as conn:
                waiting = conn.execute(sa.text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).scalar()
            time.sleep(0.1)
        with engine.connect() as conn:
            loaded = conn.execute(sa.text(f'SELECT count(*) FROM "{schema}".events')).scalar()  # noqa: S608
        assert loaded == 0  # nothing written while it waits
        holder.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": lock})
        holder.commit()
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err.decode()
        assert json.loads(out)["rows"][0]["loaded"] == 5
    finally:
        holder.close()
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


def test_a_second_duckdb_writer_gets_a_clear_message(tmp_path) -> None:  # noqa: ANN001
    import duckdb

    path = tmp_path / "w.duckdb"
    settings = make_settings(f"duckdb:///{path}", str(tmp_path / "lake"), "main")
    with Warehouse(settings) as warehouse:
        warehouse.init()
    holder = duckdb.connect(str(path))  # another process's writer, as far as the CLI knows
    try:
        script = Path(sys.executable).parent / "group-etl"
        done = subprocess.run([str(script), "run", "--date", DAY.isoformat()],
                              env={**env_for(settings), "GROUP_ETL_LOCK_TIMEOUT": "0"},  # waiting: test_readers.py
                              capture_output=True, text=True, timeout=120, check=False)
    finally:
        holder.close()
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: warehouse duckdb:///{path} is in use by another process "
                                  "(DuckDB allows one writer at a time; waited 0s (GROUP_ETL_LOCK_TIMEOUT))")


# --- properties ------------------------------------------------------------------

records = st.lists(
    st.tuples(
        st.sampled_from(["Open", "Buy"]),
        st.sampled_from(["u1", "u2", "anon", "u3"]),
        st.integers(min_value=0, max_value=5),           # seconds after T: small, so copies collide
        st.sampled_from(["a", "b", "c", None]),          # $insert_id
        st.sampled_from(["c1", "c2", ["c1", "c2"], None, 4.5]),
        st.booleans(),                                   # replaced by a malformed line
    ),
    min_size=1, max_size=25,
)


def write_files(lake, rows, order: list[int], files: int = 3) -> None:  # noqa: ANN001
    chunks = [[] for _ in range(files)]
    for n, (name, user, dt, insert_id, company, broken) in enumerate(rows):
        record = "{broken" if broken else event(name, user, T + dt, insert_id, company_id=company)
        chunks[n % files].append(record)
    for index in order:  # write order differs; names, and so key order, do not
        if chunks[index]:  # (a zero-byte object is itself a rejected record: empty_object)
            write_jsonl(lake, f"events/dt={DAY}/part-{index}.jsonl", chunks[index])


def expected_events(rows) -> int:  # noqa: ANN001
    """Accepted events after dedupe: copies share (event, user, second, insert_id); no insert_id, no copy."""
    keys = set()
    count = 0
    for name, user, dt, insert_id, _company, broken in rows:
        if broken or user == "anon":
            continue
        if insert_id is None:
            count += 1
        else:
            keys.add((name, user, dt, insert_id))
    return count + len(keys)


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=records, order=st.permutations([0, 1, 2]))
def test_load_invariants(tmp_path_factory, rows, order) -> None:  # noqa: ANN001
    folder = tmp_path_factory.mktemp("prop")
    results = []
    for attempt, write_order in enumerate(([0, 1, 2], order)):
        lake_path = folder / f"lake{attempt}"
        settings = load_settings(environ={"GROUP_ETL_WAREHOUSE_URL": f"duckdb:///{folder / f'w{attempt}.duckdb'}",
                                          "GROUP_ETL_LAKE_URL": str(lake_path)})
        lake = open_lake(str(lake_path))
        write_files(lake, rows, write_order)
        with Warehouse(settings) as warehouse:
            warehouse.init()
            add_key(warehouse, "company_id", max_keys=6, setup_at=datetime(2024, 1, 1, tzinfo=UTC))
            result = run_day(settings, warehouse, lake, DAY)
            # input = loaded + rejected; every record is one or the other
            assert result.input_records == result.loaded + result.rejected == len(rows)
            with warehouse.begin() as conn:
                kept = conn.execute(sa.text("SELECT count(*) FROM events_deduped")).scalar()
                ids = conn.execute(sa.text("SELECT count(DISTINCT event_id) FROM events")).scalar()
            # no accepted event lost or counted twice
            assert kept == ids == expected_events(rows)
            first = snapshot(warehouse)
            run_day(settings, warehouse, lake, DAY)
            assert snapshot(warehouse) == first  # a re-run changes nothing
            results.append({t: rows_ for t, rows_ in first.items() if t not in ("load_audit", "group_keys")})
    # the same inputs written in another order give the same tables
    assert results[0] == results[1]
