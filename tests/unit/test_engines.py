"""Each warehouse URL opens its engine's adapter (etl.store.engines), and each adapter
says what its engine does as capability attributes."""

from __future__ import annotations

from pathlib import Path


def test_a_warehouse_url_opens_its_engines_adapter(tmp_path: Path) -> None:
    from etl.config import load_settings
    from etl.store.engines import DuckDBWarehouse, PostgreSQLWarehouse, adapter_for
    from etl.store.warehouse import Warehouse

    assert adapter_for("duckdb:///x.duckdb") is DuckDBWarehouse
    assert adapter_for("postgresql://u@h/db") is PostgreSQLWarehouse
    assert adapter_for("postgresql+psycopg://u@h/db") is PostgreSQLWarehouse
    settings = load_settings({"GROUP_ETL_WAREHOUSE_URL": f"duckdb:///{tmp_path}/w.duckdb"})
    with Warehouse(settings) as warehouse:
        assert type(warehouse) is DuckDBWarehouse
        assert (warehouse.dialect, warehouse.schema, warehouse.server_side_cursor) == ("duckdb", "main", False)
        assert warehouse.executors is None
