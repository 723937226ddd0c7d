"""The CSV that PostgreSQL's COPY reads while DuckDB writes it (Warehouse.bulk_insert):
the same bytes as a CSV file, a failed write raised, a reader that stops leaves no
writer behind."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from etl.store.warehouse import _csv_blocks

ROWS = "SELECT range AS n, 'a,\"b\"' || range AS s, CASE WHEN range % 3 = 0 THEN NULL ELSE '' END AS e FROM range(300000)"


def test_the_blocks_are_the_csv_file_duckdb_writes(tmp_path: Path) -> None:
    con = duckdb.connect()
    con.execute(f"COPY ({ROWS}) TO '{tmp_path / 'rows.csv'}' (HEADER false)")
    assert b"".join(_csv_blocks(con, ROWS)) == (tmp_path / "rows.csv").read_bytes()


def test_a_failed_write_is_raised_after_the_rows_before_it() -> None:
    con = duckdb.connect()
    failing = "SELECT range AS n, CASE WHEN range = 250000 THEN error('no such value') END AS e FROM range(300000)"
    with pytest.raises(duckdb.InvalidInputException, match="no such value"):
        for _ in _csv_blocks(con, failing):
            pass
    assert not writers()


def test_a_reader_that_stops_early_leaves_no_writer() -> None:
    con = duckdb.connect()
    blocks = _csv_blocks(con, ROWS.replace("300000", "3000000"))
    assert next(blocks)
    blocks.close()
    assert not writers()
    assert con.execute("SELECT 42").fetchone() == (42,)  # the connection is free again


def writers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "bulk-insert-csv"]
