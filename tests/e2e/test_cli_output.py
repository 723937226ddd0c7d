"""The command line as a new user meets it: usage mistakes exit 2, names never seen get a
warning naming the closest known ones, charts say where they went and print no warning,
--version, settings (passwords masked), and a read on a missing warehouse file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest

from etl.cli.demo import quiet_third_party_warnings
from tests.e2e.test_cli import group_etl  # noqa: F401 - the fixture
from tests.support import event, write_jsonl

DAY = "2026-10-01"
T = int(datetime(2026, 10, 1, 12, tzinfo=UTC).timestamp())
REPORT = ("report", "insights", "--event", "Open", "--from", DAY, "--to", DAY)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("report", "insights", "--event", "Open", "--from", "2026-10-05", "--to", DAY),
         "Invalid value for --to: --to 2026-10-01 is before --from 2026-10-05"),
        (("report", "funnel", "--steps", "A", "B", "--from", "2026-10-05", "--to", DAY), "is before --from"),
        (("report", "retention", "--born", "A", "--return", "B", "--from", "2026-10-05", "--to", DAY),
         "is before --from"),
        (("status", "--from", "2026-10-05", "--to", DAY), "is before --from"),
        (("keys", "preview", "k", "--setup-at", "2026-10-01T00:00:00Z", "--from", "2026-10-05", "--to", DAY),
         "is before --from"),
        (("report", "funnel", "--steps", "A", "B", "--window", "7", "--from", DAY, "--to", DAY),
         "Invalid value for --window: expected a number with a unit, such as 7d, 1w, 12h, 30m or 90s; "
         "got '7' (seconds? write 7s)"),
        (("report", "funnel", "--steps", "A", "--from", DAY, "--to", DAY),
         "Invalid value for --steps: a funnel needs at least two steps"),
        (("report", "retention", "--born", "A", "--return", "B", "--unit", "month", "--from", DAY, "--to", DAY),
         "'month' is not one of 'day', 'week'."),
        ((*REPORT, "--interval", "year"), "'year' is not one of 'day', 'week', 'month'."),
        ((*REPORT, "--measure", "total"), "Invalid value for --measure: expected events, uniques, sum:PROP, "
                                          "avg:PROP or median:PROP, got 'total'"),
        ((*REPORT, "--breakdown-limit", "0"), "Invalid value for '--breakdown-limit': Input should be greater than or equal to 1"),
        ((*REPORT, "--chart", "/nonexistent-folder/c.png"),
         "Invalid value for --chart: folder '/nonexistent-folder' does not exist (create it first)"),
        # a bad time was an error (exit 1), and a time before year 1 in UTC a traceback
        (("keys", "add", "k", "--setup-at", "yesterday"),
         "Invalid value for --setup-at: not an ISO 8601 date or time: 'yesterday'"),
        (("groups", "show", "--key", "k", "--id", "x", "--before", "June"),
         "Invalid value for --before: not an ISO 8601 date or time: 'June'"),
        (("groups", "show", "--key", "k", "--id", "x", "--as-of", "0001-01-01T00:00:00+01:00"),
         "Invalid value for --as-of: '0001-01-01T00:00:00+01:00' is out of range"),
        (("export", "profiles", "--data-group-id", "1", "--as-of", "yesterday"),
         "Invalid value for --as-of: expected YYYY-MM-DD or an ISO 8601 time, got 'yesterday'"),
        ((*REPORT, "--chart", "c.txt"), "Invalid value for --chart: expected a file ending in .png, .svg, .pdf, "
                                        "got 'c.txt'"),
    ],
)
def test_usage_mistakes_exit_2_with_a_clear_message(group_etl, args, message) -> None:  # noqa: ANN001, F811
    code, out, err = group_etl(*args)
    assert (code, out) == (2, "")
    assert message in " ".join(err.split())


def _load(group_etl, lake) -> None:  # noqa: ANN001, F811
    write_jsonl(lake, f"events/dt={DAY}/a.jsonl", [
        event("Open", "u1", T, "a", plan="pro", company_id="c1"),
        event("Open", "u2", T, "b", company_id="c2"),
        event("Purchase", "u1", T + 60, "c", amount=5, company_id="c1"),
    ])
    assert group_etl("keys", "add", "company_id", "--setup-at", "2026-09-01T00:00:00+00:00")[0] == 0
    assert group_etl("keys", "add", "team_id", "--setup-at", "2026-09-01T00:00:00+00:00")[0] == 0
    assert group_etl("run", "--date", DAY)[0] == 0


def test_names_never_seen_get_a_warning_naming_the_closest_and_the_result_prints(group_etl, lake) -> None:  # noqa: ANN001, F811
    _load(group_etl, lake)
    code, out, err = group_etl("report", "insights", "--event", "Opne", "--breakdown", "paln",
                               "--where", 'plam == "pro"', "--from", DAY, "--to", DAY, "--format", "csv")
    assert code == 0
    assert out.splitlines() == ["date,breakdown,events,uniques,value", f"{DAY},(none),0,0,0"]
    assert err.splitlines() == [
        f"warning: event 'Opne' not seen from {DAY} to {DAY}; closest: 'Open'",
        f"warning: property 'paln' not seen on 'Opne' from {DAY} to {DAY}; none is known",
        f"warning: property 'plam' not seen on 'Opne' from {DAY} to {DAY}; none is known",
    ]
    code, out, err = group_etl("report", "funnel", "--steps", "Open", "Purchse", "--by", "team_id",
                               "--from", DAY, "--to", DAY, "--format", "json")
    assert code == 0 and json.loads(out)["steps"][0]["units"] == 0
    assert err.splitlines() == [
        f"warning: event 'Purchse' not seen from {DAY} to {DAY}; closest: 'Purchase'",
        f"warning: group key 'team_id' has no events from {DAY} to {DAY}; known: 'company_id'",
    ]
    code, out, err = group_etl("report", "insights", "--event", "Open", "--breakdown", "pla",
                               "--from", DAY, "--to", DAY)
    assert code == 0 and "(none)" in out
    assert err == (f"warning: property 'pla' not seen on 'Open' from {DAY} to {DAY}; closest: 'plan'\n")
    code, out, err = group_etl("report", "insights", "--event", "Open", "--breakdown", "plan", "--from", DAY,
                               "--to", DAY, "--format", "csv")
    assert (code, err) == (0, "")
    assert out.splitlines() == ["date,breakdown,events,uniques,value", f"{DAY},pro,1,1,1", f"{DAY},(none),1,1,1"]
    code, out, _ = group_etl("report", "insights", "--event", "Open", "--breakdown", "plan", "--from", DAY,
                             "--to", DAY, "--format", "json")
    assert [r["breakdown"] for r in json.loads(out)["rows"]] == ["pro", None]  # JSON keeps null


def _env(settings) -> dict:  # noqa: ANN001
    return {**os.environ, "GROUP_ETL_WAREHOUSE_URL": settings.warehouse_url, "GROUP_ETL_LAKE_URL": settings.lake_url,
            "GROUP_ETL_SCHEMA": settings.schema, "COLUMNS": "80"}


def test_each_chart_is_written_where_it_says_with_nothing_on_stderr(group_etl, lake, settings,  # noqa: ANN001, F811
                                                                     tmp_path: Path) -> None:
    """The real console script: matplotlib's warnings would reach its stderr."""
    records = [event("Open", f"u{n}", T + n, f"e{n}", company_id=f"c{n:02}") for n in range(40)]
    write_jsonl(lake, f"events/dt={DAY}/a.jsonl", records)
    assert group_etl("run", "--date", DAY)[0] == 0
    script = Path(sys.executable).parent / "group-etl"
    for name, args in {
        "insights": ["insights", "--event", "Open", "--breakdown", "company_id", "--measure", "events"],
        "funnel": ["funnel", "--steps", "Open", "Open", "--window", "1d"],
        "retention": ["retention", "--born", "Open", "--return", "Open"],
    }.items():
        path = tmp_path / f"{name}.png"
        done = subprocess.run([str(script), "report", *args, "--from", DAY, "--to", DAY, "--chart", str(path)],
                              env=_env(settings), capture_output=True, text=True, check=False, timeout=120)
        assert (done.returncode, done.stderr) == (0, "")
        assert done.stdout.splitlines()[-1] == f"chart written to {path}"
        assert path.read_bytes()[:4] == b"\x89PNG"


def test_version_and_settings_with_the_password_masked(group_etl, monkeypatch) -> None:  # noqa: ANN001, F811
    from importlib.metadata import version

    assert group_etl("--version")[:2] == (0, f"group-etl {version('group-analytics-etl')}\n")
    monkeypatch.setenv("GROUP_ETL_PROJECT_TOKEN", "tok-secret")
    monkeypatch.setenv("GROUP_ETL_SERVE_SECRET", "serve-secret")
    code, out, err = group_etl("--warehouse-url", "postgresql+psycopg://etl:pw-secret@db/analytics",
                               "settings", "--format", "json")
    assert (code, err) == (0, "")
    rows = {r["setting"]: r for r in json.loads(out)["rows"]}
    assert rows["GROUP_ETL_WAREHOUSE_URL"]["value"] == "postgresql+psycopg://etl:***@db/analytics"
    assert rows["GROUP_ETL_WAREHOUSE_URL"]["source"] == "option"
    assert (rows["GROUP_ETL_PROJECT_TOKEN"]["value"], rows["GROUP_ETL_PROJECT_TOKEN"]["source"]) == (
        "***", "environment")
    assert (rows["GROUP_ETL_SERVE_SECRET"]["value"], rows["GROUP_ETL_SERVE_SECRET"]["source"]) == (
        "***", "environment")
    assert (rows["GROUP_ETL_MAX_GROUP_KEYS"]["value"], rows["GROUP_ETL_MAX_GROUP_KEYS"]["source"]) == ("6", "default")
    assert (rows["GROUP_ETL_CHURN_DAYS"]["value"], rows["GROUP_ETL_SERVE_PORT"]["value"]) == ("30", "8000")
    assert not any(s in out for s in ("pw-secret", "tok-secret", "serve-secret"))
    assert all(r["meaning"] for r in rows.values())
    code, out, _ = group_etl("--warehouse-url", "postgresql+psycopg://etl:pw-secret@db/analytics", "settings")
    assert (code, out.splitlines()[:3]) == (0, [  # a block a setting, fit for 80 columns
        "GROUP_ETL_WAREHOUSE_URL = postgresql+psycopg://etl:***@db/analytics  (option)",
        "    SQLAlchemy URL of the warehouse: duckdb:///relative/path, duckdb:////absolute/path or",
        "    postgresql+psycopg://user:pw@host/db"])
    assert not any(s in out for s in ("pw-secret", "tok-secret", "serve-secret"))
    code, out, _ = group_etl("--lake-url", "s3://AKIAKEY:pw-secret@bucket/lake", "settings", "--format", "json")
    lake = next(r for r in json.loads(out)["rows"] if r["setting"] == "GROUP_ETL_LAKE_URL")
    assert (code, lake["value"]) == (0, "s3://AKIAKEY:***@bucket/lake")  # it printed the secret


def test_a_read_on_a_missing_warehouse_file_says_so_and_creates_nothing(group_etl, tmp_path) -> None:  # noqa: ANN001, F811
    missing = tmp_path / "warehous.duckdb"
    preview = ("keys", "preview", "k", "--setup-at", "2026-10-01T00:00:00Z", "--from", DAY, "--to", DAY)
    for args in (("status",), ("keys", "list"), REPORT, preview):
        code, out, err = group_etl("--warehouse-url", f"duckdb:///{missing}", *args)
        assert (code, out, err) == (1, "", f"error: warehouse duckdb:///{missing} does not exist: "
                                           "run `group-etl init`\n")
    assert not missing.exists()


def test_the_demo_filters_exactly_the_third_party_notices() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_third_party_warnings()
        warnings.warn("The `airflow.utils.operator_helpers.determine_kwargs` attribute is deprecated. "
                      "Please use `'airflow.sdk.bases.decorator.determine_kwargs'`.", UserWarning, stacklevel=1)
        warnings.warn("Using `httpx` with `starlette.testclient` is deprecated; install `httpx2` instead.",
                      DeprecationWarning, stacklevel=1)
        warnings.warn("The `airflow.utils.other` attribute is deprecated.", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["The `airflow.utils.other` attribute is deprecated."]


@pytest.mark.slow
def test_the_demo_shows_each_day_and_no_third_party_warning(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "group-etl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROUP_ETL_")}
    done = subprocess.run([str(script), "demo", "--days", "2"], cwd=tmp_path, env={**env, "COLUMNS": "80"},
                          capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    assert "day 2026-10-01 (1 of 2): " in done.stdout and "day 2026-10-02 (2 of 2): " in done.stdout
    assert "deprecated" not in output.lower() and "warning" not in output.lower()
    # its summary tables print as the commands' do: they cut dates with "…" and printed False
    assert "…" not in done.stdout and " False " not in done.stdout
    history = done.stdout.split("(group_profile_history)\n", 1)[1]
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00  ", history, re.MULTILINE), history
