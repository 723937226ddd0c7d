"""docker/: no Docker engine runs here, so the compose file, the Dockerfile and
.dockerignore are parsed and checked against the package's own settings and
build inputs (tests/e2e/test_wheel.py builds and installs the same wheel)."""

from __future__ import annotations

import posixpath
import re
from importlib import metadata
from pathlib import Path

import yaml

from etl.config import DEFAULTS, load_settings
from etl.run.airflow import ORCHESTRATION_VARIABLES
from tests.e2e.test_wheel import BUILD_INPUTS

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
AIRFLOW_SERVICES = ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer", "airflow-worker"]
SPARK_SERVICES = ["spark-master", "spark-worker"]


def compose() -> dict:
    return yaml.safe_load((DOCKER / "docker-compose.yml").read_text())


def resolved(value: str) -> str:
    """${VAR:-default} as compose resolves it with no .env file."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def test_services_of_the_scale_out_deployment() -> None:
    services = compose()["services"]
    # `docker compose up` starts the services without a profile; Spark's need `--profile spark`
    default = {name for name, service in services.items() if not service.get("profiles")}
    assert default == {"postgres", "redis", "minio", "airflow-init", "group-etl-serve", *AIRFLOW_SERVICES}
    assert set(services) - default == set(SPARK_SERVICES)
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


def stages() -> list[tuple[str, list[tuple[str, str]]]]:
    """The Dockerfile as [(FROM argument, [(INSTRUCTION, arguments), ...]), ...], comments
    dropped and continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DOCKER / "Dockerfile").read_text())
    out: list[tuple[str, list[tuple[str, str]]]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, arguments = line.strip().partition(" ")
        if instruction == "FROM":
            out.append((arguments.strip(), []))
        else:
            out[-1][1].append((instruction, " ".join(arguments.split())))
    return out


def test_the_image_installs_the_built_wheel_not_the_source_tree() -> None:
    (build_from, build), (final_from, final) = stages()
    assert build_from == "apache/airflow:3.3.2-python3.11 AS wheel"
    assert final_from == "apache/airflow:3.3.2-python3.11"
    # the wheel stage copies exactly what the wheel test builds from, and builds without deps
    copied = [args.split()[1:-1] for instruction, args in build if instruction == "COPY"]
    assert sorted(src for sources in copied for src in sources) == sorted(BUILD_INPUTS)
    assert ("RUN", "pip wheel --no-deps --no-cache-dir --wheel-dir /home/airflow/dist .") in build
    # the final stage installs that wheel with the postgres and serve extras, pins the image's Airflow,
    # and copies nothing but the DAGs
    runs = [args for instruction, args in final if instruction == "RUN"]
    assert runs[-1] == ("--mount=type=bind,from=wheel,source=/home/airflow/dist,target=/tmp/dist pip install "
                        '--no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" '
                        '"$(ls /tmp/dist/group_analytics_etl-*.whl)[postgres,serve,spark]"')
    # before it, as root, only the Java runtime Spark needs; the image's airflow user after
    assert len(runs) == 2 and "apt-get install -y --no-install-recommends default-jre-headless" in runs[0]
    users = [args for instruction, args in final if instruction == "USER"]
    assert users == ["root", "airflow"]
    assert not any(re.search(r"(^|\s)(-e|--editable)(\s|$)", args) for args in runs)
    dags = compose()["services"]["airflow-scheduler"]["environment"]["AIRFLOW__CORE__DAGS_FOLDER"]
    assert dags == "/opt/airflow/dags"
    assert [args for instruction, args in final if instruction in ("COPY", "ADD")] == [
        f"--chown=airflow:root dags/ {dags}/"]
    assert ("ENV", f"AIRFLOW__CORE__DAGS_FOLDER={dags} AIRFLOW__CORE__LOAD_EXAMPLES=False") in final


def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """(re-included?, pattern) per line of .dockerignore, as Docker reads them: `*` and `?`
    within a path segment, `**` across segments, `!` re-includes; the last match wins."""
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = posixpath.normpath(line.lstrip("!").strip("/"))
        regex, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            else:
                regex += {"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i]))
                i += 1
        rules.append((negated, re.compile(regex)))
    return rules


def in_context(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: a path is excluded when a pattern matches it or one of its parent folders."""
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for negated, regex in rules:
        if any(regex.fullmatch(c) for c in candidates):
            excluded = not negated
    return not excluded


def test_dockerignore_keeps_the_build_context_to_what_the_image_copies() -> None:
    rules = dockerignore_rules()
    for path in [".venv/bin/python", ".git/HEAD", "data/warehouse.duckdb", "data/lake/events/dt=2026-10-01/a.jsonl",
                 "bench/data/events.jsonl.gz", "tests/e2e/test_docker.py", ".env", "docker/.env", "build/lib/etl/x.py",
                 "etl/__pycache__/config.cpython-311.pyc", "dags/__pycache__/x.pyc", "etl/.env",
                 "group_analytics_etl.egg-info/PKG-INFO", ".pytest_cache/v/cache", ".ruff_cache/x", "Makefile"]:
        assert not in_context(path, rules), path
    needed = ["pyproject.toml", "README.md", *(
        p.relative_to(ROOT).as_posix() for folder in ("etl", "sql", "dags") for p in (ROOT / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts)]
    assert len(needed) > 40 and [p for p in needed if not in_context(p, rules)] == []


def test_the_serve_service_runs_group_etl_serve_with_valid_settings() -> None:
    from etl.api.settings import load_serve_settings

    service = compose()["services"]["group-etl-serve"]
    assert service["build"]["dockerfile"] == "docker/Dockerfile"
    assert service["entrypoint"] == ["group-etl", "serve"] and service["command"] == ["--host", "0.0.0.0", "--port", "8000"]
    env = {k: resolved(str(v)) for k, v in service["environment"].items()}
    assert load_serve_settings(env, host="0.0.0.0", port=8000).port == 8000
    load_settings(environ=env)  # the warehouse settings of the other services, valid
    assert service["ports"] == ["8000:8000"] and "/healthz" in service["healthcheck"]["test"][-1]
    assert service["depends_on"]["airflow-init"] == {"condition": "service_completed_successfully"}
    assert '[postgres,serve,spark]"' in (DOCKER / "Dockerfile").read_text()  # the image has FastAPI and uvicorn


def test_spark_master_and_two_workers_run_on_the_projects_image() -> None:
    """Behind the `spark` profile: spark-class (pyspark's, in the image) runs a master and two
    workers that offer the worker's cores and memory to it; executors get the warehouse and
    lake settings of the Airflow workers, so our code runs there as it does in Airflow."""
    services = compose()["services"]
    master, worker = (services[name] for name in SPARK_SERVICES)
    for service in (master, worker):
        assert service["profiles"] == ["spark"]
        assert service["build"]["dockerfile"] == "docker/Dockerfile"
        assert service["image"] == services["airflow-worker"]["image"]
        assert service["environment"]["SPARK_NO_DAEMONIZE"] == "1"  # in the foreground
        env = {k: resolved(str(v)) for k, v in service["environment"].items()}
        assert load_settings(environ=env) == load_settings(environ={
            k: resolved(str(v)) for k, v in services["airflow-worker"]["environment"].items()})
    assert master["entrypoint"] == ["spark-class", "org.apache.spark.deploy.master.Master"]
    assert worker["entrypoint"] == ["spark-class", "org.apache.spark.deploy.worker.Worker"]
    options = master["command"]
    host, port = options[options.index("--host") + 1], options[options.index("--port") + 1]
    assert worker["command"][-1] == f"spark://{host}:{port}" and host == "spark-master"
    assert resolved(" ".join(worker["command"])).startswith("--cores 1 --memory 1g ")
    assert worker["deploy"]["replicas"] == 2
    assert worker["depends_on"]["spark-master"] == {"condition": "service_healthy"}
    assert master["depends_on"] == {}  # nothing of Airflow's: the cluster starts on its own
    webui = options[options.index("--webui-port") + 1]
    assert f"127.0.0.1:{webui}/json/" in master["healthcheck"]["test"][-1]
    assert f":{webui}" in master["ports"][0]
    # pip installs spark-class as a script, beside the Python (on the image's PATH), not only
    # inside the package (site-packages/pyspark/bin)
    scripts = [f.name for f in metadata.distribution("pyspark").files or [] if f.parts[0] == ".."]
    assert "spark-class" in scripts and "find-spark-home" in scripts
    host_ports = [p.split(":")[0] for s in services.values() for p in s.get("ports", [])]
    assert len(host_ports) == len(set(host_ports))  # the master's UI takes no port of another service
