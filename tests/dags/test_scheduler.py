"""Layer 3, slow: a real Airflow scheduler runs `airflow backfill create`.

LocalExecutor, then CeleryExecutor with one Celery worker on Redis
(127.0.0.1:6379); PostgreSQL holds Airflow's metadata (a throwaway database
per test). The processes are started here and stopped afterwards. The
warehouse must equal a direct `group-etl run` of the same days.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

pytest.importorskip("airflow", reason="the airflow extra is not installed")

from etl.cli.sample import write_sample_lake  # noqa: E402
from etl.config import load_settings  # noqa: E402
from etl.model.keys import add_key  # noqa: E402
from etl.store.lake import open_lake  # noqa: E402
from etl.store.warehouse import Warehouse  # noqa: E402
from tests.support import snapshot  # noqa: E402

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


def backfill_through_airflow(tmp_path: Path, metadata_url: str, celery: bool) -> dict:
    lake_url = str(tmp_path / "lake")
    write_sample_lake(open_lake(lake_url), datetime.fromisoformat(FIRST).date(), days=2, companies=10, users=60)
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
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata_url,
        "GROUP_ETL_WAREHOUSE_URL": f"duckdb:///{tmp_path / 'airflow-warehouse.duckdb'}",
        "GROUP_ETL_LAKE_URL": lake_url,
        "GROUP_ETL_TASK_RETRIES": "0",
        "GROUP_ETL_START_DATE": FIRST,
        "GROUP_ETL_CATCHUP": "false",
    }
    for name in [n for n in env if n.startswith("GROUP_ETL_SCHEMA")]:
        env.pop(name)
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
                      "--to-date", LAST, "--reprocess-behavior", "completed")
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


def direct_run(tmp_path: Path) -> dict:
    env = {"GROUP_ETL_WAREHOUSE_URL": f"duckdb:///{tmp_path / 'direct-warehouse.duckdb'}",
           "GROUP_ETL_LAKE_URL": str(tmp_path / "lake")}
    settings = load_settings(environ=env)
    with Warehouse(settings) as warehouse:
        warehouse.init()
        add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    done = subprocess.run([str(BIN / "group-etl"), "run", "--from", FIRST, "--to", LAST],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    with Warehouse(settings) as warehouse:
        return snapshot(warehouse)


@pytest.mark.parametrize("executor", ["local", "celery"])
def test_backfill_through_a_real_scheduler_equals_a_direct_run(tmp_path, metadata_db, executor) -> None:  # noqa: ANN001
    through_airflow = backfill_through_airflow(tmp_path, metadata_db, celery=executor == "celery")
    assert len(through_airflow["events"]) > 300
    # Unpausing also lets the scheduler run the latest interval (an empty lake
    # day): its audit rows are the only difference a direct run cannot have.
    days = {datetime.fromisoformat(d).date() for d in (FIRST, LAST)}
    extra = [r for r in through_airflow["load_audit"] if r[1] not in days]
    assert all(r[3] == 0 for r in extra)  # no input on those days
    through_airflow["load_audit"] = [r for r in through_airflow["load_audit"] if r[1] in days]
    assert through_airflow == direct_run(tmp_path)
