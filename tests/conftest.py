"""Shared fixtures: warehouses on DuckDB and PostgreSQL, lakes on a folder and moto S3.

PostgreSQL: 127.0.0.1:5432, database `test`, user `postgres`, one throwaway
schema per test. Under CI=true it must be reachable; elsewhere the tests
skip with a clear message when it is not.
"""

from __future__ import annotations

import gzip
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from etl.config import Settings, load_settings
from etl.store.lake import Lake, open_lake
from etl.store.warehouse import Warehouse

PG_URL = os.environ.get("GROUP_ETL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

# Every warehouse table, and the columns that legitimately differ between runs.
TABLES = [
    "group_keys", "events", "event_groups", "group_profiles", "group_profile_history",
    "user_profiles", "user_groups", "group_daily_metrics", "cohorts", "rejected_records",
    "load_audit", "hot_shards", "profile_updates", "profile_uploads",
]
RUN_TIME_COLUMNS = {"load_audit": {"started_at", "finished_at"}}


def _postgres_available() -> str | None:
    try:
        engine = sa.create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as error:  # noqa: BLE001
        return f"{type(error).__name__}: {str(error).splitlines()[0]}"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    problem = _postgres_available()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but PostgreSQL at {PG_URL} is unreachable: {problem}")
        pytest.skip(f"PostgreSQL at {PG_URL} is unreachable ({problem}); start it to run these tests")
    return PG_URL


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(URL, schema) of an empty warehouse; the PostgreSQL schema is dropped afterwards."""
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 'warehouse.duckdb'}", "analytics"
        return
    url = request.getfixturevalue("postgres_url")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield url, schema
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()


@pytest.fixture
def lake_path(tmp_path: Path) -> Path:
    path = tmp_path / "lake"
    path.mkdir()
    return path


@pytest.fixture
def settings(warehouse_url: tuple[str, str], lake_path: Path) -> Settings:
    url, schema = warehouse_url
    return make_settings(url, str(lake_path), schema)


def make_settings(url: str, lake_url: str, schema: str, **extra: str) -> Settings:
    env = {"GROUP_ETL_WAREHOUSE_URL": url, "GROUP_ETL_LAKE_URL": lake_url, "GROUP_ETL_SCHEMA": schema}
    env.update(extra)
    return load_settings(environ=env)


@pytest.fixture
def warehouse(settings: Settings) -> Iterator[Warehouse]:
    with Warehouse(settings) as wh:
        wh.init()
        yield wh


@pytest.fixture
def lake(settings: Settings) -> Lake:
    return open_lake(settings.lake_url)


@pytest.fixture
def s3_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto-mocked bucket for boto3 (our only S3 client)."""
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        import boto3

        boto3.client("s3").create_bucket(Bucket="lake-bucket")
        yield "lake-bucket"


def event(name: str, distinct_id: str | None, time: float | None, insert_id: str | None = None,
          **props: object) -> dict:
    """A Mixpanel event record; None leaves the field out."""
    properties: dict = {}
    if distinct_id is not None:
        properties["distinct_id"] = distinct_id
    if time is not None:
        properties["time"] = time
    if insert_id is not None:
        properties["$insert_id"] = insert_id
    properties.update(props)
    return {"event": name, "properties": properties}


def write_jsonl(lake: Lake, key: str, records: list, compress: bool = False) -> None:
    lines = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records).encode()
    lake.write(key, gzip.compress(lines, mtime=0) if compress else lines)


def snapshot(warehouse: Warehouse) -> dict[str, list[tuple]]:
    """Every table's rows, sorted, with JSON normalised and run times left out."""
    out = {}
    with warehouse.begin() as conn:
        for table in TABLES:
            result = conn.execute(sa.text(f"SELECT * FROM {table}"))  # noqa: S608 - fixed names
            columns = [c for c in result.keys() if c not in RUN_TIME_COLUMNS.get(table, set())]
            rows = [tuple(_normal(row._mapping[c]) for c in columns) for row in result]
            out[table] = sorted(rows, key=repr)
    return out


def _normal(value: object) -> object:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.dumps(json.loads(value), sort_keys=True)
        except ValueError:
            return value
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value
