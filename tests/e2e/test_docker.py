"""docker/: no Docker engine runs here, so the compose file is parsed and checked
against the package's own settings."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from etl.config import DEFAULTS, load_settings
from etl.run.airflow import ORCHESTRATION_VARIABLES

DOCKER = Path(__file__).resolve().parents[2] / "docker"
AIRFLOW_SERVICES = ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer", "airflow-worker"]


def compose() -> dict:
    return yaml.safe_load((DOCKER / "docker-compose.yml").read_text())


def resolved(value: str) -> str:
    """${VAR:-default} as compose resolves it with no .env file."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def test_services_of_the_scale_out_deployment() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "minio", "airflow-init", *AIRFLOW_SERVICES}
    commands = {name: services[name]["command"] for name in AIRFLOW_SERVICES}
    assert commands == {"airflow-apiserver": "api-server", "airflow-scheduler": "scheduler",
                        "airflow-dag-processor": "dag-processor", "airflow-triggerer": "triggerer",
                        "airflow-worker": "celery worker"}
    for name in [*AIRFLOW_SERVICES, "airflow-init"]:
        assert services[name]["build"]["dockerfile"] == "docker/Dockerfile"


def test_airflow_runs_on_celery_with_redis_and_postgres() -> None:
    env = compose()["services"]["airflow-worker"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis:6379/0"
    assert resolved(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).startswith("postgresql+psycopg2://airflow:airflow@postgres:5432/")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver:8080/")


def test_group_etl_settings_are_the_packages_own_and_valid() -> None:
    env = {k: resolved(str(v)) for k, v in compose()["services"]["airflow-worker"]["environment"].items()}
    ours = {k for k in env if k.startswith("GROUP_ETL_")}
    assert ours <= set(DEFAULTS) | set(ORCHESTRATION_VARIABLES)
    settings = load_settings(environ=env)
    assert settings.warehouse_url.startswith("postgresql+psycopg://") and settings.lake_url.startswith("s3://")
    database = settings.warehouse_url.rsplit("/", 1)[1]
    assert f"CREATE DATABASE {database}" in (DOCKER / "postgres-init.sql").read_text()
    assert env["AWS_ENDPOINT_URL"] == "http://minio:9000"


def test_the_image_holds_the_dags_where_airflow_looks() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    dags = compose()["services"]["airflow-scheduler"]["environment"]["AIRFLOW__CORE__DAGS_FOLDER"]
    assert "COPY --chown=airflow:root . /opt/group-etl" in dockerfile
    assert f"AIRFLOW__CORE__DAGS_FOLDER={dags}" in dockerfile
    assert dags == "/opt/group-etl/dags"
    assert re.search(r"^FROM apache/airflow:3\.\d+\.\d+", dockerfile, re.M)
