"""Pinned export sessions: Mixpanel's Engage paging without writing to the warehouse.

Page 0 of `export profiles` writes the ordered result once, as
`<session dir>/<session_id>.parquet` (profile_id, properties as JSON text, in
row groups of ROW_GROUP rows); later pages with that session_id read only the
row groups they need, so they return the same rows in the same order even if
the pipeline changed the profiles meanwhile. The warehouse is only read, so an
export never takes DuckDB's single writer lock.

Sessions expire after the store's ttl (GROUP_ETL_SESSION_TTL_SECONDS, default
24 hours): every export (a new session or a page) deletes the expired ones, and
an expired session is refused, naming its lifetime. A session records the
selection it pinned; a page asked with another selection is refused rather
than answered from the wrong rows. The folder is made private to its user
(profiles are customer data).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from etl.errors import EtlError

SESSION_TTL = 86_400  # seconds, the default of GROUP_ETL_SESSION_TTL_SECONDS
ROW_GROUP = 10_000
SCHEMA = pa.schema([("profile_id", pa.string()), ("properties", pa.string())])
_SESSION_ID = re.compile(r"[0-9a-f]{32}")
# what expire() may delete: our own session files and interrupted writes, nothing else
_OWN_FILE = re.compile(rf"{_SESSION_ID.pattern}\.parquet(\.tmp)?")


class SessionStore:
    def __init__(self, folder: Path, ttl: int = SESSION_TTL) -> None:
        self.folder = folder
        self.ttl = ttl

    def create(self, rows: Iterable[list[tuple[str, str]]], selection: str = "") -> str:
        """Pin rows (batches of (profile_id, properties JSON text), already ordered) under a new id,
        recording `selection` (a description of what was asked) for `read` to compare."""
        self._private_folder()
        self.expire()
        session_id = uuid.uuid4().hex
        path = self._path(session_id)
        partial = path.with_name(path.name + ".tmp")
        schema = SCHEMA.with_metadata({_SELECTION: selection})
        try:
            with pq.ParquetWriter(partial, schema) as writer:
                for batch in rows:
                    if batch:
                        ids, properties = zip(*batch, strict=True)
                        writer.write_table(pa.table([list(ids), list(properties)], schema=schema),
                                           row_group_size=ROW_GROUP)
            os.chmod(partial, 0o600)
            partial.replace(path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return session_id

    def read(self, session_id: str, lo: int, hi: int | None,
             selection: str | None = None) -> tuple[int, list[tuple[str, str]]]:
        """(total rows, the rows at positions lo..hi-1) of a pinned session; with `selection`,
        the session must have been pinned for that same selection."""
        path = self._existing(session_id)
        if self.folder.is_dir():
            self.expire()
        try:
            parquet = pq.ParquetFile(path)
        except FileNotFoundError:  # expired and removed by another export just now
            raise self._unknown(session_id) from None
        with parquet:
            pinned = (parquet.schema_arrow.metadata or {}).get(_SELECTION.encode())
            if selection is not None and pinned is not None and pinned.decode() != selection:
                raise EtlError(f"session {session_id!r} was pinned for {pinned.decode()}, not for {selection}: "
                               "ask for the same selection, or for page 0 again")
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
        """Delete sessions (and interrupted writes) older than the ttl; returns how many."""
        cutoff = time.time() - self.ttl
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
            made = path.stat().st_mtime if path is not None else None
        except FileNotFoundError:
            made = None
        if made is None:
            raise self._unknown(session_id)
        if made < time.time() - self.ttl:
            raise EtlError(f"session {session_id!r} expired (sessions last {_lifetime(self.ttl)}): "
                           "ask for page 0 again")
        return path

    def _unknown(self, session_id: str) -> EtlError:
        return EtlError(f"session {session_id!r} is unknown or expired (sessions last {_lifetime(self.ttl)}): "
                        "ask for page 0 again")


_SELECTION = "group_etl_selection"


def _lifetime(seconds: int) -> str:
    for unit, size in (("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"
