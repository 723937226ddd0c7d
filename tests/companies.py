"""Warehouses for the API and page tests: companies with profiles, history, events, cohorts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from etl.config import Settings
from etl.model.keys import add_key
from etl.run.day import run_day
from etl.serve.cohorts import add_cohort
from etl.store.lake import open_lake
from etl.store.warehouse import Warehouse
from tests.support import event, write_jsonl

D1 = date(2026, 6, 1)
D2 = D1 + timedelta(days=1)
SETUP = datetime(2026, 5, 1, tzinfo=UTC)
PROFILES = {
    "c1": {"plan": "enterprise", "employees": 500, "tags": ["eu", "b2b"], "name": "Acme"},
    "c2": {"plan": "enterprise", "employees": 20, "name": "Globex"},
    "c3": {"plan": "pro", "employees": 50, "region": "us", "name": "Initech"},
    "c4": {"plan": "free", "name": "Hooli"},
}


def ts(day: date, hour: int = 10, minute: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC).timestamp())


def build_companies(settings: Settings, extra: int = 0) -> int:
    """Four named companies (c1..c4) and `extra` more (e0000..) on the enterprise plan;
    c1 moves from pro to enterprise on D2; c1 has five events over D1 and D2. Saves the
    cohorts `enterprise` (plan == enterprise) and `small` (employees < 100). Returns
    the key's data_group_id. The writer is closed on return (a DuckDB reader may open)."""
    lake = open_lake(settings.lake_url)
    with Warehouse(settings) as warehouse:
        warehouse.init()
        key = add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
        first = {**PROFILES, "c1": {**PROFILES["c1"], "plan": "pro"}}
        first.update({f"e{n:04d}": {"plan": "enterprise", "rank": n} for n in range(extra)})
        write_jsonl(lake, f"groups/dt={D1}/a.jsonl", [
            {"$group_key": "company_id", "$group_id": gid, "$time": ts(D1), "$set": props}
            for gid, props in first.items()])
        write_jsonl(lake, f"events/dt={D1}/a.jsonl", [
            event("Sign up", "u1", ts(D1, 9), "s1", company_id="c1"),
            event("Purchase", "u1", ts(D1, 11), "p1", company_id="c1", amount=10),
            event("Purchase", "u2", ts(D1, 11), "p2", company_id=["c1", "c2"], amount=5),
        ])
        run_day(settings, warehouse, lake, D1)
        write_jsonl(lake, f"groups/dt={D2}/a.jsonl", [
            {"$group_key": "company_id", "$group_id": "c1", "$time": ts(D2), "$set": {"plan": "enterprise"}}])
        write_jsonl(lake, f"events/dt={D2}/a.jsonl", [
            event("Purchase", "u1", ts(D2, 8), "p3", company_id="c1", amount=7),
            event("Log in", "u3", ts(D2, 12), "l1", company_id="c1"),
        ])
        run_day(settings, warehouse, lake, D2)
        add_cohort(warehouse, "enterprise",
                   '{"group_key": "company_id", "properties": [{"property": "plan", "op": "eq", "value": "enterprise"}]}')
        add_cohort(warehouse, "small",
                   '{"group_key": "company_id", "properties": [{"property": "employees", "op": "lt", "value": 100}]}')
        return key.data_group_id
