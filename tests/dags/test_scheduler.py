"""Layer 3, slow: a real Airflow scheduler runs `airflow backfill create`.

LocalExecutor, then CeleryExecutor with one Celery worker on Redis
(127.0.0.1:6379); PostgreSQL holds Airflow's metadata (a throwaway database
per test). The processes are started here and stopped afterwards. The
warehouse must equal a direct `group-etl run` of the same days.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

pytest.importorskip("airflow", reason="the airflow extra is not installed")

from etl.cli.sample import write_sample_lake  # noqa: E402
from etl.config import load_settings  # noqa: E402
from etl.model.keys import add_key  # noqa: E402
from etl.serve.cohorts import add_cohort  # noqa: E402
from etl.store.lake import open_lake  # noqa: E402
from etl.store.warehouse import Warehouse  # noqa: E402
from tests.support import event, snapshot, write_jsonl  # noqa: E402

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FIRST, LAST = "2026-10-01", "2026-10-02"
SETUP = datetime(2026, 10, 1, 12, tzinfo=UTC)
DEADLINE_SECONDS = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def metadata_db(postgres_url: str) -> Iterator[str]:
    name = f"airflow_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield postgres_url.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


class AirflowStack:
    """api-server, scheduler, dag-processor (and a Celery worker) as child processes."""

    def __init__(self, home: Path, env: dict, celery: bool) -> None:
        self.home, self.env, self.celery = home, env, celery
        self.processes: list[subprocess.Popen] = []

    def airflow(self, *args: str) -> str:
        done = subprocess.run([str(BIN / "airflow"), *args], env=self.env, capture_output=True,
                              text=True, timeout=300, check=False)
        assert done.returncode == 0, f"airflow {' '.join(args)}: {done.stderr[-3000:]}"
        return done.stdout

    def start(self) -> None:
        commands = [["api-server"], ["scheduler"], ["dag-processor"]]
        if self.celery:
            commands.append(["celery", "worker", "--concurrency", "1"])
        for command in commands:
            log = open(self.home / f"{command[-1] if command[0] != 'celery' else 'worker'}.log", "wb")  # noqa: SIM115
            self.processes.append(subprocess.Popen([str(BIN / "airflow"), *command], env=self.env,
                                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def wait_for(self, what: str, check, deadline: float) -> None:  # noqa: ANN001
        """Poll `check` until true; fail at the deadline, pointing at the logs."""
        while not check():
            if time.monotonic() > deadline:
                logs = {p.name: p.read_text(errors="replace")[-1500:] for p in self.home.glob("*.log")}
                pytest.fail(f"{what} did not happen in {DEADLINE_SECONDS}s; logs: {logs}")
            for process in self.processes:
                assert process.poll() is None, f"an Airflow process exited: {process.args}"
            time.sleep(1)


def stack_env(tmp_path: Path, metadata_url: str, celery: bool, lake_url: str) -> tuple[Path, dict]:
    """AIRFLOW_HOME and the environment of an Airflow stack on `metadata_url` whose DAGs
    run on a DuckDB warehouse under tmp_path and the lake at `lake_url` (no retries)."""
    home = tmp_path / "airflow"
    home.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor" if celery else "LocalExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata_url.replace("+psycopg:", "+psycopg_async:"),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__CELERY__BROKER_URL": "redis://127.0.0.1:6379/5",
        # a queue of this test's own: other stacks on the same broker (parallel test
        # sessions) never take its tasks, nor it theirs (signed with another JWT secret)
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": f"group-etl-{uuid.uuid4().hex[:12]}",
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata_url,
        "GROUP_ETL_WAREHOUSE_URL": f"duckdb:///{tmp_path / 'airflow-warehouse.duckdb'}",
        "GROUP_ETL_LAKE_URL": lake_url,
        "GROUP_ETL_TASK_RETRIES": "0",
        "GROUP_ETL_START_DATE": FIRST,
        "GROUP_ETL_CATCHUP": "false",
    }
    for name in [n for n in env if n.startswith("GROUP_ETL_SCHEMA")]:
        env.pop(name)
    return home, env


def backfill_through_airflow(tmp_path: Path, metadata_url: str, celery: bool) -> dict:
    lake_url = str(tmp_path / "lake")
    write_sample_lake(open_lake(lake_url), datetime.fromisoformat(FIRST).date(), days=2, companies=10, users=60)
    # group_profile_upload is unpaused on creation and would apply the sample's CSV
    # upload, which a direct `group-etl run` does not: this test is about the days
    open_lake(lake_url).delete_prefix("uploads/")
    home, env = stack_env(tmp_path, metadata_url, celery, lake_url)
    settings = load_settings(environ=env)
    with Warehouse(settings) as warehouse:
        warehouse.init()
        add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    stack = AirflowStack(home, env, celery)
    stack.airflow("db", "migrate")
    stack.airflow("pools", "set", "group_etl_duckdb", "1", "DuckDB: one writer")
    engine = sa.create_engine(metadata_url)

    def runs() -> list[tuple]:
        with engine.connect() as conn:
            return conn.execute(sa.text(
                "SELECT run_type, state FROM dag_run WHERE dag_id = 'group_analytics_daily' "
                "AND run_type = 'backfill'")).all()

    def parsed() -> bool:
        with engine.connect() as conn:
            return bool(conn.execute(sa.text(
                "SELECT count(*) FROM dag WHERE dag_id = 'group_analytics_daily'")).scalar())

    stack.start()
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        stack.wait_for("parsing of the DAG", parsed, deadline)
        stack.airflow("dags", "unpause", "group_analytics_daily")
        stack.airflow("backfill", "create", "--dag-id", "group_analytics_daily", "--from-date", FIRST,
                      "--to-date", LAST, "--max-active-runs", "1", "--reprocess-behavior", "completed")
        stack.wait_for("two successful backfill runs",
                       lambda: [s for _, s in runs()] == ["success", "success"] or "failed" in [s for _, s in runs()],
                       deadline)
        assert sorted(s for _, s in runs()) == ["success", "success"]
        if celery:
            worker_log = (home / "worker.log").read_text(errors="replace")
            assert "run_day" in worker_log  # the Celery worker executed the tasks
    finally:
        stack.stop()
        engine.dispose()
    with Warehouse(settings) as warehouse:
        return snapshot(warehouse)


def direct_run(tmp_path: Path, first: str = FIRST, last: str = LAST, setup: datetime = SETUP,
               warehouse: tuple[str, str] | None = None) -> dict:
    """`group-etl run` of the days on a DuckDB file of its own, or on `warehouse` (URL, schema)."""
    url, schema = warehouse or (f"duckdb:///{tmp_path / 'direct-warehouse.duckdb'}", "")
    env = {"GROUP_ETL_WAREHOUSE_URL": url, "GROUP_ETL_SCHEMA": schema, "GROUP_ETL_LAKE_URL": str(tmp_path / "lake")}
    settings = load_settings(environ=env)
    with Warehouse(settings) as warehouse:
        warehouse.init()
        add_key(warehouse, "company_id", max_keys=6, setup_at=setup)
    done = subprocess.run([str(BIN / "group-etl"), "run", "--from", first, "--to", last],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    with Warehouse(settings) as warehouse:
        return snapshot(warehouse)


@pytest.mark.parametrize("executor", ["local", "celery"])
def test_backfill_through_a_real_scheduler_equals_a_direct_run(tmp_path, metadata_db, executor) -> None:  # noqa: ANN001
    through_airflow = backfill_through_airflow(tmp_path, metadata_db, celery=executor == "celery")
    assert len(through_airflow["events"]) > 300
    # Unpausing also lets the scheduler start the latest interval (a day not in the
    # lake: its sensor waits); any audit rows of other days would be the only
    # difference a direct run cannot have.
    days = {datetime.fromisoformat(d).date() for d in (FIRST, LAST)}
    extra = [r for r in through_airflow["load_audit"] if r[1] not in days]
    assert all(r[3] == 0 for r in extra)  # no input on those days
    through_airflow["load_audit"] = [r for r in through_airflow["load_audit"] if r[1] in days]
    assert through_airflow == direct_run(tmp_path)


# A late dump, a backfill and the exports it leads to: four days, the last one landing
# only once its sensor is seen waiting. Company c<n> buys on day n, so the cohort
# "buyers" (a purchase in the last day) exports exactly c<n> for day n, whenever
# the export runs; profiles are set on the first day only.
LATE_DAYS = [date(2026, 10, 1) + timedelta(days=n) for n in range(4)]
PLANS = ["free", "pro", "enterprise", "pro"]
LATE_SETUP = datetime(2026, 9, 1, tzinfo=UTC)


def write_late_day(lake_url: str, n: int) -> None:
    day = LATE_DAYS[n]
    lake = open_lake(lake_url)
    t = int(datetime(day.year, day.month, day.day, 13, tzinfo=UTC).timestamp())
    write_jsonl(lake, f"events/dt={day}/a.jsonl", [
        *[event("Open", f"u{k}", t + k, f"open-{n}-{k}", company_id=f"c{k}") for k in range(1, 5)],
        event("Purchase", f"u{n + 1}", t + 10, f"buy-{n}", company_id=f"c{n + 1}")])
    if n == 0:
        write_jsonl(lake, f"groups/dt={day}/a.jsonl", [
            {"$group_key": "company_id", "$group_id": f"c{k}", "$time": t, "$set": {"plan": PLANS[k - 1]}}
            for k in range(1, 5)])


def test_a_late_dump_loads_once_it_lands_and_a_backfill_exports_every_day(
        tmp_path, metadata_db, warehouse_url) -> None:  # noqa: ANN001
    """LocalExecutor, on a DuckDB and a PostgreSQL warehouse. The README's backfill
    command over four days, days in order; the fourth day's dump is written only once
    its sensor is seen up_for_reschedule. Every day loads, the warehouse equals a
    direct `group-etl run` on the same engine, and cohort_exports (never unpaused by
    hand) leaves one export partition a day with its exact rows, however many Asset
    events its runs consumed."""
    lake_url = str(tmp_path / "lake")
    for n in range(3):
        write_late_day(lake_url, n)
    home, env = stack_env(tmp_path, metadata_db, False, lake_url)
    url, schema = warehouse_url
    env.update({"GROUP_ETL_WAREHOUSE_URL": url, "GROUP_ETL_SCHEMA": schema,"GROUP_ETL_START_DATE": LATE_DAYS[0].isoformat(), "GROUP_ETL_LANDING_POKE_SECONDS": "2",
                "GROUP_ETL_LANDING_TIMEOUT_SECONDS": "900"})
    settings = load_settings(environ=env)
    with Warehouse(settings) as warehouse:
        warehouse.init()
        add_key(warehouse, "company_id", max_keys=6, setup_at=LATE_SETUP)
        add_cohort(warehouse, "buyers", '{"group_key": "company_id", "export": true, '
                                        '"behaviors": [{"event": "Purchase", "at_least": 1, "last_days": 1}]}')
    stack = AirflowStack(home, env, celery=False)
    stack.airflow("db", "migrate")
    stack.airflow("pools", "set", "group_etl_duckdb", "1", "DuckDB: one writer")
    engine = sa.create_engine(metadata_db)

    def query(sql: str) -> list[tuple]:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql))]

    def backfill_states() -> dict[date, dict[str, str]]:
        """{day: {task: state}} of the backfill's runs (day: the data interval's start)."""
        out: dict[date, dict[str, str]] = {}
        for start, task, state in query(
                "SELECT dr.data_interval_start, ti.task_id, ti.state FROM dag_run dr JOIN task_instance ti "
                "ON ti.dag_id = dr.dag_id AND ti.run_id = dr.run_id "
                "WHERE dr.dag_id = 'group_analytics_daily' AND dr.run_type = 'backfill'"):
            out.setdefault(start.astimezone(UTC).date(), {})[task] = state
        return out

    def run_states() -> dict[date, str]:
        return {start.astimezone(UTC).date(): state for start, state in query(
            "SELECT data_interval_start, state FROM dag_run WHERE dag_id = 'group_analytics_daily' "
            "AND run_type = 'backfill'")}

    def exports_done() -> bool:
        partitions = {o.key for o in open_lake(lake_url).list("exports/buyers/")}
        active = query("SELECT count(*) FROM dag_run WHERE dag_id = 'cohort_exports' "
                       "AND state IN ('queued', 'running')")[0][0]
        return len(partitions) == len(LATE_DAYS) and not active

    stack.start()
    try:
        deadline = time.monotonic() + 2 * DEADLINE_SECONDS
        stack.wait_for("parsing of the DAGs", lambda: query("SELECT count(*) FROM dag")[0][0] == 3, deadline)
        # created unpaused: a fresh deployment exports; the daily DAG waits for its operator
        assert sorted(query("SELECT dag_id, is_paused FROM dag")) == [
            ("cohort_exports", False), ("group_analytics_daily", True), ("group_profile_upload", False)]
        stack.airflow("dags", "unpause", "group_analytics_daily")
        stack.airflow("backfill", "create", "--dag-id", "group_analytics_daily",
                      "--from-date", LATE_DAYS[0].isoformat(), "--to-date", LATE_DAYS[-1].isoformat(),
                      "--max-active-runs", "1", "--reprocess-behavior", "completed")
        stack.wait_for("the last day's sensor waiting",
                       lambda: backfill_states().get(LATE_DAYS[3], {}).get("wait_for_dump") == "up_for_reschedule"
                       or "failed" in run_states().values(), deadline)
        # one day at a time, in order: the first three are done, the fourth waits for its dump
        assert run_states() == {**{d: "success" for d in LATE_DAYS[:3]}, LATE_DAYS[3]: "running"}
        assert backfill_states()[LATE_DAYS[3]] == {
            "wait_for_dump": "up_for_reschedule", "run_day": None, "audit": None}
        write_late_day(lake_url, 3)
        stack.wait_for("the late day's load",
                       lambda: run_states().get(LATE_DAYS[3]) in ("success", "failed"), deadline)
        assert run_states() == {d: "success" for d in LATE_DAYS}
        stack.wait_for("the exports of every day", exports_done, deadline)
    finally:
        stack.stop()
        engine.dispose()
    lake = open_lake(lake_url)
    for n, day in enumerate(LATE_DAYS):
        body = b"".join(lake.iter_bytes(f"exports/buyers/dt={day}/part-0000.jsonl"))
        assert [json.loads(line) for line in body.splitlines()] == [
            {"$distinct_id": f"c{n + 1}", "$properties": {"plan": PLANS[n]}}]
    with Warehouse(settings) as warehouse:
        through_airflow = snapshot(warehouse)
        with warehouse.begin() as conn:
            recorded = conn.execute(sa.text(
                "SELECT e.day FROM export_days AS e JOIN (SELECT load_date, max(finished_at) AS loaded_at "
                "FROM load_audit GROUP BY load_date) AS l ON l.load_date = e.day AND l.loaded_at = e.loaded_at "
                "ORDER BY e.day")).scalars().all()
    assert recorded == LATE_DAYS  # each day's export read its final load: nothing pending
    assert sorted({r[1] for r in through_airflow["load_audit"]}) == LATE_DAYS
    direct_warehouse = None if url.startswith("duckdb") else (url, f"{schema}_direct")
    try:
        direct = direct_run(tmp_path, LATE_DAYS[0].isoformat(), LATE_DAYS[-1].isoformat(), LATE_SETUP,
                            direct_warehouse)
    finally:
        if direct_warehouse:
            engine = sa.create_engine(url)
            with engine.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}_direct" CASCADE')
            engine.dispose()
    assert (len(through_airflow.pop("cohorts")), direct.pop("cohorts")) == (1, [])  # saved here only
    assert through_airflow == direct
