"""Reading a lake partition into records, in columns.

Bytes are split into lines by numpy and Arrow and shaped by DuckDB
(`sql/ingest/split_records.sql`, then a per-kind validation query); no Python
touches an individual record. Each object is streamed in batches of about
`BATCH_BYTES`, each parsed batch goes to an Arrow IPC file on disk, so memory
is bounded by the batch, not the size of a day.
"""

from __future__ import annotations

import base64
import os
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

from etl.errors import ConfigError
from etl.store.arrow import int_array, text_array
from etl.store.columnar import MAX_NESTING, Engine
from etl.store.lake import DecodeState, Lake, LakeObject, iter_decompressed
from etl.store.sql import load_sql

T = TypeVar("T")
# 32 MB: a 10M-event day parsed with a peak RSS of 776 MB, against 1,156 MB with 64 MB
# batches, for the same CPU within noise (issue 21, docs/performance.md)
BATCH_BYTES = 32 * 1024 * 1024
PART_BATCH_ROWS = 16_384  # rows per record batch of a part: what a reader holds at a time
# DuckDB hands each chunk of an Arrow table to one thread: a batch of lines in chunks
# of this many keeps both cores busy (a single chunk made the parse query ~30% slower)
LINES_PER_CHUNK = 32_768
# A record longer than GROUP_ETL_MAX_RECORD_BYTES is rejected (oversized_record), its raw text
# kept as its first RAW_PREFIX_BYTES and its length. A line is held whole up to MAX_LINE_BYTES
# (a batch line of a /import request is up to 10 MB); a longer one is only counted.
DEFAULT_MAX_RECORD_BYTES = 1024 * 1024
MAX_LINE_BYTES = 16 * 1024 * 1024
RAW_PREFIX_BYTES = 1024
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


def max_record_bytes(environ: dict | None = None) -> int:
    """GROUP_ETL_MAX_RECORD_BYTES (docs/configuration.md): a longer record is rejected."""
    value = (os.environ if environ is None else environ).get("GROUP_ETL_MAX_RECORD_BYTES", "")
    if not value:
        return DEFAULT_MAX_RECORD_BYTES
    if not value.isdigit() or not 1024 <= int(value) <= MAX_LINE_BYTES:
        raise ConfigError(f"GROUP_ETL_MAX_RECORD_BYTES: expected a whole number of bytes from 1024 to "
                          f"{MAX_LINE_BYTES}, got {value!r}")
    return int(value)


def iter_line_batches(
    chunks: Iterator[bytes], state: DecodeState, line_limit: int = MAX_LINE_BYTES
) -> Iterator[pa.Table]:
    """Arrow tables of raw_lines (see `split_records.sql`): the object's lines, numbered from 1.

    `flag` is NULL for an ordinary line, `truncated_gzip` for the tail of a cut
    gzip stream, `empty_object` for an object with no bytes at all, and
    `oversized_record` for a line longer than `line_limit`: such a line is never
    held whole (its first RAW_PREFIX_BYTES are kept, the rest only counted), so
    what is held is at most about BATCH_BYTES + line_limit whatever the input.
    """
    pending: list[bytes] = []
    size = 0  # bytes in pending
    tail = 0  # bytes of pending after its last newline: the line being read
    next_line = 1
    seen_bytes = False
    long_line: list = []  # [first bytes, length so far] of a line past line_limit, being skipped
    for chunk in chunks:
        seen_bytes = seen_bytes or bool(chunk)
        if long_line:
            end = chunk.find(b"\n")
            if end < 0:
                long_line[1] += len(chunk)
                continue
            long_line[1] += end
            yield _oversized_table(next_line, *long_line)
            next_line += 1
            long_line = []
            chunk = chunk[end + 1:]
        pending.append(chunk)
        size += len(chunk)
        cut = chunk.rfind(b"\n")
        tail = tail + len(chunk) if cut < 0 else len(chunk) - cut - 1
        if tail > line_limit:  # the line being read is too long: lines before it go, it is skipped
            data = b"".join(pending)
            start = len(data) - tail
            if start:
                batch = _lines_table(data[:start], next_line)
                next_line += batch.num_rows
                yield batch
            long_line = [data[start:start + RAW_PREFIX_BYTES], tail]
            pending, size, tail = [], 0, 0
            continue
        if size < BATCH_BYTES:
            continue
        data = b"".join(pending)
        cut = len(data) - tail  # just after the last newline
        if cut == 0:
            pending = [data]
            continue
        batch = _lines_table(data[:cut], next_line)
        next_line += batch.num_rows
        yield batch
        pending, size = [data[cut:]], tail
    if long_line:
        yield _oversized_table(next_line, *long_line)
        next_line += 1
    data = b"".join(pending)
    if state.truncated:
        cut = data.rfind(b"\n")
        if cut >= 0:
            batch = _lines_table(data[:cut + 1], next_line)
            next_line += batch.num_rows
            yield batch
        yield _flag_table(next_line, data[cut + 1:], "truncated_gzip")
        next_line += 1
    elif not seen_bytes and not state.trailing_size:
        yield _flag_table(next_line, b"", "empty_object")
    elif data:
        batch = _lines_table(data, next_line)
        next_line += batch.num_rows
        yield batch
    yield from _gzip_problems(state, next_line)


def _gzip_problems(state: DecodeState, line: int) -> Iterator[pa.Table]:
    """One truncated_gzip record for gzip members whose CRC-32 or length check failed
    (their lines loaded: raw names the failure), and one for bytes after the last member
    that start no member (raw keeps them, truncated like an oversized record when long)."""
    if state.failed_checks:
        note = f"gzip check failed: CRC-32 or length of {state.failed_checks} member(s) (their lines loaded)"
        yield _flag_table(line, note.encode(), "truncated_gzip")
        line += 1
    if state.trailing_size:
        table = _flag_table(line, state.trailing, "truncated_gzip")
        yield table.set_column(4, "size", int_array([state.trailing_size]))


def truncated_raw(prefix: bytes, size: int) -> str:
    """What rejected_records.raw keeps of an oversized record: `truncated:<bytes>:` and
    its first bytes as text (cut at a character), or `base64:` of them when they are
    not UTF-8 or hold a NUL (which PostgreSQL cannot store)."""
    try:
        text = prefix.decode()
    except UnicodeDecodeError as error:
        text = prefix[:error.start].decode() if error.start >= len(prefix) - 3 else None
    if text is None or "\x00" in text:
        text = "base64:" + base64.b64encode(prefix).decode()
    return f"truncated:{size}:{text}"


def _oversized_table(line: int, prefix: bytes, size: int) -> pa.Table:
    return pa.table({
        "source_line": int_array([line]),
        "text": text_array([truncated_raw(prefix, size)], pa.large_string()),
        "bytes": pa.nulls(1, pa.large_binary()),
        "flag": text_array(["oversized_record"]),
        "size": int_array([size]),
    })


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
        blobs = pc.list_flatten(pc.split_pattern(text_array([exact], pa.large_binary()), b"\n"))
        text = pa.nulls(count, pa.large_string())
    table = pa.table({
        "source_line": int_array(np.arange(first_line, first_line + count, dtype=np.int64)),
        "text": text,
        "bytes": blobs,
        "flag": pa.nulls(count, pa.string()),
        "size": int_array(sizes),
    })
    return pa.Table.from_batches(table.to_batches(max_chunksize=LINES_PER_CHUNK))  # slices, not copies


def _flag_table(line: int, data: bytes, flag: str) -> pa.Table:
    return pa.table({
        "source_line": int_array([line]),
        "text": pa.nulls(1, pa.large_string()),
        "bytes": text_array([data], pa.large_binary()),
        "flag": text_array([flag]),
        "size": int_array([len(data)]),
    })


def used_params(sql: str, params: dict) -> dict:
    """The parameters a DuckDB statement names (`$name`): DuckDB refuses extra ones."""
    return {name: value for name, value in params.items() if re.search(rf"\${name}\b", sql)}


# How a partition is parsed: `parse_partition` here, or the Spark engine's on its executors
# (etl.ingest.spark.parse_on_executors); either result has loaded, rejected, rows()
Parse = Callable[..., "ParsedPartition"]

ACCEPTED = "reason IS NULL"  # the rows of a part that load
REJECTED = "reason IS NOT NULL"  # the rows of a part kept in rejected_records


def parse_query(kind: RecordKind) -> str:
    """The one query that turns `raw_lines` into a kind's parsed rows: our own SQL
    files composed (the split is the validation's input_records)."""
    split_sql = load_sql("ingest/split_records")
    columns = "$kind AS kind, $load_date::DATE AS load_date, *"
    parts = f"WITH input_records AS ({split_sql}) SELECT * FROM ({kind.validate_sql}) AS validated"  # noqa: S608
    return f"SELECT {columns} FROM ({parts}) AS parsed"  # noqa: S608


def query_params(query: str, kind: RecordKind, params: dict, record_limit: int) -> dict:
    """The parameters of a kind's parse query: the caller's and the split's own."""
    return used_params(query, {**params, "kind": kind.name, "max_nesting": MAX_NESTING,
                               "max_record_bytes": record_limit, "raw_prefix": RAW_PREFIX_BYTES})


def parse_batches(
    engine: Engine,
    lake: Lake,
    objects: list[LakeObject],
    kind: RecordKind,
    params: dict,
    progress: Callable[[int], None] | None = None,
    record_limit: int | None = None,
) -> Iterator[pa.Table]:
    """Every record of the objects, parsed: one table per batch of lines (the lines of
    many small objects share one batch), one query each. Only one batch is held at a
    time (and the next one read ahead). `record_limit` is GROUP_ETL_MAX_RECORD_BYTES
    (read here when None; a Spark executor gets the driver's)."""
    query = parse_query(kind)
    limit = max_record_bytes() if record_limit is None else record_limit
    batch_params = query_params(query, kind, params, limit)
    batches = _gathered(_object_batches(lake, objects, progress, max(limit, MAX_LINE_BYTES)), objects)
    for raw_lines in prefetched(batches):
        engine.con.register("raw_lines", raw_lines)
        try:
            # materialized, not streamed: a streaming result leaves fewer threads at work
            table = engine.con.sql(query, params=batch_params).to_arrow_table(PART_BATCH_ROWS)
        finally:
            engine.con.unregister("raw_lines")
        yield table


def parsed_schema(engine: Engine, kind: RecordKind, params: dict) -> pa.Schema:
    """The Arrow schema of a kind's parsed rows: the parse query run over no lines."""
    none = LakeObject("", 0, "")
    raw_lines = _with_objects([(0, _flag_table(1, b"", "empty_object").slice(0, 0))], [none])
    query = parse_query(kind)
    engine.con.register("raw_lines", raw_lines)
    try:
        return engine.con.sql(query, params=query_params(query, kind, params, DEFAULT_MAX_RECORD_BYTES)
                              ).to_arrow_table().schema
    finally:
        engine.con.unregister("raw_lines")


def parse_partition(
    engine: Engine,
    lake: Lake,
    objects: list[LakeObject],
    kind: RecordKind,
    params: dict,
    progress: Callable[[int], None] | None = None,
) -> ParsedPartition:
    """Parse every object of a partition into parts under the engine's folder, one
    part per batch holding every record (`parse_batches`)."""
    parsed = ParsedPartition()
    out = Path(engine.temp_dir)
    for number, table in enumerate(parse_batches(engine, lake, objects, kind, params, progress)):
        path = out / f"{kind.name}-{number:06d}.arrow"
        loaded, rejected = write_part(table, path)
        parsed.loaded += loaded
        parsed.rejected += rejected
        parsed.files.append(path)
    return parsed


def _gathered(batches: Iterator[tuple[int, pa.Table]], objects: list[LakeObject]) -> Iterator[pa.Table]:
    """raw_lines with their `source_object`, the batches of consecutive objects gathered
    up to BATCH_BYTES: a query costs a few milliseconds whatever its size, so a day
    of thousands of small objects runs a few queries, not one per object."""
    pending: list[tuple[int, pa.Table]] = []
    size = 0
    for number, raw_lines in batches:
        lines = pc.sum(raw_lines.column("size")).as_py() or 0
        if pending and size + lines > BATCH_BYTES:  # never more than a batch's worth in one query
            yield _with_objects(pending, objects)
            pending, size = [], 0
        pending.append((number, raw_lines))
        size += lines
    if pending:
        yield _with_objects(pending, objects)


def _with_objects(pending: list[tuple[int, pa.Table]], objects: list[LakeObject]) -> pa.Table:
    numbers = [number for number, _ in pending]
    keys = sorted(set(numbers))
    position = {number: n for n, number in enumerate(keys)}
    indices = np.repeat(np.array([position[n] for n in numbers], np.int32), [t.num_rows for _, t in pending])
    source_object = pa.DictionaryArray.from_arrays(int_array(indices, pa.int32()), text_array([objects[n].key for n in keys]))
    if len(pending) == 1:
        table = pending[0][1]
    else:  # many small tables become chunks of LINES_PER_CHUNK rows, as one object's lines are
        table = pa.concat_tables([t for _, t in pending]).combine_chunks()
        table = pa.Table.from_batches(table.to_batches(max_chunksize=LINES_PER_CHUNK))
    return table.add_column(0, "source_object", pa.chunked_array([source_object]))


def write_part(table: pa.Table, path: Path) -> tuple[int, int]:
    """Write a parsed batch as an Arrow IPC file; (records kept, records rejected)."""
    with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    kept = table.column("reason").null_count
    return kept, table.num_rows - kept


def _object_batches(
    lake: Lake, objects: list[LakeObject], progress: Callable[[int], None] | None, line_limit: int
) -> Iterator[tuple[int, pa.Table]]:
    """(object number, raw_lines) for every batch of every object; `progress` gets
    each object's size once it is read (from the reading thread)."""
    for number, obj in enumerate(objects):
        state = DecodeState()
        for raw_lines in iter_line_batches(iter_decompressed(lake, obj, state), state, line_limit):
            yield number, raw_lines
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
