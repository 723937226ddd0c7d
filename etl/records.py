"""Reading a lake partition into records, in columns.

Bytes are split into lines by Arrow and shaped by DuckDB
(`sql/duckdb/split_records.sql`, then a per-kind validation query); no Python
touches an individual record. Each object is streamed in batches of about
`BATCH_BYTES`, so memory is bounded by the batch, not the size of a day.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl.engine import MAX_NESTING, Engine
from etl.lake import DecodeState, Lake, LakeObject, iter_decompressed
from etl.warehouse import load_sql

BATCH_BYTES = 64 * 1024 * 1024
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
    """Parquet parts of one load, ready for `Warehouse.bulk_insert`."""

    accepted_files: list[Path] = field(default_factory=list)
    reject_files: list[Path] = field(default_factory=list)
    loaded: int = 0
    rejected: int = 0


@dataclass(frozen=True)
class RecordKind:
    """How one kind of record (event, group update, user update) is validated and kept.

    `validate_sql` turns `input_records` into `parsed_records` with a
    `reject_reason` column; `accepted_query` selects the rows to keep.
    """

    name: str
    validate_sql: str
    accepted_query: str


def input_fingerprint(objects: list[LakeObject]) -> str:
    """What identifies a partition's input: object keys, sizes and ETags."""
    digest = hashlib.sha256()
    for obj in objects:
        digest.update(f"{obj.key}\t{obj.size}\t{obj.etag}\n".encode())
    return digest.hexdigest()


def latest_allowed_epoch(day: date, tz: ZoneInfo) -> float:
    """End of the dump's day in the project time zone, plus one hour.

    Fixed by the day, not by the clock, so a re-run gives the same answer.
    """
    return end_of_day(day, tz).timestamp() + FUTURE_TOLERANCE_SECONDS


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)


def common_params(day: date, tz: ZoneInfo, token: str | None) -> dict:
    """Parameters every validation query may use."""
    return {
        "load_date": day,
        "latest_epoch": latest_allowed_epoch(day, tz),
        "earliest_epoch": EARLIEST_EPOCH,
        "token": token,
        "timezone": tz.key,
        "placeholders": PLACEHOLDER_DISTINCT_IDS,
    }


def iter_line_batches(chunks: Iterator[bytes], state: DecodeState) -> Iterator[pa.Table]:
    """Arrow tables of (source_line, bytes, flag): the object's lines, numbered from 1.

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
        batch = _lines_table(data[:cut], next_line)
        next_line += batch.num_rows
        yield batch
        pending = [data[cut + 1:]]
        size = len(pending[0])
    data = b"".join(pending)
    if state.truncated:
        complete, _, tail = data.rpartition(b"\n")
        if complete or data.startswith(b"\n"):
            batch = _lines_table(complete, next_line)
            next_line += batch.num_rows
            yield batch
        yield _flag_table(next_line, tail, "truncated_gzip")
    elif not seen_bytes:
        yield _flag_table(next_line, b"", "empty_object")
    elif data:
        yield _lines_table(data[:-1] if data.endswith(b"\n") else data, next_line)


def _lines_table(data: bytes, first_line: int) -> pa.Table:
    lines = pc.list_flatten(pc.split_pattern(pa.array([data], pa.large_binary()), b"\n"))
    count = len(lines)
    return pa.table(
        {
            "source_line": pa.array(np.arange(first_line, first_line + count, dtype=np.int64)),
            "bytes": lines,
            "flag": pa.nulls(count, pa.string()),
        }
    )


def _flag_table(line: int, data: bytes, flag: str) -> pa.Table:
    return pa.table(
        {
            "source_line": pa.array([line], pa.int64()),
            "bytes": pa.array([data], pa.large_binary()),
            "flag": pa.array([flag], pa.string()),
        }
    )


def used_params(sql: str, params: dict) -> dict:
    """The parameters a DuckDB statement names (`$name`): DuckDB refuses extra ones."""
    return {name: value for name, value in params.items() if re.search(rf"\${name}\b", sql)}


def copy_to_parquet(con, query: str, path: Path, params: dict) -> None:  # noqa: ANN001
    """Write a query's rows to a Parquet file of ours (the path is never user input)."""
    # uncompressed: these parts live for one run, and compressing them costs more than it saves
    con.execute(f"COPY ({query}) TO '{path}' (FORMAT parquet, COMPRESSION uncompressed)",  # noqa: S608
                used_params(query, params)).fetchall()


REJECTS_QUERY = (
    "SELECT $kind AS kind, $load_date::DATE AS load_date, $source_object AS source_object, "
    "source_line, source_index, reject_reason AS reason, raw "
    "FROM parsed_records WHERE reject_reason IS NOT NULL"
)


def parse_partition(
    engine: Engine,
    lake: Lake,
    objects: list[LakeObject],
    kind: RecordKind,
    params: dict,
    progress: Callable[[int], None] | None = None,
) -> ParsedPartition:
    """Parse every object of a partition into Parquet parts under the engine's folder."""
    split_sql = load_sql("split_records", "duckdb")
    parsed = ParsedPartition()
    out = Path(engine.temp_dir)
    con = engine.con
    for number, obj in enumerate(objects):
        state = DecodeState()
        for part, raw_lines in enumerate(iter_line_batches(iter_decompressed(lake, obj, state), state)):
            con.register("raw_lines", raw_lines)
            con.execute(split_sql, {"source_object": obj.key, "max_nesting": MAX_NESTING}).fetchall()
            con.unregister("raw_lines")
            con.execute(kind.validate_sql, used_params(kind.validate_sql, params)).fetchall()
            stem = out / f"{kind.name}-{number:06d}-{part:04d}"
            accepted_file, rejects_file = stem.with_suffix(".ok.parquet"), stem.with_suffix(".rejects.parquet")
            row_params = {"load_date": params["load_date"], "source_object": obj.key}
            copy_to_parquet(con, kind.accepted_query, accepted_file, row_params)
            copy_to_parquet(con, REJECTS_QUERY, rejects_file, {**row_params, "kind": kind.name})
            loaded, rejected = con.execute(
                "SELECT count(*) FILTER (WHERE reject_reason IS NULL), "
                "count(*) FILTER (WHERE reject_reason IS NOT NULL) FROM parsed_records"
            ).fetchall()[0]
            parsed.loaded += loaded
            parsed.rejected += rejected
            if loaded:
                parsed.accepted_files.append(accepted_file)
            if rejected:
                parsed.reject_files.append(rejects_file)
        if progress is not None:
            progress(obj.size)
    return parsed
