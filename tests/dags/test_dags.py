"""Layer 3: the Airflow DAGs, imported by DagBag and run in-process with dag.test().

A throwaway AIRFLOW_HOME (SQLite metadata) is set here, before anything
imports airflow, and migrated once per session.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="group-etl-airflow-"))
os.environ.update({
    "AIRFLOW_HOME": str(AIRFLOW_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
})

airflow = pytest.importorskip("airflow", reason="the airflow extra is not installed")

from etl.store.lake import open_lake  # noqa: E402
from etl.store.warehouse import Warehouse  # noqa: E402
from tests.support import event, make_settings, snapshot, write_jsonl  # noqa: E402

FIRST = date(2026, 3, 1)
DAYS = [FIRST + timedelta(days=n) for n in range(3)]
SETUP = "2026-02-01T00:00:00+00:00"


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    done = subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
                          capture_output=True, text=True, timeout=300, check=False, env=os.environ.copy())
    assert done.returncode == 0, done.stderr[-2000:]
    return AIRFLOW_HOME


def dagbag(monkeypatch: pytest.MonkeyPatch, **env: str):  # noqa: ANN201
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    return bag


def test_dags_import_with_the_designed_shape(airflow_db, monkeypatch) -> None:  # noqa: ANN001
    bag = dagbag(monkeypatch, GROUP_ETL_WAREHOUSE_URL="duckdb:///x.duckdb", GROUP_ETL_TIMEZONE="Europe/Paris")
    assert sorted(bag.dag_ids) == ["cohort_exports", "group_analytics_daily", "group_profile_upload"]
    exports = bag.get_dag("cohort_exports")
    assert type(exports.timetable).__name__ == "AssetTriggeredTimetable"
    assert "group_analytics_daily" in repr(exports.timetable.asset_condition)
    assert [t.task_id for t in exports.tasks] == ["export_cohorts"]
    daily = bag.get_dag("group_analytics_daily")
    assert type(daily.timetable).__name__ == "CronDataIntervalTimetable"
    assert (daily.timetable.expression, str(daily.timetable.timezone)) == ("0 0 * * *", "Europe/Paris")
    # `airflow dags test group_analytics_daily 2026-10-02` (and a trigger later that day)
    # processes 2026-10-01: a manual run's data interval ends at the logical date
    from zoneinfo import ZoneInfo

    from airflow.serialization.encoders import coerce_to_core_timetable

    timetable = coerce_to_core_timetable(daily.timetable)  # what dag.test and the scheduler use
    for logical in (datetime(2026, 10, 2, tzinfo=UTC), datetime(2026, 10, 2, 15, tzinfo=UTC)):
        interval = timetable.infer_manual_data_interval(run_after=logical)
        assert interval.start.astimezone(ZoneInfo("Europe/Paris")).date() == date(2026, 10, 1)
    assert daily.catchup is True and daily.max_active_runs == 1
    assert daily.tags == {"group-etl"}
    assert [t.task_id for t in daily.topological_sort()] == ["wait_for_dump", "run_day", "audit"]
    tasks = {t.task_id: t for t in daily.tasks}
    assert {n: t.pool for n, t in tasks.items()} == {
        "wait_for_dump": "default_pool", "run_day": "group_etl_duckdb", "audit": "group_etl_duckdb"}
    assert {t.retries for t in daily.tasks} == {3}
    assert all(t.retry_exponential_backoff == 0 for t in daily.tasks)  # the delay: etl.run.retries
    assert {type(t.retry_policy).__name__ for t in daily.tasks} == {"RunRetryPolicy"}
    assert [n for n, t in tasks.items() if t.depends_on_past] == ["run_day"]
    assert [o.name for o in tasks["audit"].outlets] == ["group_analytics_daily"]
    sensor = tasks["wait_for_dump"]
    # waits in reschedule mode (no worker slot held), 6 hours by default, looking every 5 minutes
    assert (sensor.mode, sensor.poke_interval, sensor.timeout) == ("reschedule", 300, 6 * 3600 + 300)
    # a fresh deployment exports and applies uploads; the daily DAG waits for its operator
    assert {d: bag.get_dag(d).is_paused_upon_creation for d in bag.dag_ids} == {
        "cohort_exports": False, "group_analytics_daily": True, "group_profile_upload": False}
    bag = dagbag(monkeypatch, GROUP_ETL_WAREHOUSE_URL="postgresql+psycopg://u@h/db",
                 GROUP_ETL_LANDING_TIMEOUT_SECONDS="60", GROUP_ETL_LANDING_POKE_SECONDS="5")
    daily = bag.get_dag("group_analytics_daily")
    assert {t.pool for t in daily.tasks} == {"default_pool"}
    sensor = daily.get_task("wait_for_dump")
    assert (sensor.poke_interval, sensor.timeout) == (5, 65)


@pytest.fixture
def moto_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://{host}:{port}"}.items():
        monkeypatch.setenv(name, value)
    import boto3

    boto3.client("s3").create_bucket(Bucket="lake")
    yield "s3://lake/p"
    server.stop()


def fill_lake(lake_url: str) -> None:
    lake = open_lake(lake_url)
    for n, day in enumerate(DAYS):
        t = int(datetime(day.year, day.month, day.day, 10, tzinfo=UTC).timestamp())
        write_jsonl(lake, f"events/dt={day}/a.jsonl.gz", [
            event("Open", "u1", t, f"a{n}", company_id="c1"),
            event("Buy", "u2", t + 5, f"b{n}", company_id=["c1", "c2"]),
            event("Open", "u1", t - 86_400, f"a{n - 1}", company_id="c9") if n else "{corrupt",
        ], compress=True)
        write_jsonl(lake, f"groups/dt={day}/a.jsonl", [
            {"$group_key": "company_id", "$group_id": "c1", "$time": t, "$set": {"day": n}}])
        write_jsonl(lake, f"people/dt={day}/a.jsonl", [
            {"$distinct_id": "u1", "$time": t, "$set": {"company_id": "c1", "n": n}}])


def keyed_dagbag(monkeypatch: pytest.MonkeyPatch, warehouse_url: tuple[str, str], lake_url: str):  # noqa: ANN201
    """Settings of a warehouse with company_id set up, the lake filled, and the DagBag
    whose DAGs run on them (no retries)."""
    from etl.model.keys import add_key

    url, schema = warehouse_url
    settings = make_settings(url, lake_url, schema)
    with Warehouse(settings) as warehouse:
        warehouse.init()
        add_key(warehouse, "company_id", max_keys=6, setup_at=datetime.fromisoformat(SETUP))
    fill_lake(lake_url)
    bag = dagbag(monkeypatch, GROUP_ETL_WAREHOUSE_URL=url, GROUP_ETL_LAKE_URL=lake_url,
                 GROUP_ETL_SCHEMA=schema, GROUP_ETL_TASK_RETRIES="0")
    return settings, bag


def run_dag(dag, day: date):  # noqa: ANN001, ANN201
    """dag.test() for day D: the logical date whose data interval starts at D."""
    return dag.test(logical_date=datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1))


def reader_before_audit(monkeypatch: pytest.MonkeyPatch) -> dict[date, dict]:
    """Snapshots a reader takes when the audit task starts, after run_day committed, by day."""
    from etl.run import airflow as tasks

    seen: dict[date, dict] = {}
    audit = tasks.TASKS["audit"]

    def reading_audit(settings, day: date) -> dict:  # noqa: ANN001
        with Warehouse(settings) as reader:
            seen[day] = snapshot(reader)
        return audit(settings, day)

    monkeypatch.setitem(tasks.TASKS, "audit", reading_audit)
    return seen


@contextlib.contextmanager
def direct_warehouse(url: str, schema: str, lake_url: str) -> Iterator:
    """Settings of a second, empty warehouse on the same lake, the key set up alike."""
    from etl.model.keys import add_key

    second = (url.replace("warehouse.duckdb", "direct.duckdb"), schema) if url.startswith("duckdb") \
        else (url, f"{schema}_direct")
    settings = make_settings(second[0], lake_url, second[1])
    try:
        with Warehouse(settings) as warehouse:
            warehouse.init()
            add_key(warehouse, "company_id", max_keys=6, setup_at=datetime.fromisoformat(SETUP))
        yield settings
    finally:
        if not url.startswith("duckdb"):
            import sqlalchemy as sa

            engine = sa.create_engine(url)
            with engine.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{second[1]}" CASCADE')
            engine.dispose()


@pytest.mark.slow
def test_three_days_through_the_dag_twice_give_identical_tables(
    airflow_db, monkeypatch, moto_endpoint, warehouse_url,  # noqa: ANN001
) -> None:
    url, schema = warehouse_url
    settings, bag = keyed_dagbag(monkeypatch, warehouse_url, moto_endpoint)
    daily = bag.get_dag("group_analytics_daily")
    seen = reader_before_audit(monkeypatch)
    with direct_warehouse(url, schema, moto_endpoint) as direct:
        from etl.cli.runs import run_days

        for day in DAYS:
            assert run_dag(daily, day).state == "success"
            run_days(direct, [day])  # what `group-etl run --date D` runs
            with Warehouse(direct) as cli:
                # between run_day and audit a reader sees all of D: what the CLI writes
                assert seen.pop(day) == snapshot(cli)
    with Warehouse(settings) as warehouse:
        first = snapshot(warehouse)
        from sqlalchemy import text

        with warehouse.begin() as conn:
            audit = conn.execute(text("SELECT stage, load_date, loaded, rejected FROM load_audit "
                                      "ORDER BY load_date, stage")).all()
            metrics = conn.execute(text("SELECT event_date, group_id, event, event_count FROM group_daily_metrics "
                                        "ORDER BY 1, 2, 3")).all()
    assert [tuple(r) for r in audit if r[0] == "events"] == [
        ("events", DAYS[0], 2, 1), ("events", DAYS[1], 3, 0), ("events", DAYS[2], 3, 0)]
    assert all(r[2:] == (1, 0) for r in audit if r[0] in ("groups", "people"))
    # each next day carries a late copy of the previous day's Open naming c9: it
    # wins, and moves that event of the earlier date from c1 to c9
    assert [tuple(r) for r in metrics if r[0] == DAYS[0]] == [
        (DAYS[0], "c1", "Buy", 1), (DAYS[0], "c2", "Buy", 1), (DAYS[0], "c9", "Open", 1)]
    for day in DAYS:
        assert run_dag(daily, day).state == "success"
    with Warehouse(settings) as warehouse:
        assert snapshot(warehouse) == first
        from etl.serve.cohorts import add_cohort

        add_cohort(warehouse, "busy", '{"group_key": "company_id", "behaviors": '
                                      '[{"event": "Open", "at_least": 1, "last_days": 2}], "export": true}')
    exports = bag.get_dag("cohort_exports")
    assert exports.test(run_conf={"day": DAYS[2].isoformat()}).state == "success"
    [obj] = open_lake(moto_endpoint).list("exports/busy/")
    assert obj.key == f"exports/busy/dt={DAYS[2]}/part-0000.jsonl"
    import json

    exported = [json.loads(line) for line in b"".join(open_lake(moto_endpoint).iter_bytes(obj.key)).splitlines()]
    # c1's profile as it was at the end of the day; c9 has no profile: included with empty
    # properties, as Mixpanel's include_all_users (on for behavioural cohorts)
    assert exported == [{"$distinct_id": "c1", "$properties": {"day": 2}}, {"$distinct_id": "c9", "$properties": {}}]


@pytest.mark.slow
def test_an_unreachable_store_fails_the_task_after_its_retries(airflow_db, monkeypatch, tmp_path) -> None:  # noqa: ANN001
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    bag = dagbag(monkeypatch, GROUP_ETL_WAREHOUSE_URL=f"duckdb:///{tmp_path / 'w.duckdb'}",
                 GROUP_ETL_LAKE_URL="s3://lake/p", GROUP_ETL_TASK_RETRIES="1",
                 GROUP_ETL_RETRY_DELAY_SECONDS="0.1")
    run = run_dag(bag.get_dag("group_analytics_daily"), DAYS[0])
    assert run.state == "failed"
    # the first task to reach the lake is the sensor: an unreachable store is not "not
    # landed yet", it is a storage error, retried with back-off like any task's
    states = {ti.task_id: (ti.state, ti.try_number) for ti in run.get_task_instances()}
    assert states == {"wait_for_dump": ("failed", 2), "run_day": ("upstream_failed", 0),
                      "audit": ("upstream_failed", 0)}
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.utils.session import create_session

    with create_session() as session:  # the first try's retry waited the first delay
        [first] = session.query(TaskInstanceHistory).filter_by(
            dag_id="group_analytics_daily", run_id=run.run_id, task_id="wait_for_dump").all()
        assert (first.try_number, first.retry_delay_override) == (1, 0.1)
        assert first.retry_reason == "try 1 of this run failed: retry in 0.1s"


@pytest.mark.slow
def test_a_day_that_fails_midway_leaves_readers_the_previous_day(
    airflow_db, monkeypatch, moto_endpoint, warehouse_url,  # noqa: ANN001
) -> None:
    """Events written, attribution written, then a fault before the day commits: a
    reader sees day D-1 exactly (no new events beside old attribution), and the
    daily Asset is not published."""
    from dataclasses import replace

    from etl.errors import EtlError
    from etl.run import day as day_module

    url, schema = warehouse_url
    settings, bag = keyed_dagbag(monkeypatch, warehouse_url, moto_endpoint)
    daily = bag.get_dag("group_analytics_daily")
    complete = run_dag(daily, DAYS[0])
    assert complete.state == "success"
    with Warehouse(settings) as warehouse:
        before = snapshot(warehouse)
    attributed = []

    def attribute_then_fail(run, conn) -> None:  # noqa: ANN001
        attribution.write(run, conn)
        attributed.append(run.day)
        raise EtlError("injected fault after attribution")

    [attribution] = [s for s in day_module.STAGES if s.name == "attribution"]
    monkeypatch.setattr(day_module, "STAGES", tuple(
        replace(s, write=attribute_then_fail) if s is attribution else s for s in day_module.STAGES))
    run = run_dag(daily, DAYS[1])
    assert run.state == "failed"
    assert attributed == [DAYS[1]]  # the fault came after the events and attribution were written
    assert {ti.task_id: (ti.state, ti.try_number) for ti in run.get_task_instances()} == {
        "wait_for_dump": ("success", 1), "run_day": ("failed", 1), "audit": ("upstream_failed", 0)}
    with Warehouse(settings) as warehouse:
        after = snapshot(warehouse)
    assert after == before
    assert {row[1] for row in after["load_audit"]} == {DAYS[0]}
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        published = [(e.source_run_id, e.extra["day"]) for e in session.query(AssetEvent).all()
                     if e.source_run_id in (complete.run_id, run.run_id)]
    assert published == [(complete.run_id, DAYS[0].isoformat())]  # the complete day only


@pytest.mark.slow
def test_a_bad_upload_fails_its_run_once_and_never_blocks_the_good_ones(
    airflow_db, monkeypatch, warehouse_url, tmp_path,  # noqa: ANN001
) -> None:
    lake_url = str(tmp_path / "lake")
    settings, bag = keyed_dagbag(monkeypatch, warehouse_url, lake_url)
    lake = open_lake(lake_url)
    lake.write("uploads/groups/company_id/a.csv", b"$group_id,tier\nc1,gold\n")
    lake.write("uploads/groups/company_id/b.csv", b"$group_id,tier,tier\nc2,x,y\n")
    lake.write("uploads/groups/company_id/c.csv", b"$group_id,tier\nc3,silver\n")
    uploads = bag.get_dag("group_profile_upload")
    assert uploads.test().state == "failed"  # b.csv is named in the task's error, a and c applied
    from sqlalchemy import text

    from etl.store.warehouse import json_value

    def tiers() -> dict:
        with Warehouse(settings) as warehouse, warehouse.begin() as conn:
            rows = conn.execute(text("SELECT group_id, CAST(properties AS VARCHAR) FROM group_profiles ORDER BY 1")).all()
        found = {gid: json_value(props).get("tier") for gid, props in rows}
        return {gid: tier for gid, tier in found.items() if tier is not None}

    assert tiers() == {"c1": "gold", "c3": "silver"}
    assert uploads.test().state == "success"  # b.csv unchanged: not retried, a warning names it
    lake.write("uploads/groups/company_id/b.csv", b"$group_id,tier\nc2,bronze\n")
    assert uploads.test().state == "success"
    assert tiers() == {"c1": "gold", "c2": "bronze", "c3": "silver"}


def remove_day(lake_path: Path, day: date) -> None:
    import shutil

    for kind in ("events", "groups", "people"):
        shutil.rmtree(lake_path / kind / f"dt={day}")


@pytest.mark.slow
def test_the_dag_waits_for_the_dump_and_gives_up_naming_it(
    airflow_db, monkeypatch, warehouse_url, tmp_path, capsys,  # noqa: ANN001
) -> None:
    """wait_for_dump pokes (reschedule mode) until the day has landed, then run_day and
    audit run; past GROUP_ETL_LANDING_TIMEOUT_SECONDS it fails, naming what it waited
    for, once (no retry), and nothing of the day is written."""
    monkeypatch.setenv("GROUP_ETL_LANDING_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("GROUP_ETL_LANDING_POKE_SECONDS", "0.2")
    lake_path = tmp_path / "lake"
    settings, bag = keyed_dagbag(monkeypatch, warehouse_url, str(lake_path))
    daily = bag.get_dag("group_analytics_daily")
    remove_day(lake_path, DAYS[1])
    assert run_dag(daily, DAYS[0]).state == "success"  # a landed day goes through
    with Warehouse(settings) as warehouse:
        before = snapshot(warehouse)

    def gives_up(day: date, waited_for: str) -> None:
        capsys.readouterr()
        run = run_dag(daily, day)
        assert run.state == "failed"
        assert {ti.task_id: (ti.state, ti.try_number) for ti in run.get_task_instances()} == {
            "wait_for_dump": ("failed", 1), "run_day": ("upstream_failed", 0), "audit": ("upstream_failed", 0)}
        # the task's log ends with the exception it failed with
        [reason] = {line.split(": ", 1)[1] for line in capsys.readouterr().out.splitlines()
                    if line.startswith("airflow.sdk.exceptions.AirflowSensorTimeout: ")}
        assert reason.startswith(f"gave up waiting for {day} after ")
        assert reason.endswith(f"(GROUP_ETL_LANDING_TIMEOUT_SECONDS=1): {day} has not landed: {waited_for}; "
                               f"if {day} is truly empty: `group-etl run --date {day} --allow-empty`, then mark "
                               "this run's wait_for_dump and run_day success and clear its audit")
        with Warehouse(settings) as warehouse:
            assert snapshot(warehouse) == before

    # groups/ alone (a dump landing in pieces) is no landed day
    (lake_path / "groups" / f"dt={DAYS[1]}").mkdir(parents=True)
    (lake_path / "groups" / f"dt={DAYS[1]}" / "a.jsonl").write_bytes(b"")
    gives_up(DAYS[1], f"no objects under events/dt={DAYS[1]}/ in the lake {lake_path} (groups/dt={DAYS[1]}/ "
                      "alone is no landed day: a dump landing in pieces should write a landing marker last, "
                      "GROUP_ETL_LANDING_MARKER)")
    (lake_path / "groups" / f"dt={DAYS[1]}" / "a.jsonl").unlink()
    # with a landing marker, the dump's objects are not enough: the marker is waited for
    fill_lake(str(lake_path))
    monkeypatch.setenv("GROUP_ETL_LANDING_MARKER", "_SUCCESS")
    gives_up(DAYS[1], f"no events/dt={DAYS[1]}/_SUCCESS in the lake {lake_path} (GROUP_ETL_LANDING_MARKER)")
    (lake_path / "events" / f"dt={DAYS[1]}" / "_SUCCESS").write_bytes(b"")
    assert run_dag(daily, DAYS[1]).state == "success"
    with Warehouse(settings) as warehouse, warehouse.begin() as conn:
        from sqlalchemy import text

        audit = conn.execute(text("SELECT load_date, input_records FROM load_audit WHERE stage = 'events' "
                                  "ORDER BY load_date")).all()
    assert [tuple(r) for r in audit] == [(DAYS[0], 3), (DAYS[1], 3)]  # the marker is no record


@pytest.mark.slow
@pytest.mark.spark
def test_the_daily_dag_runs_a_day_on_the_spark_engine(airflow_db, monkeypatch, tmp_path) -> None:  # noqa: ANN001
    """With GROUP_ETL_ENGINE=spark the run_day task is the Spark driver (client mode; here
    a local master in the task's process): the DAG's day gives every table that
    `group-etl run` gives on DuckDB, and its audit task checks it."""
    from tests.spark.conftest import require_spark

    require_spark()
    from etl.cli.runs import run_days
    from etl.config import load_settings
    from etl.model.keys import add_key
    from etl.store.spark import SparkWarehouse
    from tests.sql.test_engines_equal import comparable, tables

    lake_url = str(tmp_path / "lake")
    fill_lake(lake_url)
    env = {"GROUP_ETL_ENGINE": "spark", "GROUP_ETL_SPARK_MASTER": "local[2]",
           "GROUP_ETL_SPARK_WAREHOUSE": str(tmp_path / "spark"), "GROUP_ETL_LAKE_URL": lake_url,
           "GROUP_ETL_TASK_RETRIES": "0"}
    settings = load_settings(environ=env)
    with SparkWarehouse(settings) as warehouse:
        warehouse.init()
        add_key(warehouse, "company_id", max_keys=6, setup_at=datetime.fromisoformat(SETUP))
    bag = dagbag(monkeypatch, **env)
    assert run_dag(bag.get_dag("group_analytics_daily"), DAYS[1]).state == "success"
    duck = make_settings(f"duckdb:///{tmp_path / 'w.duckdb'}", lake_url, "analytics")
    with Warehouse(duck) as warehouse:
        warehouse.init()
        add_key(warehouse, "company_id", max_keys=6, setup_at=datetime.fromisoformat(SETUP))
    run_days(duck, [DAYS[1]])
    with Warehouse(duck) as warehouse:
        want = comparable(tables(warehouse))
    got = comparable(tables(SparkWarehouse(settings, read_only=True)))
    assert got == want
    # load_audit: stage, load_date, input_fingerprint, input_records, loaded, rejected, ...
    assert [(r[0], r[1], *r[3:6]) for r in got["load_audit"] if r[0] == "events"] == [("events", DAYS[1], 3, 3, 0)]
