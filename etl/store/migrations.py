"""Numbered schema migrations: `sql/store/migrations/NNNN_<name>.sql`.

A migration is one schema version. Its DDL is `migrations/NNNN_<name>.sql`
(every engine) followed by `migrations/<dialect>/NNNN_<name>.sql` (that engine
only, e.g. indexes); either may be absent, so a version can touch one engine
only. Files render through `etl.store.sql.render_text`, like every SQL file, so
`{{ dialect.json }}` and the other fragments of etl.store.dialects work in them.

Version 5 is the baseline (the old code wrote versions up to 5 into
`schema_version`): it is the whole schema of that time, written with IF NOT
EXISTS forms so that it also upgrades a warehouse made by versions 1-4. A
shipped migration is never edited; a change is the next number.
`Warehouse.migrate` applies every one not recorded in schema_version (see
`pending`); readers only check that none is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from etl.store.sql import render_text, split_statements

FOLDER = "store/migrations"
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    #: the files of this version as (dialect or None for every engine, text), in run order
    parts: tuple[tuple[str | None, str], ...]

    def statements(self, dialect: str) -> list[str]:
        """This version's DDL for one engine, statement by statement."""
        out: list[str] = []
        for only, text in self.parts:
            if only is None or only == dialect:
                out.extend(split_statements(render_text(text, dialect)))
        return out


@cache
def migrations() -> tuple[Migration, ...]:
    """Every migration shipped in the package, oldest first."""
    root = resources.files("etl.sql").joinpath(*FOLDER.split("/"))
    found: dict[int, tuple[str, list[tuple[str | None, str]]]] = {}
    folders = [(None, root)] + [(d.name, d) for d in sorted(root.iterdir(), key=lambda d: d.name) if d.is_dir()]
    for dialect, folder in folders:
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if not entry.is_file():
                continue
            match = _FILE.match(entry.name)
            if not match:
                raise RuntimeError(f"sql/{FOLDER}: {entry.name} is not named NNNN_<name>.sql")
            version, name = int(match.group(1)), match.group(2)
            known = found.setdefault(version, (name, []))
            if known[0] != name:
                raise RuntimeError(f"sql/{FOLDER}: version {version} is named both {known[0]!r} and {name!r}")
            known[1].append((dialect, entry.read_text(encoding="utf-8")))
    if not found:
        raise RuntimeError(f"no migrations in sql/{FOLDER}")
    # the common file first, then the engine's own
    return tuple(
        Migration(version, name, tuple(sorted(parts, key=lambda p: p[0] is not None)))
        for version, (name, parts) in sorted(found.items())
    )


def latest_version() -> int:
    """The schema version this group-etl writes and expects."""
    return migrations()[-1].version


def pending(applied: set[int]) -> list[Migration]:
    """The shipped migrations a warehouse has not recorded, oldest first.

    By recorded version, not by "newer than the highest": migrations numbered apart on
    parallel branches (0007 and 0008) may land in either order, and a warehouse
    migrated with 0008 first still gets 0007. Versions below the baseline's (1-4) are
    covered by the baseline: a warehouse that recorded them gets the baseline."""
    return [m for m in migrations() if m.version not in applied]
