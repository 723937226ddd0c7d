"""Reports: insights, funnels and retention, counted per user or per group.

A report's unit is a user (distinct_id) or, with `by`, a group of that key
(an event attributed to two groups counts for each). Every report reads
deduplicated events. Filters and breakdowns follow the one-way rule of
docs/rules.md: user reports may use the profile of a group a user
belongs to (`where_group`, a `KEY.PROP` breakdown), group reports never use
user profiles. A group's profile is the one it had when the event happened
(`group_props` "at-event", from group_profile_history) or its current one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from math import ceil

import sqlalchemy as sa

from etl.errors import EtlError
from etl.serve.durations import LONGEST
from etl.serve.filters import Compare, Ref, SqlCompiler, parse, refs
from etl.serve.measures import BUCKETS, buckets, check_interval, parse_measure
from etl.store.sql import render_sql, sql_clause
from etl.store.warehouse import Warehouse

ONE_WAY_RULE = (
    "group analysis never uses user profile properties (Mixpanel's one-way link: users "
    "may be filtered by their groups' profiles, not the other way round)"
)


@dataclass(frozen=True)
class Scope:
    """Who counts (users, or groups of a key) and which events they see."""

    by: str | None = None
    where: str | None = None
    where_group: str | None = None
    breakdown: str | None = None
    group_props: str = "at-event"  # or "current": which version of a group's profile is read

    @property
    def unit(self) -> str:
        return self.by or "users"

    @property
    def at_event(self) -> bool:
        if self.group_props not in GROUP_PROPS:
            raise EtlError(f"--group-props must be at-event or current, got {self.group_props!r}")
        return self.group_props == "at-event"


GROUP_PROPS = ("at-event", "current")


@dataclass(frozen=True)
class Breakdown:
    """A breakdown as the templates read it (sql/serve/_breakdown.sql): `value`, the
    property's JSON value over `u` (or over `bp`, the profile of one of the user's
    groups of key `key`, a bound name); `at_event`, which version of that profile."""

    value: str
    key: str | None = None
    at_event: bool = True


def _check_key(warehouse: Warehouse, key: str) -> None:
    with warehouse.begin() as conn:
        known = conn.execute(sa.text("SELECT count(*) FROM group_keys WHERE group_key = :k"), {"k": key}).scalar()
    if not known:
        raise EtlError(f"group key {key!r} is not set up (see `group-etl keys list`)")


def _column_for(scope: Scope):  # noqa: ANN202
    def column(ref: Ref) -> str:
        if ref.scope is None:
            return "u.event_properties"
        if ref.scope == "user":
            if scope.by:
                raise EtlError(f"user.{ref.name}: {ONE_WAY_RULE}")
            return "u.user_properties"
        if ref.scope == "group":
            if not scope.by:
                raise EtlError(f"group.{ref.name} needs --by KEY; to filter users by a group's "
                               f"profile, use --where-group 'KEY.{ref.name} ...'")
            return "u.group_properties"
        raise EtlError(f"{ref.scope}.{ref.name}: unknown scope; use properties[...], user.*, group.* "
                       "(or --where-group for KEY.*)")

    return column


@dataclass(frozen=True)
class Pieces:
    """What a report template is composed of: the units query (rendered) and the
    filter conditions compiled from the scope, their values bound in the params."""

    units: str
    conditions: list[str]


def _compile(warehouse: Warehouse, scope: Scope, params: dict) -> Pieces:
    """The units query and WHERE conditions of a scope; raises on a rule it breaks."""
    if scope.by:
        _check_key(warehouse, scope.by)
        params["by_key"] = scope.by
    units = render_sql("serve/report_units_groups" if scope.by else "serve/report_units_users",
                       warehouse.dialect, at_event=scope.at_event).strip()
    conditions = []
    compiler = SqlCompiler(warehouse.dialect, params)
    if scope.where:
        conditions.append(compiler.compile(parse(scope.where, "--where"), _column_for(scope)))
    if scope.where_group:
        if scope.by:
            raise EtlError(f"--where-group filters users by their groups' profiles; in a group report use "
                           f"--where 'group.PROP ...' ({ONE_WAY_RULE})")
        node = parse(scope.where_group, "--where-group")
        for ref in refs(node):
            if ref.scope in (None, "user", "group"):
                raise EtlError(f"--where-group: name the group key, as in 'company_id.{ref.name} == ...'")
            _check_key(warehouse, ref.scope)

        def in_a_group(ref: Ref, condition: str) -> str:
            return render_sql("serve/member_of_group", warehouse.dialect, member="u.unit",
                              key=compiler.bind(ref.scope), condition=condition,
                              at="u.event_time" if scope.at_event else None).strip()

        conditions.append(compiler.compile(node, lambda _ref: "gp.properties", wrap=in_a_group))
    return Pieces(units, conditions)


OTHER = "(other)"


def _breakdown_ref(text: str) -> Ref:
    """The property a `--breakdown` names: `properties["a.b"]` (the filters' syntax, for
    a name with a dot), `user.P`, `group.P`, `KEY.P`, or else an event property as is."""
    if "[" in text:
        try:  # parsed as the condition `PROP is set`, which names nothing of the user's
            node = parse(f"{text} is set", "--breakdown")
        except EtlError:
            node = None
        if not isinstance(node, Compare):
            raise EtlError(f'--breakdown: expected one property, such as plan or properties["a.b"]; got {text!r}')
        return node.ref
    head, _, rest = text.partition(".")
    return Ref(head, rest) if head and rest else Ref(None, text)


def _breakdown(warehouse: Warehouse, scope: Scope, params: dict) -> Breakdown | None:
    """The breakdown's pieces for the templates (its names bound), or None for none."""
    if not scope.breakdown:
        return None
    ref = _breakdown_ref(scope.breakdown)
    compiler = SqlCompiler(warehouse.dialect, params, prefix="b")
    if ref.scope == "group" and not scope.by:
        raise EtlError(f"--breakdown group.{ref.name} needs --by KEY; to break users down by their groups' "
                       f"profiles, use --breakdown KEY.{ref.name}")
    if ref.scope in (None, "user", "group"):
        return Breakdown(compiler.engine.json_member(_column_for(scope)(ref), compiler.bind(ref.name)))
    if scope.by:
        raise EtlError(f"--breakdown {scope.breakdown}: KEY.PROP breaks users down by their groups' profiles; "
                       f"in a group report use group.{ref.name}")
    try:
        _check_key(warehouse, ref.scope)
    except EtlError as error:
        raise EtlError(f"--breakdown {scope.breakdown}: {error}; for an event property of that name, "
                       f"write properties[\"{scope.breakdown}\"]") from None
    return Breakdown(compiler.engine.json_member("bp.properties", compiler.bind(ref.name)),
                     key=compiler.bind(ref.scope), at_event=scope.at_event)


def _top(totals: dict, limit: int) -> list:
    """The `limit` breakdown values weighing most (ties: by value, null last). A value that is
    itself the text `(other)` is never kept apart: kept, it summed the folded values into its row."""
    return sorted((v for v in totals if v != OTHER), key=lambda v: (-totals[v], v is None, v))[:limit]


def _ordered(values: set) -> list:
    """Breakdown values as rows list them: by value, then null, then `(other)`; [None] for none."""
    return sorted(values, key=lambda v: (v == OTHER, v is None, v)) or [None]


def _run(warehouse: Warehouse, sql: str, params: dict) -> list:
    with warehouse.begin() as conn:
        return conn.execute(sql_clause(sql, params), params).all()


def _check_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise EtlError(f"--breakdown-limit must be at least 1, got {limit}")


def _folding(warehouse: Warehouse, template: str, params: dict, pieces: dict, limit: int | None,
             weight: Callable) -> list:
    """A report template's rows; with `limit` N and more breakdown values than N, run again
    with the values past the top N by `weight(row)` summed counted together as `(other)`."""
    result = _run(warehouse, render_sql(template, warehouse.dialect, fold=False, **pieces), params)
    totals: dict = {}
    for r in result:
        totals[r.breakdown] = totals.get(r.breakdown, 0) + weight(r)
    if limit is None or len(totals) <= limit:
        return result
    kept = _top(totals, limit)
    params.update(kept=[v for v in kept if v is not None], keep_null=None in kept)
    fold = "values" if params["kept"] else "null"  # an empty IN list has no type to compare with
    return _run(warehouse, render_sql(template, warehouse.dialect, fold=fold, **pieces), params)


def insights(warehouse: Warehouse, event: str, first: date, last: date, scope: Scope,
             measure: str = "uniques", interval: str = "day", breakdown_limit: int | None = None) -> dict:
    """Per interval bucket (and breakdown value): events, distinct units and the measure's
    `value`; every bucket of the range appears for every breakdown value seen, with zeros
    (an average or median without numbers is null). With `breakdown_limit` N, values
    past the top N by events are counted together as `(other)`, listed last."""
    chosen, interval = parse_measure(measure), check_interval(interval)
    _check_limit(breakdown_limit)
    params: dict = {"event": event, "events": [event], "d1": first, "d2": last, "lo": first, "hi": last}
    pieces = _compile(warehouse, scope, params)
    amount = None
    if chosen.prop is not None:  # the name bound, as the filters bind theirs
        amount = SqlCompiler(warehouse.dialect, params, prefix="m").number("u.event_properties", chosen.prop)
    pieces_of_sql = {"units": pieces.units, "conditions": pieces.conditions, "bucket": BUCKETS[interval],
                     "breakdown": _breakdown(warehouse, scope, params), "amount": amount,
                     "aggregate": chosen.aggregate}
    result = _folding(warehouse, "serve/insights", params, pieces_of_sql, breakdown_limit, lambda r: r.events)
    found = {}
    for r in result:
        figure = {"events": r.events, "uniques": r.uniques}.get(chosen.kind, r.amount)
        if isinstance(figure, float):  # a float sum's last bits depend on the order it was added in
            figure = round(figure, 6)
        found[(r.bucket, r.breakdown)] = (r.events, r.uniques, chosen.empty() if figure is None else figure)
    values = _ordered({b for _, b in found})
    empty = (0, 0, chosen.empty())
    rows = []
    for day in buckets(first, last, interval):
        for value in values:
            events, uniques, figure = found.get((day, value), empty)
            rows.append({"date": day.isoformat(), "breakdown": value, "events": events, "uniques": uniques,
                         "value": figure})
    return {"report": "insights", "unit": scope.unit, "event": event, "measure": chosen.label,
            "interval": interval, "rows": rows}


def funnel_params(steps: list[str], window_seconds: int, first: date, last: date,
                  first_steps: int | None = None) -> dict:
    """A funnel's checks and the parameters of funnel.sql, for the report and its
    drill-down alike: at least two steps, a window from 1 second to 366 days; the
    parameters name the first `first_steps` steps (all of them by default)."""
    if len(steps) < 2:
        raise EtlError("a funnel needs at least two --steps")
    if not 0 < window_seconds <= LONGEST:
        raise EtlError(f"--window must be from 1 second to 366 days, got {window_seconds} seconds")
    named = steps[:first_steps]
    params: dict = {"events": sorted(set(named)), "d1": first, "d2": last, "lo": first,
                    "hi": last + timedelta(days=ceil(window_seconds / 86_400)), "window": float(window_seconds)}
    params.update({f"step_{n}": event for n, event in enumerate(named, start=1)})
    return params


def funnel(warehouse: Warehouse, steps: list[str], window_seconds: int, first: date, last: date,
           scope: Scope, breakdown_limit: int | None = None) -> dict:
    """Per step: units reached, conversions and the median time from the previous step.
    With a breakdown, per value of the property at each unit's entering event (a list:
    under each distinct element), the steps of those units; `breakdown_limit` N keeps
    the top N values by units entering and counts the others as `(other)`."""
    params = funnel_params(steps, window_seconds, first, last)
    _check_limit(breakdown_limit)
    pieces = _compile(warehouse, scope, params)
    pieces_of_sql = {"units": pieces.units, "conditions": pieces.conditions, "step_count": len(steps),
                     "breakdown": _breakdown(warehouse, scope, params)}
    result = _folding(warehouse, "serve/funnel", params, pieces_of_sql, breakdown_limit,
                      lambda r: r.units if r.step == 1 else 0)
    reached = {(r.breakdown, r.step): (r.units, r.median_seconds) for r in result}
    out = []
    for value in _ordered({b for b, _ in reached}):
        first_units = reached.get((value, 1), (0, None))[0]
        for n, event in enumerate(steps, start=1):
            units_n, median = reached.get((value, n), (0, None))
            previous = reached.get((value, n - 1), (0, None))[0] if n > 1 else first_units
            label = {"breakdown": value} if scope.breakdown else {}
            out.append({
                **label,
                "event": event,
                "units": units_n,
                "conversion_from_previous": (units_n / previous) if previous else 0.0,
                "conversion_from_first": (units_n / first_units) if first_units else 0.0,
                "median_seconds_to_convert": None if n == 1 or median is None else round(float(median), 3),
            })
    return {"report": "funnel", "unit": scope.unit, "window_seconds": window_seconds, "steps": out}


def retention(warehouse: Warehouse, born: str, returned: str, first: date, last: date, scope: Scope,
              period: str = "day", breakdown_limit: int | None = None) -> dict:
    """Per cohort date: units born and retained per period. With a breakdown, per value of
    the property at each unit's birth event (a list: under each distinct element);
    `breakdown_limit` N keeps the top N values by units born, the others as `(other)`."""
    if period not in ("day", "week"):
        raise EtlError("--unit must be day or week")
    _check_limit(breakdown_limit)
    days = 1 if period == "day" else 7
    params: dict = {"born": born, "returned": returned, "events": sorted({born, returned}),
                    "d1": first, "d2": last, "lo": first, "hi": last, "period_days": days}
    pieces = _compile(warehouse, scope, params)
    pieces_of_sql = {"units": pieces.units, "conditions": pieces.conditions,
                     "breakdown": _breakdown(warehouse, scope, params)}
    result = _folding(warehouse, "serve/retention", params, pieces_of_sql, breakdown_limit,
                      lambda r: r.units if r.period is None else 0)
    sizes: dict[tuple, int] = {}
    retained: dict[tuple, int] = {}
    for row in result:
        if row.period is None:
            sizes[(row.breakdown, row.cohort_date)] = row.units
        else:
            retained[(row.breakdown, row.cohort_date, row.period)] = row.units
    cohorts = []
    for value in _ordered({b for b, _ in sizes}):
        for cohort in sorted(c for b, c in sizes if b == value):
            label = {"breakdown": value} if scope.breakdown else {}
            cohorts.append({**label, "cohort_date": cohort.isoformat(), "size": sizes[(value, cohort)],
                            "retained": [retained.get((value, cohort, n), 0)
                                         for n in range((last - cohort).days // days + 1)]})
    return {"report": "retention", "unit": scope.unit, "period": period, "cohorts": cohorts}

