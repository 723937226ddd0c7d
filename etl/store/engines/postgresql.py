"""The PostgreSQL adapter (through psycopg 3).

Sessions of a reader are read-only; a writer's take the engine's writer settings
(etl.store.dialects.PostgreSQL.writer_settings). Two runs of a day are kept apart by
a transaction-scoped advisory lock (the second waits), and so are two migrations.
Rows are loaded in bulk through COPY in its text format, which an in-process DuckDB
writes while PostgreSQL reads it (`_copy_blocks`). Statistics of a table a day's
later statements read are refreshed at once (`analyze`); a big export streams
through a server-side cursor.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

from etl.errors import EtlError
from etl.store.dialects import PostgreSQL
from etl.store.engines.base import Warehouse
from etl.store.engines.common import quote_ident, safe_url

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa


class PostgreSQLWarehouse(Warehouse):
    dialect = "postgresql"
    dialect_fragments = PostgreSQL()
    default_schema = "public"
    temp_schema = "pg_temp"
    server_side_cursor = True

    @staticmethod
    def driver_url(url: URL) -> URL:
        return url.set(drivername="postgresql+psycopg") if url.drivername == "postgresql" else url

    def _engine(self, url: URL) -> sa.Engine:
        try:
            return sa.create_engine(url, pool_pre_ping=True)
        except (ModuleNotFoundError, sa.exc.NoSuchModuleError):  # the driver is an optional extra
            raise EtlError(f"warehouse {safe_url(url)} needs the PostgreSQL driver psycopg: "
                           "pip install 'group-analytics-etl[postgres]'") from None

    def _on_connect(self, dbapi_connection: Any) -> None:  # noqa: ANN401
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET search_path TO {quote_ident(self.schema)}")
        if self.read_only:
            cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        else:
            for name, value in self.dialect_fragments.writer_settings:
                cursor.execute(f"SET {name} = {value}")
        cursor.close()
        dbapi_connection.commit()

    def _before_migrate(self, conn: Connection) -> None:
        conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(self.schema)}")
        # Serialise concurrent migrations (the lock `init` always took): DDL races otherwise.
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": self.lock_id("init")})

    def lock(self, conn: Connection, name: str) -> None:
        """An advisory lock held to the transaction's end: the second run waits."""
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": self.lock_id(name)})

    def analyze(self, conn: Connection, table: str) -> None:
        """The planner's statistics of a table this transaction filled: its plans for
        the statements that follow depend on them, and autovacuum never sees a
        temporary table (measured: without them a 1M-event day plans merge joins on
        an estimate of 8k rows)."""
        conn.exec_driver_sql(f"ANALYZE {quote_ident(table)}")

    def bulk_insert(
        self, conn: Connection, table: str, columns: Sequence[str], rows: pa.Table | pa.RecordBatchReader,
        where: str = "true",
    ) -> None:
        """COPY in its text format, which an in-process DuckDB writes while PostgreSQL
        reads it (`_copy_blocks`)."""
        import pyarrow as pa

        from etl.store.columnar import columnar_engine

        if isinstance(rows, pa.Table) and rows.num_rows == 0:
            return
        cols = ", ".join(quote_ident(c) for c in columns)
        copy_sql = f"COPY {quote_ident(table)} ({cols}) FROM STDIN"
        texts = ", ".join(_copy_text(quote_ident(c)) for c in columns)
        as_text = f"SELECT {texts} FROM arrow_rows WHERE {where}"  # noqa: S608
        driver = conn.connection.driver_connection
        if driver is None:
            raise EtlError("the PostgreSQL connection is closed")
        cursor = driver.cursor()
        with columnar_engine() as duck, cursor.copy(copy_sql) as copy:
            # DuckDB's asynchronous writes wait for the pipe by spinning: 5.2 CPU-seconds
            # instead of 2.0 to write 1M events for a reader slower than DuckDB, a core
            # taken from the PostgreSQL backend that reads them
            duck.con.execute("SET async_threads = 0")
            duck.con.register("arrow_rows", rows)
            with contextlib.closing(_copy_blocks(duck.con, as_text)) as blocks:
                for block in blocks:
                    copy.write(block)


def _copy_text(column: str) -> str:
    """A column as a field of COPY's text format: NULL as \\N; backslash, tab, newline and
    carriage return escaped. PostgreSQL reads it with less work than CSV, whose JSON
    properties double every quote (measured on 1M events: the COPY's backend CPU
    5.0-6.0 s against 5.8-7.1 s)."""
    escaped = f"CAST({column} AS VARCHAR)"
    for char, escape in _COPY_ESCAPES:  # the backslash first
        escaped = f"replace({escaped}, {char}, '{escape}')"
    return f"coalesce({escaped}, '\\N') AS {column}"


# (a character as DuckDB SQL, its escape in COPY's text format)
_COPY_ESCAPES = (("'\\'", "\\\\"), ("chr(9)", "\\t"), ("chr(10)", "\\n"), ("chr(13)", "\\r"))


def _copy_blocks(duck: duckdb.DuckDBPyConnection, select: str) -> Generator[bytes, None, None]:
    """The rows of `select` (every column text, see `_copy_text`) as lines of tab-separated
    fields, in blocks: DuckDB writes them in a thread into a pipe while the caller sends
    what it has read to COPY, so PostgreSQL parses while DuckDB formats (measured on 1M
    events: the whole file took 2.7-4.1 s to write before the COPY could start).
    A failed write raises here, before the caller's COPY ends, so the COPY is aborted;
    a caller that stops reading closes the pipe, and the writer stops at a broken pipe."""
    read_end, write_end = os.pipe()
    failed: list[BaseException] = []

    def write() -> None:
        try:  # /dev/fd/N: DuckDB opens the pipe's write end as a file (never a file beside it)
            duck.execute(f"COPY ({select}) TO '/dev/fd/{write_end}' (FORMAT csv, HEADER false, DELIMITER '\t', "
                         "QUOTE '', ESCAPE '', USE_TMP_FILE false)").fetchall()
        except BaseException as error:  # noqa: BLE001 - raised in the reading thread
            failed.append(error)
        finally:
            os.close(write_end)  # the reader's end of file

    writer = threading.Thread(target=write, name="bulk-insert-copy", daemon=True)
    writer.start()
    try:
        with os.fdopen(read_end, "rb") as reader:
            while block := reader.read(4 * 1024 * 1024):
                yield block
    finally:
        writer.join()
    if failed:
        raise failed[0]
