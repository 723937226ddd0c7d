"""Reports: insights, funnels and retention, counted per user or per group.

A report's unit is a user (distinct_id) or, with `by`, a group of that key
(an event attributed to two groups counts for each). Every report reads
deduplicated events. Filters and breakdowns follow the one-way rule of
docs/rules.md: user reports may use the profile of a group a user
belongs to (`where_group`), group reports never use user profiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from math import ceil

import sqlalchemy as sa

from etl.errors import EtlError
from etl.serve.filters import Ref, SqlCompiler, parse, refs
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

    @property
    def unit(self) -> str:
        return self.by or "users"


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
                       warehouse.dialect).strip()
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
                              key=compiler.bind(ref.scope), condition=condition).strip()

        conditions.append(compiler.compile(node, lambda _ref: "gp.properties", wrap=in_a_group))
    return Pieces(units, conditions)


OTHER = "(other)"


def _breakdown(warehouse: Warehouse, scope: Scope, params: dict) -> str | None:
    """The breakdown property's JSON value over `u` (its name bound), or None for none;
    the template splits a list into its elements."""
    if not scope.breakdown:
        return None
    head, _, rest = scope.breakdown.partition(".")
    ref = Ref(head, rest) if rest and head in ("user", "group") else Ref(None, scope.breakdown)
    compiler = SqlCompiler(warehouse.dialect, params, prefix="b")
    return compiler.engine.json_member(_column_for(scope)(ref), compiler.bind(ref.name))


def _top(totals: dict, limit: int) -> list:
    """The `limit` breakdown values with the most events (ties: by value, null last)."""
    return sorted(totals, key=lambda v: (-totals[v], v is None, v))[:limit]


def _run(warehouse: Warehouse, sql: str, params: dict) -> list:
    with warehouse.begin() as conn:
        return conn.execute(sql_clause(sql, params), params).all()


def insights(warehouse: Warehouse, event: str, first: date, last: date, scope: Scope,
             measure: str = "uniques", interval: str = "day", breakdown_limit: int | None = None) -> dict:
    """Per interval bucket (and breakdown value): events, distinct units and the measure's
    `value`; every bucket of the range appears for every breakdown value seen, with zeros
    (an average or median without numbers is null). With `breakdown_limit` N, values
    past the top N by events are counted together as `(other)`, listed last."""
    chosen, interval = parse_measure(measure), check_interval(interval)
    if breakdown_limit is not None and breakdown_limit < 1:
        raise EtlError(f"--breakdown-limit must be at least 1, got {breakdown_limit}")
    params: dict = {"event": event, "events": [event], "d1": first, "d2": last, "lo": first, "hi": last}
    pieces = _compile(warehouse, scope, params)
    amount = None
    if chosen.prop is not None:  # the name bound, as the filters bind theirs
        amount = SqlCompiler(warehouse.dialect, params, prefix="m").number("u.event_properties", chosen.prop)
    pieces_of_sql = {"units": pieces.units, "conditions": pieces.conditions, "bucket": BUCKETS[interval],
                     "breakdown": _breakdown(warehouse, scope, params), "amount": amount,
                     "aggregate": chosen.aggregate}
    result = _run(warehouse, render_sql("serve/insights", warehouse.dialect, fold=False, **pieces_of_sql), params)
    totals: dict = {}
    for r in result:
        totals[r.breakdown] = totals.get(r.breakdown, 0) + r.events
    if breakdown_limit is not None and len(totals) > breakdown_limit:  # run again, the rest folded
        kept = _top(totals, breakdown_limit)
        params.update(kept=[v for v in kept if v is not None], keep_null=None in kept)
        fold = "values" if params["kept"] else "null"  # an empty IN list has no type to compare with
        result = _run(warehouse, render_sql("serve/insights", warehouse.dialect, fold=fold, **pieces_of_sql), params)
    found = {}
    for r in result:
        figure = {"events": r.events, "uniques": r.uniques}.get(chosen.kind, r.amount)
        if isinstance(figure, float):  # a float sum's last bits depend on the order it was added in
            figure = round(figure, 6)
        found[(r.bucket, r.breakdown)] = (r.events, r.uniques, chosen.empty() if figure is None else figure)
    values = sorted({b for _, b in found}, key=lambda v: (v == OTHER, v is None, v)) or [None]
    empty = (0, 0, chosen.empty())
    rows = []
    for day in buckets(first, last, interval):
        for value in values:
            events, uniques, figure = found.get((day, value), empty)
            rows.append({"date": day.isoformat(), "breakdown": value, "events": events, "uniques": uniques,
                         "value": figure})
    return {"report": "insights", "unit": scope.unit, "event": event, "measure": chosen.label,
            "interval": interval, "rows": rows}


def funnel(warehouse: Warehouse, steps: list[str], window_seconds: int, first: date, last: date,
           scope: Scope) -> dict:
    if len(steps) < 2:
        raise EtlError("a funnel needs at least two --steps")
    if window_seconds <= 0:
        raise EtlError("--window must be positive")
    hi = last + timedelta(days=ceil(window_seconds / 86_400))
    params: dict = {"events": sorted(set(steps)), "d1": first, "d2": last, "lo": first, "hi": hi,
                    "window": float(window_seconds)}
    params.update({f"step_{n}": event for n, event in enumerate(steps, start=1)})
    pieces = _compile(warehouse, scope, params)
    sql = render_sql("serve/funnel", warehouse.dialect, units=pieces.units, conditions=pieces.conditions,
                     step_count=len(steps))
    reached = {r.step: (r.units, r.median_seconds) for r in _run(warehouse, sql, params)}
    first_units = reached[1][0]
    out = []
    for n, event in enumerate(steps, start=1):
        units_n, median = reached[n]
        previous = reached[n - 1][0] if n > 1 else first_units
        out.append({
            "event": event,
            "units": units_n,
            "conversion_from_previous": (units_n / previous) if previous else 0.0,
            "conversion_from_first": (units_n / first_units) if first_units else 0.0,
            "median_seconds_to_convert": None if n == 1 or median is None else round(float(median), 3),
        })
    return {"report": "funnel", "unit": scope.unit, "window_seconds": window_seconds, "steps": out}


def retention(warehouse: Warehouse, born: str, returned: str, first: date, last: date, scope: Scope,
              period: str = "day") -> dict:
    if period not in ("day", "week"):
        raise EtlError("--unit must be day or week")
    days = 1 if period == "day" else 7
    params: dict = {"born": born, "returned": returned, "events": sorted({born, returned}),
                    "d1": first, "d2": last, "lo": first, "hi": last, "period_days": days}
    pieces = _compile(warehouse, scope, params)
    sql = render_sql("serve/retention", warehouse.dialect, units=pieces.units, conditions=pieces.conditions)
    sizes: dict[date, int] = {}
    retained: dict[tuple[date, int], int] = {}
    for row in _run(warehouse, sql, params):
        if row.period is None:
            sizes[row.cohort_date] = row.units
        else:
            retained[(row.cohort_date, row.period)] = row.units
    cohorts = [
        {"cohort_date": cohort.isoformat(), "size": size,
         "retained": [retained.get((cohort, n), 0) for n in range((last - cohort).days // days + 1)]}
        for cohort, size in sorted(sizes.items())
    ]
    return {"report": "retention", "unit": scope.unit, "period": period, "cohorts": cohorts}

