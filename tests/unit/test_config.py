"""Layer 1: configuration from the environment, with command-line overrides."""

from __future__ import annotations

import pytest

from etl.config import load_settings
from etl.errors import ConfigError


def test_defaults_need_nothing() -> None:
    settings = load_settings(environ={})
    assert settings.warehouse_url == "duckdb:///data/warehouse.duckdb"
    assert settings.lake_url == "data/lake"
    assert (settings.schema, settings.timezone, settings.project_token) == (None, "UTC", None)
    assert (settings.max_group_keys, settings.max_group_profiles, settings.hot_shard_limit) == (6, 1_000_000, 1_000_000)


def test_environment_then_overrides() -> None:
    env = {"GROUP_ETL_TIMEZONE": "Europe/Paris", "GROUP_ETL_HOT_SHARD_LIMIT": "5",
           "GROUP_ETL_LAKE_URL": "s3://bucket/root", "GROUP_ETL_PROJECT_TOKEN": "tok"}
    settings = load_settings(environ=env, hot_shard_limit=7, timezone=None)
    assert (settings.timezone, settings.hot_shard_limit, settings.lake_url, settings.project_token) == (
        "Europe/Paris", 7, "s3://bucket/root", "tok")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GROUP_ETL_WAREHOUSE_URL": "not a url"}, "GROUP_ETL_WAREHOUSE_URL: not a valid SQLAlchemy URL"),
        ({"GROUP_ETL_WAREHOUSE_URL": "postgresql+psycopg://u@h:notaport/db"},
         "GROUP_ETL_WAREHOUSE_URL: not a valid SQLAlchemy URL (dialect+driver://user:password@host:port/database)"),
        ({"GROUP_ETL_WAREHOUSE_URL": "postgresql+psycopg://postgres:p@ss1234@127.0.0.1:5433/test"},
         "GROUP_ETL_WAREHOUSE_URL: the user or password holds '@': write it percent-encoded, as %40"),
        ({"GROUP_ETL_WAREHOUSE_URL": "mysql://x/y"}, "GROUP_ETL_WAREHOUSE_URL: unsupported database 'mysql'"),
        ({"GROUP_ETL_TIMEZONE": "Mars/Olympus"}, "GROUP_ETL_TIMEZONE: unknown time zone 'Mars/Olympus'"),
        ({"GROUP_ETL_LAKE_URL": "ftp://host/x"}, "GROUP_ETL_LAKE_URL: expected a folder path"),
        ({"GROUP_ETL_LAKE_URL": "s3:///nobucket"}, "GROUP_ETL_LAKE_URL: s3:// URL has no bucket"),
        ({"GROUP_ETL_MAX_GROUP_KEYS": "six"}, "GROUP_ETL_MAX_GROUP_KEYS: expected a whole number, got 'six'"),
        ({"GROUP_ETL_HOT_SHARD_LIMIT": "0"}, "GROUP_ETL_HOT_SHARD_LIMIT: must be at least 1, got 0"),
        ({"GROUP_ETL_SCHEMA": 'x"; DROP TABLE y; --'}, "GROUP_ETL_SCHEMA: use letters, digits and underscores"),
    ],
)
def test_a_wrong_value_names_the_variable(env: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=env)
    assert str(caught.value).startswith(message)


def test_a_password_in_a_bad_url_is_never_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"GROUP_ETL_WAREHOUSE_URL": "oracle://scott:s3cr3t-pw@db/x"})
    assert "s3cr3t-pw" not in str(caught.value)


def test_a_postgresql_url_without_its_driver_is_a_one_line_error(monkeypatch) -> None:  # noqa: ANN001
    """The postgres extra is optional: without psycopg, a clear message, never a traceback
    (and never the password)."""
    import builtins

    import pytest

    from etl.errors import EtlError
    from etl.store.warehouse import Warehouse

    real_import = builtins.__import__

    def without_psycopg(name, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if name.split(".")[0] == "psycopg":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    for module in [m for m in __import__("sys").modules if m.startswith(("psycopg", "sqlalchemy.dialects.postgresql"))]:
        monkeypatch.delitem(__import__("sys").modules, module)
    monkeypatch.setattr(builtins, "__import__", without_psycopg)
    with pytest.raises(EtlError) as caught:
        Warehouse(load_settings(environ={"GROUP_ETL_WAREHOUSE_URL": "postgresql+psycopg://u:secret@h/db"}))
    assert str(caught.value) == ("warehouse postgresql+psycopg://u:***@h/db needs the PostgreSQL driver psycopg: "
                                 "pip install 'group-analytics-etl[postgres]'")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("GROUP_ETL_SHRINK_LIMIT", "half", "GROUP_ETL_SHRINK_LIMIT: expected a share between 0 and 1, such as 0.5, got 'half'"),
        ("GROUP_ETL_SHRINK_LIMIT", "1.5", "GROUP_ETL_SHRINK_LIMIT: must be between 0 and 1, got 1.5"),
        ("GROUP_ETL_LANDING_MARKER", "../_SUCCESS",
         "GROUP_ETL_LANDING_MARKER: a file name such as _SUCCESS, without '/', got '../_SUCCESS'"),
        ("GROUP_ETL_SESSION_TTL_SECONDS", "0", "GROUP_ETL_SESSION_TTL_SECONDS: must be at least 1, got 0"),
        ("GROUP_ETL_SESSION_TTL_SECONDS", "1d",
         "GROUP_ETL_SESSION_TTL_SECONDS: expected a whole number, got '1d'"),
    ],
)
def test_the_safety_settings_are_checked(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={name: value})
    assert str(caught.value) == message


def test_the_safety_settings_defaults() -> None:
    settings = load_settings(environ={})
    assert (settings.shrink_limit, settings.landing_marker) == (0.5, None)
    assert load_settings(environ={"GROUP_ETL_LANDING_MARKER": "_SUCCESS"}).landing_marker == "_SUCCESS"
    assert (settings.session_ttl, load_settings(environ={"GROUP_ETL_SESSION_TTL_SECONDS": "600"}).session_ttl) == (
        86_400, 600)


def test_a_password_is_masked_wherever_it_is_in_the_url() -> None:
    from etl.store.warehouse import safe_url

    assert safe_url("postgresql+psycopg://u:pw1@h/db?password=pw2&sslmode=require&sslkey=/k") == (
        "postgresql+psycopg://u:***@h/db?password=***&sslkey=***&sslmode=require")
    assert safe_url("duckdb:///data/warehouse.duckdb") == "duckdb:///data/warehouse.duckdb"


def test_a_wrong_engine_memory_is_a_one_line_setting_error() -> None:
    import subprocess
    import sys
    from pathlib import Path

    group_etl = str(Path(sys.executable).parent / "group-etl")
    done = subprocess.run([group_etl, "status"], capture_output=True, text=True,
                          env={**__import__("os").environ, "GROUP_ETL_ENGINE_MEMORY": "lots"}, timeout=120)
    assert (done.returncode, done.stderr.strip()) == (
        1, "error: GROUP_ETL_ENGINE_MEMORY: expected a size such as 768MB, got 'lots'")


def test_the_sensor_settings_are_seconds(monkeypatch) -> None:  # noqa: ANN001
    from etl.run.airflow import landing_sensor_args

    monkeypatch.delenv("GROUP_ETL_LANDING_TIMEOUT_SECONDS", raising=False)
    monkeypatch.delenv("GROUP_ETL_LANDING_POKE_SECONDS", raising=False)
    assert landing_sensor_args() == {"mode": "reschedule", "poke_interval": 300, "timeout": 21900,
                                     "pool": "default_pool"}
    monkeypatch.setenv("GROUP_ETL_LANDING_POKE_SECONDS", "ten")
    with pytest.raises(ConfigError) as caught:
        landing_sensor_args()
    assert str(caught.value) == "GROUP_ETL_LANDING_POKE_SECONDS: expected a number of seconds, such as 300, got 'ten'"
    monkeypatch.setenv("GROUP_ETL_LANDING_POKE_SECONDS", "1")
    monkeypatch.setenv("GROUP_ETL_LANDING_TIMEOUT_SECONDS", "-5")
    with pytest.raises(ConfigError, match="GROUP_ETL_LANDING_TIMEOUT_SECONDS: must be 0 or more seconds, got -5"):
        landing_sensor_args()


@pytest.mark.parametrize(("name", "value", "message"), [
    ("GROUP_ETL_TASK_RETRIES", "x", "GROUP_ETL_TASK_RETRIES: expected a whole number, got 'x'"),
    ("GROUP_ETL_TASK_RETRIES", "-1", "GROUP_ETL_TASK_RETRIES: must be at least 0, got -1"),
    ("GROUP_ETL_RETRY_DELAY_SECONDS", "abc", "GROUP_ETL_RETRY_DELAY_SECONDS: expected a number of seconds, "
                                             "such as 300, got 'abc'"),
    ("GROUP_ETL_MAX_RETRY_DELAY_SECONDS", "-5", "GROUP_ETL_MAX_RETRY_DELAY_SECONDS: must be 0 or more seconds, got -5"),
    ("GROUP_ETL_TIMEZONE", "Mars/Base", "GROUP_ETL_TIMEZONE: unknown time zone 'Mars/Base'"),
])
def test_the_dag_file_variables_are_checked_like_settings(monkeypatch, name: str, value: str, message: str) -> None:  # noqa: ANN001
    from etl.run.airflow import dag_defaults, project_timezone

    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        project_timezone()
        dag_defaults()
    assert str(caught.value) == message
