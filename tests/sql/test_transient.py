"""Which warehouse errors are transient (retried in Airflow like storage errors) and
which are wrong requests (failed at once): `etl.store.warehouse.transient_error`,
the one place that tells them apart, on both engines. DuckDB's transient error,
a file locked by another process, is tested with real processes in
tests/e2e/test_readers.py."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from etl.errors import EtlError, StorageError, WarehouseUnavailableError
from etl.store.warehouse import Warehouse, transient_error
from tests.conftest import ENGINES
from tests.support import make_settings


@pytest.mark.parametrize("warehouse_url", ENGINES[1:], indirect=True)
def test_a_terminated_postgres_backend_is_a_retryable_error(postgres_url, warehouse_url, tmp_path) -> None:  # noqa: ANN001
    url, schema = warehouse_url
    settings = make_settings(url, str(tmp_path), schema)
    killer = sa.create_engine(postgres_url)
    with Warehouse(settings) as warehouse:
        warehouse.migrate()
        with pytest.raises(WarehouseUnavailableError) as caught, warehouse.begin() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            with killer.begin() as other:  # a server restart, as the run sees it
                assert other.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar() is True
            conn.exec_driver_sql("SELECT count(*) FROM events")
        assert isinstance(caught.value, StorageError) and transient_error(caught.value)
        assert str(caught.value).startswith("warehouse postgresql+psycopg://postgres@127.0.0.1:5432/test: ")
        with warehouse.begin() as conn:  # the pool reconnects: the retry works
            assert conn.exec_driver_sql("SELECT count(*) FROM events").scalar() == 0
    killer.dispose()


@pytest.mark.postgres
def test_a_postgres_server_that_does_not_answer_is_retryable(postgres_url, tmp_path) -> None:  # noqa: ANN001
    settings = make_settings("postgresql+psycopg://etl:s3cret@127.0.0.1:9/test?connect_timeout=5",
                             str(tmp_path), "x")
    with Warehouse(settings) as warehouse, pytest.raises(WarehouseUnavailableError) as caught:
        warehouse.migrate()
    assert str(caught.value).startswith("warehouse postgresql+psycopg://etl:***@127.0.0.1:9/test?connect_timeout=5: ")
    assert "s3cret" not in str(caught.value)


@pytest.mark.postgres
def test_a_wrong_database_name_fails_at_once(postgres_url, tmp_path) -> None:  # noqa: ANN001
    settings = make_settings(postgres_url.rsplit("/", 1)[0] + "/no_such_database", str(tmp_path), "x")
    with Warehouse(settings) as warehouse, pytest.raises(EtlError) as caught:
        warehouse.migrate()
    assert not isinstance(caught.value, StorageError) and not transient_error(caught.value)
    assert 'database "no_such_database" does not exist' in str(caught.value)


def test_a_bad_connection_parameter_is_one_line_without_the_password(postgres_url, tmp_path) -> None:  # noqa: ANN001
    url = postgres_url.replace("postgres@", "postgres:s3cret@") + "?connect_timeout=x"
    with Warehouse(make_settings(url, str(tmp_path), "x")) as warehouse, pytest.raises(EtlError) as caught:
        warehouse.migrate()
    assert not isinstance(caught.value, StorageError)
    masked = url.replace(":s3cret@", ":***@").replace("postgresql://", "postgresql+psycopg://")
    assert str(caught.value) == f"warehouse {masked}: bad value for connect_timeout: 'x'"


@pytest.mark.parametrize("warehouse_url", ENGINES, indirect=True)
def test_wrong_sql_or_data_is_not_transient(warehouse) -> None:  # noqa: ANN001
    with pytest.raises(sa.exc.DBAPIError) as caught, warehouse.begin() as conn:
        conn.exec_driver_sql("SELECT no_such_column FROM events")
    assert not transient_error(caught.value)
    with pytest.raises(sa.exc.IntegrityError) as caught, warehouse.begin() as conn:
        conn.exec_driver_sql("INSERT INTO group_keys (data_group_id, group_key) VALUES (NULL, NULL)")
    assert not transient_error(caught.value)
    assert not transient_error(EtlError("wrong"))
