"""The in-process DuckDB that does per-event work (parsing, validation) in
columns, with a private temporary folder for its spill and Parquet outputs."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from etl.errors import ConfigError

if TYPE_CHECKING:  # imported where an engine opens: a PostgreSQL reader never needs DuckDB
    import duckdb

# Bounded memory for each DuckDB we open (the parsing engine and an embedded
# warehouse): DuckDB spills to disk past it.
MEMORY_LIMIT = os.environ.get("GROUP_ETL_ENGINE_MEMORY", "768MB")
if not MEMORY_LIMIT.replace(".", "").rstrip("KMGTBkmgtbi").isdigit():
    raise ConfigError(f"GROUP_ETL_ENGINE_MEMORY: expected a size such as 768MB, got {MEMORY_LIMIT!r}")


MAX_NESTING = 100  # deeper JSON is rejected: PostgreSQL's JSONB refuses very deep documents


def json_depth(text: str) -> int:
    """Deepest [ or { nesting outside strings. Called only for the rare records with
    more than MAX_NESTING brackets (split_records.sql filters first), never per event."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


@dataclass
class Engine:
    con: duckdb.DuckDBPyConnection
    temp_dir: str

    def release(self) -> None:
        """Close the DuckDB once its work is done, keeping its folder (parts written
        there are still read): its memory is freed before the warehouse's work starts,
        so the two never hold their memory limits at once."""
        self.con.close()


@contextlib.contextmanager
def columnar_engine() -> Iterator[Engine]:
    import duckdb

    temp_dir = tempfile.mkdtemp(prefix="group-etl-")
    con = duckdb.connect(
        config={
            "memory_limit": MEMORY_LIMIT,
            "temp_directory": os.path.join(temp_dir, "spill"),
            "preserve_insertion_order": True,
        }
    )
    con.create_function("json_depth", json_depth, ["VARCHAR"], "INTEGER")
    try:
        yield Engine(con, temp_dir)
    finally:
        con.close()
        shutil.rmtree(temp_dir, ignore_errors=True)
