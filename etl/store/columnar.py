"""The in-process DuckDB that does per-event work (parsing, validation) in
columns, with a private temporary folder for its spill and Parquet outputs."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from etl.errors import ConfigError

if TYPE_CHECKING:  # imported where an engine opens: a PostgreSQL reader never needs DuckDB
    import duckdb

# Bounded memory for each DuckDB we open (the parsing engine and an embedded
# warehouse): DuckDB spills to disk past it.
MEMORY_LIMIT = os.environ.get("GROUP_ETL_ENGINE_MEMORY", "768MB")
if not MEMORY_LIMIT.replace(".", "").rstrip("KMGTBkmgtbi").isdigit():
    raise ConfigError(f"GROUP_ETL_ENGINE_MEMORY: expected a size such as 768MB, got {MEMORY_LIMIT!r}")


MAX_NESTING = 100  # deeper JSON is rejected: PostgreSQL's JSONB refuses very deep documents


def json_depth(text: str) -> int:
    """Deepest [ or { nesting outside strings. Called only for the rare records with
    more than MAX_NESTING brackets (split_records.sql filters first), never per event."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


@dataclass
class Engine:
    con: duckdb.DuckDBPyConnection
    temp_dir: str

    def release(self) -> None:
        """Close the DuckDB once its work is done, keeping its folder (parts written
        there are still read): its memory is freed before the warehouse's work starts,
        so the two never hold their memory limits at once."""
        self.con.close()


# A folder of ours is named for the process that made it: group-etl-<pid>-<random>
FOLDER_PREFIX = "group-etl-"
_FOLDER = re.compile(r"group-etl-(\d+)-[a-z0-9_]+")


def remove_orphan_folders(parent: str | None = None) -> list[str]:
    """Remove the folders (parse parts, spill) that processes which no longer run left in
    the temporary folder: a run killed outright (out of memory, SIGKILL) cannot clean up,
    and its parts are about 350 MB a million events. A folder whose process still runs
    is kept, and so is anything not named like ours. POSIX only (a process is looked up
    with signal 0). Returns the folders removed."""
    if os.name != "posix":
        return []
    parent = parent or tempfile.gettempdir()
    removed = []
    try:
        names = os.listdir(parent)
    except OSError:
        return []
    for name in names:
        match = _FOLDER.fullmatch(name)
        if not match or _running(int(match.group(1))):
            continue
        path = os.path.join(parent, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # no such process (or no such pid at all)
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextlib.contextmanager
def columnar_engine(threads: int | None = None) -> Iterator[Engine]:
    """A DuckDB of our own; `threads` caps its threads (a Spark task takes the cores
    its task was given, not every core of the machine), else one a core."""
    import duckdb

    remove_orphan_folders()
    temp_dir = tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-")
    con = duckdb.connect(
        config={
            "memory_limit": MEMORY_LIMIT,
            "temp_directory": os.path.join(temp_dir, "spill"),
            "preserve_insertion_order": True,
            **({"threads": threads} if threads else {}),
        }
    )
    con.create_function("json_depth", json_depth, ["VARCHAR"], "INTEGER")
    try:
        yield Engine(con, temp_dir)
    finally:
        con.close()
        shutil.rmtree(temp_dir, ignore_errors=True)
