"""Names a report asks for that the warehouse has not seen: a warning that names the
closest known ones.

A misspelt event gives a table of zeros and a misspelt breakdown property one
blank bucket; both look like answers. The report still runs (a name may simply
be absent from the range); the warning says which name was not seen and which
known names are closest (difflib)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import date

from etl.serve.filters import Ref, parse, refs
from etl.serve.measures import parse_measure
from etl.serve.reports import _breakdown_ref
from etl.store.sql import render_sql, sql_clause
from etl.store.warehouse import Warehouse

# How many known names a warning lists when none is close.
SHOWN = 8


@dataclass(frozen=True)
class Asked:
    """The names one report uses: its events, group key, breakdown, filters and measure."""

    events: list[str] = field(default_factory=list)
    by: str | None = None
    where: str | None = None
    where_group: str | None = None
    breakdown: str | None = None
    measure: str | None = None


def unseen_names(warehouse: Warehouse, asked: Asked, first: date, last: date) -> list[str]:
    """One line for each name of `asked` never seen in first..last (profiles: ever)."""
    params = {"lo": first, "hi": last, "events": sorted(set(asked.events)) or [""]}
    span = f"from {first} to {last}"
    lines = [_unseen(warehouse, "events", event, params, f"event {event!r} not seen {span}")
             for event in dict.fromkeys(asked.events)]
    if asked.by:
        lines.append(_unseen(warehouse, "group_keys", asked.by, params,
                             f"group key {asked.by!r} has no events {span}"))
    wanted = [_breakdown_ref(asked.breakdown)] if asked.breakdown else []
    amount = parse_measure(asked.measure).prop if asked.measure else None
    if amount is not None:
        wanted.append(Ref(None, amount))
    for text, option in ((asked.where, "--where"), (asked.where_group, "--where-group")):
        if text:
            wanted += refs(parse(text, option))
    for ref in dict.fromkeys(wanted):
        if ref.scope is None:
            line = _unseen(warehouse, "event_properties", ref.name, params,
                           f"property {ref.name!r} not seen on {_events(asked.events)} {span}")
        elif ref.scope == "user":
            line = _unseen(warehouse, "user_properties", ref.name, params,
                           f"user property {ref.name!r} not in any user profile")
        else:
            key = asked.by if ref.scope == "group" else ref.scope
            line = _unseen(warehouse, "group_properties", ref.name, {**params, "key": key},
                           f"group property {ref.name!r} not in any {key} profile")
        lines.append(line)
    return [line for line in lines if line]


def _events(events: list[str]) -> str:
    names = list(dict.fromkeys(events))
    return repr(names[0]) if len(names) == 1 else "events " + ", ".join(map(repr, names))


def _unseen(warehouse: Warehouse, kind: str, name: str, params: dict, message: str) -> str | None:
    with warehouse.begin() as conn:
        sql = render_sql("serve/known_names", warehouse.dialect, kind=kind, seen=True)
        if conn.execute(sql_clause(sql, params), {**params, "name": name}).first():
            return None
        sql = render_sql("serve/known_names", warehouse.dialect, kind=kind, seen=False)
        known = sorted({row.name for row in conn.execute(sql_clause(sql, params), params)})
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    if close:
        return f"{message}; closest: {', '.join(map(repr, close))}"
    if known:
        more = f" and {len(known) - SHOWN} more" if len(known) > SHOWN else ""
        return f"{message}; known: {', '.join(map(repr, known[:SHOWN]))}{more}"
    return f"{message}; none is known"
