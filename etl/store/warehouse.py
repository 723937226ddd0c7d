"""The warehouse, as the rest of the package names it: `Warehouse(settings)` opens the
adapter of GROUP_ETL_WAREHOUSE_URL's database (etl.store.engines: DuckDB or
PostgreSQL), `open_warehouse(settings)` that or the Spark engine's. The adapters
and what they share live in etl.store.engines; this module only gives their names.
"""

from __future__ import annotations

from etl.store.engines import DuckDBWarehouse, PostgreSQLWarehouse, Warehouse, open_warehouse
from etl.store.engines.common import (
    json_value,
    lock_conflict,
    quote_ident,
    safe_url,
    transient_error,
)
from etl.store.engines.postgresql import _copy_blocks, _copy_text
from etl.store.engines.protocol import Connection, StageWarehouse

__all__ = [
    "Connection", "DuckDBWarehouse", "PostgreSQLWarehouse", "StageWarehouse", "Warehouse", "_copy_blocks",
    "_copy_text", "json_value", "lock_conflict", "open_warehouse", "quote_ident", "safe_url", "transient_error",
]
