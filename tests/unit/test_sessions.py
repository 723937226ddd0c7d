"""Pinned export sessions in files: pages across row groups, unknown and expired ids, cleanup."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from etl.errors import EtlError
from etl.serve import sessions
from etl.serve.sessions import SessionStore

ROWS = [(f"id{n:03d}", f'{{"n": {n}}}') for n in range(25)]


def batches(rows: list, size: int) -> list[list]:
    return [rows[i:i + size] for i in range(0, len(rows), size)]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SessionStore:
    monkeypatch.setattr(sessions, "ROW_GROUP", 4)  # pages then cross row groups
    return SessionStore(tmp_path / "sessions")


def test_pages_read_back_in_order_across_row_groups(store: SessionStore) -> None:
    session_id = store.create(batches(ROWS, 7))
    assert len(session_id) == 32
    assert store.read(session_id, 0, 10) == (25, ROWS[:10])
    assert store.read(session_id, 10, 20) == (25, ROWS[10:20])
    assert store.read(session_id, 20, 30) == (25, ROWS[20:])
    assert store.read(session_id, 30, 40) == (25, [])
    assert store.read(session_id, 0, None) == (25, ROWS)


def test_an_empty_session_has_no_rows(store: SessionStore) -> None:
    session_id = store.create([])
    assert store.read(session_id, 0, 10) == (0, [])


def test_the_folder_and_files_are_private(store: SessionStore) -> None:
    session_id = store.create(batches(ROWS, 7))
    assert stat.S_IMODE(store.folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((store.folder / f"{session_id}.parquet").stat().st_mode) == 0o600
    assert sorted(p.name for p in store.folder.iterdir()) == [f"{session_id}.parquet"]


@pytest.mark.parametrize("session_id", ["nope", "../../etc/passwd", "0" * 32, "A" * 32, ""])
def test_an_unknown_or_hostile_id_is_refused(store: SessionStore, session_id: str) -> None:
    store.create([ROWS])
    with pytest.raises(EtlError) as caught:
        store.read(session_id, 0, 10)
    assert str(caught.value) == (f"session {session_id!r} is unknown or expired (sessions last 24 hours): "
                                 "ask for page 0 again")


def test_sessions_expire_after_24_hours_and_the_next_session_deletes_them(store: SessionStore) -> None:
    old = store.create([ROWS[:3]])
    kept = store.create([ROWS[3:6]])
    day_ago = time.time() - 24 * 3600 - 60
    os.utime(store.folder / f"{old}.parquet", (day_ago, day_ago))
    interrupted = "f" * 32 + ".parquet.tmp"
    (store.folder / interrupted).write_bytes(b"x")
    os.utime(store.folder / interrupted, (day_ago, day_ago))
    with pytest.raises(EtlError) as caught:
        store.read(old, 0, 10)
    assert str(caught.value) == f"session {old!r} expired (sessions last 24 hours): ask for page 0 again"
    new = store.create([ROWS[6:9]])
    assert sorted(p.name for p in store.folder.iterdir()) == sorted([f"{kept}.parquet", f"{new}.parquet"])
    assert store.read(kept, 0, None) == (3, ROWS[3:6])
    with pytest.raises(EtlError, match=r"is unknown or expired \(sessions last 24 hours\)"):
        store.read(old, 0, 10)  # purged: no longer known


def test_a_page_purges_expired_sessions_under_the_ttl_given(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions", ttl=90)
    old, kept = store.create([ROWS[:1]]), store.create([ROWS[1:2]])
    past = time.time() - 91
    os.utime(store.folder / f"{old}.parquet", (past, past))
    assert store.read(kept, 0, None) == (1, ROWS[1:2])  # a page, not a new session
    assert sorted(p.name for p in store.folder.iterdir()) == [f"{kept}.parquet"]
    with pytest.raises(EtlError) as caught:
        store.read(old, 0, 1)
    assert str(caught.value) == f"session {old!r} is unknown or expired (sessions last 90 seconds): ask for page 0 again"


def test_a_session_asked_with_another_selection_is_refused(store: SessionStore) -> None:
    session_id = store.create([ROWS[:3]], selection="--cohort pro")
    assert store.read(session_id, 0, 2, selection="--cohort pro") == (3, ROWS[:2])
    assert store.read(session_id, 0, 2) == (3, ROWS[:2])  # no selection given: not compared
    with pytest.raises(EtlError) as caught:
        store.read(session_id, 0, 2, selection="--cohort pro --where 'plan == \"x\"'")
    assert str(caught.value) == (f"session {session_id!r} was pinned for --cohort pro, not for "
                                 "--cohort pro --where 'plan == \"x\"': ask for the same selection, or for page 0 again")


def test_expiry_deletes_only_session_files(store: SessionStore) -> None:
    """A folder shared with other files (a mistyped GROUP_ETL_SESSION_DIR) loses none of them."""
    store.folder.mkdir(parents=True)
    day_ago = time.time() - 24 * 3600 - 60
    for name in ("my-analysis.parquet", "notes.parquet.bak", "A" * 32 + ".parquet"):
        (store.folder / name).write_bytes(b"keep")
        os.utime(store.folder / name, (day_ago, day_ago))
    new = store.create([ROWS[:2]])
    assert sorted(p.name for p in store.folder.iterdir()) == sorted(
        ["my-analysis.parquet", "notes.parquet.bak", "A" * 32 + ".parquet", f"{new}.parquet"])


def test_an_open_folder_is_made_private(store: SessionStore) -> None:
    store.folder.mkdir(mode=0o777, parents=True)
    os.chmod(store.folder, 0o777)
    store.create([ROWS[:2]])
    assert stat.S_IMODE(store.folder.stat().st_mode) == 0o700


def test_a_folder_of_another_user_is_refused(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.folder.mkdir(parents=True)
    monkeypatch.setattr(sessions.os, "getuid", lambda: os.stat(store.folder).st_uid + 1)
    with pytest.raises(EtlError) as caught:
        store.create([ROWS[:2]])
    assert str(caught.value) == (f"export session folder {store.folder} belongs to another user: "
                                 "set GROUP_ETL_SESSION_DIR to a folder of your own")
    assert list(store.folder.iterdir()) == []
