"""Reports, cohorts and exports on the Spark engine: the report oracle of
tests/sql/test_reports.py on Spark tables (a fixed subset of its cases), and the
command line's JSON on the sample lake equal to DuckDB's, command by command.

Both read through a read-only SparkWarehouse, as `group-etl report ...` does.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from etl.cli import commands as cli
from etl.cli.sample import write_sample_lake
from etl.config import load_settings
from etl.model.keys import add_key
from etl.run.day import run_day
from etl.store.lake import open_lake
from etl.store.warehouse import Warehouse
from tests.sql.test_reports import cases, load, oracle_of, report_of

pytestmark = [pytest.mark.spark, pytest.mark.slow]

SEED = 11  # the DuckDB/PostgreSQL oracle's seed
EVERY = 5  # every 5th of its cases: 83 of 414, every kind, by user and by group


def spark_environ(folder: Path, lake: Path) -> dict[str, str]:
    return {"GROUP_ETL_ENGINE": "spark", "GROUP_ETL_LAKE_URL": str(lake), "GROUP_ETL_SPARK_MASTER": "local[2]",
            "GROUP_ETL_SPARK_WAREHOUSE": str(folder / "spark-warehouse"),
            "GROUP_ETL_SESSION_DIR": str(folder / "export-sessions")}


@pytest.fixture(scope="module")
def oracle_world(spark_session, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN001, ANN201
    """The oracle's generated events loaded into Spark tables: (a read-only warehouse,
    the oracle's events, its profiles)."""
    from etl.store.spark import SparkWarehouse

    folder = tmp_path_factory.mktemp("oracle")
    (folder / "lake").mkdir()
    settings = load_settings(environ=spark_environ(folder, folder / "lake"))
    writer = SparkWarehouse(settings, spark=spark_session)
    writer.init()
    events, user_profiles, group_history = load(settings, writer, open_lake(settings.lake_url), SEED)
    return SparkWarehouse(settings, read_only=True, spark=spark_session), events, (user_profiles, group_history)


def test_the_subset_covers_every_kind_of_case() -> None:
    picked = cases(SEED)[::EVERY]
    assert len(picked) >= 80
    kinds = Counter((c["kind"], c["by"] is not None) for c in picked)
    assert set(kinds) == {(kind, by) for kind in ("insights", "funnel", "retention") for by in (False, True)}
    assert {c.get("interval") for c in picked} >= {"day", "week", "month"}
    assert {c.get("measure") for c in picked} >= {"events", "uniques", "sum:amount", "avg:amount", "median:amount"}
    assert {c.get("breakdown") for c in picked} >= {None, "plan", "tags", "group.plan", "company_id.plan", "user.tier"}
    assert {c.get("props") for c in picked} >= {"at-event", "current"}
    assert any(c.get("limit") for c in picked) and any(c.get("where_group") or c.get("enterprise_member")
                                                       or c.get("group_plan") for c in picked)
    assert {c["window"] for c in picked if c["kind"] == "funnel"} >= {30, 3599, 3600, 86_400}


def test_reports_on_spark_match_the_oracle(oracle_world) -> None:  # noqa: ANN001
    reader, events, profiles = oracle_world
    failures = []
    for case in cases(SEED)[::EVERY]:
        got, want = report_of(reader, case), oracle_of(events, profiles, case)
        if got != want:
            failures.append((case, [(g, w) for g, w in zip(got, want, strict=False) if g != w][:3],
                             len(got), len(want)))
    assert not failures, f"{len(failures)} cases differ; the first: {failures[:2]}"


# --- the command line on the sample lake, DuckDB and Spark -------------------------

FIRST = date(2026, 10, 1)
LAST = FIRST + timedelta(days=1)
SETUP = datetime(2026, 10, 1, 6, tzinfo=UTC)  # after the first events: some are not attributed
ENTERPRISE = {"group_key": "company_id", "properties": [{"property": "plan", "op": "eq", "value": "enterprise"}],
              "behaviors": [{"event": "Purchase", "at_least": 1, "last_days": 7}], "export": True}
IN_ENTERPRISE = {"groups": [{"group_key": "company_id", "property": "plan", "op": "eq", "value": "enterprise"}]}


@pytest.fixture(scope="module")
def sample_warehouses(spark_session, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:  # noqa: ANN001
    """The sample lake's two days loaded on DuckDB and on Spark: each engine's environment."""
    from etl.store.spark import SparkWarehouse

    folder = tmp_path_factory.mktemp("sample")
    write_sample_lake(open_lake(str(folder / "lake")), FIRST, days=2, companies=12, users=80)
    environs = {
        "duckdb": {"GROUP_ETL_WAREHOUSE_URL": f"duckdb:///{folder / 'warehouse.duckdb'}",
                   "GROUP_ETL_LAKE_URL": str(folder / "lake"), "GROUP_ETL_SESSION_DIR": str(folder / "duck-sessions")},
        "spark": spark_environ(folder, folder / "lake"),
    }
    for engine, environ in environs.items():
        settings = load_settings(environ=environ)
        warehouse = SparkWarehouse(settings, spark=spark_session) if engine == "spark" else Warehouse(settings)
        with warehouse:
            warehouse.init()
            add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
            for day in (FIRST, LAST):
                run_day(settings, warehouse, open_lake(settings.lake_url), day)
    return environs


COMMANDS = {
    "insights": ["report", "insights", "--event", "Purchase", "--from", str(FIRST), "--to", str(LAST),
                 "--by", "company_id", "--breakdown", "group.plan", "--measure", "sum:amount"],
    "insights by users": ["report", "insights", "--event", "Page Viewed", "--from", str(FIRST), "--to", str(LAST),
                          "--breakdown", "company_id.plan", "--breakdown-limit", "2", "--interval", "week"],
    "funnel": ["report", "funnel", "--steps", "Sign Up", "--steps", "Activated", "--steps", "Purchase",
               "--from", str(FIRST), "--to", str(LAST), "--window", "1h", "--breakdown", "company_id.plan"],
    "funnel by groups": ["report", "funnel", "--steps", "Search", "--steps", "Purchase", "--by", "company_id",
                         "--from", str(FIRST), "--to", str(LAST), "--window", "1d",
                         "--where", 'group.plan in ["pro", "enterprise"]'],
    "retention": ["report", "retention", "--born", "Sign Up", "--return", "Page Viewed", "--from", str(FIRST),
                  "--to", str(LAST), "--by", "company_id", "--breakdown", "group.plan"],
    "retention of users": ["report", "retention", "--born", "Search", "--return", "Purchase", "--from", str(FIRST),
                           "--to", str(LAST), "--where-group", 'company_id.plan == "enterprise"'],
}


def command_line(environs: dict[str, dict[str, str]], monkeypatch, capsys):  # noqa: ANN001, ANN201
    """`group_etl(engine, *args)`: the command run in-process on that engine's warehouse
    (a Spark JVM per command would cost seconds each), its stdout; it must succeed."""

    def group_etl(engine: str, *args: str) -> str:
        with monkeypatch.context() as patch:
            for name in ("GROUP_ETL_ENGINE", "GROUP_ETL_WAREHOUSE_URL", "GROUP_ETL_SPARK_WAREHOUSE"):
                patch.delenv(name, raising=False)
            for name, value in environs[engine].items():
                patch.setenv(name, value)
            patch.setattr("sys.argv", ["group-etl", *args])
            try:
                cli.main()
            except SystemExit as exit_:
                assert exit_.code in (0, None), (engine, args, capsys.readouterr())
        return capsys.readouterr().out

    return group_etl


def test_the_command_lines_json_on_spark_is_duckdbs(sample_warehouses, monkeypatch, capsys) -> None:  # noqa: ANN001
    """Each command run in-process as `group-etl ... --format json` on both engines: the
    same stdout. The cohorts are saved on each engine by `cohorts add`, which writes."""
    group_etl = command_line(sample_warehouses, monkeypatch, capsys)

    outputs: dict[str, dict[str, object]] = {}
    for engine in ("duckdb", "spark"):
        answers: dict[str, object] = {}
        for name, args in COMMANDS.items():
            answers[name] = json.loads(group_etl(engine, *args, "--format", "json"))
        group_etl(engine, "cohorts", "add", "enterprise", "--definition", json.dumps(ENTERPRISE))
        group_etl(engine, "cohorts", "add", "in-enterprise", "--definition", json.dumps(IN_ENTERPRISE))
        answers["cohorts"] = [{k: v for k, v in c.items() if k != "id"}
                              for c in json.loads(group_etl(engine, "cohorts", "list", "--format", "json"))["rows"]]
        [key] = json.loads(group_etl(engine, "keys", "list", "--format", "json"))["rows"]
        for name, args in {
            "export enterprise": ["--data-group-id", str(key["data_group_id"]), "--cohort", "enterprise"],
            "export users in enterprise": ["--cohort", "in-enterprise", "--output-properties", "company_id"],
            "export pro, page 1": ["--data-group-id", str(key["data_group_id"]), "--where",
                                   'properties["plan"] == "pro"', "--page-size", "2", "--page", "1"],
        }.items():
            document = json.loads(group_etl(engine, "export", "profiles", *args, "--as-of", str(LAST)))
            assert document.pop("session_id")
            answers[name] = document
        outputs[engine] = answers
    assert outputs["spark"] == outputs["duckdb"]
    duck = outputs["duckdb"]  # and they say something
    assert duck["insights"]["rows"] and sum(s["units"] for s in duck["funnel"]["steps"][::3]) > 20
    assert duck["export enterprise"]["total"] > 2 and duck["export users in enterprise"]["total"] > 5
    assert duck["export pro, page 1"]["results"]


def test_etl_connect_reads_the_spark_tables(sample_warehouses) -> None:  # noqa: ANN001
    """`etl.connect()` (etl.serve.frames) on GROUP_ETL_ENGINE=spark: a table and a report
    as DataFrames, equal to DuckDB's."""
    import pandas as pd

    from etl.serve.frames import Analytics

    frames = {}
    for engine, environ in sample_warehouses.items():
        with Analytics(load_settings(environ=environ)) as an:
            profiles = an.table("group_profiles", where={"group_key": "company_id"}).sort_values("group_id")
            frames[engine] = (profiles.reset_index(drop=True),
                              an.funnel(["Sign Up", "Purchase"], FIRST, LAST, by="company_id", window="1d"))
    for spark_frame, duck_frame in zip(frames["spark"], frames["duckdb"], strict=True):
        pd.testing.assert_frame_equal(spark_frame, duck_frame)
    assert len(frames["duckdb"][0]) == 12


SHOWN = ["groups", "show", "--key", "company_id", "--id", "c003"]
DAYS = ["--from", str(FIRST), "--to", str(LAST)]
READS = {  # commands first tried on Spark here, as `--format json` and as the tables a person reads
    "groups show": SHOWN,
    "groups show, a page": [*SHOWN, "--limit", "3"],
    "groups show, before": [*SHOWN, "--limit", "4", "--before", f"{LAST}T12:00:00Z"],
    "groups show, before an id": [*SHOWN, "--limit", "4", "--before", f"{LAST}T09:31:05Z", "--before-id", "zzz"],
    "groups show, as of": [*SHOWN, "--limit", "5", "--as-of", f"{FIRST}T12:00:00Z"],
    "lifecycle": ["report", "lifecycle", "--by", "company_id", *DAYS],
    "insights units": ["report", "insights", "--event", "Purchase", *DAYS, "--by", "company_id",
                       "--list-units", str(LAST)],
    "insights units, contains": ["report", "insights", "--event", "Page Viewed", *DAYS, "--list-units", str(FIRST),
                                 "--where-group", 'company_id.plan contains "pr"'],
    "funnel dropped": ["report", "funnel", "--steps", "Search", "--steps", "Purchase", *DAYS, "--window", "1d",
                       "--list-units", "2"],
    "funnel converted by groups": ["report", "funnel", "--steps", "Search", "--steps", "Purchase", "--by",
                                   "company_id", *DAYS, "--window", "1d", "--list-units", "2", "--converted"],
    "retention units": ["report", "retention", "--born", "Sign Up", "--return", "Page Viewed", *DAYS,
                        "--list-units", f"{FIRST}:1"],
    "retention units by groups": ["report", "retention", "--born", "Sign Up", "--return", "Page Viewed", *DAYS,
                                  "--by", "company_id", "--list-units", f"{FIRST}:0",
                                  "--where", 'group.plan contains "e"'],
    "insights, contains": ["report", "insights", "--event", "Purchase", *DAYS, "--by", "company_id",
                           "--where", 'group.plan contains "pr"'],
}


def test_groups_show_lifecycle_and_list_units_on_spark_are_duckdbs(sample_warehouses, monkeypatch, capsys) -> None:  # noqa: ANN001
    group_etl = command_line(sample_warehouses, monkeypatch, capsys)
    outputs = {}
    for engine in ("duckdb", "spark"):
        answers = {}
        for name, args in READS.items():
            answers[name] = json.loads(group_etl(engine, *args, "--format", "json"))
            answers[f"{name} (table)"] = group_etl(engine, *args)
        cursor = answers["groups show, a page"]["next_cursor"]
        answers["groups show, next page"] = json.loads(group_etl(engine, *SHOWN, "--limit", "3", "--cursor", cursor,
                                                                 "--format", "json"))
        outputs[engine] = answers
    for name in outputs["duckdb"]:
        assert outputs["spark"][name] == outputs["duckdb"][name], name
    duck = outputs["duckdb"]  # and they say something
    shown = duck["groups show"]
    assert shown["profile"] and shown["health"] and len(shown["events"]) > 10
    assert [e["event_id"] for e in duck["groups show, a page"]["events"] + duck["groups show, next page"]["events"]] \
        == [e["event_id"] for e in shown["events"][:6]]
    assert all(e["time"] <= f"{LAST}T09:31:05+00:00" for e in duck["groups show, before an id"]["events"])
    assert len(duck["lifecycle"]["rows"]) == 2 and sum(duck["lifecycle"]["rows"][0][s] for s in ("new", "returning")) > 5
    assert all(len(duck[name]["units"]) > 1 for name in READS if "units" in name or "funnel" in name)
    assert duck["insights units, contains"]["units"] != duck["retention units"]["units"]
    assert duck["insights, contains"]["rows"]


def test_serve_on_spark_answers_as_on_duckdb(sample_warehouses) -> None:  # noqa: ANN001
    """`group-etl serve`'s application opened from the settings (GROUP_ETL_ENGINE=spark
    opens the Spark tables), over HTTP: the Engage API and the group pages answer as
    they do on DuckDB, byte for byte but the Engage session id."""
    import base64

    from fastapi.testclient import TestClient

    from etl.api.app import create_app
    from etl.api.settings import ServeSettings
    from etl.model.keys import list_keys
    from etl.store.spark import SparkWarehouse

    auth = {"Authorization": "Basic " + base64.b64encode(b"svc:pw").decode()}
    where = 'properties["plan"] == "enterprise" or "pr" in properties["plan"]'
    answers = {}
    for engine, environ in sample_warehouses.items():
        app = create_app(load_settings(environ=environ), ServeSettings("127.0.0.1", 8000, "svc", "pw", ""))
        assert isinstance(app.state.warehouse, SparkWarehouse) == (engine == "spark")
        [key] = list_keys(app.state.warehouse)
        with TestClient(app) as client:
            def get(url: str, **params: object) -> tuple[int, str]:
                response = client.get(url, params=params or None, headers=auth)  # noqa: B023 - used in this loop
                return response.status_code, response.text

            pages = {url: get(url) for url in (
                "/groups", "/groups?q=c00", "/groups?where=plan%20contains%20%22pr%22", "/groups/company_id/c003",
                "/groups/company_id/c003?as_of=2026-10-01", "/groups/company_id/nope")}
            status, first = get("/api/2.0/engage", data_group_id=key.data_group_id, where=where, page_size=2)
            first = json.loads(first)
            status_next, following = get("/api/2.0/engage", data_group_id=key.data_group_id, where=where,
                                         page_size=2, page=1, session_id=first.pop("session_id"))
            following = json.loads(following)
            following.pop("session_id")
            users = {}
            for where_users in ('"c003" in properties["company_id"]', '"0001@" in properties["$email"]'):
                users[where_users] = json.loads(get("/api/2.0/engage", where=where_users,
                                                    output_properties='["company_id"]')[1])
                users[where_users].pop("session_id")
        answers[engine] = {"pages": pages, "engage": (status, first, status_next, following), "users": users}
    assert answers["spark"] == answers["duckdb"]
    duck = answers["duckdb"]
    assert [status for status, _ in duck["pages"].values()] == [200, 200, 200, 200, 200, 404]
    assert "c003" in duck["pages"]["/groups?q=c00"][1] and duck["pages"]["/groups/company_id/c003"][1].count("<tr") > 10
    assert duck["engage"][0] == duck["engage"][2] == 200
    assert duck["engage"][1]["total"] > 2 and len(duck["engage"][3]["results"]) == 2
    assert duck["users"]['"c003" in properties["company_id"]']["total"] > 2  # list members
    assert [u["$distinct_id"] for u in duck["users"]['"0001@" in properties["$email"]']["results"]] == ["u0001"]
