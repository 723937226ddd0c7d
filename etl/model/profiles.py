"""Profile operations, folded in order into versions (pure: no I/O here).

`fold_profile` takes one profile's updates already sorted by (effective time,
arrival) and returns its versions. Updates at the same instant collapse into
one version; an update that changes nothing makes no version. Rules:

- `$set` creates or overwrites; `$set_once` sets only absent properties;
- `$unset` removes names; `$union` adds list values not yet present;
- `$remove` removes a value from a list; `$delete` deletes the profile;
- users only: `$add` increments a number (a non-number counts as 0),
  `$append` adds one value to a list;
- `$unset`, `$remove` and `$delete` on a missing profile do nothing;
  the others create it. A scalar under `$union`/`$append` first becomes a
  one-element list.

Values compare as JSON does (`json_equal`), not as Python does: `true` is not
`1` and `false` is not `0`; numbers compare by value (`1` equals `1.0`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

CREATING_OPERATIONS = ("$set", "$set_once", "$union", "$add", "$append")


@dataclass(frozen=True)
class Update:
    time: datetime
    operation: str
    value: Any


@dataclass(frozen=True)
class Version:
    valid_from: datetime
    properties: dict | None  # None: deleted
    valid_to: datetime | None = None

    @property
    def deleted(self) -> bool:
        return self.properties is None


def apply_update(state: dict | None, operation: str, value: Any) -> dict | None:
    """One operation on a profile's properties (None: no profile). Returns the new state."""
    if operation == "$delete":
        return None
    if state is None and operation in ("$unset", "$remove"):
        return None
    new = {} if state is None else copy.deepcopy(state)
    if operation == "$set":
        new.update(value)
    elif operation == "$set_once":
        for name, item in value.items():
            new.setdefault(name, item)
    elif operation == "$unset":
        for name in value:
            new.pop(name, None)
    elif operation == "$union":
        for name, items in value.items():
            current = _as_list(new.get(name))
            seen = {json_key(v) for v in current}
            current.extend(v for v in _distinct(items) if json_key(v) not in seen)
            new[name] = current
    elif operation == "$remove":
        for name, item in value.items():
            if isinstance(new.get(name), list):
                new[name] = [v for v in new[name] if not json_equal(v, item)]
    elif operation == "$add":
        for name, amount in value.items():
            base = new.get(name)
            new[name] = (base if _is_number(base) else 0) + amount
    elif operation == "$append":
        for name, item in value.items():
            new[name] = [*_as_list(new.get(name)), item]
    else:
        raise ValueError(f"unknown profile operation {operation!r}")
    return new


def fold_profile(updates: Iterable[Update]) -> list[Version]:
    """Versions of one profile from its ordered updates, each closed by the next."""
    versions: list[Version] = []
    state: dict | None = None
    for update in updates:
        new = apply_update(state, update.operation, update.value)
        if json_equal(new, state):
            continue
        state = new
        if versions and versions[-1].valid_from == update.time:
            versions.pop()  # same instant: one version holds the end state
        previous = versions[-1].properties if versions else None
        if json_equal(state, previous):
            continue  # collapsing brought it back to where it was
        versions.append(Version(update.time, copy.deepcopy(state)))
    return [
        Version(v.valid_from, v.properties, versions[n + 1].valid_from if n + 1 < len(versions) else None)
        for n, v in enumerate(versions)
    ]


def created_at(versions: list[Version]) -> datetime | None:
    """Start of the profile's current life: the first version after the last deletion."""
    start = None
    for version in versions:
        if version.deleted:
            start = None
        elif start is None:
            start = version.valid_from
    return start


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _distinct(items: list) -> list:
    out: list = []
    seen: set = set()
    for item in items:
        if (key := json_key(item)) not in seen:
            seen.add(key)
            out.append(item)
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def json_key(value: Any) -> object:
    """A hashable key equal for two values exactly when they are equal as JSON: a
    boolean is never a number (Python has True == 1), numbers by value, objects
    whatever their member order."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, list):
        return ("list", tuple(json_key(v) for v in value))
    if isinstance(value, dict):
        return ("object", frozenset((k, json_key(v)) for k, v in value.items()))
    return ("other", value)  # strings and null


def json_equal(a: Any, b: Any) -> bool:
    return json_key(a) == json_key(b)
