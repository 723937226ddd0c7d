"""A stage's SQL steps, declared: each is one SELECT template `sql/model/<name>.sql`
(a chain of named CTEs), either a scratch table the steps after it read, or a
warehouse table written by the strategy etl.store.tables declares for it. The
engine's adapter carries each out (Warehouse.scratch / Warehouse.write); no step
is a script, and nothing reads a statement to find out what it does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from etl.store.sql import render_sql
from etl.store.tables import EVERY_ROW
from etl.store.warehouse import Warehouse


@dataclass(frozen=True)
class Scratch:
    """A temporary table of the step's rows, for the steps after it."""

    name: str


@dataclass(frozen=True)
class Model:
    """Rows of warehouse table `name`, its columns `columns` in the SELECT's order; a
    write replaces the rows of the partitions (or table) that match `replacing`."""

    name: str
    columns: tuple[str, ...]
    replacing: str | None = EVERY_ROW


Step = Scratch | Model


def run_steps(conn: Connection, warehouse: Warehouse, steps: Sequence[Step], params: dict,
              partitions: Sequence | None = None, **pieces: object) -> None:
    """Each step in order: its template rendered for the engine (with `pieces`), then
    made a scratch table or written (a `partitions` table: the `partitions` named)."""
    for step in steps:
        query = render_sql(f"model/{step.name}", warehouse.dialect, **pieces)
        if isinstance(step, Scratch):
            warehouse.scratch(conn, step.name, query, params)
        else:
            warehouse.write(conn, step.name, step.columns, query=query, params=params, partitions=partitions,
                            replacing=step.replacing)


def drop_scratch(conn: Connection, warehouse: Warehouse, steps: Sequence[Step]) -> None:
    for step in steps:
        if isinstance(step, Scratch):
            warehouse.drop_temp(conn, step.name)
