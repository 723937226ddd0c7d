"""A run killed outright leaves its parse folder behind; the next engine removes it
(etl.store.columnar.remove_orphan_folders), and nothing a live process or anyone else owns."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from etl.store.columnar import columnar_engine, remove_orphan_folders

pytestmark = pytest.mark.skipif(os.name != "posix", reason="processes are looked up with signal 0 (POSIX)")


def dead_pid() -> int:
    """The pid of a process that has ended."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    return int(done.stdout)


def folder(parent: Path, name: str) -> Path:
    path = parent / name
    (path / "spill").mkdir(parents=True)
    (path / "event-000000.arrow").write_bytes(b"parts")
    return path


def test_only_folders_of_ended_processes_are_removed(tmp_path: Path) -> None:
    orphan = folder(tmp_path, f"group-etl-{dead_pid()}-abc_12")
    live = folder(tmp_path, f"group-etl-{os.getpid()}-x1")
    others = [folder(tmp_path, "group-etl-abc12"), folder(tmp_path, "group-etl-bench-x"),
              folder(tmp_path, f"group-etl-{dead_pid()}-x.y"), folder(tmp_path, "other-1-x")]
    a_file = tmp_path / f"group-etl-{dead_pid()}-file"
    a_file.write_text("a file, not a folder")
    assert remove_orphan_folders(str(tmp_path)) == [str(orphan)]
    assert not orphan.exists()
    assert live.exists() and all(o.exists() for o in others) and a_file.exists()


def test_a_new_engine_sweeps_and_names_its_folder_for_its_process(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    orphan = folder(tmp_path, f"group-etl-{dead_pid()}-abc")
    with columnar_engine() as engine:
        assert not orphan.exists()
        assert Path(engine.temp_dir).name.startswith(f"group-etl-{os.getpid()}-")
        assert Path(engine.temp_dir).parent == tmp_path
    assert not Path(engine.temp_dir).exists()
