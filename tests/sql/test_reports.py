"""Reports against a brute-force oracle in plain Python, on DuckDB and PostgreSQL.

The oracle recomputes insights, funnels and retention from the generated
events only (its own dedupe and attribution); the warehouse gives it nothing
but event_id, the opaque tie-break label. Several hundred report cases per
engine, by user and by group, with window edges, repeated and out-of-order
steps, same-second ties, multi-group events and events before the key's setup.
"""

from __future__ import annotations

import math
import random
import statistics
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from etl.days import day_range
from etl.errors import EtlError
from etl.model.keys import add_key
from etl.run.day import run_day
from etl.serve.reports import Scope, funnel, insights, retention
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
    return events, user_profiles, group_profiles


def load(settings, warehouse, lake, seed: int) -> tuple[list[dict], dict, dict]:  # noqa: ANN001
    events, user_profiles, group_profiles = generate(seed)
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    for day in DAYS:
        write_jsonl(lake, f"events/dt={day}/a.jsonl",
                    [{"event": e["event"], "properties": e["properties"]} for e in events if e["arrival"] == day])
    t0 = epoch(DAYS[0], 1)
    write_jsonl(lake, f"people/dt={DAYS[0]}/a.jsonl",
                [{"$distinct_id": u, "$time": t0, "$set": p} for u, p in user_profiles.items()])
    write_jsonl(lake, f"groups/dt={DAYS[0]}/a.jsonl",
                [{"$group_key": "company_id", "$group_id": g, "$time": t0, "$set": p} for g, p in group_profiles.items()])
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
    return oracle_events, user_profiles, group_profiles


# --- the oracle ---------------------------------------------------------------

def units_of(e: dict, by: str | None) -> list[str]:
    return e["groups"] if by else [e["user"]]


def keep(e: dict, case: dict, user_profiles: dict, group_profiles: dict, unit: str) -> bool:
    if case.get("plan") and e["plan"] != case["plan"]:
        return False
    if case.get("enterprise_member"):
        member_of = user_profiles.get(e["user"], {}).get("company_id", [])
        if not any(group_profiles[g]["plan"] == "enterprise" for g in member_of):
            return False
    if case.get("group_plan") and group_profiles.get(unit, {}).get("plan") != case["group_plan"]:
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


def oracle_insights(events, profiles, case) -> list[dict]:  # noqa: ANN001
    user_profiles, group_profiles = profiles
    interval, measure = case.get("interval", "day"), case.get("measure", "uniques")
    seen = []  # (event, unit, its buckets)
    for e in events:
        if e["event"] != case["event"] or not (case["d1"] <= e["date"] <= case["d2"]):
            continue
        for unit in units_of(e, case["by"]):
            if not keep(e, case, user_profiles, group_profiles, unit):
                continue
            value = {None: None, "plan": e["plan"], "tags": e["tags"],
                     "group.plan": group_profiles.get(unit, {}).get("plan"),
                     "user.tier": user_profiles.get(e["user"], {}).get("tier")}[case["breakdown"]]
            seen.append((e, unit, labels(value)))
    limit = case.get("limit")
    totals: dict = {}
    for _, _, values in seen:
        for v in values:
            totals[v] = totals.get(v, 0) + 1
    if limit and len(totals) > limit:
        kept = sorted(totals, key=lambda v: (-totals[v], v is None, v))[:limit]
        seen = [(e, unit, {v if v in kept else "(other)" for v in values}) for e, unit, values in seen]
    counts: dict = {}
    for e, unit, values in seen:
        for value in values:
            slot = counts.setdefault((bucket(e["date"], interval), value), [0, set(), []])
            slot[0] += 1
            slot[1].add(unit)
            amount = e["amount"]
            if isinstance(amount, int | float) and not isinstance(amount, bool):
                slot[2].append(amount)
    values = sorted({v for _, v in counts}, key=lambda v: (v == "(other)", v is None, v)) or [None]
    labels_ = sorted({bucket(d, interval) for d in day_range(case["d1"], case["d2"])})
    rows = []
    for d in labels_:
        for v in values:
            n, units, amounts = counts.get((d, v), [0, set(), []])
            rows.append({"date": d.isoformat(), "breakdown": v, "events": n, "uniques": len(units),
                         "value": measured(n, units, amounts, measure)})
    return rows


def oracle_funnel(events, profiles, case) -> list[dict]:  # noqa: ANN001
    user_profiles, group_profiles = profiles
    steps, window = case["steps"], case["window"]
    hi = case["d2"] + timedelta(days=math.ceil(window / 86_400))
    per_unit: dict = {}
    for e in events:
        if e["event"] in steps and case["d1"] <= e["date"] <= hi:
            for unit in units_of(e, case["by"]):
                if keep(e, case, user_profiles, group_profiles, unit):
                    per_unit.setdefault(unit, []).append(e)
    reached = [[] for _ in steps]  # per step: seconds since the previous step
    for unit_events in per_unit.values():
        unit_events.sort(key=lambda e: (e["t"], e["id"]))
        entry = next((e for e in unit_events if e["event"] == steps[0] and case["d1"] <= e["date"] <= case["d2"]), None)
        if entry is None:
            continue
        reached[0].append(None)
        previous = entry
        for n, step in enumerate(steps[1:], start=1):
            nxt = next((e for e in unit_events if e["event"] == step
                        and (e["t"], e["id"]) > (previous["t"], previous["id"])
                        and e["t"] <= entry["t"] + window), None)
            if nxt is None:
                break
            reached[n].append(nxt["t"] - previous["t"])
            previous = nxt
    first = len(reached[0])
    return [{"event": step, "units": len(reached[n]),
             "conversion_from_previous": (len(reached[n]) / len(reached[n - 1]) if n else len(reached[0]) / first)
             if (len(reached[n - 1]) if n else first) else 0.0,
             "conversion_from_first": len(reached[n]) / first if first else 0.0,
             "median_seconds_to_convert": round(statistics.median(reached[n]), 3) if n and reached[n] else None}
            for n, step in enumerate(steps)]


def oracle_retention(events, profiles, case) -> list[dict]:  # noqa: ANN001
    user_profiles, group_profiles = profiles
    days = 1 if case["period"] == "day" else 7
    born: dict = {}
    returns: dict = {}
    for e in events:
        if not (case["d1"] <= e["date"] <= case["d2"]):
            continue
        for unit in units_of(e, case["by"]):
            if not keep(e, case, user_profiles, group_profiles, unit):
                continue
            if e["event"] == case["born"]:
                born[unit] = min(born.get(unit, e["date"]), e["date"])
            if e["event"] == case["return"]:
                returns.setdefault(unit, set()).add(e["date"])
    cohorts: dict = {}
    for unit, cohort in born.items():
        periods = {(d - cohort).days // days for d in returns.get(unit, ()) if d >= cohort}
        entry = cohorts.setdefault(cohort, [0, [0] * ((case["d2"] - cohort).days // days + 1)])
        entry[0] += 1
        for p in periods:
            entry[1][p] += 1
    return [{"cohort_date": c.isoformat(), "size": s, "retained": r} for c, (s, r) in sorted(cohorts.items())]


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
        for _ in range(60):
            steps = [rng.choice(EVENTS) for _ in range(rng.choice([2, 2, 3]))]
            d1, d2 = rng.choice(ranges)
            window = rng.choice([3600, 3599, 86_400, 2 * 86_400, 30])
            case = {"kind": "funnel", "steps": steps, "window": window, "by": by, "d1": d1, "d2": d2}
            if rng.random() < 0.25:
                case["plan"] = "pro"
            out.append(case)
        for born in EVENTS:
            for ret in EVENTS:
                for period in ("day", "week"):
                    out.append({"kind": "retention", "born": born, "return": ret, "by": by, "period": period,
                                "d1": DAYS[0], "d2": DAYS[-1]})
    out += [{"kind": "funnel", "steps": ["A", "B", "C"], "window": w, "by": by, "d1": DAYS[2], "d2": DAYS[2]}
            for w in (3599, 3600, 3600.5) for by in (None, "company_id")]
    return out


def where_of(case: dict) -> Scope:
    where = 'properties["plan"] == "pro"' if case.get("plan") else None
    if case.get("group_plan"):
        where = 'group.plan == "enterprise"'
    where_group = 'company_id.plan == "enterprise"' if case.get("enterprise_member") else None
    return Scope(case["by"], where, where_group, case.get("breakdown"))


@pytest.mark.parametrize("seed", [11])
def test_reports_match_the_oracle(settings, warehouse, lake, seed: int) -> None:  # noqa: ANN001
    events, user_profiles, group_profiles = load(settings, warehouse, lake, seed)
    assert len(events) > 250 and any(e["groups"] for e in events) and any(len(e["groups"]) > 1 for e in events)
    profiles = (user_profiles, group_profiles)
    checked = mismatches = 0
    failures = []
    for case in cases(seed):
        scope = where_of(case)
        if case["kind"] == "insights":
            got = insights(warehouse, case["event"], case["d1"], case["d2"], scope,
                           measure=case.get("measure", "uniques"), interval=case.get("interval", "day"),
                           breakdown_limit=case.get("limit"))["rows"]
            want = oracle_insights(events, profiles, case)
        elif case["kind"] == "funnel":
            got = funnel(warehouse, case["steps"], case["window"], case["d1"], case["d2"], scope)["steps"]
            want = oracle_funnel(events, profiles, case)
        else:
            got = retention(warehouse, case["born"], case["return"], case["d1"], case["d2"], scope,
                            period=case["period"])["cohorts"]
            want = oracle_retention(events, profiles, case)
        checked += 1
        if got != want:
            mismatches += 1
            failures.append((case, got, want))
    assert checked >= 250
    assert mismatches == 0, failures[:2]


def test_the_edge_user_converts_only_inside_the_window(settings, warehouse, lake) -> None:  # noqa: ANN001
    events, user_profiles, group_profiles = load(settings, warehouse, lake, 3)
    counts = {}
    for window in (3599, 3600):
        result = funnel(warehouse, ["A", "B", "C"], window, DAYS[2], DAYS[2],
                        Scope(where='properties["plan"] == "pro"'))["steps"]
        counts[window] = [(step["event"], step["units"], step["median_seconds_to_convert"]) for step in result]
        case = {"steps": ["A", "B", "C"], "window": window, "by": None, "d1": DAYS[2], "d2": DAYS[2], "plan": "pro"}
        assert result == oracle_funnel(events, (user_profiles, group_profiles), case)
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
    with pytest.raises(EtlError, match="group.plan needs --by KEY"):
        insights(warehouse, "A", DAYS[0], DAYS[1], Scope(breakdown="group.plan"))
    with pytest.raises(EtlError, match="group key 'account_id' is not set up"):
        insights(warehouse, "A", DAYS[0], DAYS[1], Scope(by="account_id"))
    with pytest.raises(EtlError, match="--where: cannot parse"):
        insights(warehouse, "A", DAYS[0], DAYS[1], Scope(where='plan == "a"; DROP TABLE events; --'))
