"""The rows PostgreSQL's COPY reads while DuckDB writes them (Warehouse.bulk_insert):
COPY's text format exactly, a failed write raised, a reader that stops leaves no
writer behind."""

from __future__ import annotations

import threading

import duckdb
import pytest

from etl.store.warehouse import _copy_blocks, _copy_text

ROWS = "SELECT range AS n, 'a,\"b\"' || range AS s FROM range(300000)"


def copy_lines(con: duckdb.DuckDBPyConnection, select: str, columns: list[str]) -> list[bytes]:
    texts = ", ".join(_copy_text(c) for c in columns)
    return b"".join(_copy_blocks(con, f"SELECT {texts} FROM ({select}) AS kept")).split(b"\n")[:-1]  # noqa: S608


def test_fields_are_escaped_as_copy_text_reads_them() -> None:
    con = duckdb.connect()
    select = ("SELECT * FROM (VALUES (1, 'back\\slash', NULL, DATE '2026-01-15', '{\"q\": \"a\\\"b\"}'), "
              "(2, 'tab' || chr(9) || 'line' || chr(10) || 'return' || chr(13), '', DATE '2026-01-16', '\\N')) "
              "AS t(n, s, e, d, j)")
    assert copy_lines(con, select, ["n", "s", "e", "d", "j"]) == [
        b'1\tback\\\\slash\t\\N\t2026-01-15\t{"q": "a\\\\"b"}',
        b"2\ttab\\tline\\nreturn\\r\t\t2026-01-16\t\\\\N",
    ]


def test_every_row_arrives_in_order() -> None:
    lines = copy_lines(duckdb.connect(), ROWS, ["n", "s"])
    assert len(lines) == 300000
    assert lines[0] == b'0\ta,"b"0' and lines[-1] == b'299999\ta,"b"299999'


def test_a_failed_write_is_raised_after_the_rows_before_it() -> None:
    con = duckdb.connect()
    failing = "SELECT range AS n, CASE WHEN range = 250000 THEN error('no such value') END AS e FROM range(300000)"
    with pytest.raises(duckdb.InvalidInputException, match="no such value"):
        for _ in _copy_blocks(con, failing):
            pass
    assert not writers()


def test_a_reader_that_stops_early_leaves_no_writer() -> None:
    con = duckdb.connect()
    blocks = _copy_blocks(con, ROWS.replace("300000", "3000000"))
    assert next(blocks)
    blocks.close()
    assert not writers()
    assert con.execute("SELECT 42").fetchone() == (42,)  # the connection is free again


def writers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "bulk-insert-copy"]
