"""What the stages use of a warehouse engine, declared as structural types: a
connection (one transaction) and the warehouse that opens it and carries out each
write. SQLAlchemy's `Connection` (DuckDB, PostgreSQL) and `etl.store.spark.
SparkConnection` both satisfy `Connection`; `etl.store.engines.base.Warehouse`'s
adapters and `etl.store.spark.SparkWarehouse` satisfy `Warehouse` (mypy checks
both in `etl.store.engines`).

A stage annotates its arguments `conn: Connection, warehouse: StageWarehouse`: it
runs on every engine, so it uses nothing beyond these members.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    import pyarrow as pa

    from etl.config import Settings


class Scalars(Protocol):
    """A column's values (`Result.scalars()`)."""

    def __iter__(self) -> Iterator[Any]: ...
    def all(self) -> Sequence[Any]: ...
    def first(self) -> Any: ...  # noqa: ANN401 - a column's value
    def one(self) -> Any: ...  # noqa: ANN401


class Result(Protocol):
    """The rows of one statement; a row is indexed by position and by column name
    as an attribute (`row.n`), as SQLAlchemy's `Row`."""

    def __iter__(self) -> Iterator[Any]: ...
    def all(self) -> Sequence[Any]: ...
    def first(self) -> Any: ...  # noqa: ANN401 - a row or None
    def one(self) -> Any: ...  # noqa: ANN401
    def scalar(self) -> Any: ...  # noqa: ANN401
    def scalars(self) -> Scalars: ...
    def mappings(self) -> Iterable[Mapping[Any, Any]]: ...


class Connection(Protocol):
    """One transaction of a warehouse: statements of ours (a `sqlalchemy.text` clause,
    with bound parameters) and their rows."""

    def execute(self, statement: Any, parameters: Any = None, /) -> Result: ...  # noqa: ANN401
    def exec_driver_sql(self, statement: str, /) -> Result: ...


C = TypeVar("C", bound=Connection)


class Warehouse(Protocol[C]):
    """An engine's adapter, as the stages, the runner and the readers use it. `C` is its
    connection's type. Capabilities are attributes, never a test of the engine's name:
    `dialect` is only the name the SQL templates are rendered for (`render_sql`)."""

    dialect: str
    settings: Settings
    schema: str
    read_only: bool
    # an export reads its rows through a server-side cursor (PostgreSQL), not all at once
    server_side_cursor: bool

    @property
    def executors(self) -> Any: ...  # noqa: ANN401 - the Spark session that parses the lake, or None

    def begin(self) -> AbstractContextManager[C]: ...
    def close(self) -> None: ...
    def __enter__(self) -> Warehouse[C]: ...
    def __exit__(self, *_exc: object) -> None: ...

    def migrate(self) -> int: ...
    def init(self) -> int: ...
    def check_version(self) -> int: ...
    def schema_version(self) -> int | None: ...
    def column_types(self, table: str) -> dict[str, str]: ...

    def lock(self, conn: C, name: str) -> None: ...
    def write(
        self, conn: C, name: str, columns: Sequence[str], *, query: str | None = ...,
        rows: pa.Table | pa.RecordBatchReader | None = ..., where: str = ..., values: list[dict] | None = ...,
        params: dict | None = ..., partitions: Sequence | None = ..., replacing: str | None = ...,
    ) -> None: ...
    def scratch(self, conn: C, name: str, query: str, params: dict | None = None) -> None: ...
    def scratch_rows(self, conn: C, name: str, columns: dict[str, str], rows: pa.Table) -> None: ...
    def drop_temp(self, conn: C, name: str) -> None: ...
    def analyze(self, conn: C, table: str) -> None: ...


# What a stage is handed: any engine's adapter (its connection is the stage's `conn`).
StageWarehouse = Warehouse[Any]

