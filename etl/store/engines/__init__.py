"""One adapter per warehouse engine: `duckdb` and `postgresql` (through SQLAlchemy,
sharing `base.Warehouse`) and Spark's (`etl.store.spark.SparkWarehouse`). Each owns
its SQL fragments (an etl.store.dialects class), its transactions, locking, bulk
loads, statistics and how it carries out each write strategy of etl.store.tables;
what the stages use of any of them is `Adapter` and `Connection`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from etl.config import Settings
from etl.store.engines.base import Warehouse, adapter_for
from etl.store.engines.duckdb import DuckDBWarehouse
from etl.store.engines.postgresql import PostgreSQLWarehouse
from etl.store.engines.protocol import Connection, StageWarehouse
from etl.store.engines.protocol import Warehouse as Adapter

__all__ = ["DuckDBWarehouse", "PostgreSQLWarehouse", "Warehouse", "adapter_for", "open_warehouse"]


def open_warehouse(settings: Settings, *, read_only: bool = False) -> StageWarehouse:
    """The warehouse the settings name: the Spark engine's tables (GROUP_ETL_ENGINE=spark,
    etl.store.spark) or the database of GROUP_ETL_WAREHOUSE_URL."""
    if settings.engine == "spark":
        from etl.store.spark import SparkWarehouse

        return SparkWarehouse(settings, read_only=read_only)
    return Warehouse(settings, read_only=read_only)


if TYPE_CHECKING:  # every engine satisfies the protocols: mypy checks these assignments
    import sqlalchemy as sa

    from etl.store.spark import SparkConnection, SparkWarehouse

    def _conforms(sql: sa.Connection, spark: SparkConnection, adapter: Warehouse,
                  spark_warehouse: SparkWarehouse) -> None:
        _c: Connection = sql
        _s: Connection = spark
        _w: Adapter[sa.Connection] = adapter
        _sw: Adapter[SparkConnection] = spark_warehouse
