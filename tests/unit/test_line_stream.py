"""Layer 1: splitting a stream into lines holds a bounded amount, whatever the line lengths."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from etl.errors import ConfigError
from etl.ingest.records import RAW_PREFIX_BYTES, iter_line_batches, max_record_bytes, truncated_raw
from etl.store.lake import CHUNK, DecodeState, LakeObject, LocalLake, iter_decompressed

MIB = 1 << 20


def chunks(head: bytes, mib: int, tail: bytes) -> Iterator[bytes]:
    block = b"x" * MIB  # one object yielded again and again: the test itself holds 1 MiB
    yield head
    for _ in range(mib):
        yield block
    yield tail


def rows(tables: list) -> list[tuple]:
    return [(r["source_line"], r["flag"], r["size"], r["text"]) for t in tables for r in t.to_pylist()]


def test_a_line_past_the_limit_is_counted_not_held() -> None:
    list(iter_line_batches(chunks(b"{}\n", 3, b"\n{}"), DecodeState(), line_limit=MIB))  # lazy imports first
    tracemalloc.start()
    try:
        tables = list(iter_line_batches(chunks(b'{"a": 1}\n{"b"', 300, b'}\n{"c": 3}\n'), DecodeState(),
                                        line_limit=4 * MIB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = 300 * MIB + len('{"b"}')
    assert rows(tables) == [
        (1, None, 8, '{"a": 1}\n'),
        (2, "oversized_record", size, f'truncated:{size}:{{"b"' + "x" * (RAW_PREFIX_BYTES - 4)),
        (3, None, 8, '{"c": 3}\n'),
    ]
    assert peak < 16 * MIB  # the limit and a chunk, not the 300 MiB line


def test_an_unterminated_huge_last_line_is_one_oversized_record() -> None:
    tables = list(iter_line_batches(chunks(b"", 20, b""), DecodeState(), line_limit=MIB))
    assert [(line, flag, size) for line, flag, size, _ in rows(tables)] == [(1, "oversized_record", 20 * MIB)]


def test_inflating_a_gzip_bomb_yields_bounded_chunks(tmp_path: Path) -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    body = b"".join([packer.compress(b"x" * MIB) for _ in range(64)] + [packer.flush()])
    assert len(body) < 100_000
    lake = LocalLake(tmp_path)
    lake.write("bomb.gz", body + gzip.compress(b"\nend\n"))  # and a second member
    state = DecodeState()
    sizes = [len(c) for c in iter_decompressed(lake, LakeObject("bomb.gz", len(body), ""), state)]
    assert max(sizes) <= CHUNK
    assert sum(sizes) == 64 * MIB + 5
    assert not state.truncated


@pytest.mark.parametrize(("prefix", "raw"), [
    (b'{"a": "x', 'truncated:5000:{"a": "x'),
    ('{"é'.encode()[:-1], 'truncated:5000:{"'),  # cut inside a character: the whole ones are kept
    (b'{"a\x00', "truncated:5000:base64:eyJhAA=="),  # PostgreSQL stores no NUL
    (b'\xff\xfe{"a', "truncated:5000:base64://57ImE="),
])
def test_the_raw_text_kept_of_an_oversized_record(prefix: bytes, raw: str) -> None:
    assert truncated_raw(prefix, 5000) == raw


def test_the_record_limit_is_a_setting() -> None:
    assert max_record_bytes({}) == MIB
    assert max_record_bytes({"GROUP_ETL_MAX_RECORD_BYTES": "2048"}) == 2048
    for bad in ("1k", "100", str(17 * MIB)):
        with pytest.raises(ConfigError, match=f"^GROUP_ETL_MAX_RECORD_BYTES: expected a whole number of bytes "
                                              f"from 1024 to 16777216, got '{bad}'$"):
            max_record_bytes({"GROUP_ETL_MAX_RECORD_BYTES": bad})
