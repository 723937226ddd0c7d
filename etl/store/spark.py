"""The Spark engine's warehouse (GROUP_ETL_ENGINE=spark, docs/spark.md): the same
tables as DuckDB's, as Parquet folders under GROUP_ETL_SPARK_WAREHOUSE, written
by the same stage code and SQL templates (rendered with etl.store.dialects.SparkSQL).

Spark's Parquet tables have no DELETE, UPDATE or transaction, so nothing here runs
one. Every write says what it replaces (`SparkWarehouse.write`, by the strategy
etl.store.tables declares for its table: the partitions it names, or the whole
table); Spark writes the new content of each such partition at once, natively, into
the transaction's folder `_txn/<token>/`, and the table's name becomes a view of
its untouched partitions plus the written ones, so the run's later statements read
what it wrote. At commit the transaction's `_COMMIT` lists the moves, and each
written partition's folder is moved in by renames (`apply`). A writer killed
before `_COMMIT` exists left nothing the tables show; one killed after it is
finished by the next writer (`recover`). So every partition a run owns is either
as before or as after it (docs/spark.md, "What a failed run leaves").
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from etl.config import Settings
from etl.errors import ConfigError, EtlError
from etl.store.sql import render_sql
from etl.store.tables import EVERY_ROW, VIEWS, declaration, replaced_partitions

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger("group_etl.spark")

# DuckDB's column types (the migrations' schema) as Spark's: JSON is its text
_TYPES = {"VARCHAR": "STRING", "JSON": "STRING", "INTEGER": "INT", "BIGINT": "BIGINT", "DATE": "DATE",
          "BOOLEAN": "BOOLEAN", "TIMESTAMP WITH TIME ZONE": "TIMESTAMP", "DOUBLE": "DOUBLE"}


@functools.cache
def schema_types() -> dict[str, tuple[tuple[str, str], ...]]:
    """Every warehouse table's (column, DuckDB type), from the schema the migrations make
    (applied to an in-memory DuckDB): one definition of the tables for every engine."""
    import duckdb

    from etl.store.migrations import migrations

    con = duckdb.connect()
    try:
        for migration in migrations():
            for statement in migration.statements("duckdb"):
                con.execute(statement)
        rows = con.execute(
            "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns AS c "
            "JOIN information_schema.tables AS t USING (table_catalog, table_schema, table_name) "
            "WHERE t.table_type = 'BASE TABLE' AND c.table_schema = 'main' "
            "ORDER BY c.table_name, c.ordinal_position").fetchall()
    finally:
        con.close()
    tables: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in rows:
        tables.setdefault(table, []).append((column, kind))
    return {table: tuple(columns) for table, columns in tables.items()}


@functools.cache
def table_columns() -> dict[str, tuple[tuple[str, str], ...]]:
    """Every warehouse table's (column, Spark type): schema_types' in Spark's names."""
    return {table: tuple((column, _TYPES[kind]) for column, kind in columns)
            for table, columns in schema_types().items()}


# The SQL settings our statements need, set on whichever session runs them
SQL_CONF = {
    "spark.sql.session.timeZone": "UTC",
    # a write replaces only the partitions it holds
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    # "name" is an identifier, as in DuckDB and PostgreSQL (etl.store.warehouse.quote_ident)
    "spark.sql.ansi.enabled": "true",
    "spark.sql.ansi.doubleQuotedIdentifiers": "true",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # a union of checkpointed rows (a run's written partitions) failed in the optimizer's
    # constraint propagation ("key not found: group_id#334", Spark 4.3): our plans gain
    # nothing from it
    "spark.sql.constraintPropagation.enabled": "false",
}


def session(settings: Settings, **conf: str) -> SparkSession:
    """The Spark session of this process for the settings' master (one per process:
    Spark's rule), with SQL_CONF and `conf` (Spark settings, by name)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError("GROUP_ETL_ENGINE=spark needs pyspark: pip install 'group-analytics-etl[spark]'") from None
    if settings.spark_master.startswith("local"):
        # Python tasks run PYSPARK_PYTHON, else `python3` from PATH: here, this Python
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # no progress bars on stderr: a command's stderr carries its warnings and errors
    builder = (SparkSession.builder.master(settings.spark_master).appName("group-etl")
               .config("spark.ui.showConsoleProgress", "false"))
    for name, value in {**SQL_CONF, **conf}.items():
        builder = builder.config(name, value)
    return builder.getOrCreate()


class SparkResult:
    """The rows of a query, as SQLAlchemy's Result gives them to our code."""

    def __init__(self, rows: list[tuple], keys: list[str]) -> None:
        self._rows = [_Row(row, keys) for row in rows]
        self._keys = keys

    def keys(self) -> list[str]:
        return list(self._keys)

    def __iter__(self) -> Iterator[_Row]:
        return iter(self._rows)

    def all(self) -> list[_Row]:
        return list(self._rows)

    fetchall = all

    def first(self) -> _Row | None:
        return self._rows[0] if self._rows else None

    def one(self) -> _Row:
        if len(self._rows) != 1:
            raise EtlError(f"expected one row, got {len(self._rows)}")
        return self._rows[0]

    def scalar(self) -> Any:  # noqa: ANN401 - a column's value
        return self._rows[0][0] if self._rows else None

    def scalars(self) -> _Scalars:
        return _Scalars(row[0] for row in self._rows)

    def one_or_none(self) -> _Row | None:
        return self.one() if self._rows else None

    def scalar_one(self) -> Any:  # noqa: ANN401
        return self.one()[0]

    def mappings(self) -> list[dict]:
        return [row._mapping for row in self._rows]

    def partitions(self, size: int) -> Iterator[list[_Row]]:
        """The rows in lists of `size` (an export's batches)."""
        for start in range(0, len(self._rows), size):
            yield self._rows[start:start + size]


class _Scalars(list):
    """A column's values, as SQLAlchemy's ScalarResult gives them."""

    def all(self) -> list:
        return list(self)

    def first(self) -> Any:  # noqa: ANN401
        return self[0] if self else None

    def one(self) -> Any:  # noqa: ANN401
        if len(self) != 1:
            raise EtlError(f"expected one row, got {len(self)}")
        return self[0]


class _Row(tuple):
    """A row by position, by attribute and as `_mapping`, as SQLAlchemy's Row."""

    _keys: list[str]

    def __new__(cls, values: Sequence, keys: list[str]) -> _Row:
        row = super().__new__(cls, values)
        row._keys = keys
        return row

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401
        try:
            return self[self._keys.index(name)]
        except ValueError:
            raise AttributeError(name) from None

    @property
    def _mapping(self) -> dict:
        return dict(zip(self._keys, self, strict=True))


_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
# the text type our statements name, as Spark's (it has VARCHAR(n) only)
_VARCHAR = re.compile(r"(\bAS\s+|::)VARCHAR\b(?!\s*\()", re.IGNORECASE)


def spark_sql(sql: str, params: dict) -> tuple[str, dict]:
    """A statement of ours as Spark runs it: the text type named as Spark names it, and
    list parameters written out (`bind`)."""
    return bind(_VARCHAR.sub(r"\1STRING", sql.strip().rstrip(";")), params)


def partition_folder(column: str, value: date) -> str:
    """The folder of one partition, as Spark's partitioned writer names it."""
    return f"{column}={value.isoformat()}"


def _folder_of(table: str, value: date | None) -> str | None:
    """A written partition's folder inside its table's (None: the table is one folder)."""
    column = declaration(table).partition
    return None if value is None or column is None else partition_folder(column, value)


# Per Spark session: the (warehouse location, commit token) its tables' views show
_SHOWN: dict[int, tuple[str, str | None]] = {}


class SparkConnection:
    """One transaction on Spark (see the module docstring): queries run as they come;
    each write is written by Spark into the transaction's folder at once, and the
    table's name becomes a view of its untouched partitions plus the written ones, so
    later statements read what the run wrote; `commit` moves the written partitions in."""

    def __init__(self, warehouse: SparkWarehouse) -> None:
        self.warehouse = warehouse
        self.spark = warehouse.spark
        self.token = uuid.uuid4().hex
        self.folder = f"{warehouse.root}/_txn/{self.token}"
        # table -> partition value (None: the whole table) -> the folder of its newest rows
        self.newest: dict[str, dict[date | None, str]] = {}
        self.filled: dict[str, set[date]] = {}  # table -> partitions whose newest rows are not empty
        self.temps: set[str] = set()
        self.writes = 0

    # -- reads ------------------------------------------------------------------

    def execute(self, clause: object, params: dict | None = None) -> SparkResult:
        """A query (SQLAlchemy's text clause or a string) and its rows. A write goes
        through `SparkWarehouse.write`: Spark itself refuses DML on our tables."""
        return self.query(getattr(clause, "text", None) or str(clause), params or {})

    def exec_driver_sql(self, sql: str) -> SparkResult:
        return self.query(sql, {})

    def query(self, sql: str, params: dict) -> SparkResult:
        started = time.perf_counter()
        text, args = spark_sql(sql, params)
        try:
            table = self.spark.sql(text, args=args).toArrow()  # times come as UTC datetimes, as elsewhere
        finally:
            log.debug("%.3fs %s", time.perf_counter() - started, " ".join(sql.split())[:100])
        return SparkResult([tuple(r.values()) for r in table.to_pylist()], list(table.column_names))

    def frame(self, sql: str, params: dict | None = None) -> DataFrame:
        text, args = spark_sql(sql, params or {})
        return self.spark.sql(text, args=args)

    # -- writes -------------------------------------------------------------------

    def write(self, name: str, columns: Sequence[str], *, query: str | None = None,
              rows: pa.Table | pa.RecordBatchReader | DataFrame | None = None, where: str = "true",
              values: list[dict] | None = None, params: dict | None = None, partitions: Sequence | None = None,
              replacing: str | None = EVERY_ROW) -> None:
        """SparkWarehouse.write's work: the new content of each partition written
        replaces (those of its rows that `replacing` matches are dropped, the rest kept,
        the new rows added) is written by Spark into this transaction's folder."""
        from pyspark.sql import functions as F

        if self.warehouse.read_only:
            raise EtlError("the Spark warehouse is open read-only: nothing was written")
        params = dict(params or {})
        column = declaration(name).partition
        replaced = replaced_partitions(name, partitions)
        if replaced == []:
            return
        dates: set[date] = set(replaced or ())
        if replaced is not None:
            params["replaced_partitions"] = replaced
        scope = "true" if replaced is None else f"{column} IN :replaced_partitions"
        named: set[date | None] = set(dates) if replaced is not None else {None}
        schema = table_columns()[name]
        parts = []
        if replacing != EVERY_ROW:  # the rows it does not replace are kept
            kept = "true" if replacing is None else f"NOT coalesce(({replacing}), false)"
            parts.append(self.frame(f"SELECT * FROM {name} WHERE {scope} AND {kept}", params))  # noqa: S608
        if query is not None:
            parts.append(self.frame(query, params).toDF(*columns))
        elif rows is not None:
            parts.append(self._arrived(rows, columns, where))
        elif values:
            types = dict(schema)
            parts.append(self.spark.createDataFrame([tuple(v[c] for c in columns) for v in values],
                                                    ", ".join(f"`{c}` {types[c]}" for c in columns)))
        content = None
        for part in parts:
            part = _conform(part, schema)
            content = part if content is None else content.unionByName(part)
        if content is None:
            content = self.spark.createDataFrame([], ", ".join(f"`{c}` {kind}" for c, kind in schema))
        self.writes += 1
        staged = f"{self.folder}/{name}/{self.writes}"
        if column is None:
            content.write.parquet(staged)
        else:  # a NULL partition value has no partition (the column is NOT NULL elsewhere)
            content.where(F.col(column).isNotNull()).write.partitionBy(column).parquet(staged)
            found = set(self.warehouse.folders(staged))
            wanted = {partition_folder(column, value): value for value in dates}
            if found - set(wanted):
                raise EtlError(f"a write of {name} made rows outside the partitions it names: "
                               f"{', '.join(sorted(found - set(wanted)))}")
            filled = self.filled.setdefault(name, set())
            filled -= dates
            filled |= {wanted[f] for f in found}
        for value in named:
            self.newest.setdefault(name, {})[value] = staged
        self._show(name)

    def _arrived(self, rows: pa.Table | pa.RecordBatchReader | DataFrame, columns: Sequence[str],
                 where: str) -> DataFrame:
        """Rows from outside Spark as a DataFrame: a DataFrame (a parse on the executors,
        etl.ingest.spark) as it is, never through the driver; Arrow rows written as Parquet
        where Spark reads them, then read by Spark's own reader."""
        from pyspark.sql import DataFrame as SparkFrame
        from pyspark.sql import functions as F

        if isinstance(rows, SparkFrame):
            return rows.where(where).select(*[F.col(c) for c in columns])
        import duckdb
        import pyarrow as pa

        cols = ", ".join(f'"{c}"' for c in columns)
        select = f"SELECT {cols} FROM arrow_rows WHERE {where}"  # noqa: S608 - ours
        if isinstance(rows, pa.Table) and rows.num_rows == 0:  # a day without files: no columns either
            return self.spark.createDataFrame([], ", ".join(f"`{c}` STRING" for c in columns)).limit(0)
        self.writes += 1
        local = f"{self.folder}/arrived/{self.writes}".removeprefix("file://")
        duck = duckdb.connect()
        try:
            duck.register("arrow_rows", rows)
            if "://" in local:  # a remote warehouse: through the driver
                return self.spark.createDataFrame(duck.execute(select).to_arrow_table())
            os.makedirs(local, exist_ok=True)
            target = f"{local}/rows.parquet".replace("'", "''")  # the path as a SQL literal
            duck.execute(f"COPY ({select}) TO '{target}' (FORMAT parquet)")
        finally:
            duck.close()
        return self.spark.read.parquet(local)

    def _show(self, name: str) -> None:
        """Make the table's name show the run's rows: the untouched partitions as
        stored, the written ones as this run left them."""
        from pyspark.sql import functions as F

        newest = self.newest[name]
        column = declaration(name).partition
        frames = [] if column is None or None in newest else [
            self.warehouse.stored(name).where(~F.col(column).isin(sorted(newest)))]
        for folder in sorted(set(newest.values())):
            frame = self.warehouse.read(name, folder)
            if column is not None:
                frame = frame.where(F.col(column).isin(sorted(v for v, f in newest.items() if f == folder)))
            frames.append(frame)
        view = frames[0]
        for frame in frames[1:]:
            view = view.unionByName(frame)
        view.createOrReplaceTempView(name)

    # -- scratch tables -----------------------------------------------------------

    def scratch(self, name: str, query: str, params: dict | None = None) -> None:
        self.frame(query, params).localCheckpoint().createOrReplaceTempView(name)
        self.temps.add(name)

    def scratch_rows(self, name: str, columns: dict[str, str], rows: pa.Table) -> None:
        schema = ", ".join(f"`{c}` {_TYPES[kind.upper()]}" for c, kind in columns.items())
        frame = self.spark.createDataFrame(rows.select(list(columns)), schema) if rows.num_rows else \
            self.spark.createDataFrame([], schema)
        frame.createOrReplaceTempView(name)
        self.temps.add(name)

    def drop_temp(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)
        self.temps.discard(name)

    # -- end of the transaction -----------------------------------------------------

    def commit(self) -> None:
        """Record what moves in (the transaction's `_COMMIT`, written whole and then
        renamed into place: from then on the transaction is done, whatever happens),
        then move it in (SparkWarehouse.apply)."""
        self.close()
        if not self.newest:
            if self.writes:
                self.warehouse.remove(self.folder)
            return
        moves = [{"table": name, "partition": _folder_of(name, value), "staged": staged,
                  "filled": value is None or value in self.filled.get(name, set())}
                 for name, parts in sorted(self.newest.items()) for value, staged in parts.items()]
        self.warehouse.put(f"{self.folder}/_COMMIT", json.dumps({"moves": moves}))
        self.warehouse.apply(self.token)

    def rollback(self) -> None:
        """Nothing moved in: the transaction's folder is dropped, the views shown again."""
        self.close()
        if self.writes:
            self.warehouse.remove(self.folder)
        if self.newest:
            self.warehouse.forget_shown()

    def close(self) -> None:
        for temp in self.temps:
            self.spark.catalog.dropTempView(temp)
        self.temps.clear()


def bind(sql: str, params: dict) -> tuple[str, dict]:
    """`sql` with each list parameter (`IN :dates`) written out as a list of markers,
    and the values Spark binds: only those `sql` names."""
    args: dict = {}

    def marker(match: re.Match) -> str:
        name = match.group(1)
        if name not in params:
            return match.group(0)
        value = params[name]
        if isinstance(value, list | tuple | set):
            items = list(value)
            if not items:
                return "(NULL)"
            for n, item in enumerate(items):
                args[f"{name}__{n}"] = item
            return "(" + ", ".join(f":{name}__{n}" for n in range(len(items))) + ")"
        args[name] = value
        return match.group(0)

    return _PARAM.sub(marker, sql), args


def _conform(frame: DataFrame, columns: tuple[tuple[str, str], ...]) -> DataFrame:
    """`frame`'s columns as a table's `columns`, in its order and types (absent ones NULL)."""
    from pyspark.sql import functions as F

    have = set(frame.columns)
    return frame.select(*[(F.col(c) if c in have else F.lit(None)).cast(kind).alias(c) for c, kind in columns])


class SparkWarehouse:
    """The tables under GROUP_ETL_SPARK_WAREHOUSE/<GROUP_ETL_SPARK_DATABASE>/, one Parquet
    folder each, partitioned where etl.store.tables says: what `Warehouse` is to the
    other engines, for the stages (begin, write, scratch, migrate)."""

    dialect = "spark"
    server_side_cursor = False  # an export's rows come as Arrow, all at once

    def __init__(self, settings: Settings, *, read_only: bool = False, spark: SparkSession | None = None) -> None:
        self.settings = settings
        self.read_only = read_only
        self.schema = settings.spark_database
        self.spark = spark or session(settings)
        for name, value in SQL_CONF.items():
            self.spark.conf.set(name, value)
        self.root = _location(settings.spark_warehouse).rstrip("/") + "/" + settings.spark_database
        if read_only:
            self.check_version()
        else:
            with self._writer_lock():  # recovery writes: never beside another writer's transaction
                finished = self.recover()
            if finished:
                log.warning("Spark warehouse %s: %s", self.root, "; ".join(finished))

    def __enter__(self) -> SparkWarehouse:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """The session stays: Spark keeps one per process, and starting one costs seconds."""

    @property
    def executors(self) -> SparkSession:
        """The session whose executors parse the lake (etl.ingest.spark)."""
        return self.spark

    def path(self, table: str) -> str:
        return f"{self.root}/{table}"

    def column_types(self, table: str) -> dict[str, str]:
        """Column -> lower-case SQL type, in table order, as the other engines' schema
        names it (a JSON column is "json", held here as its text); {} for no such table."""
        return {column: kind.lower() for column, kind in schema_types().get(table, ())}

    @contextlib.contextmanager
    def begin(self) -> Iterator[SparkConnection]:
        with contextlib.nullcontext() if self.read_only else self._writer_lock():
            self.show()
            conn = SparkConnection(self)
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    # -- what the stages call on a Warehouse ------------------------------------------

    def write(self, conn: SparkConnection, name: str, columns: Sequence[str], **how: Any) -> None:  # noqa: ANN401
        """Write table `name` as etl.store.tables declares it (Warehouse.write says what
        the arguments mean): natively, into the transaction's folder; moved in at commit."""
        conn.write(name, columns, **how)

    def scratch(self, conn: SparkConnection, name: str, query: str, params: dict | None = None) -> None:
        """A temporary view of a query's rows, computed once (a local checkpoint)."""
        conn.scratch(name, query, params)

    def scratch_rows(self, conn: SparkConnection, name: str, columns: dict[str, str], rows: pa.Table) -> None:
        conn.scratch_rows(name, columns, rows)

    def drop_temp(self, conn: SparkConnection, name: str) -> None:
        conn.drop_temp(name)

    def lock(self, conn: SparkConnection, name: str) -> None:
        """Nothing more to take: a writer's every transaction (`begin`) holds the location's
        writer lock, whatever `name` (etl.store.spark_lock, docs/spark.md)."""

    def _writer_lock(self) -> contextlib.AbstractContextManager[None]:
        """One writer at a time for this warehouse location: the second waits up to
        GROUP_ETL_LOCK_TIMEOUT, then gets WarehouseBusyError (etl.store.spark_lock)."""
        from etl.store.spark_lock import held

        return held(self.root, self.settings.lock_timeout, self.spark)

    def analyze(self, conn: SparkConnection, table: str) -> None:
        """Spark plans from the data it reads: nothing to refresh."""

    # -- the tables as views ------------------------------------------------------------

    def show(self) -> None:
        """Make each table's name a view of its stored rows, and the migrations' views
        views of them, unless they show this warehouse's last commit already (`_commit`
        holds its token): listing every folder costs, so it is done again only after a
        commit. The views are the session's, which other warehouses may share."""
        shown = (self.root, self.get(f"{self.root}/_commit"))
        if _SHOWN.get(id(self.spark)) == shown:
            return
        _SHOWN.pop(id(self.spark), None)
        for name in table_columns():
            self.stored(name).createOrReplaceTempView(name)
        for name, template in VIEWS.items():
            self.spark.sql(f"CREATE OR REPLACE TEMP VIEW {name} AS {render_sql(template, 'spark')}")
        _SHOWN[id(self.spark)] = shown

    def forget_shown(self) -> None:
        """The views show something else now (a transaction's writes): show them again."""
        _SHOWN.pop(id(self.spark), None)

    def stored(self, table: str) -> DataFrame:
        """A table's stored rows (no rows when its folder does not exist yet)."""
        return self.read(table, self.path(table))

    def read(self, table: str, folder: str) -> DataFrame:
        """The rows of one of a table's folders (stored, or written by a transaction)."""
        schema = ", ".join(f"`{c}` {kind}" for c, kind in table_columns()[table])
        if not self.exists(folder):
            return self.spark.createDataFrame([], schema)
        frame = self.spark.read.schema(schema).parquet(folder)
        return frame.select(*[c for c, _ in table_columns()[table]])

    # -- commit and recovery ------------------------------------------------------------

    def apply(self, token: str) -> None:
        """Move a committed transaction's partitions in, by its `_COMMIT`: each partition's
        old folder moved aside, the new one moved in (a partition left empty is only moved
        aside). Each step is a rename and checks what is there first, so applying again
        after a kill finishes the moves; then the transaction's folder goes, and
        `_commit` names it (readers show the tables again)."""
        folder = f"{self.root}/_txn/{token}"
        committed = self.get(f"{folder}/_COMMIT")
        if committed is None:
            raise EtlError(f"Spark warehouse: transaction {token} has no _COMMIT to apply")
        for move in json.loads(committed)["moves"]:
            inside = f"/{move['partition']}" if move["partition"] else ""
            target = f"{self.path(move['table'])}{inside}"
            source = f"{move['staged']}{inside}"
            aside = f"{folder}/_old/{move['table']}{inside}"
            if move["filled"]:
                if not self.exists(source):
                    continue  # moved in already
                if self.exists(target):
                    self._rename(target, aside)
                self._rename(source, target)
            elif self.exists(target):
                self._rename(target, aside)
        self.put(f"{self.root}/_commit", token)
        self.remove(folder)
        self.forget_shown()

    def recover(self) -> list[str]:
        """Finish or undo what a writer killed mid-transaction left: a committed
        transaction (its `_COMMIT` written) is moved in; any other is dropped. Also
        what a release before the transaction folder left in `_staging/` (a table moved
        aside and not replaced goes back). Returns what it did, as sentences."""
        done = []
        for token in self.folders(f"{self.root}/_txn"):
            if self.exists(f"{self.root}/_txn/{token}/_COMMIT"):
                self.apply(token)
                done.append(f"a run killed while moving its tables in ({token}) was finished")
            else:
                self.remove(f"{self.root}/_txn/{token}")
                done.append(f"what a run killed before its commit ({token}) wrote was dropped")
        staging = f"{self.root}/_staging"
        for name in self.folders(staging):
            match = re.fullmatch(r"(\w+)-(new|old)-[0-9a-f]{32}", name)
            if match and match.group(2) == "old" and not self.exists(self.path(match.group(1))):
                self._rename(f"{staging}/{name}", self.path(match.group(1)))
                done.append(f"{match.group(1)}, moved aside by a run killed while storing, was moved back: "
                            "run the day it was running again")
            elif match:
                self.remove(f"{staging}/{name}")
        if done:
            self.forget_shown()
        return done

    # -- the file system (Hadoop's, so any location Spark writes) ------------------------------

    def folders(self, path: str) -> list[str]:
        """The names of the folders in `path` (none when it does not exist)."""
        if not self.exists(path):
            return []
        hadoop_path, fs = self._hadoop_path(path)
        return sorted(status.getPath().getName() for status in fs.listStatus(hadoop_path) if status.isDirectory())

    def put(self, path: str, text: str) -> None:
        """A small file written whole: written beside, then renamed over the old one."""
        staged = f"{path}.{uuid.uuid4().hex}"
        hadoop_path, fs = self._hadoop_path(staged)
        stream = fs.create(hadoop_path, True)
        try:
            stream.write(bytearray(text.encode()))
        finally:
            stream.close()
        target, _ = self._hadoop_path(path)
        if fs.exists(target):
            fs.delete(target, False)
        if not fs.rename(hadoop_path, target):
            raise EtlError(f"Spark warehouse: could not write {path}")

    def get(self, path: str) -> str | None:
        """A small file's text (None when it does not exist)."""
        if not self.exists(path):
            return None
        hadoop_path, fs = self._hadoop_path(path)
        stream = fs.open(hadoop_path)
        try:
            return self._jvm().org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
        finally:
            stream.close()

    def _rename(self, source: str, target: str) -> None:
        source_path, fs = self._hadoop_path(source)
        target_path, _ = self._hadoop_path(target)
        fs.mkdirs(target_path.getParent())
        if not fs.rename(source_path, target_path):
            raise EtlError(f"Spark warehouse: could not move {source} to {target}")

    def _jvm(self) -> Any:  # noqa: ANN401 - py4j's gateway
        jvm = self.spark.sparkContext._jvm
        if jvm is None:
            raise EtlError("Spark warehouse: the Spark session has stopped")
        return jvm

    def _hadoop_path(self, path: str) -> tuple[Any, Any]:
        hadoop_path = self._jvm().org.apache.hadoop.fs.Path(path)
        return hadoop_path, hadoop_path.getFileSystem(self.spark.sparkContext._jsc.hadoopConfiguration())

    def exists(self, path: str) -> bool:
        hadoop_path, fs = self._hadoop_path(path)
        return bool(fs.exists(hadoop_path))

    def remove(self, path: str) -> None:
        hadoop_path, fs = self._hadoop_path(path)
        fs.delete(hadoop_path, True)

    # -- schema -----------------------------------------------------------------------

    def check_version(self) -> int:
        """The recorded schema version, when it is this code's (readers check it first)."""
        from etl.store.migrations import latest_version

        with self.begin() as conn:
            applied = set(conn.query("SELECT version FROM schema_version", {}).scalars())
        if not applied:
            raise EtlError(f"Spark warehouse {self.root} is not initialised: run `group-etl init`")
        if max(applied) != latest_version():
            raise EtlError(f"Spark warehouse {self.root}: schema version {max(applied)}, this group-etl's is "
                           f"{latest_version()}")
        return max(applied)

    def schema_version(self) -> int | None:
        with self.begin() as conn:
            return conn.query("SELECT max(version) FROM schema_version", {}).scalar()

    def migrate(self) -> int:
        """The tables are Parquet folders made by their first write; this records the
        schema version and the project time zone, as on the other engines."""
        from etl.store.migrations import latest_version

        latest = latest_version()
        now = datetime.now(UTC)
        with self.begin() as conn:
            applied = set(conn.query("SELECT version FROM schema_version", {}).scalars())
            if applied and max(applied) > latest:
                raise EtlError(f"Spark warehouse {self.root}: schema version {max(applied)} is newer than "
                               f"this group-etl (which knows up to {latest}): upgrade group-etl")
            if latest not in applied:
                conn.write("schema_version", ["version", "applied_at"], replacing=None,
                           query="SELECT CAST(:v AS INT), CAST(:at AS TIMESTAMP)", params={"v": latest, "at": now})
            recorded = conn.query("SELECT value FROM project_settings WHERE name = 'timezone'", {}).scalar()
            if recorded is None:
                conn.write("project_settings", ["name", "value", "recorded_at"], replacing=None,
                           query="SELECT 'timezone', :v, CAST(:at AS TIMESTAMP)",
                           params={"v": self.settings.timezone, "at": now})
            elif recorded != self.settings.timezone:
                raise ConfigError(f"GROUP_ETL_TIMEZONE is {self.settings.timezone} but Spark warehouse "
                                  f"{self.root} was built in {recorded}; set GROUP_ETL_TIMEZONE={recorded}")
        return latest

    init = migrate


def _location(where: str) -> str:
    """A folder setting as an absolute file: URL; other URLs as they are."""
    if "://" in where or where.startswith("dbfs:/"):
        return where
    from pathlib import Path

    # not Path.as_uri(): Hadoop's Path takes the text as it is, so a percent-encoded
    # name ("a%20b") would become a folder of that name instead of "a b"
    return "file://" + str(Path(where).resolve())
