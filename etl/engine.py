"""The in-process DuckDB that does per-event work (parsing, validation) in
columns, with a private temporary folder for its spill and Parquet outputs."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb

# Bounded memory for each DuckDB we open (the parsing engine and an embedded
# warehouse): DuckDB spills to disk past it.
MEMORY_LIMIT = os.environ.get("GROUP_ETL_ENGINE_MEMORY", "768MB")
if not MEMORY_LIMIT.replace(".", "").rstrip("KMGTBkmgtbi").isdigit():
    raise ValueError(f"GROUP_ETL_ENGINE_MEMORY: expected a size such as 768MB, got {MEMORY_LIMIT!r}")


@dataclass
class Engine:
    con: duckdb.DuckDBPyConnection
    temp_dir: str


@contextlib.contextmanager
def columnar_engine() -> Iterator[Engine]:
    temp_dir = tempfile.mkdtemp(prefix="group-etl-")
    con = duckdb.connect(
        config={
            "memory_limit": MEMORY_LIMIT,
            "temp_directory": os.path.join(temp_dir, "spill"),
            "preserve_insertion_order": True,
        }
    )
    try:
        yield Engine(con, temp_dir)
    finally:
        con.close()
        shutil.rmtree(temp_dir, ignore_errors=True)
