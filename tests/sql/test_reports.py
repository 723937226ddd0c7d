"""Reports against a brute-force oracle in plain Python, on DuckDB and PostgreSQL.

The oracle recomputes insights, funnels and retention from the generated
events and profile updates only (its own dedupe, attribution and profile
history); the warehouse gives it nothing but event_id, the opaque tie-break
label. Several hundred report cases per engine, by user and by group, with
window edges, repeated and out-of-order steps, same-second ties, multi-group
events and events before the key's setup; breakdowns of all three reports by
event properties (lists among them), user and group profiles and the profiles
of a user's groups (KEY.PROP), with group profiles as they were at each event
(their history changes inside the range, once at the very time of an event)
or as they are now.
"""

from __future__ import annotations

import math
import random
import re
import statistics
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from etl.days import day_range
from etl.errors import EtlError
from etl.model.keys import add_key
from etl.run.day import run_day
from etl.serve.reports import Scope, funnel, insights, retention
from tests.support import event as record
from tests.support import write_jsonl

FIRST = date(2026, 5, 1)
DAYS = day_range(FIRST, FIRST + timedelta(days=5))
SETUP = datetime(2026, 5, 2, 12, tzinfo=UTC)
EVENTS = ["A", "B", "C"]
GROUPS = [f"g{n}" for n in range(8)]


def epoch(day: date, seconds: float) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() + seconds


def generate(seed: int) -> tuple[list[dict], dict, dict]:
    """Events (with arrival day), user profiles and group profiles."""
    rng = random.Random(seed)
    users = {f"u{n:02d}": rng.sample(GROUPS, rng.choice([1, 1, 2])) for n in range(30)}
    events = []
    for user, groups in users.items():
        for n in range(rng.randint(4, 14)):
            day = rng.choice(DAYS)
            t = epoch(day, rng.randrange(0, 86_400 * 2) / 2)  # half-second steps: exact in binary
            company = groups[0] if len(groups) == 1 else (groups if rng.random() < 0.7 else groups[0])
            props = {"distinct_id": user, "time": t, "$insert_id": f"{user}-{n}",
                     "plan": rng.choice(["free", "pro"])}
            if rng.random() < 0.85:
                props["company_id"] = company
            events.append({"event": rng.choice(EVENTS), "properties": props, "arrival": day})
            if rng.random() < 0.08:  # a same-second tie for this user
                tie = dict(props, **{"$insert_id": f"{user}-{n}-tie", "time": t})
                events.append({"event": rng.choice(EVENTS), "properties": tie, "arrival": day})
    # exact window edges: B one hour after A, C half a second past that
    base = epoch(DAYS[2], 40_000)
    for n, (name, offset) in enumerate([("A", 0), ("B", 3600), ("C", 3600.5), ("A", 7200)]):
        events.append({"event": name, "arrival": DAYS[2], "properties": {
            "distinct_id": "edge", "time": base + offset, "$insert_id": f"edge-{n}", "company_id": "g0",
            "plan": "pro"}})
    users["edge"] = ["g0"]
    amounts = random.Random(seed + 1)  # its own stream: the events above stay as they were
    for e in events:
        if e["properties"]["distinct_id"] != "edge":
            # numbers exact in binary (sums agree on both engines), and values a measure ignores
            e["properties"]["amount"] = amounts.choice([1, 2.5, -4, 10, 0.5, 100, "7", True, None, [3], "absent"])
            if e["properties"]["amount"] == "absent":
                del e["properties"]["amount"]
    tags = random.Random(seed + 2)  # list values: a breakdown counts an event once per distinct element
    for e in events:
        if e["properties"]["distinct_id"] != "edge":
            e["properties"]["tags"] = tags.choice([["a"], ["a", "b"], ["b", "a", "b"], [], "a", "c", None, "absent",
                                                   [None, "c"], 5, ["c", 5], "d", ["d", "e"]])
            if e["properties"]["tags"] == "absent":
                del e["properties"]["tags"]
    # duplicate deliveries, one a day late: same event, one copy kept
    for original in rng.sample(events, 10):
        copy = {**original, "arrival": min(original["arrival"] + timedelta(days=rng.choice([0, 1])), DAYS[-1])}
        events.append(copy)
    user_profiles = {u: {"tier": rng.choice(["gold", "basic"]), "company_id": g} for u, g in users.items()}
    group_profiles = {g: {"plan": rng.choice(["enterprise", "free"])} for g in GROUPS}
    return events, user_profiles, history_of(seed, events, group_profiles)


def history_of(seed: int, events: list[dict], first: dict) -> dict:
    """Each group's profile updates, (time, plan), in time order: the first profiles at the
    start of the range (g7's only on the fourth day: before, it has none), then changes
    inside the range, some to a list; one lands at the very time of an event of g1."""
    rng = random.Random(seed + 3)  # its own stream: the events and profiles above stay as they were
    t0 = epoch(DAYS[0], 1)
    history = {g: [(t0, plan["plan"])] for g, plan in first.items() if g != "g7"}
    history["g7"] = [(epoch(DAYS[3], 43_200), "enterprise")]
    for g in GROUPS:
        for _ in range(rng.choice([0, 1, 2])):
            history[g].append((epoch(rng.choice(DAYS[1:]), rng.randrange(0, 86_400 * 2) / 2),
                               rng.choice(["enterprise", "free", "trial", ["enterprise", "trial"], []])))
    at_an_event = min(e["properties"]["time"] for e in events if e["properties"].get("company_id") == "g1"
                      and e["properties"]["time"] > SETUP.timestamp())
    history["g1"].append((at_an_event, "trial"))
    return {g: sorted(versions, key=lambda v: v[0]) for g, versions in history.items()}


def load(settings, warehouse, lake, seed: int) -> tuple[list[dict], dict, dict]:  # noqa: ANN001
    events, user_profiles, group_history = generate(seed)
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    for day in DAYS:
        write_jsonl(lake, f"events/dt={day}/a.jsonl",
                    [{"event": e["event"], "properties": e["properties"]} for e in events if e["arrival"] == day])
    t0 = epoch(DAYS[0], 1)
    write_jsonl(lake, f"people/dt={DAYS[0]}/a.jsonl",
                [{"$distinct_id": u, "$time": t0, "$set": p} for u, p in user_profiles.items()])
    for day in DAYS:
        write_jsonl(lake, f"groups/dt={day}/a.jsonl",
                    [{"$group_key": "company_id", "$group_id": g, "$time": t, "$set": {"plan": plan}}
                     for g, versions in group_history.items() for t, plan in versions
                     if datetime.fromtimestamp(t, UTC).date() == day])
    for day in DAYS:
        run_day(settings, warehouse, lake, day)
    with warehouse.begin() as conn:
        ids = dict(conn.execute(sa.text("SELECT insert_id, event_id FROM events_deduped")).all())
    unique = {}
    for e in events:
        unique[e["properties"]["$insert_id"]] = e  # copies are identical: any one will do
    oracle_events = []
    for insert_id, e in unique.items():
        p = e["properties"]
        t = p["time"]
        value = p.get("company_id")
        groups = [] if t < SETUP.timestamp() or value is None else sorted(set(value if isinstance(value, list) else [value]))
        oracle_events.append({"event": e["event"], "user": p["distinct_id"], "t": t,
                              "date": datetime.fromtimestamp(t, UTC).date(), "id": ids[insert_id],
                              "plan": p["plan"], "groups": groups, "amount": p.get("amount"),
                              "tags": p.get("tags")})
    return oracle_events, user_profiles, group_history


# --- the oracle ---------------------------------------------------------------

def units_of(e: dict, by: str | None) -> list[str]:
    return e["groups"] if by else [e["user"]]


def group_plan(history: dict, group: str, e: dict, case: dict):  # noqa: ANN201
    """The plan of a group's profile as a case reads it: at the event's time (the update
    valid from t <= the event's time; none yet: no profile), or the current one."""
    versions = history.get(group, [])
    if case.get("props") != "current":
        versions = [v for v in versions if v[0] <= e["t"]]
    return versions[-1][1] if versions else None


def keep(e: dict, case: dict, profiles: tuple, unit: str) -> bool:
    user_profiles, history = profiles
    if case.get("plan") and e["plan"] != case["plan"]:
        return False
    if case.get("enterprise_member"):
        member_of = user_profiles.get(e["user"], {}).get("company_id", [])
        if not any(group_plan(history, g, e, case) == "enterprise" for g in member_of):
            return False
    if case.get("group_plan") and group_plan(history, unit, e, case) != case["group_plan"]:
        return False
    return True


def bucket(day: date, interval: str) -> date:
    if interval == "week":
        return day - timedelta(days=day.weekday())  # Monday
    return day.replace(day=1) if interval == "month" else day


def measured(events: int, units: set, amounts: list, measure: str) -> float | int | None:
    kind = measure.partition(":")[0]
    if kind in ("events", "uniques"):
        return events if kind == "events" else len(units)
    if kind == "sum":
        return round(float(sum(amounts)), 6) if amounts else 0
    if not amounts:
        return None
    return round(sum(amounts) / len(amounts) if kind == "avg" else float(statistics.median(amounts)), 6)


def labels(value) -> set:  # noqa: ANN001
    """The breakdown buckets of a JSON value: a list's distinct elements (an empty list: null)."""
    items = value if isinstance(value, list) else [value]
    text = {None: None, True: "true", False: "false"}
    return {text[i] if i is None or isinstance(i, bool) else str(i) for i in items} or {None}


def labels_of(e: dict, unit: str, case: dict, profiles: tuple) -> set:
    """The breakdown buckets of an event of a unit: of its own value, or in a user report by
    company_id.plan the union over the user's groups (each as the case reads profiles)."""
    user_profiles, history = profiles
    breakdown = case["breakdown"]
    if breakdown == "company_id.plan":
        groups = user_profiles.get(e["user"], {}).get("company_id", [])
        return set().union(*(labels(group_plan(history, g, e, case)) for g in groups)) if groups else {None}
    value = {None: None, "plan": e["plan"], "tags": e["tags"],
             "group.plan": group_plan(history, unit, e, case) if breakdown == "group.plan" else None,
             "user.tier": user_profiles.get(e["user"], {}).get("tier")}[breakdown]
    return labels(value)


def fold(labelled: list[tuple], limit: int | None) -> list[tuple]:
    """(item, buckets) pairs with the buckets past the top `limit` (by items) as (other)."""
    totals: dict = {}
    for _, values in labelled:
        for v in values:
            totals[v] = totals.get(v, 0) + 1
    if not limit or len(totals) <= limit:
        return labelled
    kept = sorted((v for v in totals if v != "(other)"), key=lambda v: (-totals[v], v is None, v))[:limit]
    return [(item, {v if v in kept else "(other)" for v in values}) for item, values in labelled]


def ordered(values: set) -> list:
    return sorted(values, key=lambda v: (v == "(other)", v is None, v)) or [None]


def oracle_insights(events, profiles, case) -> list[dict]:  # noqa: ANN001
    interval, measure = case.get("interval", "day"), case.get("measure", "uniques")
    seen = []  # ((event, unit), its buckets)
    for e in events:
        if e["event"] != case["event"] or not (case["d1"] <= e["date"] <= case["d2"]):
            continue
        for unit in units_of(e, case["by"]):
            if keep(e, case, profiles, unit):
                seen.append(((e, unit), labels_of(e, unit, case, profiles)))
    counts: dict = {}
    for (e, unit), values in fold(seen, case.get("limit")):
        for value in values:
            slot = counts.setdefault((bucket(e["date"], interval), value), [0, set(), []])
            slot[0] += 1
            slot[1].add(unit)
            amount = e["amount"]
            if isinstance(amount, int | float) and not isinstance(amount, bool):
                slot[2].append(amount)
    values = ordered({v for _, v in counts})
    labels_ = sorted({bucket(d, interval) for d in day_range(case["d1"], case["d2"])})
    rows = []
    for d in labels_:
        for v in values:
            n, units, amounts = counts.get((d, v), [0, set(), []])
            rows.append({"date": d.isoformat(), "breakdown": v, "events": n, "uniques": len(units),
                         "value": measured(n, units, amounts, measure)})
    return rows


def oracle_funnel(events, profiles, case) -> list[dict]:  # noqa: ANN001
    steps, window = case["steps"], case["window"]
    hi = case["d2"] + timedelta(days=math.ceil(window / 86_400))
    per_unit: dict = {}
    for e in events:
        if e["event"] in steps and case["d1"] <= e["date"] <= hi:
            for unit in units_of(e, case["by"]):
                if keep(e, case, profiles, unit):
                    per_unit.setdefault(unit, []).append(e)
    entered = []  # ((unit, seconds from the previous step, per step reached), buckets at the first step)
    for unit, unit_events in per_unit.items():
        unit_events.sort(key=lambda e: (e["t"], e["id"]))
        entry = next((e for e in unit_events if e["event"] == steps[0] and case["d1"] <= e["date"] <= case["d2"]), None)
        if entry is None:
            continue
        progress = [None]
        previous = entry
        for step in steps[1:]:
            nxt = next((e for e in unit_events if e["event"] == step
                        and (e["t"], e["id"]) > (previous["t"], previous["id"])
                        and e["t"] <= entry["t"] + window), None)
            if nxt is None:
                break
            progress.append(nxt["t"] - previous["t"])
            previous = nxt
        buckets = labels_of(entry, unit, case, profiles) if case.get("breakdown") else {None}
        entered.append(((unit, progress), buckets))
    labelled = fold(entered, case.get("limit"))
    rows = []
    for value in ordered({v for _, values in labelled for v in values}):
        reached = [[] for _ in steps]  # per step: seconds since the previous step
        for (_, progress), values in labelled:
            if value in values:
                for n, seconds in enumerate(progress):
                    reached[n].append(seconds)
        first = len(reached[0])
        for n, step in enumerate(steps):
            before = len(reached[n - 1]) if n else first
            row = {"breakdown": value} if case.get("breakdown") else {}
            rows.append({**row, "event": step, "units": len(reached[n]),
                         "conversion_from_previous": len(reached[n]) / before if before else 0.0,
                         "conversion_from_first": len(reached[n]) / first if first else 0.0,
                         "median_seconds_to_convert": round(statistics.median(reached[n]), 3)
                         if n and reached[n] else None})
    return rows


def oracle_retention(events, profiles, case) -> list[dict]:  # noqa: ANN001
    days = 1 if case["period"] == "day" else 7
    births: dict = {}
    returns: dict = {}
    for e in events:
        if not (case["d1"] <= e["date"] <= case["d2"]):
            continue
        for unit in units_of(e, case["by"]):
            if not keep(e, case, profiles, unit):
                continue
            if e["event"] == case["born"] and (unit not in births or (e["t"], e["id"]) < (births[unit]["t"],
                                                                                         births[unit]["id"])):
                births[unit] = e
            if e["event"] == case["return"]:
                returns.setdefault(unit, set()).add(e["date"])
    born = [((unit, e["date"]), labels_of(e, unit, case, profiles) if case.get("breakdown") else {None})
            for unit, e in births.items()]
    cohorts: dict = {}
    for (unit, cohort), values in fold(born, case.get("limit")):
        periods = {(d - cohort).days // days for d in returns.get(unit, ()) if d >= cohort}
        for value in values:
            entry = cohorts.setdefault((value, cohort), [0, [0] * ((case["d2"] - cohort).days // days + 1)])
            entry[0] += 1
            for p in periods:
                entry[1][p] += 1
    rows = []
    for value in ordered({v for v, _ in cohorts}):
        for cohort in sorted(c for v, c in cohorts if v == value):
            size, retained = cohorts[(value, cohort)]
            row = {"breakdown": value} if case.get("breakdown") else {}
            rows.append({**row, "cohort_date": cohort.isoformat(), "size": size, "retained": retained})
    return rows


# --- the cases ------------------------------------------------------------------

def cases(seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    ranges = [(DAYS[0], DAYS[-1]), (DAYS[1], DAYS[3]), (DAYS[2], DAYS[2])]
    for by in (None, "company_id"):
        for event in EVENTS:
            for d1, d2 in ranges:
                for breakdown in (None, "plan", "group.plan" if by else "user.tier"):
                    out.append({"kind": "insights", "event": event, "by": by, "d1": d1, "d2": d2,
                                "breakdown": breakdown})
                out.append({"kind": "insights", "event": event, "by": by, "d1": d1, "d2": d2,
                            "breakdown": None, "plan": "pro"})
                if by:
                    out.append({"kind": "insights", "event": event, "by": by, "d1": d1, "d2": d2,
                                "breakdown": None, "group_plan": "enterprise"})
                else:
                    out.append({"kind": "insights", "event": event, "by": by, "d1": d1, "d2": d2,
                                "breakdown": None, "enterprise_member": True})
            for limit in (None, 1, 2, 3, 5, 20):
                d1, d2 = rng.choice(ranges)
                out.append({"kind": "insights", "event": event, "by": by, "d1": d1, "d2": d2, "breakdown": "tags",
                            "limit": limit, "measure": rng.choice(["uniques", "events", "sum:amount", "median:amount"]),
                            "interval": rng.choice(["day", "week"])})
            out.append({"kind": "insights", "event": event, "by": by, "d1": DAYS[0], "d2": DAYS[-1],
                        "breakdown": "plan", "limit": 1})
            # over the whole range, C's most frequent tags bucket is null: only null kept, the rest folded
            out.append({"kind": "insights", "event": event, "by": by, "d1": DAYS[0], "d2": DAYS[-1],
                        "breakdown": "tags", "limit": 1, "measure": "sum:amount"})
            for measure in ("events", "sum:amount", "avg:amount", "median:amount"):
                for interval in ("day", "week", "month"):
                    d1, d2 = rng.choice(ranges)
                    out.append({"kind": "insights", "event": event, "by": by, "d1": d1, "d2": d2,
                                "breakdown": rng.choice([None, "plan"]), "measure": measure, "interval": interval})
        profile = "group.plan" if by else "company_id.plan"  # a group's profile, as it was or is now
        for event in EVENTS:
            for props in ("at-event", "current"):
                for limit in (None, 2):
                    d1, d2 = rng.choice(ranges)
                    out.append({"kind": "insights", "event": event, "by": by, "d1": d1, "d2": d2,
                                "breakdown": profile, "props": props, "limit": limit,
                                "measure": rng.choice(["uniques", "events", "sum:amount"])})
                out.append({"kind": "insights", "event": event, "by": by, "d1": DAYS[0], "d2": DAYS[-1],
                            "breakdown": rng.choice([None, "plan"]), "props": props,
                            ("group_plan" if by else "enterprise_member"): "enterprise" if by else True})
        breakdowns = [None, "plan", "tags", profile, "group.plan" if by else "user.tier"]
        for _ in range(60):
            steps = [rng.choice(EVENTS) for _ in range(rng.choice([2, 2, 3]))]
            d1, d2 = rng.choice(ranges)
            window = rng.choice([3600, 3599, 86_400, 2 * 86_400, 30])
            case = {"kind": "funnel", "steps": steps, "window": window, "by": by, "d1": d1, "d2": d2,
                    "breakdown": rng.choice(breakdowns), "limit": rng.choice([None, None, 1, 2, 3]),
                    "props": rng.choice(["at-event", "current"])}
            if rng.random() < 0.25:
                case["plan"] = "pro"
            if rng.random() < 0.2:
                case["group_plan" if by else "enterprise_member"] = "enterprise" if by else True
            out.append(case)
        for born in EVENTS:
            for ret in EVENTS:
                for period in ("day", "week"):
                    out.append({"kind": "retention", "born": born, "return": ret, "by": by, "period": period,
                                "d1": DAYS[0], "d2": DAYS[-1], "breakdown": rng.choice(breakdowns),
                                "limit": rng.choice([None, None, 1, 2]), "props": rng.choice(["at-event", "current"])})
            d1, d2 = rng.choice(ranges)
            out.append({"kind": "retention", "born": born, "return": rng.choice(EVENTS), "by": by, "d1": d1, "d2": d2,
                        "period": "day", "breakdown": profile, "props": rng.choice(["at-event", "current"]),
                        ("group_plan" if by else "enterprise_member"): "enterprise" if by else True})
    out += [{"kind": "funnel", "steps": ["A", "B", "C"], "window": w, "by": by, "d1": DAYS[2], "d2": DAYS[2]}
            for w in (3599, 3600, 3600.5) for by in (None, "company_id")]
    return out


def where_of(case: dict) -> Scope:
    wheres = ['properties["plan"] == "pro"'] if case.get("plan") else []
    if case.get("group_plan"):
        wheres.append('group.plan == "enterprise"')
    where = " and ".join(wheres) or None
    where_group = 'company_id.plan == "enterprise"' if case.get("enterprise_member") else None
    return Scope(case["by"], where, where_group, case.get("breakdown"), case.get("props", "at-event"))


def report_of(warehouse, case: dict) -> list[dict]:  # noqa: ANN001 - any engine's warehouse
    """What the warehouse answers for a case: the rows (insights), steps (funnel) or cohorts (retention)."""
    scope = where_of(case)
    if case["kind"] == "insights":
        return insights(warehouse, case["event"], case["d1"], case["d2"], scope,
                        measure=case.get("measure", "uniques"), interval=case.get("interval", "day"),
                        breakdown_limit=case.get("limit"))["rows"]
    if case["kind"] == "funnel":
        return funnel(warehouse, case["steps"], case["window"], case["d1"], case["d2"], scope,
                      breakdown_limit=case.get("limit"))["steps"]
    return retention(warehouse, case["born"], case["return"], case["d1"], case["d2"], scope,
                     period=case["period"], breakdown_limit=case.get("limit"))["cohorts"]


def oracle_of(events: list[dict], profiles: tuple, case: dict) -> list[dict]:
    """What the oracle answers for a case, in report_of's shape."""
    oracle = {"insights": oracle_insights, "funnel": oracle_funnel, "retention": oracle_retention}[case["kind"]]
    return oracle(events, profiles, case)


@pytest.mark.slow  # an oracle or a whole corpus: CI (make test), not the edit loop
@pytest.mark.parametrize("seed", [11])
def test_reports_match_the_oracle(settings, warehouse, lake, seed: int) -> None:  # noqa: ANN001
    events, user_profiles, group_history = load(settings, warehouse, lake, seed)
    assert len(events) > 250 and any(e["groups"] for e in events) and any(len(e["groups"]) > 1 for e in events)
    profiles = (user_profiles, group_history)
    checked = mismatches = sums_checked = sums_failed = 0
    failures = []
    for case in cases(seed):
        got, want = report_of(warehouse, case), oracle_of(events, profiles, case)
        if case["kind"] == "funnel" and case.get("breakdown") in ("plan", "user.tier"):
            # one value a unit: the values add up
            scope = where_of(case)
            whole = funnel(warehouse, case["steps"], case["window"], case["d1"], case["d2"],
                           Scope(scope.by, scope.where, scope.where_group, None, scope.group_props))["steps"]
            entering = sum(step["units"] for step in got[::len(case["steps"])])  # each value's first step
            sums_checked += entering == whole[0]["units"]
            sums_failed += entering != whole[0]["units"]
        checked += 1
        if got != want:
            mismatches += 1
            failures.append((case, got, want))
    assert checked >= 400
    # the history matters: over the range, some events see another plan than the current one
    whole = {"kind": "insights", "event": "A", "d1": DAYS[0], "d2": DAYS[-1]}
    for by, breakdown in (("company_id", "group.plan"), (None, "company_id.plan")):
        case = {**whole, "by": by, "breakdown": breakdown}
        assert oracle_insights(events, profiles, case) != oracle_insights(events, profiles, {**case, "props": "current"})
    for case, got, want in failures[:2]:  # the first differing rows, to read
        print(case, [(g, w) for g, w in zip(got, want, strict=False) if g != w][:3], len(got), len(want))
    assert mismatches == 0, failures[:2]
    assert sums_failed == 0 and sums_checked >= 20


def test_the_edge_user_converts_only_inside_the_window(settings, warehouse, lake) -> None:  # noqa: ANN001
    events, user_profiles, group_history = load(settings, warehouse, lake, 3)
    counts = {}
    for window in (3599, 3600):
        result = funnel(warehouse, ["A", "B", "C"], window, DAYS[2], DAYS[2],
                        Scope(where='properties["plan"] == "pro"'))["steps"]
        counts[window] = [(step["event"], step["units"], step["median_seconds_to_convert"]) for step in result]
        case = {"steps": ["A", "B", "C"], "window": window, "by": None, "d1": DAYS[2], "d2": DAYS[2], "plan": "pro"}
        assert result == oracle_funnel(events, (user_profiles, group_history), case)
    # eight users enter on the day with a "pro" A; only the edge user does B, exactly 3600 s
    # after A: inside a 3600 s window, not a 3599 s one; its C at 3600.5 s is outside both
    assert counts == {
        3599: [("A", 8, None), ("B", 0, None), ("C", 0, None)],
        3600: [("A", 8, None), ("B", 1, 3600.0), ("C", 0, None)],
    }
    edge = {w: funnel(warehouse, ["A", "B"], w, DAYS[2], DAYS[2],
                      Scope(where_group=None, where='properties["$insert_id"] in ["edge-0", "edge-1"]'))
            ["steps"][1]["units"] for w in (3599, 3600)}
    assert edge == {3599: 0, 3600: 1}


def test_the_one_way_rule_is_a_clear_error(warehouse) -> None:  # noqa: ANN001
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    with pytest.raises(EtlError, match="user.tier: group analysis never uses user profile properties"):
        insights(warehouse, "A", DAYS[0], DAYS[1], Scope(by="company_id", breakdown="user.tier"))
    with pytest.raises(EtlError, match="user.tier: group analysis never uses user profile properties"):
        funnel(warehouse, ["A", "B"], 60, DAYS[0], DAYS[1], Scope(by="company_id", where='user.tier == "gold"'))
    with pytest.raises(EtlError, match="--where-group filters users by their groups' profiles"):
        retention(warehouse, "A", "B", DAYS[0], DAYS[1], Scope(by="company_id", where_group='company_id.plan == "x"'))
    with pytest.raises(EtlError, match=r"^--breakdown group.plan needs --by KEY; to break users down by their "
                                       r"groups' profiles, use --breakdown KEY.plan$"):  # it said --where-group
        insights(warehouse, "A", DAYS[0], DAYS[1], Scope(breakdown="group.plan"))
    with pytest.raises(EtlError, match=r"^group.plan needs --by KEY; to filter users by a group's profile, "
                                       r"use --where-group 'KEY.plan \.\.\.'$"):
        insights(warehouse, "A", DAYS[0], DAYS[1], Scope(where='group.plan == "pro"'))
    with pytest.raises(EtlError, match=r"""^--breakdown: expected one property, such as plan or """
                                       r"""properties\["a.b"\]; got 'properties\["a"'$"""):  # it named `is set`
        insights(warehouse, "A", DAYS[0], DAYS[1], Scope(breakdown='properties["a"'))
    with pytest.raises(EtlError, match=r"^--window must be from 1 second to 366 days, got 31708800 seconds$"):
        funnel(warehouse, ["A", "B"], 367 * 86_400, DAYS[0], DAYS[1], Scope())
    with pytest.raises(EtlError, match="group key 'account_id' is not set up"):
        insights(warehouse, "A", DAYS[0], DAYS[1], Scope(by="account_id"))
    with pytest.raises(EtlError, match="--where: cannot parse"):
        insights(warehouse, "A", DAYS[0], DAYS[1], Scope(where='plan == "a"; DROP TABLE events; --'))


def test_group_properties_as_they_were_at_each_event_or_as_they_are_now(settings, warehouse, lake) -> None:  # noqa: ANN001
    """c1 is free, then pro from exactly the time of u2's Buy (the update wins at its own
    instant); c2 has no profile until after every event; u1 belongs to both."""
    day, t0 = DAYS[2], epoch(DAYS[2], 0)
    t1 = epoch(day, 36_000)
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    write_jsonl(lake, f"events/dt={day}/a.jsonl", [
        record("Buy", "u1", t1 - 1, "a", company_id="c1", **{"a.b": "dotted"}),  # c1 still free
        record("Buy", "u2", t1, "b", company_id="c1"),  # the update's very instant: pro
        record("Buy", "u1", t1 + 60, "c", company_id="c2"),  # c2: no profile yet
        record("Pay", "u1", t1 + 120, "d", company_id="c1")])
    write_jsonl(lake, f"people/dt={day}/a.jsonl", [
        {"$distinct_id": "u1", "$time": t0, "$set": {"company_id": ["c1", "c2"]}},
        {"$distinct_id": "u2", "$time": t0, "$set": {"company_id": "c1"}}])
    write_jsonl(lake, f"groups/dt={day}/a.jsonl", [
        {"$group_key": "company_id", "$group_id": "c1", "$time": t0, "$set": {"plan": "free"}},
        {"$group_key": "company_id", "$group_id": "c1", "$time": t1, "$set": {"plan": "pro"}},
        {"$group_key": "company_id", "$group_id": "c2", "$time": t1 + 3600, "$set": {"plan": ["enterprise", "pro"]}}])
    run_day(settings, warehouse, lake, day)

    def buys(**scope: str) -> list[tuple]:
        rows = insights(warehouse, "Buy", day, day, Scope(**scope))["rows"]
        return [(r["breakdown"], r["events"], r["uniques"]) for r in rows]

    groups, users = {"by": "company_id", "breakdown": "group.plan"}, {"breakdown": "company_id.plan"}
    assert buys(**groups) == [("free", 1, 1), ("pro", 1, 1), (None, 1, 1)]
    assert buys(**groups, group_props="current") == [("enterprise", 1, 1), ("pro", 3, 2)]
    # u1's first Buy: c1 free and c2 without a profile; its second: c1 pro, c2 still none
    assert buys(**users) == [("free", 1, 1), ("pro", 2, 2), (None, 2, 1)]
    assert buys(**users, group_props="current") == [("enterprise", 2, 1), ("pro", 3, 2)]
    assert buys(where_group='company_id.plan == "pro"') == [(None, 2, 2)]
    assert buys(where_group='company_id.plan == "pro"', group_props="current") == [(None, 3, 2)]
    assert buys(by="company_id", where='group.plan == "pro"') == [(None, 1, 1)]
    assert buys(by="company_id", where='group.plan == "pro"', group_props="current") == [(None, 2, 1)]
    assert buys(breakdown='properties["a.b"]') == [("dotted", 1, 1), (None, 2, 2)]
    assert buys(by="company_id", where="group.plan is not set") == [(None, 1, 1)]  # c2 before its profile
    assert buys(by="company_id", where="group.plan is not set", group_props="current") == [(None, 0, 0)]

    def steps(**scope: str) -> list[tuple]:
        result = funnel(warehouse, ["Buy", "Pay"], 3600, day, day, Scope(**scope))["steps"]
        return [(s["breakdown"], s["event"], s["units"]) for s in result]

    # by the plans at each user's first Buy: u1 (free and null) converts, u2 (pro) does not
    assert steps(**users) == [("free", "Buy", 1), ("free", "Pay", 1), ("pro", "Buy", 1), ("pro", "Pay", 0),
                              (None, "Buy", 1), (None, "Pay", 1)]
    assert steps(**users, group_props="current") == [("enterprise", "Buy", 1), ("enterprise", "Pay", 1),
                                                     ("pro", "Buy", 2), ("pro", "Pay", 1)]
    cohorts = retention(warehouse, "Buy", "Pay", day, day, Scope(**users))["cohorts"]
    assert [(c["breakdown"], c["size"], c["retained"]) for c in cohorts] == [
        ("free", 1, [1]), ("pro", 1, [0]), (None, 1, [1])]


def test_a_value_named_other_folds_into_other(settings, warehouse, lake) -> None:  # noqa: ANN001
    """A plan that is the text "(other)" was kept as the top value, and the folded values
    were summed into its row: one row of 7 events, no top value shown."""
    day, t = DAYS[2], epoch(DAYS[2], 3600)
    write_jsonl(lake, f"events/dt={day}/a.jsonl", [
        record("Buy", f"u{n}", t + n, f"e{n}", plan=plan) for n, plan in
        enumerate(["(other)", "(other)", "(other)", "pro", "pro", "free", "x"])])
    run_day(settings, warehouse, lake, day)
    rows = insights(warehouse, "Buy", day, day, Scope(breakdown="plan"), measure="events", breakdown_limit=1)["rows"]
    assert [(r["breakdown"], r["events"]) for r in rows] == [("pro", 2), ("(other)", 5)]
    rows = insights(warehouse, "Buy", day, day, Scope(breakdown="plan"), measure="events", breakdown_limit=9)["rows"]
    assert [(r["breakdown"], r["events"]) for r in rows] == [("free", 1), ("pro", 2), ("x", 1), ("(other)", 3)]


def test_breakdown_mistakes_are_clear_errors(warehouse) -> None:  # noqa: ANN001
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    with pytest.raises(EtlError, match=r"^--breakdown account_id\.plan: group key 'account_id' is not set up "
                                       r"\(see `group-etl keys list`\); for an event property of that name, "
                                       r"write properties\[\"account_id\.plan\"\]$"):
        funnel(warehouse, ["A", "B"], 60, DAYS[0], DAYS[1], Scope(breakdown="account_id.plan"))
    with pytest.raises(EtlError, match=r"KEY\.PROP breaks users down by their groups' profiles; "
                                       r"in a group report use group\.plan"):
        retention(warehouse, "A", "B", DAYS[0], DAYS[1], Scope(by="company_id", breakdown="company_id.plan"))
    with pytest.raises(EtlError, match="user.tier: group analysis never uses user profile properties"):
        funnel(warehouse, ["A", "B"], 60, DAYS[0], DAYS[1], Scope(by="company_id", breakdown="user.tier"))
    for text in ('properties["a"] is set or b', 'properties["a'):
        with pytest.raises(EtlError, match=r"^--breakdown: expected one property, such as plan or "
                                           r"properties\[\"a\.b\"\]; got '" + re.escape(text) + "'$"):
            insights(warehouse, "A", DAYS[0], DAYS[1], Scope(breakdown=text))
    with pytest.raises(EtlError, match="--group-props must be at-event or current, got 'then'"):
        insights(warehouse, "A", DAYS[0], DAYS[1], Scope(group_props="then"))
    with pytest.raises(EtlError, match="--breakdown-limit must be at least 1, got 0"):
        retention(warehouse, "A", "B", DAYS[0], DAYS[1], Scope(breakdown="plan"), breakdown_limit=0)
