"""What the SQL engines' adapters share (DuckDB, PostgreSQL, through SQLAlchemy):
transactions and the translation of their errors, the schema's migrations and
version, and each write strategy of etl.store.tables carried out as a DELETE then
an INSERT inside the caller's transaction.

All tables live in one schema, set as the connection's search path, so the SQL
files in `sql/` name tables bare. Identifiers from users or data go through
`quote_ident`; values are always bound parameters.

Writers (`Warehouse(settings)`) bring the schema up to date with `migrate()`.
Readers (`Warehouse(settings, read_only=True)`) never write and never run DDL, and
the schema version is checked when the reader opens. `Warehouse(settings)` is the
adapter of the URL's database (`etl.store.engines.duckdb`, `.postgresql`): each
says how its engine connects, locks, loads rows in bulk and refreshes statistics,
as methods and capability attributes, never as a test of the engine's name.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DBAPIError

from etl.config import Settings
from etl.errors import ConfigError, EtlError, WarehouseUnavailableError
from etl.store.dialects import Dialect
from etl.store.engines.common import first_line, quote_ident, safe_url, transient_error
from etl.store.migrations import latest_version, pending
from etl.store.sql import sql_clause, strip_comments
from etl.store.tables import EVERY_ROW, declaration, replaced_partitions

if TYPE_CHECKING:  # Arrow (and numpy, which it imports) only where rows are loaded: issue 21
    import pyarrow as pa

log = logging.getLogger("group_etl.warehouse")


class Warehouse:
    """A SQL engine's adapter. `Warehouse(settings)` opens the adapter of the URL's
    database; a subclass names its engine (`dialect`, the name the SQL templates are
    rendered for) and registers itself by it."""

    # -- what each engine's adapter declares ------------------------------------------
    dialect: str  # the engine's name: SQL templates are rendered for it (render_sql)
    dialect_fragments: Dialect  # the engine's SQL fragments (etl.store.dialects)
    default_schema: str  # the schema when GROUP_ETL_SCHEMA names none
    temp_schema: str  # where its temporary tables live (an unqualified DROP could reach ours)
    server_side_cursor: bool = False  # a big read streams through a server-side cursor
    executors: Any = None  # no Spark session: the lake is parsed in-process (etl.ingest)

    _adapters: dict[str, type[Warehouse]] = {}  # noqa: RUF012 - the registry of subclasses

    def __init_subclass__(cls, **kwargs: Any) -> None:  # noqa: ANN401
        super().__init_subclass__(**kwargs)
        Warehouse._adapters[cls.dialect] = cls

    def __new__(cls, settings: Settings, *, read_only: bool = False) -> Warehouse:  # noqa: ARG004
        if cls is Warehouse:
            cls = adapter_for(settings.warehouse_url)
        return super().__new__(cls)

    def __init__(self, settings: Settings, *, read_only: bool = False) -> None:
        url = self.driver_url(make_url(settings.warehouse_url))
        self.settings = settings
        self.url = url
        self.schema = settings.schema or self.default_schema
        self.read_only = read_only
        self._check_openable()
        self.engine = self._create_engine(url)
        self._opened()
        if read_only:
            try:
                self.check_version()
            except BaseException:
                self.engine.dispose()
                raise

    # -- hooks each adapter fills in -------------------------------------------------

    @staticmethod
    def driver_url(url: URL) -> URL:
        """The URL with the driver this adapter connects through."""
        return url

    def _check_openable(self) -> None:
        """Refuse to open what cannot be opened, before any connection."""

    def _engine(self, url: URL) -> sa.Engine:
        raise NotImplementedError

    def _on_connect(self, dbapi_connection: Any) -> None:  # noqa: ANN401 - the driver's connection
        """Each new connection's session: the search path and the engine's settings."""
        raise NotImplementedError

    def _opened(self) -> None:
        """After the engine is created (DuckDB: a writer takes the file)."""

    def _before_migrate(self, conn: Connection) -> None:
        """Inside the migration's transaction, before the versions are read."""

    def lock(self, conn: Connection, name: str) -> None:
        """Hold a transaction-scoped lock so two runs of one day never interleave."""

    def analyze(self, conn: Connection, table: str) -> None:
        """Refresh the planner's statistics of a table this transaction filled."""

    def bulk_insert(
        self, conn: Connection, table: str, columns: Sequence[str], rows: pa.Table | pa.RecordBatchReader,
        where: str = "true",
    ) -> None:
        """Append Arrow rows (a table, or a stream such as a parse's parts) that match
        `where` (a condition of ours, never user input) to a table inside the caller's
        transaction, never row by row from Python."""
        raise NotImplementedError

    # -- connections and transactions -------------------------------------------------

    def _create_engine(self, url: URL) -> sa.Engine:
        engine = self._engine(url)

        @sa.event.listens_for(engine, "connect")
        def _set_search_path(dbapi_connection, _record) -> None:  # noqa: ANN001
            self._on_connect(dbapi_connection)

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
            raise WarehouseUnavailableError(f"warehouse {safe_url(self.url)}: {first_line(error)}") from None

    def _translated(self, error: DBAPIError, waited: float | None = None) -> Exception:  # noqa: ARG002
        """The error to raise for a database error: retryable (a StorageError) when it is
        transient, else an EtlError with a one-line reason; never the URL's password."""
        text = first_line(error.orig if error.orig else error)
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
            self._before_migrate(conn)
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
        replaced = replaced_partitions(name, partitions)
        if replaced == []:
            return
        if replaced is not None:
            conditions.append(f"{quote_ident(str(declared.partition))} IN :replaced_partitions")
            params["replaced_partitions"] = replaced
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
        transaction (with statistics where the engine keeps none itself, see `analyze`)."""
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

    def drop_temp(self, conn: Connection, name: str) -> None:
        """Drop one of our temporary tables if it exists, never a warehouse table that
        happens to share its name (an unqualified DROP would reach it)."""
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self.temp_schema}.{quote_ident(name)}")


def adapter_for(url: str | URL) -> type[Warehouse]:
    """The adapter class of a warehouse URL's database (etl.config refuses others first)."""
    backend = make_url(url).get_backend_name()
    try:
        return Warehouse._adapters[backend]
    except KeyError:
        raise EtlError(f"warehouse {safe_url(url)}: unsupported database {backend!r} "
                       f"(known: {', '.join(sorted(Warehouse._adapters))})") from None
