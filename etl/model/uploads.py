"""CSV uploads of group profiles: one `$set` a row, at upload time.

A file is checked whole before anything applies: a missing header or
`$group_id` column, a repeated column, a name starting with a byte order mark
(U+FEFF) past the file's first bytes, a ragged row, an empty id or bytes that
are not UTF-8 stop it with the line named. A file (by location and content) is
applied once; applying it again changes nothing. Ids are kept as they are,
never trimmed, as events' group ids are. Of the files in the lake, a bad one
is reported and remembered (by ETag) while the others apply.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa

from etl.errors import DataError, EtlError, StorageError
from etl.ingest.updates import MAX_NAME_LENGTH, MAX_PROPERTIES, UPDATE_COLUMNS
from etl.model.profile_updates import enforce_profile_limit, rebuild_profiles
from etl.store.lake import Lake, LakeObject, open_lake
from etl.store.warehouse import Warehouse

MAX_ROWS = 1_000_000
UPLOAD_PREFIX = "uploads/groups/"


@dataclass
class UploadResult:
    source: str
    group_key: str
    rows: int = 0
    profiles: int = 0
    duplicates: int = 0
    refused: int = 0  # new profiles past GROUP_ETL_MAX_GROUP_PROFILES
    already_applied: bool = False
    #: applied, already_applied, failed (now), failed_unchanged (failed before, not retried)
    status: str = "applied"
    error: str | None = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class CsvProfiles:
    """The rows of a valid upload: last row per id, in file order."""

    ids: list[str]
    lines: list[int]
    properties: list[dict]
    rows: int
    duplicates: int


def read_csv_profiles(data: bytes, source: str, infer_types: bool) -> CsvProfiles:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DataError(f"{source} line {line}: not UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header or all(not name.strip() for name in header):
        raise DataError(f"{source} line 1: no header row")
    marked = [name for name in header if name.startswith("\ufeff")]
    if marked:  # utf-8-sig took the file's own BOM; one left is not part of a name
        raise DataError(f"{source} line 1: column {marked[0]!r} starts with a byte order mark (U+FEFF), "
                        "which belongs only at the very start of the file")
    if "$group_id" not in header:
        raise DataError(f"{source} line 1: the header has no $group_id column (is the delimiter a comma?)")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise DataError(f"{source} line 1: repeated column(s) {', '.join(map(repr, repeated))}: "
                        "each property must have one column")
    if len(header) - 1 > MAX_PROPERTIES:
        raise DataError(f"{source} line 1: more than {MAX_PROPERTIES} properties")
    for name in header:
        if not name or len(name) > MAX_NAME_LENGTH:
            raise DataError(f"{source} line 1: property names must be 1-{MAX_NAME_LENGTH} characters")
    id_column = header.index("$group_id")
    latest: dict[str, tuple[int, dict]] = {}
    rows = 0
    for row in reader:
        line = reader.line_num
        if not row:
            continue
        rows += 1
        if rows > MAX_ROWS:
            raise DataError(f"{source} line {line}: more than {MAX_ROWS} rows")
        if len(row) != len(header):
            raise DataError(f"{source} line {line}: expected {len(header)} fields, found {len(row)}")
        group_id = row[id_column]  # as is, like events' group ids: ' c1' is not 'c1'
        if not group_id:
            raise DataError(f"{source} line {line}: empty $group_id")
        props = {name: _value(cell, infer_types) for name, cell in zip(header, row, strict=True)
                 if name != "$group_id" and cell != ""}
        latest.pop(group_id, None)  # re-insert so order is that of the winning row
        latest[group_id] = (line, props)
    return CsvProfiles(list(latest), [v[0] for v in latest.values()], [v[1] for v in latest.values()],
                       rows, rows - len(latest))


# JSON's number syntax, ASCII digits only: no '1_000', no '٣', no ' 12', no '012' (an id
# or a zip code keeps its leading zero), no '+1', '.5', 'inf' or 'nan'.
JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?", re.ASCII)
INT64 = range(-(2**63), 2**63)


def _value(cell: str, infer_types: bool) -> object:
    """A cell's value: the string, or with --infer-types true/false and numbers written
    exactly as JSON writes them (an integer in the signed 64-bit range, a finite decimal)."""
    if not infer_types:
        return cell
    if cell in ("true", "false"):
        return cell == "true"
    number = JSON_NUMBER.fullmatch(cell)
    if number is None:
        return cell
    if number.group(1) is None and number.group(2) is None:
        return int(cell) if int(cell) in INT64 else cell
    value = float(cell)
    return value if math.isfinite(value) else cell


def read_source(source: str, lake: Lake | None = None) -> bytes:
    """A local path, a lake key (with `lake`), or an s3:// / file:// URL."""
    if lake is not None:
        return b"".join(lake.iter_bytes(source))
    if source.startswith("s3://"):
        bucket, _, key = source[len("s3://"):].partition("/")
        return b"".join(open_lake(f"s3://{bucket}").iter_bytes(key))
    path = Path(source[len("file://"):] if source.startswith("file://") else source)
    try:
        return path.read_bytes()
    except OSError as error:
        raise EtlError(f"{source}: cannot read: {error.strerror}") from None


def upload_csv(
    warehouse: Warehouse, group_key: str, source: str, data: bytes, *, max_profiles: int,
    infer_types: bool = False, now: datetime | None = None, tz=UTC,  # noqa: ANN001
) -> UploadResult:
    now = (now or datetime.now(UTC)).astimezone(UTC)
    result = UploadResult(source, group_key)
    fingerprint = hashlib.sha256(data).hexdigest()
    profiles = read_csv_profiles(data, source, infer_types)
    result.rows, result.duplicates = profiles.rows, profiles.duplicates
    upload_date = now.astimezone(tz).date()
    with warehouse.begin() as conn:
        warehouse.lock(conn, "pipeline")
        active = conn.execute(
            sa.text("SELECT count(*) FROM group_keys WHERE group_key = :k AND removed_at IS NULL"),
            {"k": group_key},
        ).scalar()
        if not active:
            raise EtlError(f"group key {group_key!r} is not set up (see `group-etl keys list`)")
        done = conn.execute(
            sa.text("SELECT count(*) FROM profile_uploads WHERE source_object = :s AND fingerprint = :f"),
            {"s": source, "f": fingerprint},
        ).scalar_one()  # fetched to the end: DuckDB refuses the bulk insert beside an open result
        if done:
            result.already_applied, result.status = True, "already_applied"
            return result
        count = len(profiles.ids)
        rows = pa.table({
            "kind": ["upload"] * count,
            "load_date": pa.array([upload_date] * count, pa.date32()),
            "source_object": [source] * count,
            "source_line": pa.array(profiles.lines, pa.int64()),
            "source_index": pa.array([0] * count, pa.int32()),
            "group_key": [group_key] * count,
            "profile_id": profiles.ids,
            "update_time": pa.array([now] * count, pa.timestamp("us", "UTC")),
            "timed": [True] * count,
            "operation": ["$set"] * count,
            "value": [json.dumps(props, ensure_ascii=False) for props in profiles.properties],
            "raw": [json.dumps({"$group_id": gid, **props}) for gid, props in zip(profiles.ids, profiles.properties,
                                                                                   strict=True)],
        })
        warehouse.write(conn, "profile_updates", UPDATE_COLUMNS, rows=rows, partitions=[upload_date],
                        replacing=None)
        # The same profile limit as a day's group updates (sql/model/profile_limit.sql):
        # the refused rows move to rejected_records.
        result.refused = enforce_profile_limit(conn, warehouse, upload_date, max_profiles, upload=(source, now))
        admitted = list(conn.execute(
            sa.text("SELECT profile_id FROM profile_updates WHERE kind = 'upload' AND load_date = :d "
                    "AND source_object = :s AND update_time = :now"),
            {"d": upload_date, "s": source, "now": now},
        ).scalars())
        result.profiles = len(admitted)
        rebuild_profiles(conn, warehouse, "group", [(group_key, gid) for gid in admitted])
        warehouse.write(conn, "profile_uploads", ("source_object", "fingerprint", "group_key", "upload_date",
                                                  "applied_at", "profiles", "duplicates"), replacing=None,
                        values=[{"source_object": source, "fingerprint": fingerprint, "group_key": group_key,
                                 "upload_date": upload_date, "applied_at": now, "profiles": result.profiles,
                                 "duplicates": result.duplicates}])
    return result


def apply_new_uploads(
    warehouse: Warehouse, lake: Lake, *, max_profiles: int, infer_types: bool = False, tz=UTC,  # noqa: ANN001
    now: datetime | None = None,
) -> list[UploadResult]:
    """Apply each file under `uploads/groups/<key>/` not applied yet (by key and content).

    A bad file does not stop the others: it is reported (`status` failed, `error`)
    and remembered in `upload_failures` with its ETag; while it stays unchanged it
    is not read again (`failed_unchanged`); once it changes it is retried, and once
    it is gone it is forgotten."""
    results = []
    failures = _failures(warehouse)
    listed = lake.list(UPLOAD_PREFIX)
    for source in set(failures) - {obj.key for obj in listed}:
        _forget_failure(warehouse, source)
    for obj in listed:
        parts = obj.key[len(UPLOAD_PREFIX):].split("/")
        if len(parts) != 2 or not parts[1].lower().endswith(".csv"):
            continue
        known = failures.get(obj.key)
        if known is not None and known[0] == obj.etag:
            results.append(UploadResult(obj.key, parts[0], status="failed_unchanged", error=known[1]))
            continue
        try:
            result = upload_csv(warehouse, parts[0], obj.key, read_source(obj.key, lake),
                                max_profiles=max_profiles, infer_types=infer_types, now=now, tz=tz)
        except StorageError:
            raise  # the store, not the file: the caller retries
        except EtlError as error:
            _remember_failure(warehouse, obj, str(error), now)
            results.append(UploadResult(obj.key, parts[0], status="failed", error=str(error)))
            continue
        if known is not None:
            _forget_failure(warehouse, obj.key)
        results.append(result)
    return results


def _failures(warehouse: Warehouse) -> dict[str, tuple[str, str]]:
    with warehouse.begin() as conn:
        rows = conn.execute(sa.text("SELECT source_object, etag, error FROM upload_failures")).all()
    return {source: (etag, error) for source, etag, error in rows}


def _remember_failure(warehouse: Warehouse, obj: LakeObject, error: str, now: datetime | None) -> None:
    with warehouse.begin() as conn:
        warehouse.write(conn, "upload_failures", ("source_object", "etag", "error", "failed_at"),
                        params={"s": obj.key}, replacing="source_object = :s",
                        values=[{"source_object": obj.key, "etag": obj.etag, "error": error,
                                 "failed_at": (now or datetime.now(UTC)).astimezone(UTC)}])


def _forget_failure(warehouse: Warehouse, source: str) -> None:
    with warehouse.begin() as conn:
        warehouse.write(conn, "upload_failures", (), params={"s": source}, replacing="source_object = :s")
