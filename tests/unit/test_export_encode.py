"""Layer 1: export files as written, byte for byte."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from etl.errors import StorageError
from etl.serve.export import encode, write_target


def test_csv_cells_that_a_spreadsheet_would_run_get_a_leading_quote() -> None:
    """OWASP's CSV injection advice: a text cell starting with = + - @ tab or CR is prefixed
    with '; a number (-5, -0.5) is no formula and stays a number, the string "-5" does not."""
    results = [
        {"$distinct_id": "=HYPERLINK(\"http://x\")", "$properties": {
            "a": "=1+1", "b": "+1", "c": -5, "d": "@SUM(A1)", "e": "\tx", "f": "\rx", "g": "ok = fine",
            "h": ["=x"], "i": "-5", "j": -0.5, "=name": "plain"}},
        {"$distinct_id": "c2", "$properties": {"a": "1-1", "c": 5, "j": True}},
    ]
    assert encode(results, "csv").decode() == (
        "$distinct_id,'=name,a,b,c,d,e,f,g,h,i,j\r\n"
        "\"'=HYPERLINK(\"\"http://x\"\")\",plain,'=1+1,'+1,-5,'@SUM(A1),'\tx,\"'\rx\",ok = fine,\"[\"\"=x\"\"]\",'-5,-0.5\r\n"
        "c2,,1-1,,5,,,,,,,true\r\n"
    )


def test_json_lines_are_written_as_they_are() -> None:
    results = [{"$distinct_id": "=x", "$properties": {"a": "=1+1"}}]
    assert encode(results, "jsonl") == b'{"$distinct_id": "=x", "$properties": {"a": "=1+1"}}\n'


def test_a_link_at_the_temporary_name_never_redirects_an_export(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious")
    os.symlink(outside, tmp_path / "out.jsonl.tmp")
    write_target(str(tmp_path / "out.jsonl"), b"rows\n")
    assert outside.read_bytes() == b"precious"
    assert (tmp_path / "out.jsonl").read_bytes() == b"rows\n"
    assert not (tmp_path / "out.jsonl.tmp").exists()


def test_an_export_target_in_a_missing_folder_is_created(tmp_path: Path) -> None:
    write_target(f"file://{tmp_path}/new/out.csv", b"x\n")
    assert (tmp_path / "new/out.csv").read_bytes() == b"x\n"
    with pytest.raises(StorageError, match="cannot create"):
        os.mkdir(tmp_path / "dir.tmp")
        write_target(str(tmp_path / "dir"), b"x\n")
