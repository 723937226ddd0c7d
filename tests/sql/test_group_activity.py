"""Account health (group_activity_daily) on DuckDB and PostgreSQL: exact rows of a
hand example, and the incremental table against a recomputation from scratch
(tests/health_oracle.py) over random histories, late events and re-runs."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from etl.model.keys import add_key
from etl.run.day import run_day
from tests.health_oracle import health_rows
from tests.support import event, snapshot, write_jsonl

START = date(2024, 6, 1)
SETUP = datetime(2024, 5, 1, tzinfo=UTC)
COLUMNS = ("activity_date, group_key, group_id, events, active_users, active_users_7d, active_users_28d, "
           "new_users, days_since_active, lifecycle, churned")


def at(day: date, seconds: int = 0) -> float:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC).timestamp() + seconds


def table(warehouse) -> list[tuple]:  # noqa: ANN001
    with warehouse.begin() as conn:
        return sorted(tuple(r) for r in conn.execute(sa.text(f"SELECT {COLUMNS} FROM group_activity_daily")))  # noqa: S608


def oracle(warehouse, churn_days: int) -> list[tuple]:  # noqa: ANN001
    with warehouse.begin() as conn:
        attributed = [tuple(r) for r in conn.execute(sa.text(
            "SELECT group_key, group_id, event_date, distinct_id FROM event_groups"))]
        horizon = conn.execute(sa.text("SELECT max(load_date) FROM load_audit WHERE stage = 'events'")).scalar()
    return health_rows(attributed, horizon, churn_days)


def load_example(settings, warehouse, lake) -> tuple:  # noqa: ANN001
    """The README's worked example, loaded: acme and globex over eight days with
    GROUP_ETL_CHURN_DAYS=3. Returns (settings, days)."""
    settings = replace(settings, churn_days=3)
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    days = [START + timedelta(n) for n in range(8)]
    dumps = {
        days[0]: [event("Open", "u1", at(days[0]), "a", company_id="acme"),
                  event("Open", "u2", at(days[0], 1), "b", company_id="acme"),
                  event("Open", "u2", at(days[0], 2), "c", company_id="acme")],
        days[1]: [event("Open", "u1", at(days[1]), "d", company_id="acme"),
                  event("Open", "u1", at(days[0], 3), "c-copy", company_id="globex")],
        days[4]: [event("Open", "u3", at(days[4]), "e", company_id="acme"),
                  event("Open", "u3", at(days[4]), "e", company_id="acme")],  # a duplicate: one event
    }
    for day in days:  # every day has an event of no group
        write_jsonl(lake, f"events/dt={day}/a.jsonl", [*dumps.get(day, []), event("Open", "u0", at(day), f"x{day}")])
        run_day(settings, warehouse, lake, day)
    return settings, days


def test_hand_example_exact_rows(settings, warehouse, lake) -> None:  # noqa: ANN001
    """The README's worked example: acme over eight days, GROUP_ETL_CHURN_DAYS=3."""
    settings, days = load_example(settings, warehouse, lake)
    d = days
    assert table(warehouse) == [
        (d[0], "company_id", "acme", 3, 2, 2, 2, 2, 0, "new", False),
        (d[0], "company_id", "globex", 1, 1, 1, 1, 1, 0, "new", False),
        (d[1], "company_id", "acme", 1, 1, 2, 2, 0, 0, "returning", False),
        (d[1], "company_id", "globex", 0, 0, 1, 1, 0, 1, "dormant", False),
        (d[2], "company_id", "acme", 0, 0, 2, 2, 0, 1, "dormant", False),
        (d[2], "company_id", "globex", 0, 0, 1, 1, 0, 2, "dormant", False),
        (d[3], "company_id", "acme", 0, 0, 2, 2, 0, 2, "dormant", False),
        (d[3], "company_id", "globex", 0, 0, 1, 1, 0, 3, "dormant", True),
        (d[4], "company_id", "acme", 1, 1, 3, 3, 1, 0, "resurrected", False),
        (d[4], "company_id", "globex", 0, 0, 1, 1, 0, 4, "dormant", True),
        (d[5], "company_id", "acme", 0, 0, 3, 3, 0, 1, "dormant", False),
        (d[5], "company_id", "globex", 0, 0, 1, 1, 0, 5, "dormant", True),
        (d[6], "company_id", "acme", 0, 0, 3, 3, 0, 2, "dormant", False),
        (d[6], "company_id", "globex", 0, 0, 1, 1, 0, 6, "dormant", True),
        (d[7], "company_id", "acme", 0, 0, 2, 3, 0, 3, "dormant", True),
        (d[7], "company_id", "globex", 0, 0, 0, 1, 0, 7, "dormant", True),
    ]
    assert table(warehouse) == oracle(warehouse, 3)
    # a late event for globex on day 3 (loaded with day 8) rewrites globex from day 3 on, only
    write_jsonl(lake, f"events/dt={d[7]}/a.jsonl", [event("Open", "u1", at(d[2]), "late", company_id="globex"),
                                                    event("Open", "u0", at(d[7]), f"x{d[7]}")])
    before = table(warehouse)
    run_day(settings, warehouse, lake, d[7])
    after = table(warehouse)
    assert sorted(set(after) - set(before)) == [
        (d[2], "company_id", "globex", 1, 1, 1, 1, 0, 0, "resurrected", False),
        (d[3], "company_id", "globex", 0, 0, 1, 1, 0, 1, "dormant", False),
        (d[4], "company_id", "globex", 0, 0, 1, 1, 0, 2, "dormant", False),
        (d[5], "company_id", "globex", 0, 0, 1, 1, 0, 3, "dormant", True),
        (d[6], "company_id", "globex", 0, 0, 1, 1, 0, 4, "dormant", True),
        (d[7], "company_id", "globex", 0, 0, 1, 1, 0, 5, "dormant", True),
    ]
    assert after == oracle(warehouse, 3)


def _history(rng: random.Random, loads: list[date]) -> dict[date, list[dict]]:
    """Random dumps: most events on their load day, some a few days late, and one
    20 days late; lists of groups, duplicates across loads, events with no group."""
    dumps: dict[date, list[dict]] = {}
    for n, load in enumerate(loads):
        records = []
        for k in range(rng.randint(0, 7)):
            back = rng.choice([0, 0, 0, 0, 1, 2, 5]) if n else 0
            company = rng.choice(["c1", "c2", "c3", "c4", ["c1", "c5"], None])
            props = {"company_id": company} if company is not None else {}
            records.append(event("E", f"u{rng.randint(1, 6)}", at(load - timedelta(back), k),
                                 f"{load}-{k}", **props))
        if n and rng.random() < 0.3:  # a copy of an earlier event, loaded again
            records.append(rng.choice(dumps[loads[rng.randrange(n)]] or [event("E", "u1", at(load), "x")]))
        dumps[load] = records
    return dumps


def _check_random_history(settings, warehouse, lake, seed: int) -> None:  # noqa: ANN001
    """In order, a late event 20 days back, changed days re-run in random order, each
    against the oracle; then unchanged re-runs leave every table identical."""
    rng = random.Random(seed)
    settings = replace(settings, churn_days=rng.choice([3, 10, 30]))
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    loads = [START + timedelta(n) for n in range(22)]
    dumps = _history(rng, loads)

    def load(day: date) -> None:
        write_jsonl(lake, f"events/dt={day}/a.jsonl", dumps[day])
        run_day(settings, warehouse, lake, day, allow_empty=True, allow_shrink=True)

    for day in loads:
        load(day)
    assert table(warehouse) == oracle(warehouse, settings.churn_days), f"seed {seed}: in order"
    # a late event 20 days back, loaded with the last day; then the last day without it
    last = loads[-1]
    dumps[last] = [*dumps[last], event("E", "u9", at(last - timedelta(20)), "late-20", company_id="c2")]
    load(last)
    assert table(warehouse) == oracle(warehouse, settings.churn_days), f"seed {seed}: late event"
    with warehouse.begin() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM event_groups WHERE insert_id = 'late-20'")).scalar() == 1
    # days changed and re-run in random order, each checked against the oracle
    for day in rng.sample(loads, 6):
        if rng.random() < 0.5:  # a dump that lost half its records
            dumps[day] = rng.sample(dumps[day], k=len(dumps[day]) // 2)
        load(day)
        assert table(warehouse) == oracle(warehouse, settings.churn_days), f"seed {seed}: re-run {day}"
    # re-running unchanged days leaves every table identical
    kept = snapshot(warehouse)
    for day in rng.sample(loads, 3):
        run_day(settings, warehouse, lake, day, allow_empty=True)
    assert snapshot(warehouse) == kept


@pytest.mark.slow  # an oracle or a whole corpus: CI (make test), not the edit loop
def test_random_histories_equal_the_oracle(settings, warehouse, lake) -> None:  # noqa: ANN001
    _check_random_history(settings, warehouse, lake, seed=18)


def test_a_table_built_from_nothing_covers_every_loaded_event(settings, warehouse, lake) -> None:  # noqa: ANN001
    """A warehouse upgraded to schema version 11 has event_groups and an empty
    group_activity_daily: its next run builds every group from its first event."""
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    days = [START + timedelta(n) for n in range(3)]
    for n, day in enumerate(days):
        write_jsonl(lake, f"events/dt={day}/a.jsonl", [event("E", f"u{n}", at(day), f"i{n}", company_id="c1")])
        run_day(settings, warehouse, lake, day)
    with warehouse.begin() as conn:
        conn.execute(sa.text("DELETE FROM group_activity_daily"))
        conn.execute(sa.text("DELETE FROM group_user_first_days"))
    run_day(settings, warehouse, lake, days[-1])
    assert table(warehouse) == oracle(warehouse, 30)
    assert [r[:5] for r in table(warehouse)] == [(d, "company_id", "c1", 1, 1) for d in days]
