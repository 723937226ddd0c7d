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


def test_the_command_lines_json_on_spark_is_duckdbs(sample_warehouses, monkeypatch, capsys) -> None:  # noqa: ANN001
    """Each command run in-process as `group-etl ... --format json` on both engines (a
    Spark JVM per command would cost seconds each): the same stdout. The cohorts are
    saved on each engine by `cohorts add`, which writes."""

    def group_etl(engine: str, *args: str) -> str:
        with monkeypatch.context() as patch:
            for name in ("GROUP_ETL_ENGINE", "GROUP_ETL_WAREHOUSE_URL", "GROUP_ETL_SPARK_WAREHOUSE"):
                patch.delenv(name, raising=False)
            for name, value in sample_warehouses[engine].items():
                patch.setenv(name, value)
            patch.setattr("sys.argv", ["group-etl", *args])
            try:
                cli.main()
            except SystemExit as exit_:
                assert exit_.code in (0, None), (engine, args, capsys.readouterr())
        return capsys.readouterr().out

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
