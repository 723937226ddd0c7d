"""Hostile lake contents and filters give one-line errors or warnings, never a
traceback (issue 16), through the real command line."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from tests.e2e.test_cli import group_etl  # noqa: F401 - the fixture
from tests.support import event, write_jsonl

D1 = date(2024, 7, 1)
T = int(datetime(2024, 7, 1, 12, tzinfo=UTC).timestamp())


def console(settings, *args: str) -> subprocess.CompletedProcess:  # noqa: ANN001
    env = {**os.environ, "GROUP_ETL_WAREHOUSE_URL": settings.warehouse_url, "GROUP_ETL_LAKE_URL": settings.lake_url,
           "GROUP_ETL_SCHEMA": settings.schema, "COLUMNS": "200"}
    script = Path(sys.executable).parent / "group-etl"
    if args[0] != "init":  # a DuckDB file admits one process: the warehouse is made here, then closed
        assert console(settings, "init").returncode == 0
    return subprocess.run([str(script), *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_a_lake_folder_that_is_no_date_is_ignored_with_a_warning(settings, lake) -> None:  # noqa: ANN001
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [event("Open", "u1", T, "a")])
    write_jsonl(lake, "events/dt=2026-02-30/a.jsonl", [event("Open", "u1", T, "b")])
    done = console(settings, "status", "--format", "json")
    assert (done.returncode, done.stderr) == (0, "warning: lake folder events/dt=2026-02-30/ is not a date; ignored\n")
    assert '"2024-07-01"' in done.stdout and "Traceback" not in done.stdout


def test_an_object_name_that_is_not_utf8_is_a_one_line_error(settings, lake, lake_path) -> None:  # noqa: ANN001
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [event("Open", "u1", T, "a")])
    folder = os.fsencode(lake_path / f"events/dt={D1}")
    with open(folder + b"/b\xff.jsonl", "wb") as handle:
        handle.write(b"")
    done = console(settings, "run", "--date", str(D1))
    assert (done.returncode, done.stderr) == (
        1, f"error: lake object name is not UTF-8: events/dt={D1}/b\\xff.jsonl (rename it)\n")


def test_an_empty_property_name_in_where_is_a_one_line_error(group_etl) -> None:  # noqa: ANN001, F811
    assert group_etl("init")[0] == 0
    for where, column in (('properties[""] == 1', 12), ('user[""] == 1', 6)):
        code, out, err = group_etl("report", "insights", "--event", "E", "--from", str(D1), "--to", str(D1),
                                   "--where", where)
        assert (code, out, err) == (1, "", f"error: --where: empty property name at column {column}\n")


def test_a_deeply_nested_where_answers_or_is_a_one_line_error(group_etl, lake) -> None:  # noqa: ANN001, F811
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [event("Open", "u1", T, "a", a=1), event("Open", "u2", T, "b")])
    assert group_etl("run", "--date", str(D1))[0] == 0

    def insights(where: str) -> tuple[int, str, str]:
        return group_etl("report", "insights", "--event", "Open", "--from", str(D1), "--to", str(D1),
                         "--format", "csv", "--where", where)

    answer = (0, "date,breakdown,events,uniques,value\r\n2024-07-01,,1,1,1\r\n", "")
    assert insights("not " * 100 + 'properties["a"] is set') == answer
    assert insights("(" * 500 + 'properties["a"] is set' + ")" * 500) == answer
    assert insights('(properties["a"] is set and ' * 100 + "a is set" + ")" * 100) == answer
    too_deep = ("error: --where: nested too deeply (at most 100 levels of not, and, or and the parentheses "
                "around them)\n")
    for where in ("not " * 101 + 'properties["a"] is set', "not " * 5000 + 'properties["a"] is set',
                  '(properties["a"] is set and ' * 101 + "a is set" + ")" * 101):
        assert insights(where) == (1, "", too_deep)


def test_a_nul_in_a_where_string_is_a_one_line_error(group_etl) -> None:  # noqa: ANN001, F811
    assert group_etl("init")[0] == 0
    for where, column in (('properties["\\u0000"] == 1', 12), ('a == "x\\u0000"', 6), ('user["a\\u0000"] is set', 6)):
        code, out, err = group_etl("report", "insights", "--event", "E", "--from", str(D1), "--to", str(D1),
                                   "--where", where)
        assert (code, out, err) == (1, "", f"error: --where: the string at column {column} holds a NUL character "
                                           "(\\u0000), which no property name or value can hold\n")


def test_report_csv_cells_never_run_as_formulas(group_etl, lake) -> None:  # noqa: ANN001, F811
    assert group_etl("keys", "add", "company_id", "--setup-at", "2024-07-01T00:00:00Z")[0] == 0
    ids = ['=HYPERLINK("http://x")', "@SUM(A1)", "-5", "c1"]
    write_jsonl(lake, f"events/dt={D1}/a.jsonl",
                [event("Open", f"u{n}", T, f"e{n}", company_id=i) for n, i in enumerate(ids)])
    assert group_etl("run", "--date", str(D1))[0] == 0
    code, out, err = group_etl("report", "insights", "--event", "Open", "--from", str(D1), "--to", str(D1),
                               "--by", "company_id", "--breakdown", "company_id", "--format", "csv")
    assert (code, err) == (0, "")
    assert sorted(out.splitlines()) == sorted([
        "date,breakdown,events,uniques,value",
        "2024-07-01,'-5,1,1,1",
        "2024-07-01,'@SUM(A1),1,1,1",
        "2024-07-01,\"'=HYPERLINK(\"\"http://x\"\")\",1,1,1",
        "2024-07-01,c1,1,1,1",
    ])
