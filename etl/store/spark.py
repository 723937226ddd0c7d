"""The Spark engine's warehouse (GROUP_ETL_ENGINE=spark, docs/spark.md): the same
tables as DuckDB's, as Parquet folders under GROUP_ETL_SPARK_WAREHOUSE, written
by the same stage code and SQL templates (rendered with etl.store.dialects.SparkSQL).

Spark's Parquet tables have no DELETE, UPDATE or transaction. A `SparkConnection`
takes the statements our stages run and keeps, for each table they write, the
whole content of the partitions they touched (a day's load date, the event
dates it changed) as a materialized DataFrame; the table's name is a view of
its untouched partitions plus those, so every later statement of the run reads
what the run wrote. At commit each table gets exactly its touched partitions
replaced (dynamic partition overwrite; a partition left empty is removed), and
a small table without partitions is rewritten whole. So a run replaces what it
owns and nothing else, and a run that dies midway is repaired by running the
day again (docs/spark.md, "What a failed run leaves").
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from etl.config import Settings
from etl.errors import ConfigError, EtlError

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger("group_etl.spark")

# Tables whose rows belong to one date each: a run replaces only the dates it touched.
PARTITIONS = {
    "events": "load_date", "rejected_records": "load_date", "profile_updates": "load_date",
    "event_groups": "event_date", "hot_shards": "event_date", "group_daily_metrics": "event_date",
    "group_activity_daily": "activity_date",
}
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


@functools.cache
def view_statements() -> tuple[tuple[str, str], ...]:
    """The migrations' views (events_deduped: which copy of an event wins) rendered for
    Spark, as (name, SELECT): the rule's one text, made a temporary view each run."""
    from etl.store.migrations import migrations

    views: dict[str, str] = {}
    for migration in migrations():
        for statement in migration.statements("spark"):
            match = re.match(r"CREATE OR REPLACE VIEW (\w+) AS\s+(.*)", statement, re.DOTALL)
            if match:
                views[match.group(1)] = match.group(2)
    return tuple(views.items())


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


@dataclass
class _Written:
    """A table this run writes: the DataFrame of its stored rows, the partitions it
    touched and their whole new content (`rows`)."""

    name: str
    columns: tuple[tuple[str, str], ...]
    stored: DataFrame
    partition: str | None
    touched: set = field(default_factory=set)
    rows: DataFrame | None = None
    temporary: bool = False


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


_DML = re.compile(r"(DELETE FROM|INSERT INTO|UPDATE)\s+(\w+)", re.IGNORECASE)
_INSERT = re.compile(r"INSERT INTO (\w+)\s*\(([^)]*)\)\s*(.*)", re.IGNORECASE | re.DOTALL)
_DELETE = re.compile(r"DELETE FROM (\w+)(?:\s+WHERE\s+(.*))?", re.IGNORECASE | re.DOTALL)
_UPDATE = re.compile(r"UPDATE (\w+) SET (.*?)(?:\s+WHERE\s+(.*))?$", re.IGNORECASE | re.DOTALL)
_TEMP = re.compile(r"CREATE TEMP(?:ORARY)? TABLE (\w+) AS\s+(.*)", re.IGNORECASE | re.DOTALL)
_TEMP_COLUMNS = re.compile(r"CREATE TEMP(?:ORARY)? TABLE (\w+) \((.*)\)", re.IGNORECASE | re.DOTALL)
_DROP_TEMP = re.compile(r"DROP TABLE IF EXISTS (?:temp\.|pg_temp\.)?\"?(\w+)\"?", re.IGNORECASE)
_IGNORED = re.compile(r"(ANALYZE|CREATE INDEX|SET )\b", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z_]\w*")
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
# the text type our statements name, as Spark's (it has VARCHAR(n) only)
_VARCHAR = re.compile(r"(\bAS\s+|::)VARCHAR\b(?!\s*\()", re.IGNORECASE)


class SparkConnection:
    """One run's statements on Spark (see the module docstring): queries run as they
    come; writes are kept per touched partition and stored by `commit`."""

    def __init__(self, warehouse: SparkWarehouse) -> None:
        self.warehouse = warehouse
        self.spark = warehouse.spark
        self.written: dict[str, _Written] = {}
        self.temps: set[str] = set()
        self.views = dict(view_statements())
        self.registered: set[str] = set()  # the tables and views this connection has named

    def _register_named(self, sql: str) -> None:
        """Make each table and view `sql` names a temporary view of this connection: a
        table's over its Parquet folder (listed now, so it shows what is stored now), a
        view from the migrations' text. Only those named: listing every folder for each
        connection took a fifth of a report's time."""
        for word in set(_WORD.findall(sql)) - self.registered:
            if word in table_columns():
                self.spark_frame(word).createOrReplaceTempView(word)
                self.registered.add(word)
            elif word in self.views:
                self._register_named(self.views[word])
                self.spark.sql(f"CREATE OR REPLACE TEMP VIEW {word} AS {self.views[word]}")
                self.registered.add(word)

    # -- what the stages call ---------------------------------------------------

    def execute(self, clause: object, params: dict | list[dict] | None = None) -> SparkResult:
        text = getattr(clause, "text", None) or str(clause)
        if isinstance(params, list):  # executemany: the statement once for each
            for one in params:
                self.run(text, one)
            return SparkResult([], [])
        return self.run(text, params or {})

    def exec_driver_sql(self, sql: str) -> SparkResult:
        return self.run(sql, {})

    def run(self, statement: str, params: dict) -> SparkResult:
        started = time.perf_counter()
        try:
            return self._run(statement, params)
        finally:
            log.debug("%.3fs %s", time.perf_counter() - started, " ".join(statement.split())[:100])

    def _run(self, statement: str, params: dict) -> SparkResult:
        sql, args = bind(_VARCHAR.sub(r"\1STRING", statement.strip().rstrip(";")), params)
        self._register_named(sql)
        if _IGNORED.match(sql):
            return SparkResult([], [])
        if match := _DROP_TEMP.fullmatch(sql):
            self.spark.catalog.dropTempView(match.group(1))
            self.temps.discard(match.group(1))
            if match.group(1) in self.written and self.written[match.group(1)].temporary:
                del self.written[match.group(1)]
            return SparkResult([], [])
        if match := _TEMP_COLUMNS.fullmatch(sql):
            columns = tuple((name, _TYPES[kind.strip().upper()]) for name, _, kind in
                            (part.strip().partition(" ") for part in split_top_level(match.group(2))))
            schema = ", ".join(f"`{c}` {kind}" for c, kind in columns)
            self.written[match.group(1)] = _Written(match.group(1), columns, self.spark.createDataFrame([], schema),
                                                    None, temporary=True)
            self.written[match.group(1)].stored.createOrReplaceTempView(match.group(1))
            self.temps.add(match.group(1))
            return SparkResult([], [])
        if match := _TEMP.fullmatch(sql):
            frame = self.spark.sql(match.group(2), args=args).localCheckpoint()
            frame.createOrReplaceTempView(match.group(1))
            self.temps.add(match.group(1))
            return SparkResult([], [])
        if match := _INSERT.fullmatch(sql):
            self._insert(match.group(1), [c.strip().strip('"') for c in match.group(2).split(",")],
                         match.group(3), args)
            return SparkResult([], [])
        if match := _DELETE.fullmatch(sql):
            self._delete(match.group(1), match.group(2) or "true", args)
            return SparkResult([], [])
        if match := _UPDATE.fullmatch(sql):
            self._update(match.group(1), match.group(2), match.group(3) or "true", args)
            return SparkResult([], [])
        if _DML.match(sql):
            raise EtlError(f"the Spark engine cannot run this statement: {sql[:80]}")
        return self.query(sql, args)

    def query(self, sql: str, args: dict) -> SparkResult:
        self._register_named(sql)
        frame = self.spark.sql(sql, args=args)
        table = frame.toArrow()  # times come as UTC datetimes, as the other engines give them
        return SparkResult([tuple(r.values()) for r in table.to_pylist()], list(table.column_names))

    def insert_frame(self, table: str, frame: DataFrame) -> None:
        """Append a DataFrame's rows (named columns, a subset of the table's) to `table`."""
        written = self._written(table)
        rows = _conform(frame, written.columns).localCheckpoint()
        self._touch(written, partitions_of(written, rows))
        written.rows = written.rows.unionByName(rows) if written.rows is not None else rows
        self._settle(written)

    # -- writes -----------------------------------------------------------------

    def _insert(self, table: str, columns: list[str], query: str, args: dict) -> None:
        frame = self.spark.sql(query, args=args)
        self.insert_frame(table, frame.toDF(*columns))

    def _delete(self, table: str, condition: str, args: dict) -> None:
        written = self._written(table)
        self._touch(written, self._partitions_where(written, condition, args))
        if written.rows is None:
            return
        written.rows.createOrReplaceTempView("__rows")
        written.rows = self.spark.sql(
            f"SELECT * FROM __rows AS {table} WHERE NOT coalesce(({condition}), false)",  # noqa: S608
            args=args).localCheckpoint()
        self._settle(written)

    def _update(self, table: str, assignments: str, condition: str, args: dict) -> None:
        written = self._written(table)
        self._touch(written, self._partitions_where(written, condition, args))
        if written.rows is None:
            return
        changes = dict(_assignment(part) for part in split_top_level(assignments))
        if written.partition in changes:  # rows would move into dates this run never read
            raise EtlError(f"the Spark engine cannot UPDATE {table}.{written.partition}, its partition column")
        unknown = set(changes) - {c for c, _ in written.columns}
        if unknown:
            raise EtlError(f"UPDATE {table}: no column {', '.join(sorted(unknown))}")
        select = ", ".join(
            f"CASE WHEN coalesce(({condition}), false) THEN {changes[c]} ELSE {c} END AS {c}" if c in changes else c
            for c, _ in written.columns)
        written.rows.createOrReplaceTempView("__rows")
        written.rows = _conform(self.spark.sql(f"SELECT {select} FROM __rows AS {table}", args=args),  # noqa: S608
                                written.columns).localCheckpoint()
        self._settle(written)

    def _written(self, table: str) -> _Written:
        if table not in self.written:
            if table not in table_columns():
                raise EtlError(f"the Spark engine has no table {table!r}")
            self.written[table] = _Written(table, table_columns()[table], self.spark_frame(table),
                                           PARTITIONS.get(table))
        return self.written[table]

    def _partitions_where(self, written: _Written, condition: str, args: dict) -> set:
        """The partitions a condition's rows are in: named by the condition itself when one
        of its conjuncts is `<partition> = :p` or `<partition> IN (...)` of dates (no job:
        a DELETE of a day or of touched dates), else found by a query."""
        if written.partition is None:
            return {None}
        named = partitions_named(written.partition, condition, args)
        if named is not None:
            return named
        sql = f"SELECT DISTINCT {written.partition} FROM {written.name} WHERE {condition}"  # noqa: S608
        return {row[0] for row in self.spark.sql(sql, args=args).collect()}


    def _touch(self, written: _Written, partitions: set) -> None:
        """Bring the stored rows of partitions not yet touched into `rows`."""
        from pyspark.sql import functions as F

        new = partitions - written.touched
        if not new:
            return
        stored = written.stored
        if written.partition is not None:
            stored = stored.where(F.col(written.partition).isin(sorted(new)))
        stored = stored.localCheckpoint()
        written.rows = stored if written.rows is None else written.rows.unionByName(stored)
        written.touched |= new

    def _settle(self, written: _Written) -> None:
        """Make the table's name show the run's rows: the untouched partitions as stored,
        the touched ones as this run left them."""
        from pyspark.sql import functions as F

        if written.partition is None:
            view = written.rows
        else:
            untouched = written.stored.where(~F.col(written.partition).isin(sorted(written.touched)))
            view = untouched.unionByName(written.rows)
        view.createOrReplaceTempView(written.name)
        self.registered.add(written.name)

    # -- end of the run -----------------------------------------------------------

    def commit(self) -> None:
        """Store every written table: each touched partition replaced, an emptied one removed.
        load_audit goes last: until it is stored, `status` shows the day as it was before
        (not loaded, or loaded from other input), so a run killed while storing is seen
        and run again (docs/spark.md)."""
        for written in sorted(self.written.values(), key=lambda w: w.name == "load_audit"):
            if not written.temporary:
                self.warehouse.store(written)
        self.close()

    def close(self) -> None:
        for temp in self.temps:
            self.spark.catalog.dropTempView(temp)
        self.temps.clear()

    def spark_frame(self, table: str) -> DataFrame:
        return self.warehouse.stored(table)


def partitions_of(written: _Written, rows: DataFrame) -> set:
    """The partition values `rows` hold ({None} for a table without partitions)."""
    if written.partition is None:
        return {None}
    return {row[0] for row in rows.select(written.partition).distinct().collect()}


def _assignment(text: str) -> tuple[str, str]:
    column, _, value = text.partition("=")
    return column.strip().strip('"'), value.strip()


def split_top_level(text: str) -> list[str]:
    """`text` split at commas outside parentheses and quotes (an UPDATE's SET list)."""
    parts, depth, quote, start = [], 0, None, 0
    for i, char in enumerate(text):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def partitions_named(column: str, condition: str, args: dict) -> set | None:
    """The dates a conjunct `column = :p` or `column IN (:p__0, ...)` of `condition` allows
    (bound values, after `bind`); None when no conjunct names them so, or when the
    condition has an OR anywhere (a conjunct of one side would not bound the other)."""
    if re.search(r"\bOR\b", condition, re.IGNORECASE):
        return None
    for conjunct in re.split(r"\s+AND\s+(?![^(]*\))", condition, flags=re.IGNORECASE):
        match = re.fullmatch(rf"(?:\w+\.)?{column}\s*(?:=\s*(:\w+)|IN\s*\(((?:\s*:\w+\s*,?)+)\))",
                             conjunct.strip(), re.IGNORECASE)
        if not match:
            continue
        names = re.findall(r":(\w+)", match.group(1) or match.group(2))
        values = [args.get(name) for name in names]
        if values and all(isinstance(v, date) and not isinstance(v, datetime) for v in values):
            return set(values)
    return None


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
    folder each, partitioned by date where PARTITIONS says: what `Warehouse` is to the
    other engines, for the stages (begin, bulk_insert, migrate)."""

    dialect = "spark"

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
            with self._writer_lock():  # recovery writes: never beside another writer's commit
                restored = self.recover()
            if restored:
                log.warning("Spark warehouse %s: a run killed while storing left %s moved aside: moved back; "
                            "run the day it was running again", self.root, ", ".join(restored))

    def __enter__(self) -> SparkWarehouse:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """The session stays: Spark keeps one per process, and starting one costs seconds."""

    def path(self, table: str) -> str:
        return f"{self.root}/{table}"

    def column_types(self, table: str) -> dict[str, str]:
        """Column -> lower-case SQL type, in table order, as the other engines' schema
        names it (a JSON column is "json", held here as its text); {} for no such table."""
        return {column: kind.lower() for column, kind in schema_types().get(table, ())}

    @contextlib.contextmanager
    def begin(self) -> Iterator[SparkConnection]:
        with contextlib.nullcontext() if self.read_only else self._writer_lock():
            conn = SparkConnection(self)
            try:
                yield conn
            except BaseException:
                conn.close()
                raise
            if self.read_only and conn.written:
                raise EtlError("the Spark warehouse is open read-only: nothing was written")
            conn.commit()

    # -- storage -----------------------------------------------------------------

    def stored(self, table: str) -> DataFrame:
        """A table's stored rows (no rows when its folder does not exist yet)."""
        schema = ", ".join(f"`{c}` {kind}" for c, kind in table_columns()[table])
        if not self._exists(self.path(table)):
            return self.spark.createDataFrame([], schema)
        frame = self.spark.read.schema(schema).parquet(self.path(table))
        return frame.select(*[c for c, _ in table_columns()[table]])

    def store(self, written: _Written) -> None:
        """Replace a written table's touched partitions by its rows (see the module docstring)."""
        rows = written.rows
        if rows is None:
            return
        path = self.path(written.name)
        if written.partition is None:
            self._swap(written.name, rows)
            return
        from pyspark.sql import functions as F

        kept = partitions_of(written, rows)
        if kept:
            (rows.where(F.col(written.partition).isNotNull())
             .write.mode("overwrite").option("partitionOverwriteMode", "dynamic")
             .partitionBy(written.partition).parquet(path))
        for value in written.touched - kept:
            self._remove(f"{path}/{written.partition}={value}")

    def _swap(self, table: str, rows: DataFrame) -> None:
        """Replace a table without partitions whole, never leaving it lost: the new rows
        are written beside it first (Spark's overwrite would delete the old folder before
        its job ran: a run killed then lost every profile the day did not touch), then the
        old folder is moved aside, the new one moved in, the old one removed. A swap cut
        short between the two moves is finished by `recover`. The moves are renames: one
        step on a file system and HDFS; on S3 a rename copies (docs/spark.md)."""
        token = uuid.uuid4().hex
        staged, aside = f"{self.root}/_staging/{table}-new-{token}", f"{self.root}/_staging/{table}-old-{token}"
        rows.write.mode("overwrite").parquet(staged)
        path = self.path(table)
        if self._exists(path):
            self._rename(path, aside)
        self._rename(staged, path)
        self._remove(aside)

    def recover(self) -> list[str]:
        """Finish what a writer killed while storing left in `_staging/`: a table moved
        aside and not replaced is moved back (the run did not store it: its re-run will);
        staged rows never moved in are removed. Returns the tables moved back."""
        folder = f"{self.root}/_staging"
        if not self._exists(folder):
            return []
        restored = []
        hadoop_path, fs = self._hadoop_path(folder)
        for status in fs.listStatus(hadoop_path):
            name = status.getPath().getName()
            match = re.fullmatch(r"(\w+)-(new|old)-[0-9a-f]{32}", name)
            if not match:
                continue
            if match.group(2) == "old" and not self._exists(self.path(match.group(1))):
                self._rename(f"{folder}/{name}", self.path(match.group(1)))
                restored.append(match.group(1))
            else:
                self._remove(f"{folder}/{name}")
        return restored

    def _rename(self, source: str, target: str) -> None:
        source_path, fs = self._hadoop_path(source)
        target_path, _ = self._hadoop_path(target)
        if not fs.rename(source_path, target_path):
            raise EtlError(f"Spark warehouse: could not move {source} to {target}")

    def _hadoop_path(self, path: str) -> tuple[Any, Any]:
        jvm = self.spark.sparkContext._jvm
        hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
        return hadoop_path, hadoop_path.getFileSystem(self.spark.sparkContext._jsc.hadoopConfiguration())

    def _exists(self, path: str) -> bool:
        hadoop_path, fs = self._hadoop_path(path)
        return bool(fs.exists(hadoop_path))

    def _remove(self, path: str) -> None:
        hadoop_path, fs = self._hadoop_path(path)
        fs.delete(hadoop_path, True)

    # -- what the stages call on a Warehouse ------------------------------------------

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
        with self.begin() as conn:
            applied = set(conn.query("SELECT version FROM schema_version", {}).scalars())
            if applied and max(applied) > latest:
                raise EtlError(f"Spark warehouse {self.root}: schema version {max(applied)} is newer than "
                               f"this group-etl (which knows up to {latest}): upgrade group-etl")
            if latest not in applied:
                conn.run("INSERT INTO schema_version (version, applied_at) VALUES (:v, :at)",
                         {"v": latest, "at": datetime.now(UTC)})
            recorded = conn.query("SELECT value FROM project_settings WHERE name = 'timezone'", {}).scalar()
            if recorded is None:
                conn.run("INSERT INTO project_settings (name, value, recorded_at) VALUES ('timezone', :v, :at)",
                         {"v": self.settings.timezone, "at": datetime.now(UTC)})
            elif recorded != self.settings.timezone:
                raise ConfigError(f"GROUP_ETL_TIMEZONE is {self.settings.timezone} but Spark warehouse "
                                  f"{self.root} was built in {recorded}; set GROUP_ETL_TIMEZONE={recorded}")
        return latest

    init = migrate

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

    def drop_temp(self, conn: SparkConnection, name: str) -> None:
        conn.run(f"DROP TABLE IF EXISTS temp.{name}", {})

    def bulk_insert(self, conn: SparkConnection, table: str, columns: Sequence[str],
                    rows: pa.Table | pa.RecordBatchReader | DataFrame, where: str = "true") -> None:
        """Append rows that match `where` (a condition of ours) to `table`. A DataFrame
        (a parse done on the executors, etl.ingest.spark) goes as it is, never through
        the driver; Arrow rows are written as Parquet where Spark reads it, then read by
        Spark's own reader."""
        from pyspark.sql import DataFrame as SparkFrame
        from pyspark.sql import functions as F

        if isinstance(rows, SparkFrame):
            conn.insert_frame(table, rows.where(where).select(*[F.col(c) for c in columns]))
            return
        import duckdb
        import pyarrow as pa

        if isinstance(rows, pa.Table) and rows.num_rows == 0:  # a day without files: no columns either
            return
        folder = f"{self.root}/_staging/{uuid.uuid4().hex}"
        local = folder.removeprefix("file://")
        if "://" in local:
            table_rows = rows if isinstance(rows, pa.Table) else rows.read_all()
            duck = duckdb.connect()
            duck.register("arrow_rows", table_rows)
            cols = ", ".join(f'"{c}"' for c in columns)
            picked = duck.execute(f"SELECT {cols} FROM arrow_rows WHERE {where}").arrow()  # noqa: S608
            duck.close()
            conn.insert_frame(table, self.spark.createDataFrame(picked))
            return
        os.makedirs(local, exist_ok=True)
        duck = duckdb.connect()
        try:
            duck.register("arrow_rows", rows)
            cols = ", ".join(f'"{c}"' for c in columns)
            target = f"{local}/rows.parquet".replace("'", "''")  # the path as a SQL literal
            duck.execute(f"COPY (SELECT {cols} FROM arrow_rows WHERE {where}) "  # noqa: S608
                         f"TO '{target}' (FORMAT parquet)")
        finally:
            duck.close()
        try:
            conn.insert_frame(table, self.spark.read.parquet(local))
        finally:
            import shutil

            shutil.rmtree(local, ignore_errors=True)


def _location(where: str) -> str:
    """A folder setting as an absolute file: URL; other URLs as they are."""
    if "://" in where or where.startswith("dbfs:/"):
        return where
    from pathlib import Path

    # not Path.as_uri(): Hadoop's Path takes the text as it is, so a percent-encoded
    # name ("a%20b") would become a folder of that name instead of "a b"
    return "file://" + str(Path(where).resolve())
