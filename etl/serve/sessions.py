"""Pinned export sessions: Mixpanel's Engage paging without writing to the warehouse.

Page 0 of `export profiles` writes the ordered result once, as
`<session dir>/<session_id>.parquet` (profile_id, properties as JSON text, in
row groups of ROW_GROUP rows); later pages with that session_id read only the
row groups they need, so they return the same rows in the same order even if
the pipeline changed the profiles meanwhile. The warehouse is only read, so an
export never takes DuckDB's single writer lock.

Sessions expire after SESSION_TTL: each new session deletes the expired ones,
and an expired session is refused like an unknown one. The folder is made
private to its user (profiles are customer data).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from etl.errors import EtlError

SESSION_TTL = timedelta(hours=24)
ROW_GROUP = 10_000
SCHEMA = pa.schema([("profile_id", pa.string()), ("properties", pa.string())])
_SESSION_ID = re.compile(r"[0-9a-f]{32}")
# what expire() may delete: our own session files and interrupted writes, nothing else
_OWN_FILE = re.compile(rf"{_SESSION_ID.pattern}\.parquet(\.tmp)?")


class SessionStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def create(self, rows: Iterable[list[tuple[str, str]]]) -> str:
        """Pin rows (batches of (profile_id, properties JSON text), already ordered) under a new id."""
        self._private_folder()
        self.expire()
        session_id = uuid.uuid4().hex
        path = self._path(session_id)
        partial = path.with_name(path.name + ".tmp")
        try:
            with pq.ParquetWriter(partial, SCHEMA) as writer:
                for batch in rows:
                    if batch:
                        ids, properties = zip(*batch, strict=True)
                        writer.write_table(pa.table([list(ids), list(properties)], schema=SCHEMA),
                                           row_group_size=ROW_GROUP)
            os.chmod(partial, 0o600)
            partial.replace(path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return session_id

    def read(self, session_id: str, lo: int, hi: int | None) -> tuple[int, list[tuple[str, str]]]:
        """(total rows, the rows at positions lo..hi-1) of a pinned session."""
        path = self._existing(session_id)
        try:
            parquet = pq.ParquetFile(path)
        except FileNotFoundError:  # expired and removed by another export just now
            raise _unknown(session_id) from None
        with parquet:
            total = parquet.metadata.num_rows
            end = total if hi is None else min(hi, total)
            if lo >= end:
                return total, []
            groups, first = [], None
            start = 0
            for index in range(parquet.metadata.num_row_groups):
                size = parquet.metadata.row_group(index).num_rows
                if start + size > lo and start < end:
                    groups.append(index)
                    first = start if first is None else first
                start += size
            table = parquet.read_row_groups(groups).slice(lo - first, end - lo)
        return total, list(zip(table.column("profile_id").to_pylist(), table.column("properties").to_pylist(),
                               strict=True))

    def expire(self) -> int:
        """Delete sessions (and interrupted writes) older than SESSION_TTL; returns how many."""
        cutoff = time.time() - SESSION_TTL.total_seconds()
        removed = 0
        for path in self.folder.iterdir():
            if not _OWN_FILE.fullmatch(path.name):
                continue
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:  # another export removed it first
                continue
        return removed

    def _private_folder(self) -> None:
        """The folder exists, belongs to this user and only this user may enter it:
        sessions hold customer profiles, and a shared folder (the default for
        PostgreSQL is under the system temp dir) must not expose or lose them."""
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = self.folder.stat()
            if info.st_uid != os.getuid():
                raise EtlError(f"export session folder {self.folder} belongs to another user: "
                               "set GROUP_ETL_SESSION_DIR to a folder of your own")
            if info.st_mode & 0o077:
                os.chmod(self.folder, 0o700)
        except OSError as error:
            raise EtlError(f"export session folder {self.folder}: {error.strerror or error}") from None

    def _path(self, session_id: str) -> Path:
        return self.folder / f"{session_id}.parquet"

    def _existing(self, session_id: str) -> Path:
        # the id names a file: anything but our own hex ids is unknown, never a path
        path = self._path(session_id) if _SESSION_ID.fullmatch(session_id) else None
        try:
            fresh = path is not None and path.stat().st_mtime >= time.time() - SESSION_TTL.total_seconds()
        except FileNotFoundError:
            fresh = False
        if not fresh:
            raise _unknown(session_id)
        return path


def _unknown(session_id: str) -> EtlError:
    hours = int(SESSION_TTL.total_seconds() // 3600)
    return EtlError(f"session {session_id!r} is unknown or expired (sessions last {hours} hours): ask for page 0 again")
