"""Reading a lake partition into records, in columns.

Bytes are split into lines by numpy and Arrow and shaped by DuckDB
(`sql/ingest/split_records.sql`, then a per-kind validation query); no Python
touches an individual record. Each object is streamed in batches of about
`BATCH_BYTES`, each parsed batch goes to an Arrow IPC file on disk, so memory
is bounded by the batch, not the size of a day.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from etl.store.columnar import MAX_NESTING, Engine
from etl.store.lake import DecodeState, Lake, LakeObject, iter_decompressed
from etl.store.sql import load_sql

T = TypeVar("T")
BATCH_BYTES = 64 * 1024 * 1024
PART_BATCH_ROWS = 16_384  # rows per record batch of a part: what a reader holds at a time
# DuckDB hands each chunk of an Arrow table to one thread: a batch of lines in chunks
# of this many keeps both cores busy (a single chunk made the parse query ~30% slower)
LINES_PER_CHUNK = 32_768
EARLIEST_EPOCH = 31_536_000  # 1971-01-01T00:00:00Z
FUTURE_TOLERANCE_SECONDS = 3600

# Mixpanel refuses these distinct_ids (compared trimmed and lower-cased).
PLACEHOLDER_DISTINCT_IDS = [
    "", "0", "-1", "00000000-0000-0000-0000-000000000000", "<nil>", "[]", "{}",
    "anon", "anonymous", "false", "n/a", "na", "nan", "nil", "none", "null", "true",
    "undefined", "unknown",
]
REJECT_COLUMNS = ["kind", "load_date", "source_object", "source_line", "source_index", "reason", "raw"]


@dataclass
class ParsedPartition:
    """Parts of one load (Arrow IPC files), ready for `Warehouse.bulk_insert`: every
    record, with `reason` NULL for one that loads (`ACCEPTED`), else why it is rejected.

    Arrow IPC, not Parquet: a part lives for one run, and with Parquet parts parsing
    1M events took 8.0-8.5 s of CPU instead of 6.3-6.5 s (measured)."""

    files: list[Path] = field(default_factory=list)
    loaded: int = 0
    rejected: int = 0

    def rows(self) -> pa.Table | pa.RecordBatchReader:
        """Every part's rows as one stream, read batch by batch (a reader is read once:
        call again for another pass). DuckDB's threads share it."""
        if not self.files:
            return pa.table({})
        with pa.OSFile(str(self.files[0])) as first:
            schema = ipc.open_file(first).schema
        return pa.RecordBatchReader.from_batches(schema, _part_batches(self.files))


def _part_batches(files: list[Path]) -> Iterator[pa.RecordBatch]:
    for path in files:
        with pa.OSFile(str(path)) as source:  # read, not mapped: a batch's memory is freed after use
            part = ipc.open_file(source)
            for number in range(part.num_record_batches):
                yield part.get_batch(number)


@dataclass(frozen=True)
class RecordKind:
    """How one kind of record (event, group update, user update) is validated.

    `validate_sql` turns `input_records` into one row per record with a
    `reason` column (NULL when the record is kept) and the kind's columns.
    """

    name: str
    validate_sql: str


def input_fingerprint(objects: list[LakeObject]) -> str:
    """What identifies a partition's input: object keys, sizes and ETags."""
    digest = hashlib.sha256()
    for obj in objects:
        digest.update(f"{obj.key}\t{obj.size}\t{obj.etag}\n".encode())
    return digest.hexdigest()


def common_params(day: date, tz: ZoneInfo, token: str | None) -> dict:
    """Parameters every validation query may use. The end of the day is computed in the
    query (sql/ingest/_rules.sql), by the zone data that gives events their date."""
    return {
        "load_date": day,
        "future_tolerance": FUTURE_TOLERANCE_SECONDS,
        "earliest_epoch": EARLIEST_EPOCH,
        "token": token,
        "timezone": tz.key,
        "placeholders": PLACEHOLDER_DISTINCT_IDS,
    }


def iter_line_batches(chunks: Iterator[bytes], state: DecodeState) -> Iterator[pa.Table]:
    """Arrow tables of raw_lines (see `split_records.sql`): the object's lines, numbered from 1.

    `flag` is NULL for an ordinary line, `truncated_gzip` for the tail of a cut
    gzip stream, `empty_object` for an object with no bytes at all.
    """
    pending: list[bytes] = []
    size = 0
    next_line = 1
    seen_bytes = False
    for chunk in chunks:
        seen_bytes = seen_bytes or bool(chunk)
        pending.append(chunk)
        size += len(chunk)
        if size < BATCH_BYTES:
            continue
        data = b"".join(pending)
        cut = data.rfind(b"\n")
        if cut < 0:
            pending, size = [data], len(data)
            continue
        batch = _lines_table(data[:cut + 1], next_line)
        next_line += batch.num_rows
        yield batch
        pending = [data[cut + 1:]]
        size = len(pending[0])
    data = b"".join(pending)
    if state.truncated:
        cut = data.rfind(b"\n")
        if cut >= 0:
            batch = _lines_table(data[:cut + 1], next_line)
            next_line += batch.num_rows
            yield batch
        yield _flag_table(next_line, data[cut + 1:], "truncated_gzip")
    elif not seen_bytes:
        yield _flag_table(next_line, b"", "empty_object")
    elif data:
        yield _lines_table(data, next_line)


def _lines_table(data: bytes, first_line: int) -> pa.Table:
    """Split bytes into lines without copying them: each value keeps its newline
    (JSON ignores it; rejects strip it). A final newline ends a line, it does not
    start an empty one."""
    newlines = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
    ends = newlines if data.endswith(b"\n") else np.append(newlines, len(data))
    offsets = np.empty(len(ends) + 1, np.int64)
    offsets[0] = 0
    offsets[1:] = ends + 1
    offsets[-1] = min(offsets[-1], len(data))
    count = len(ends)
    sizes = ends - offsets[:-1]  # without the newline
    buffer = pa.py_buffer(data)
    text = pa.LargeStringArray.from_buffers(count, pa.py_buffer(offsets), buffer)
    try:
        text.validate(full=True)  # UTF-8 of the whole batch at once
        blobs = pa.nulls(count, pa.large_binary())
    except pa.ArrowInvalid:  # rare: DuckDB decodes line by line and rejects the bad ones
        exact = data[:-1] if data.endswith(b"\n") else data
        blobs = pc.list_flatten(pc.split_pattern(pa.array([exact], pa.large_binary()), b"\n"))
        text = pa.nulls(count, pa.large_string())
    table = pa.table({
        "source_line": pa.array(np.arange(first_line, first_line + count, dtype=np.int64)),
        "text": text,
        "bytes": blobs,
        "flag": pa.nulls(count, pa.string()),
        "size": pa.array(sizes),
    })
    return pa.Table.from_batches(table.to_batches(max_chunksize=LINES_PER_CHUNK))  # slices, not copies


def _flag_table(line: int, data: bytes, flag: str) -> pa.Table:
    return pa.table({
        "source_line": pa.array([line], pa.int64()),
        "text": pa.nulls(1, pa.large_string()),
        "bytes": pa.array([data], pa.large_binary()),
        "flag": pa.array([flag], pa.string()),
        "size": pa.array([len(data)], pa.int64()),
    })


def used_params(sql: str, params: dict) -> dict:
    """The parameters a DuckDB statement names (`$name`): DuckDB refuses extra ones."""
    return {name: value for name, value in params.items() if re.search(rf"\${name}\b", sql)}


ACCEPTED = "reason IS NULL"  # the rows of a part that load
REJECTED = "reason IS NOT NULL"  # the rows of a part kept in rejected_records


def parse_partition(
    engine: Engine,
    lake: Lake,
    objects: list[LakeObject],
    kind: RecordKind,
    params: dict,
    progress: Callable[[int], None] | None = None,
) -> ParsedPartition:
    """Parse every object of a partition into parts under the engine's folder: one
    query per batch of lines, one part per batch holding every record."""
    split_sql = load_sql("ingest/split_records")
    # our own SQL files, composed: the split is the validation's input_records
    columns = "$kind AS kind, $load_date::DATE AS load_date, $source_object AS source_object, *"
    parts = f"WITH input_records AS ({split_sql}) SELECT * FROM ({kind.validate_sql}) AS validated"  # noqa: S608
    query = f"SELECT {columns} FROM ({parts}) AS parsed"  # noqa: S608
    parsed = ParsedPartition()
    out = Path(engine.temp_dir)
    con = engine.con
    for number, part, raw_lines in prefetched(_object_batches(lake, objects, progress)):
        obj = objects[number]
        path = out / f"{kind.name}-{number:06d}-{part:04d}.arrow"
        batch_params = {**params, "kind": kind.name, "source_object": obj.key, "max_nesting": MAX_NESTING}
        con.register("raw_lines", raw_lines)
        # materialized, not streamed: a streaming result leaves fewer threads at work
        table = con.sql(query, params=used_params(query, batch_params)).to_arrow_table(PART_BATCH_ROWS)
        loaded, rejected = write_part(table, path)
        con.unregister("raw_lines")
        parsed.loaded += loaded
        parsed.rejected += rejected
        parsed.files.append(path)
    return parsed


def write_part(table: pa.Table, path: Path) -> tuple[int, int]:
    """Write a parsed batch as an Arrow IPC file; (records kept, records rejected)."""
    with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    kept = table.column("reason").null_count
    return kept, table.num_rows - kept


def _object_batches(
    lake: Lake, objects: list[LakeObject], progress: Callable[[int], None] | None
) -> Iterator[tuple[int, int, pa.Table]]:
    """(object number, batch number, raw_lines) for every batch of every object;
    `progress` gets each object's size once it is read (from the reading thread)."""
    for number, obj in enumerate(objects):
        state = DecodeState()
        for part, raw_lines in enumerate(iter_line_batches(iter_decompressed(lake, obj, state), state)):
            yield number, part, raw_lines
        if progress is not None:
            progress(obj.size)


_DONE = object()


def prefetched(items: Iterator[T]) -> Iterator[T]:
    """The same items, the next one produced in a thread while the caller works on
    this one: reading, inflating and splitting a batch overlap DuckDB's query on the
    previous one (all of them release the GIL). One batch ahead bounds the memory."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(next, items, _DONE)
        while (item := future.result()) is not _DONE:
            future = pool.submit(next, items, _DONE)
            yield item
