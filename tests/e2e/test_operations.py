"""Settings an operator can't get wrong silently: the warehouse keeps its project
time zone; and Ctrl-C during `run` says what was (not) written and exits 130."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime

import sqlalchemy as sa

from etl.store.warehouse import Warehouse, safe_url
from tests.e2e.test_cli import group_etl  # noqa: F401 - the in-process command line fixture
from tests.support import event, snapshot, write_jsonl

T = int(datetime(2024, 7, 1, 12, tzinfo=UTC).timestamp())


def where(settings) -> str:  # noqa: ANN001
    return f"{safe_url(settings.warehouse_url.replace('postgresql://', 'postgresql+psycopg://'))} (schema {settings.schema})"


def test_a_writer_with_another_time_zone_is_refused(group_etl, settings, lake, monkeypatch) -> None:  # noqa: ANN001, F811
    write_jsonl(lake, "events/dt=2024-07-01/a.jsonl", [event("Open", "u1", T, "a")])
    monkeypatch.setenv("GROUP_ETL_TIMEZONE", "Asia/Tokyo")
    assert group_etl("init")[:2] == (0, "warehouse ready (schema version none -> 13)\n")
    with Warehouse(settings) as warehouse:
        assert warehouse.recorded_timezone() == "Asia/Tokyo"

    monkeypatch.setenv("GROUP_ETL_TIMEZONE", "UTC")
    refusal = (f"error: GROUP_ETL_TIMEZONE is UTC but warehouse {where(settings)} was built in Asia/Tokyo: "
               "its event dates and days are in Asia/Tokyo; set GROUP_ETL_TIMEZONE=Asia/Tokyo\n")
    assert group_etl("run", "--date", "2024-07-01") == (1, "", refusal)
    assert group_etl("init") == (1, "", refusal)
    assert group_etl("--timezone", "Asia/Tokyo", "run", "--date", "2024-07-01")[0] == 0


def test_a_warehouse_from_before_version_7_records_the_time_zone_of_its_first_writer(
        group_etl, settings, lake, monkeypatch) -> None:  # noqa: ANN001, F811
    with Warehouse(settings) as warehouse:
        warehouse.init()
        with warehouse.begin() as conn:  # as version 6 left it
            conn.execute(sa.text("DROP TABLE project_settings"))
            conn.execute(sa.text("DELETE FROM schema_version WHERE version = 7"))
    write_jsonl(lake, "events/dt=2024-07-01/a.jsonl", [event("Open", "u1", T, "a")])
    monkeypatch.setenv("GROUP_ETL_TIMEZONE", "Europe/Paris")
    code, _, err = group_etl("run", "--date", "2024-07-01")
    assert (code, err) == (0, f"warehouse {where(settings)}: recorded the project time zone Europe/Paris "
                              "(GROUP_ETL_TIMEZONE); writers with another time zone are refused from now on\n")
    assert group_etl("run", "--date", "2024-07-01")[::2] == (0, "")  # said once
    monkeypatch.setenv("GROUP_ETL_TIMEZONE", "UTC")
    assert group_etl("run", "--date", "2024-07-01")[0] == 1


# `group-etl ARGS` whose pipeline stops inside day PAUSE's transaction (its events written,
# not committed), or inside `status`, says "inside" and waits on stdin: the test sends
# SIGINT then, never after a sleep.
PAUSING = """
import os
import sys
import etl.run.day as day_module
import etl.serve.status as status_module

pause_day, args = sys.argv[1], sys.argv[2:]
run_day, day_status = day_module.run_day, status_module.day_status

def wait():
    print("inside", flush=True)
    try:
        sys.stdin.readline()
    except BaseException:
        if os.environ.get("PAUSE_IN_QUERY"):  # as DuckDB does when SIGINT stops a query
            raise RuntimeError("Query interrupted") from None
        raise

def pausing_run_day(*positional, hook=None, **named):
    def paused(mark):
        if hook:
            hook(mark)
        if mark == "events_loaded" and str(positional[3]) == pause_day:
            wait()
    return run_day(*positional, hook=paused, **named)

def pausing_status(*positional, **named):
    wait()
    return day_status(*positional, **named)

day_module.run_day, status_module.day_status = pausing_run_day, pausing_status
from etl.cli.commands import main
sys.argv = ["group-etl", *args]
main()
"""


def interrupted(settings, pause_day: str, *args: str, in_query: bool = False) -> tuple[int, str, str]:  # noqa: ANN001
    env = {**os.environ, **({"PAUSE_IN_QUERY": "1"} if in_query else {}), "GROUP_ETL_WAREHOUSE_URL": settings.warehouse_url, "GROUP_ETL_LAKE_URL": settings.lake_url,
           "GROUP_ETL_SCHEMA": settings.schema}
    process = subprocess.Popen([sys.executable, "-c", PAUSING, pause_day, *args], env=env, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "inside\n"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


def test_ctrl_c_inside_a_day_writes_nothing_of_it_and_exits_130(group_etl, settings, lake) -> None:  # noqa: ANN001, F811
    write_jsonl(lake, "events/dt=2024-07-01/a.jsonl", [event("Open", "u1", T, "a")])
    write_jsonl(lake, "events/dt=2024-07-02/a.jsonl", [event("Open", "u1", T + 86_400, "b")])
    assert group_etl("run", "--date", "2024-07-02")[0] == 0
    write_jsonl(lake, "events/dt=2024-07-02/b.jsonl", [event("Open", "u2", T + 86_400, "c")])
    with Warehouse(settings) as warehouse:
        before = snapshot(warehouse)

    assert interrupted(settings, "2024-07-02", "run", "--date", "2024-07-02") == (
        130, "", "interrupted; nothing of day 2024-07-02 was written\n")
    with Warehouse(settings) as warehouse:
        assert snapshot(warehouse) == before

    code, out, err = interrupted(settings, "2024-07-02", "run", "--from", "2024-07-01", "--to", "2024-07-02")
    assert (code, out, err) == (130, "", "interrupted; nothing of day 2024-07-02 was written "
                                         "(1 day before it was written: 2024-07-01)\n")
    code, out, _ = group_etl("status", "--format", "json")
    assert [(r["date"], r["state"], r["loaded"]) for r in json.loads(out)["rows"]] == [
        ("2024-07-01", "ok", 1), ("2024-07-02", "stale", 1)]  # day 2 as it was: b.jsonl not loaded


def test_ctrl_c_in_another_command_says_interrupted(group_etl, settings) -> None:  # noqa: ANN001, F811
    assert group_etl("init")[0] == 0
    assert interrupted(settings, "-", "status") == (130, "", "interrupted\n")


def test_ctrl_c_inside_a_duckdb_query_is_the_same_one_line(group_etl, settings, lake) -> None:  # noqa: ANN001, F811
    """DuckDB stops a query on SIGINT with its own RuntimeError("Query interrupted")
    in place of the handler's exception: still one line, exit 130, nothing of the day written."""
    write_jsonl(lake, "events/dt=2024-07-01/a.jsonl", [event("Open", "u1", T, "a")])
    assert group_etl("init")[0] == 0
    with Warehouse(settings) as warehouse:
        before = snapshot(warehouse)
    assert interrupted(settings, "2024-07-01", "run", "--date", "2024-07-01", in_query=True) == (
        130, "", "interrupted; nothing of day 2024-07-01 was written\n")
    with Warehouse(settings) as warehouse:
        assert snapshot(warehouse) == before
    assert interrupted(settings, "-", "status", in_query=True) == (130, "", "interrupted\n")
