"""The warehouse: DuckDB (embedded default) or PostgreSQL, through SQLAlchemy.

All tables live in one schema, set as the connection's search path, so the
SQL files in `sql/` name tables bare. Identifiers from users or data go
through `quote_ident`; values are always bound parameters.

Writers (`Warehouse(settings)`) bring the schema up to date with `migrate()`.
Readers (`Warehouse(settings, read_only=True)`) never write and never run DDL:
DuckDB opens the file read-only (several readers may share it, and a reader
never takes the single writer's lock), PostgreSQL sessions are read-only, and
the schema version is checked when the reader opens.

DuckDB admits one writing process, and no writer while any reader holds the
file. So a reader opens the file for each transaction and closes it after,
and a writer that finds the file held waits with back-off up to
GROUP_ETL_LOCK_TIMEOUT before it gives up with WarehouseBusyError.
`transient_error` is the one place that tells a fault worth retrying (a lock,
a lost connection, a server restarting) from wrong data or settings.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool, StaticPool

from etl.config import Settings
from etl.errors import ConfigError, EtlError, WarehouseBusyError, WarehouseUnavailableError
from etl.store.columnar import MEMORY_LIMIT
from etl.store.dialects import dialect_for
from etl.store.migrations import latest_version, pending
from etl.store.sql import sql_clause, strip_comments
from etl.store.tables import EVERY_ROW, declaration

if TYPE_CHECKING:  # Arrow (and numpy, which it imports) only where rows are loaded: issue 21
    import duckdb
    import pyarrow as pa


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB and PostgreSQL alike (both use SQL-standard quoting)."""
    if "\x00" in name:
        raise EtlError("identifiers may not contain a NUL character")
    return '"' + name.replace('"', '""') + '"'


# query parameters that may carry a secret (?password=..., ?sslkey=..., ?token=...)
_SECRET_PARAMETER = re.compile(r"pass|secret|token|key|auth|cred", re.IGNORECASE)


def safe_url(url: str | URL) -> str:
    """The URL with its password masked, in the user part and in query parameters,
    for messages and logs."""
    try:
        parsed = make_url(url)
        hidden = {name: "***" for name in parsed.query if _SECRET_PARAMETER.search(name)}
        rendered = parsed.update_query_dict(hidden).render_as_string(hide_password=True)
        return rendered.replace("=%2A%2A%2A", "=***")
    except Exception:  # noqa: BLE001 - never echo something unparseable
        return "<warehouse URL>"


log = logging.getLogger("group_etl.warehouse")

# PostgreSQL SQLSTATEs worth a retry: connection exceptions (08...), the server shutting
# down or starting (57P01-57P03), too many connections, serialization failures, deadlocks.
_TRANSIENT_SQLSTATE = re.compile(r"^(08...|57P0[123]|53300|40001|40P01)$")
# A refused login carries no SQLSTATE in psycopg: these say the settings are wrong.
_WRONG_LOGIN = re.compile(r"does not exist|authentication failed|no pg_hba\.conf entry|permission denied"
                          r"|password", re.IGNORECASE)
# the longest pause between two attempts on a locked DuckDB file
_MAX_LOCK_PAUSE = 5.0


def lock_conflict(error: BaseException) -> bool:
    """DuckDB's "Could not set lock on file": another process holds the file."""
    orig = getattr(error, "orig", None) or error
    text = str(orig).lower()
    return type(orig).__module__.startswith(("duckdb", "_duckdb")) and (
        "could not set lock" in text or "conflicting lock" in text)


def transient_error(error: BaseException) -> bool:
    """A warehouse error that a later attempt may not meet: a DuckDB file locked by
    another process, a connection refused, lost or invalidated (a PostgreSQL restart,
    a terminated backend), too many connections, a serialization failure or deadlock.
    Wrong SQL, wrong data, a wrong password or database name are not: retrying cannot help."""
    if isinstance(error, WarehouseBusyError | WarehouseUnavailableError):
        return True
    if lock_conflict(error):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    orig = getattr(error, "orig", None) or error
    if type(orig).__module__.startswith("psycopg"):
        import psycopg

        if isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError):
            state = getattr(orig, "sqlstate", None)
            if state is None:  # refused, reset or closed before a query: unless the login was wrong
                return not _WRONG_LOGIN.search(str(orig))
            return bool(_TRANSIENT_SQLSTATE.match(state))
        state = getattr(orig, "sqlstate", None)
        return bool(state and _TRANSIENT_SQLSTATE.match(state))
    return False


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _duckdb_file_exists(url: URL) -> bool:
    """A reader never creates a DuckDB file: an in-memory database has nothing to read."""
    return bool(url.database) and url.database != ":memory:" and Path(url.database).is_file()


def json_value(text: str | None) -> object:
    """A JSON column selected as text (`CAST(col AS VARCHAR)`), decoded.

    Selecting JSON as text and decoding here gives the same Python value on
    both engines (duckdb-engine and psycopg decode JSON columns differently).
    """
    return None if text is None else json.loads(text)


def open_warehouse(settings: Settings, *, read_only: bool = False):  # noqa: ANN201 - either engine's
    """The warehouse the settings name: the Spark engine's tables (GROUP_ETL_ENGINE=spark,
    etl.store.spark) or the database of GROUP_ETL_WAREHOUSE_URL."""
    if settings.engine == "spark":
        from etl.store.spark import SparkWarehouse

        return SparkWarehouse(settings, read_only=read_only)
    return Warehouse(settings, read_only=read_only)


class Warehouse:
    def __init__(self, settings: Settings, *, read_only: bool = False) -> None:
        url = make_url(settings.warehouse_url)
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        self.settings = settings
        self.url = url
        self.dialect = url.get_backend_name()
        self.schema = settings.schema or ("main" if self.dialect == "duckdb" else "public")
        self.read_only = read_only
        if read_only and self.dialect == "duckdb" and not _duckdb_file_exists(url):
            raise EtlError(f"warehouse {safe_url(url)} does not exist: run `group-etl init`")
        self.engine = self._create_engine(url)
        if self.dialect == "duckdb" and not read_only:
            self._wait_for_file(settings.lock_timeout)
        if read_only:
            try:
                self.check_version()
            except BaseException:
                self.engine.dispose()
                raise

    def _create_engine(self, url: URL) -> sa.Engine:
        if self.dialect == "duckdb":
            if not self.read_only and url.database and url.database != ":memory:":
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            # A writer keeps one connection: DuckDB allows a single writer per file.
            # A reader opens the file read-only (readers share it, and never take the writer's
            # lock) for each transaction only: a writer waits for no reader longer than it reads.
            connect_args = {"read_only": True} if self.read_only else {}
            engine = sa.create_engine(url, poolclass=NullPool if self.read_only else StaticPool,
                                      connect_args=connect_args)
        else:
            try:
                engine = sa.create_engine(url, pool_pre_ping=True)
            except (ModuleNotFoundError, sa.exc.NoSuchModuleError):  # the driver is an optional extra
                raise EtlError(f"warehouse {safe_url(url)} needs the PostgreSQL driver psycopg: "
                               "pip install 'group-analytics-etl[postgres]'") from None
        schema = quote_ident(self.schema)

        @sa.event.listens_for(engine, "connect")
        def _set_search_path(dbapi_connection, _record) -> None:  # noqa: ANN001
            cursor = dbapi_connection.cursor()
            if self.dialect == "duckdb":
                # Bounded memory: without a limit DuckDB takes 80% of RAM; past this it spills.
                cursor.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
                cursor.execute("SET preserve_insertion_order = false")
                if not self.read_only:
                    cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                    cursor.execute(f"SET search_path = '{self.schema}'")
                else:
                    # a reader of a file without the schema sets nothing: check_version says why
                    cursor.execute("SELECT count(*) FROM information_schema.schemata WHERE schema_name = ? "
                                   "AND catalog_name = current_database()", [self.schema])
                    if cursor.fetchone()[0]:
                        cursor.execute(f"SET search_path = '{self.schema}'")
            else:
                cursor.execute(f"SET search_path TO {schema}")
                if self.read_only:
                    cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                else:
                    for name, value in dialect_for(self.dialect).writer_settings:
                        cursor.execute(f"SET {name} = {value}")
            cursor.close()
            if self.dialect == "postgresql":
                dbapi_connection.commit()

        return engine

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: everything inside commits together or not at all."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except DBAPIError as error:
            # no statement: refused while connecting (a bad URL parameter, a wrong login)
            if error.statement is None or isinstance(error, sa.exc.OperationalError) or transient_error(error):
                raise self._translated(error) from None
            raise  # wrong SQL or data: the caller's error, as raised
        except EtlError:
            raise
        except Exception as error:
            if not transient_error(error):  # a driver's own error, raised past SQLAlchemy
                raise
            raise WarehouseUnavailableError(f"warehouse {safe_url(self.url)}: {_first_line(error)}") from None

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

    def _file(self) -> str:
        return str(self.url.database)

    def _translated(self, error: DBAPIError, waited: float | None = None) -> Exception:
        """The error to raise for a database error: retryable (a StorageError) when it is
        transient, else an EtlError with a one-line reason; never the URL's password."""
        text = _first_line(error.orig if error.orig else error)
        if lock_conflict(error):
            if self.read_only:
                return WarehouseBusyError(
                    f"warehouse {safe_url(self.url)} is in use by another process that writes it "
                    "(DuckDB lets readers in only while nobody writes; try again when it finishes): " + text)
            waits = f"; waited {waited:g}s (GROUP_ETL_LOCK_TIMEOUT)" if waited is not None else ""
            return WarehouseBusyError(f"warehouse {safe_url(self.url)} is in use by another process "
                                      f"(DuckDB allows one writer at a time{waits}): " + text)
        described = f"warehouse {safe_url(self.url)}: {text}"
        return WarehouseUnavailableError(described) if transient_error(error) else EtlError(described)

    def close(self) -> None:
        self.engine.dispose()

    def column_types(self, table: str) -> dict[str, str]:
        """Column -> lower-case SQL type, in table order, from information_schema; {} for no such table."""
        with self.begin() as conn:
            found = conn.execute(
                sa.text("SELECT column_name, data_type FROM information_schema.columns "
                        "WHERE table_schema = :s AND table_name = :t ORDER BY ordinal_position"),
                {"s": self.schema, "t": table},
            ).all()
        return {column: data_type.lower() for column, data_type in found}

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- schema -----------------------------------------------------------------

    def migrate(self) -> int:
        """Apply every migration the warehouse has not recorded, all in one transaction,
        recording each in schema_version; safe to repeat. Returns the version. A
        warehouse newer than this code is refused, untouched."""
        if self.read_only:
            raise EtlError(f"warehouse {safe_url(self.url)} is open read-only: it cannot be migrated")
        with self.begin() as conn:
            if self.dialect == "postgresql":
                conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(self.schema)}")
                # Serialise concurrent migrations (the lock `init` always took): DDL races otherwise.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": self.lock_id("init")})
            applied = self._applied(conn)
            current = max(applied, default=None)
            latest = latest_version()
            if current is not None and current > latest:
                raise EtlError(self._newer(current, latest))
            for migration in pending(applied):
                for statement in migration.statements(self.dialect):
                    conn.exec_driver_sql(statement)
                conn.execute(sa.text("INSERT INTO schema_version (version, applied_at) VALUES (:v, :at)"),
                             {"v": migration.version, "at": datetime.now(UTC)})
            self._check_timezone(conn, fresh=current is None)
        return max(current or 0, latest)

    def _check_timezone(self, conn: Connection, fresh: bool) -> None:
        """The warehouse keeps the project time zone it was built in: event dates and days
        are calendar days of that zone, so a writer with another one is refused (it would
        re-date events silently). A warehouse from before version 7 records the writer's."""
        wanted = self.settings.timezone
        recorded = conn.execute(sa.text("SELECT value FROM project_settings WHERE name = 'timezone'")).scalar()
        if recorded is None:
            conn.execute(sa.text("INSERT INTO project_settings (name, value, recorded_at) "
                                 "VALUES ('timezone', :v, :at)"), {"v": wanted, "at": datetime.now(UTC)})
            if not fresh:
                log.warning("warehouse %s: recorded the project time zone %s (GROUP_ETL_TIMEZONE); "
                            "writers with another time zone are refused from now on", self._where(), wanted)
        elif recorded != wanted:
            raise ConfigError(f"GROUP_ETL_TIMEZONE is {wanted} but warehouse {self._where()} was built in "
                              f"{recorded}: its event dates and days are in {recorded}; "
                              f"set GROUP_ETL_TIMEZONE={recorded}")

    def recorded_timezone(self) -> str | None:
        """The project time zone the warehouse records (None before its first writer)."""
        with self.begin() as conn:
            return conn.execute(sa.text("SELECT value FROM project_settings WHERE name = 'timezone'")).scalar()

    def init(self) -> int:
        """Create the schema, or bring it up to date: `migrate()`, under the name of `group-etl init`."""
        return self.migrate()

    def schema_version(self) -> int | None:
        """The warehouse's schema version: None when it has no schema yet."""
        with self.begin() as conn:
            return self._version(conn)

    def check_version(self) -> int:
        """The schema version, when it is this code's; otherwise a clear EtlError saying what to run."""
        with self.begin() as conn:
            applied = self._applied(conn)
        current = max(applied, default=None)
        latest = latest_version()
        where = self._where()
        if current is None:
            raise EtlError(f"warehouse {where} is not initialised: run `group-etl init`")
        if current > latest:
            raise EtlError(self._newer(current, latest))
        if current < latest:
            raise EtlError(f"warehouse {where}: schema version {current} is older than this group-etl's "
                           f"{latest}: run `group-etl migrate`")
        missing = [m.version for m in pending(applied)]
        if missing:  # an earlier-numbered migration that landed after a later one
            raise EtlError(f"warehouse {where}: schema version {current} lacks migration "
                           f"{', '.join(map(str, missing))} of this group-etl: run `group-etl migrate`")
        return current

    def _version(self, conn: Connection) -> int | None:
        """max(version) of schema_version, or None when the table is absent (read, never created)."""
        return max(self._applied(conn), default=None)

    def _applied(self, conn: Connection) -> set[int]:
        """The versions schema_version records; empty when the table is absent (read, never created)."""
        exists = conn.execute(sa.text(
            "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() "
            "AND table_schema = :s AND table_name = 'schema_version'"), {"s": self.schema}).scalar()
        if not exists:
            return set()
        table = f"{quote_ident(self.schema)}.schema_version"
        return set(conn.execute(sa.text(f"SELECT version FROM {table}")).scalars())  # noqa: S608 - quoted

    def _where(self) -> str:
        return f"{safe_url(self.url)} (schema {self.schema})"

    def _newer(self, current: int, latest: int) -> str:
        return (f"warehouse {self._where()}: schema version {current} is newer than this group-etl "
                f"(which knows up to {latest}): upgrade group-etl")

    def lock_id(self, name: str) -> int:
        """A stable signed 64-bit id for a PostgreSQL advisory lock on `name` in this schema."""
        digest = hashlib.blake2b(f"{self.schema}\x1f{name}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big", signed=True)

    def lock(self, conn: Connection, name: str) -> None:
        """Hold a transaction-scoped lock so two runs of one day never interleave.

        PostgreSQL: an advisory lock (the second run waits). DuckDB: its file
        lock already admits a single writing process.
        """
        if self.dialect == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": self.lock_id(name)})

    # -- writes (etl.store.tables declares each table's) -----------------------------

    def write(
        self, conn: Connection, name: str, columns: Sequence[str], *, query: str | None = None,
        rows: pa.Table | pa.RecordBatchReader | None = None, where: str = "true", values: list[dict] | None = None,
        params: dict | None = None, partitions: Sequence | None = None, replacing: str | None = EVERY_ROW,
    ) -> None:
        """Write table `name` as etl.store.tables declares it: the rows of `partitions` (a
        `partitions` table) or of the whole table that match `replacing` are replaced by
        the new rows, all inside the caller's transaction (a DELETE, then an INSERT).

        The new rows are a rendered SELECT of ours (`query`, its columns `columns` in
        order, `params` bound), Arrow rows (`rows`, those matching `where`), a few rows
        as dicts by column (`values`), or none."""
        declared = declaration(name)
        params = dict(params or {})
        conditions = []
        if declared.strategy == "partitions":
            if partitions is None:
                raise EtlError(f"a write of {name} names the {declared.partition} partitions it replaces")
            if not partitions:
                return
            conditions.append(f"{quote_ident(declared.partition)} IN :replaced_partitions")
            params["replaced_partitions"] = list(partitions)
        if replacing is not None:  # (SQLAlchemy would take a `:name` in a comment for a parameter)
            conditions.append(f"({strip_comments(replacing)})")
            delete = f"DELETE FROM {quote_ident(name)} WHERE {' AND '.join(conditions)}"  # noqa: S608 - ours
            conn.execute(sql_clause(delete, params), params)
        if query is not None:
            cols = ", ".join(quote_ident(c) for c in columns)
            insert = f"INSERT INTO {quote_ident(name)} ({cols}) {strip_comments(query)}"
            conn.execute(sql_clause(insert, params), params)
        elif rows is not None:
            self.bulk_insert(conn, name, columns, rows, where)
        elif values:
            cols = ", ".join(quote_ident(c) for c in columns)
            markers = ", ".join(f":{c}" for c in columns)
            conn.execute(sa.text(f"INSERT INTO {quote_ident(name)} ({cols}) VALUES ({markers})"), values)  # noqa: S608
        if declared.analyze:
            self.analyze(conn, name)

    def scratch(self, conn: Connection, name: str, query: str, params: dict | None = None) -> None:
        """A temporary table of a query's rows, for the statements after it in this
        transaction (with statistics on PostgreSQL, see `analyze`)."""
        self.drop_temp(conn, name)
        create = f"CREATE TEMP TABLE {quote_ident(name)} AS {strip_comments(query)}"
        conn.execute(sql_clause(create, params), params or {})
        self.analyze(conn, name)

    def scratch_rows(self, conn: Connection, name: str, columns: dict[str, str], rows: pa.Table) -> None:
        """A temporary table of Arrow rows; `columns` are its columns' SQL types."""
        self.drop_temp(conn, name)
        typed = ", ".join(f"{quote_ident(c)} {kind}" for c, kind in columns.items())
        conn.exec_driver_sql(f"CREATE TEMP TABLE {quote_ident(name)} ({typed})")
        self.bulk_insert(conn, name, list(columns), rows)

    # -- bulk loading -------------------------------------------------------------

    def drop_temp(self, conn: Connection, name: str) -> None:
        """Drop one of our temporary tables if it exists, never a warehouse table that
        happens to share its name (an unqualified DROP would reach it)."""
        schema = "temp" if self.dialect == "duckdb" else "pg_temp"
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {schema}.{quote_ident(name)}")

    def analyze(self, conn: Connection, table: str) -> None:
        """Refresh PostgreSQL's statistics of a table this transaction filled: its plans
        for the statements that follow depend on them, and autovacuum never sees a
        temporary table (measured: without them a 1M-event day plans merge joins on
        an estimate of 8k rows). DuckDB keeps its statistics as it writes."""
        if self.dialect == "postgresql":
            conn.exec_driver_sql(f"ANALYZE {quote_ident(table)}")

    def bulk_insert(
        self, conn: Connection, table: str, columns: Sequence[str], rows: pa.Table | pa.RecordBatchReader,
        where: str = "true",
    ) -> None:
        """Append Arrow rows (a table, or a stream such as a parse's parts) that match
        `where` (a condition of ours, never user input) to a table inside the caller's
        transaction.

        DuckDB scans the rows itself, in parallel; PostgreSQL gets them through COPY
        in its text format, which an in-process DuckDB writes while PostgreSQL reads
        it (`_copy_blocks`), never row by row from Python.
        """
        import pyarrow as pa

        if isinstance(rows, pa.Table) and rows.num_rows == 0:
            return
        cols = ", ".join(quote_ident(c) for c in columns)
        select = f"SELECT {cols} FROM arrow_rows WHERE {where}"  # noqa: S608
        if self.dialect == "duckdb":
            duck = conn.connection.driver_connection
            duck.register("arrow_rows", rows)
            try:
                conn.exec_driver_sql(f"INSERT INTO {quote_ident(table)} ({cols}) {select}")
            finally:
                duck.unregister("arrow_rows")
            return
        from etl.store.columnar import columnar_engine

        copy_sql = f"COPY {quote_ident(table)} ({cols}) FROM STDIN"
        texts = ", ".join(_copy_text(quote_ident(c)) for c in columns)
        as_text = f"SELECT {texts} FROM arrow_rows WHERE {where}"  # noqa: S608
        cursor = conn.connection.driver_connection.cursor()
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


def _copy_blocks(duck: duckdb.DuckDBPyConnection, select: str) -> Iterator[bytes]:
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
