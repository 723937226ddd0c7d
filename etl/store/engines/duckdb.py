"""The DuckDB adapter: the embedded default warehouse, one file.

DuckDB admits one writing process, and no writer while any reader holds the
file. So a reader opens the file read-only for each transaction and closes it
after (readers share it and never take the writer's lock), and a writer that
finds the file held waits with back-off up to GROUP_ETL_LOCK_TIMEOUT before it
gives up with WarehouseBusyError. Its file lock is the lock of a day's run; it
keeps its statistics as it writes; it scans Arrow rows itself, in parallel.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool, StaticPool

from etl.errors import EtlError, WarehouseBusyError
from etl.store.columnar import MEMORY_LIMIT
from etl.store.dialects import DuckDB
from etl.store.engines.base import Warehouse
from etl.store.engines.common import first_line, lock_conflict, quote_ident, safe_url

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("group_etl.warehouse")

# the longest pause between two attempts on a locked DuckDB file
_MAX_LOCK_PAUSE = 5.0


class DuckDBWarehouse(Warehouse):
    dialect = "duckdb"
    dialect_fragments = DuckDB()
    default_schema = "main"
    temp_schema = "temp"

    def _check_openable(self) -> None:
        """A reader never creates a DuckDB file: an in-memory database has nothing to read."""
        if self.read_only and not (self._in_file() and Path(self._file()).is_file()):
            raise EtlError(f"warehouse {safe_url(self.url)} does not exist: run `group-etl init`")

    def _in_file(self) -> bool:
        return bool(self.url.database) and self.url.database != ":memory:"

    def _file(self) -> str:
        return str(self.url.database)

    def _engine(self, url: URL) -> sa.Engine:
        if not self.read_only and self._in_file():
            Path(self._file()).parent.mkdir(parents=True, exist_ok=True)
        # A writer keeps one connection: DuckDB allows a single writer per file.
        # A reader opens the file read-only (readers share it, and never take the writer's
        # lock) for each transaction only: a writer waits for no reader longer than it reads.
        connect_args = {"read_only": True} if self.read_only else {}
        return sa.create_engine(url, poolclass=NullPool if self.read_only else StaticPool,
                                connect_args=connect_args)

    def _on_connect(self, dbapi_connection: Any) -> None:  # noqa: ANN401
        cursor = dbapi_connection.cursor()
        # Bounded memory: without a limit DuckDB takes 80% of RAM; past this it spills.
        cursor.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        cursor.execute("SET preserve_insertion_order = false")
        if not self.read_only:
            cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(self.schema)}")
            cursor.execute(f"SET search_path = '{self.schema}'")
        else:
            # a reader of a file without the schema sets nothing: check_version says why
            cursor.execute("SELECT count(*) FROM information_schema.schemata WHERE schema_name = ? "
                           "AND catalog_name = current_database()", [self.schema])
            if cursor.fetchone()[0]:
                cursor.execute(f"SET search_path = '{self.schema}'")
        cursor.close()

    def _opened(self) -> None:
        if not self.read_only:
            self._wait_for_file(self.settings.lock_timeout)

    def _wait_for_file(self, timeout: float) -> None:
        """Open the DuckDB file for writing; while another process holds it, wait with
        back-off up to `timeout` seconds (saying so once), then raise WarehouseBusyError.
        The connection stays open (StaticPool): from here on the file is this writer's."""
        deadline = time.monotonic() + timeout
        pause = 0.05
        waiting = False
        while True:
            try:
                with self.engine.connect():
                    return
            except DBAPIError as error:
                remaining = deadline - time.monotonic()
                if not lock_conflict(error) or remaining <= 0:
                    self.engine.dispose()
                    raise self._translated(error, waited=timeout) from None
                if not waiting:
                    log.warning("warehouse %s is in use by another process: waiting up to %gs for it "
                                "(GROUP_ETL_LOCK_TIMEOUT)", self._file(), timeout)
                    waiting = True
                time.sleep(min(pause, remaining))
                pause = min(pause * 2, _MAX_LOCK_PAUSE)

    def _translated(self, error: DBAPIError, waited: float | None = None) -> Exception:
        """Another process holding the file: WarehouseBusyError (retryable), saying who may wait."""
        if not lock_conflict(error):
            return super()._translated(error, waited)
        text = first_line(error.orig if error.orig else error)
        if self.read_only:
            return WarehouseBusyError(
                f"warehouse {safe_url(self.url)} is in use by another process that writes it "
                "(DuckDB lets readers in only while nobody writes; try again when it finishes): " + text)
        waits = f"; waited {waited:g}s (GROUP_ETL_LOCK_TIMEOUT)" if waited is not None else ""
        return WarehouseBusyError(f"warehouse {safe_url(self.url)} is in use by another process "
                                  f"(DuckDB allows one writer at a time{waits}): " + text)

    def bulk_insert(
        self, conn: Connection, table: str, columns: Sequence[str], rows: pa.Table | pa.RecordBatchReader,
        where: str = "true",
    ) -> None:
        """DuckDB scans the Arrow rows itself, in parallel, registered as a view."""
        import pyarrow as pa

        if isinstance(rows, pa.Table) and rows.num_rows == 0:
            return
        cols = ", ".join(quote_ident(c) for c in columns)
        select = f"SELECT {cols} FROM arrow_rows WHERE {where}"  # noqa: S608
        duck = conn.connection.driver_connection
        if duck is None:
            raise EtlError("the DuckDB connection is closed")
        duck.register("arrow_rows", rows)
        try:
            conn.exec_driver_sql(f"INSERT INTO {quote_ident(table)} ({cols}) {select}")
        finally:
            duck.unregister("arrow_rows")
