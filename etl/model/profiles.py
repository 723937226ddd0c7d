"""Profile operations, folded in order into versions (pure: no I/O here).

`fold_profile` takes one profile's updates already sorted by (effective time,
arrival) and returns its versions. Updates at the same instant collapse into
one version; an update that changes nothing makes no version. Rules:

- `$set` creates or overwrites; `$set_once` sets only absent properties;
- `$unset` removes names; `$union` adds list values not yet present;
- `$remove` removes a value from a list; `$delete` deletes the profile;
- users only: `$add` increments a number (a non-number counts as 0; a sum
  no double holds leaves the property as it was),
  `$append` adds one value to a list;
- `$unset`, `$remove` and `$delete` on a missing profile do nothing;
  the others create it. A scalar under `$union`/`$append` first becomes a
  one-element list.

Values compare as JSON does (`json_equal`), not as Python does: `true` is not
`1` and `false` is not `0`; numbers compare by value (`1` equals `1.0`).
"""

from __future__ import annotations

import copy
import math
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
    ref: Any = None  # set on an update the property cap may refuse: how to find it again


@dataclass(frozen=True)
class Version:
    valid_from: datetime
    properties: dict | None  # None: deleted
    valid_to: datetime | None = None

    @property
    def deleted(self) -> bool:
        return self.properties is None


def apply_update(state: dict | None, operation: str, value: Any) -> dict | None:
    """One operation on a profile's properties (None: no profile). Returns the new state;
    neither `state` nor `value` is changed."""
    return _Fold(copy.deepcopy(state)).apply(operation, value)[0]


def fold_profile(
    updates: Iterable[Update], max_properties: int | None = None, refused: list | None = None,
) -> list[Version]:
    """Versions of one profile from its ordered updates, each closed by the next.

    With `max_properties`, an update carrying a `ref` that would leave the profile
    with more properties than that is skipped (the profile keeps its state) and its
    ref appended to `refused`: Mixpanel caps the profile, not the update.

    Linear in the updates: operations change one working state in place and say
    whether they changed it; the state is copied (and compared with the last
    version) once per instant that changed something, not once per update."""
    versions: list[Version] = []
    fold = _Fold(None)
    instant, dirty = None, False
    for update in updates:
        if dirty and update.time != instant:
            _close(versions, instant, fold.state)
            dirty = False
        if (max_properties is not None and update.ref is not None
                and _grown_size(fold.state, update) > max_properties):
            if refused is not None:
                refused.append(update.ref)
            continue
        _, changed = fold.apply(update.operation, update.value)
        if changed:
            instant, dirty = update.time, True
    if dirty:
        _close(versions, instant, fold.state)
    return [
        Version(v.valid_from, v.properties, versions[n + 1].valid_from if n + 1 < len(versions) else None)
        for n, v in enumerate(versions)
    ]


def _grown_size(state: dict | None, update: Update) -> int:
    """How many properties the profile has after `update`, when the update adds any
    (0 when it adds none: overwriting or removing is always allowed)."""
    if update.operation not in CREATING_OPERATIONS or not isinstance(update.value, dict):
        return 0
    current = state or {}
    new = sum(1 for name in update.value if name not in current)
    return len(current) + new if new else 0


def _close(versions: list[Version], instant: datetime, state: dict | None) -> None:
    """The end state of an instant becomes a version, unless it is where the last one was."""
    previous = versions[-1].properties if versions else None
    if not json_equal(state, previous):
        versions.append(Version(instant, copy.deepcopy(state)))


class _Fold:
    """A profile's working state, changed in place by each operation.

    Values taken from an update are copied in, so nothing mutable is shared with
    the updates. `$union` keeps a set of each list's members (by `_member`), so a
    list that grows by N unions costs N, not N squared."""

    def __init__(self, state: dict | None) -> None:
        self.state = state
        self._members: dict[str, tuple[list, set]] = {}  # name -> (the list, its members)

    def apply(self, operation: str, value: Any) -> tuple[dict | None, bool]:
        """(new state, whether it may have changed)."""
        if operation == "$delete":
            changed, self.state = self.state is not None, None
            self._members.clear()
            return None, changed
        if self.state is None and operation in ("$unset", "$remove"):
            return None, False
        if operation not in _OPERATIONS:
            raise ValueError(f"unknown profile operation {operation!r}")
        created = self.state is None
        if created:
            self.state = {}
        changed = _OPERATIONS[operation](self, self.state, value)
        return self.state, changed or created

    def _set(self, state: dict, value: dict) -> bool:
        changed = False
        for name, item in value.items():
            if name not in state or not _same(state[name], item):
                state[name] = copy.deepcopy(item)
                changed = True
        return changed

    def _set_once(self, state: dict, value: dict) -> bool:
        missing = [name for name in value if name not in state]
        for name in missing:
            state[name] = copy.deepcopy(value[name])
        return bool(missing)

    def _unset(self, state: dict, value: list) -> bool:
        present = [name for name in value if name in state]
        for name in present:
            del state[name]
        return bool(present)

    def _union(self, state: dict, value: dict) -> bool:
        changed = False
        for name, items in value.items():
            changed = changed or not isinstance(state.get(name), list)  # it becomes a list
            current, members = self._list_members(state, name)
            for item in items:
                key = _member(item)
                if key not in members:
                    members.add(key)
                    current.append(copy.deepcopy(item))
                    changed = True
        return changed

    def _list_members(self, state: dict, name: str) -> tuple[list, set]:
        """The list under `name` (a scalar or nothing becomes a list) and its members."""
        current = state.get(name)
        cached = self._members.get(name)
        if cached is not None and cached[0] is current:
            return cached
        if not isinstance(current, list):
            current = [] if current is None else [current]
            state[name] = current
        cached = (current, {_member(item) for item in current})
        self._members[name] = cached
        return cached

    def _remove(self, state: dict, value: dict) -> bool:
        changed = False
        for name, item in value.items():
            current = state.get(name)
            if isinstance(current, list):
                kept = [v for v in current if not _same(v, item)]
                if len(kept) != len(current):
                    state[name] = kept
                    changed = True
        return changed

    def _add(self, state: dict, value: dict) -> bool:
        """A sum no double holds (1.7e308 + 1.7e308) leaves the property as it was: no
        number beyond a double is stored, and the update was loaded (counted) already."""
        changed = False
        for name, amount in value.items():
            base = state.get(name)
            total = (base if _is_number(base) else 0) + amount
            if _fits_a_double(total):
                state[name] = total
                changed = True
        return changed

    def _append(self, state: dict, value: dict) -> bool:
        for name, item in value.items():
            current = state.get(name)
            if not isinstance(current, list):
                state[name] = current = [] if current is None else [current]
            current.append(copy.deepcopy(item))
            cached = self._members.get(name)
            if cached is not None and cached[0] is current:
                cached[1].add(_member(item))
        return bool(value)


_OPERATIONS = {
    "$set": _Fold._set, "$set_once": _Fold._set_once, "$unset": _Fold._unset, "$union": _Fold._union,
    "$remove": _Fold._remove, "$add": _Fold._add, "$append": _Fold._append,
}


def _same(a: Any, b: Any) -> bool:
    """Whether two property values are equal: JSON equality (`true` is not `1`), the one
    comparison `$set` and `$remove` use."""
    return json_equal(a, b)


def _member(value: Any) -> object:
    """A hashable stand-in for a list member, equal exactly when `_same` holds."""
    return json_key(value)


def created_at(versions: list[Version]) -> datetime | None:
    """Start of the profile's current life: the first version after the last deletion."""
    start = None
    for version in versions:
        if version.deleted:
            start = None
        elif start is None:
            start = version.valid_from
    return start


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fits_a_double(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond a double's range
        return False


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
