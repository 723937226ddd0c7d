"""Shared fixtures: warehouses on DuckDB and PostgreSQL, lakes on a folder and moto S3.

PostgreSQL: 127.0.0.1:5432, database `test`, user `postgres`, one throwaway
schema per test. Under CI=true it must be reachable; elsewhere the tests
skip with a clear message when it is not.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from etl.config import Settings
from etl.store.lake import Lake, open_lake
from etl.store.warehouse import Warehouse
from tests.support import make_settings

PG_URL = os.environ.get("GROUP_ETL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

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


ENGINES = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]


@contextlib.contextmanager
def _empty_warehouse(engine: str, folder: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    if engine == "duckdb":
        yield f"duckdb:///{folder / 'warehouse.duckdb'}", "analytics"
        return
    url = request.getfixturevalue("postgres_url")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        yield url, schema
    finally:
        engine_ = sa.create_engine(url)
        with engine_.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine_.dispose()


@pytest.fixture(params=ENGINES)
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(URL, schema) of an empty warehouse; the PostgreSQL schema is dropped afterwards."""
    with _empty_warehouse(request.param, tmp_path, request) as url:
        yield url


@pytest.fixture(scope="module", params=ENGINES)
def module_settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings of an empty warehouse and lake shared by a module's tests, on each engine:
    for tests that only read what a module-scoped fixture built once."""
    folder = tmp_path_factory.mktemp("shared")
    (folder / "lake").mkdir()
    with _empty_warehouse(request.param, folder, request) as (url, schema):
        yield make_settings(url, str(folder / "lake"), schema)


@pytest.fixture
def lake_path(tmp_path: Path) -> Path:
    path = tmp_path / "lake"
    path.mkdir()
    return path


@pytest.fixture
def settings(warehouse_url: tuple[str, str], lake_path: Path) -> Settings:
    url, schema = warehouse_url
    return make_settings(url, str(lake_path), schema,
                         GROUP_ETL_SESSION_DIR=str(lake_path.parent / "export-sessions"))


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


