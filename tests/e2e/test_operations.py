"""Settings an operator can't get wrong silently: the warehouse keeps its project
time zone; and Ctrl-C during `run` says what was (not) written and exits 130."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from etl.store.warehouse import Warehouse, safe_url
from tests.e2e.test_cli import group_etl  # noqa: F401 - the in-process command line fixture
from tests.support import event, write_jsonl

T = int(datetime(2024, 7, 1, 12, tzinfo=UTC).timestamp())
SCRIPT = Path(sys.executable).parent / "group-etl"


def where(settings) -> str:  # noqa: ANN001
    return f"{safe_url(settings.warehouse_url.replace('postgresql://', 'postgresql+psycopg://'))} (schema {settings.schema})"


def test_a_writer_with_another_time_zone_is_refused(group_etl, settings, lake, monkeypatch) -> None:  # noqa: ANN001, F811
    write_jsonl(lake, "events/dt=2024-07-01/a.jsonl", [event("Open", "u1", T, "a")])
    monkeypatch.setenv("GROUP_ETL_TIMEZONE", "Asia/Tokyo")
    assert group_etl("init")[:2] == (0, "warehouse ready (schema version none -> 7)\n")
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
