"""Where users meet account health, on DuckDB and PostgreSQL: `groups show`'s summary,
the lifecycle report, health and lifecycle cohort conditions, static cohorts."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from etl.errors import EtlError
from etl.model.keys import add_key, list_keys
from etl.run.day import run_day
from etl.serve.cohorts import add_cohort, add_static_cohort, remove_cohort, static_ids
from etl.serve.export import Selection, export_profiles
from etl.serve.groups import show_group
from etl.serve.health import lifecycle_report
from tests.sql.test_group_activity import SETUP, START, at, load_example
from tests.support import event, write_jsonl


def test_groups_show_has_the_health_of_the_last_loaded_day(settings, warehouse, lake) -> None:  # noqa: ANN001
    _, days = load_example(settings, warehouse, lake)
    assert show_group(warehouse, "company_id", "acme", limit=1)["health"] == {
        "activity_date": days[7], "events": 0, "active_users": 0, "active_users_7d": 2, "active_users_28d": 3,
        "new_users": 0, "days_since_active": 3, "lifecycle": "dormant", "churned": True}


def test_lifecycle_report_counts_groups_per_state_per_day(settings, warehouse, lake) -> None:  # noqa: ANN001
    _, d = load_example(settings, warehouse, lake)
    document = lifecycle_report(warehouse, "company_id", d[0], d[7] + timedelta(3))
    assert [(r["date"], r["new"], r["returning"], r["resurrected"], r["dormant"], r["churned"])
            for r in document["rows"]] == [
        (d[0], 2, 0, 0, 0, 0), (d[1], 0, 1, 0, 1, 0), (d[2], 0, 0, 0, 2, 0), (d[3], 0, 0, 0, 1, 1),
        (d[4], 0, 0, 1, 0, 1), (d[5], 0, 0, 0, 1, 1), (d[6], 0, 0, 0, 1, 1), (d[7], 0, 0, 0, 0, 2),
    ]
    with pytest.raises(EtlError, match=r"^group key 'plan' is not set up"):
        lifecycle_report(warehouse, "plan", d[0], d[1])
    with pytest.raises(EtlError, match=r"^--from 2024-06-02 is after --to 2024-06-01$"):
        lifecycle_report(warehouse, "company_id", d[1], d[0])


QUIET = {"group_key": "company_id", "properties": [{"property": "plan", "op": "eq", "value": "enterprise"}],
         "health": [{"metric": "active_users_28d", "op": "lt", "value": 3}]}


@pytest.fixture
def accounts(settings, warehouse, lake) -> dict:  # noqa: ANN001
    """Five companies with profiles; initech active only 40 days before the others;
    zeta never active. Loads START, START+40 and START+41."""
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    plans = {"acme": "enterprise", "globex": "enterprise", "initech": "enterprise", "hooli": "pro",
             "zeta": "enterprise"}
    first, late = START, START + timedelta(40)
    write_jsonl(lake, f"groups/dt={first}/a.jsonl", [
        {"$group_key": "company_id", "$group_id": gid, "$time": at(first), "$set": {"plan": plan}}
        for gid, plan in plans.items()])
    dumps = {
        first: [event("Open", "u9", at(first), "i1", company_id="initech")],
        late: [event("Open", "u1", at(late), "a1", company_id="acme"),
               event("Open", "u2", at(late), "a2", company_id="acme"),
               event("Open", "u1", at(late), "g1", company_id="globex")],
        late + timedelta(1): [event("Open", "u3", at(late + timedelta(1)), "a3", company_id="acme"),
                              event("Open", "u2", at(late + timedelta(1)), "g2", company_id="globex"),
                              event("Open", "u1", at(late + timedelta(1)), "h1", company_id="hooli")],
    }
    for day, records in dumps.items():
        write_jsonl(lake, f"events/dt={day}/a.jsonl", records)
        run_day(settings, warehouse, lake, day)
    return {"key": next(k.data_group_id for k in list_keys(warehouse)), "late": late}


def _ids(warehouse, settings, data_group_id: int | None, cohort: str, as_of: date) -> list[str]:  # noqa: ANN001
    page = export_profiles(warehouse, Selection(data_group_id=data_group_id, cohort=cohort), as_of=as_of,
                           session_dir=settings.export_session_dir)
    return [r["$distinct_id"] for r in page["results"]]


def test_enterprise_companies_with_fewer_than_3_active_users_in_28_days(settings, warehouse, accounts) -> None:  # noqa: ANN001
    """By hand, on START+41: acme has u1, u2, u3 (3, out); globex u1, u2 (2, in); initech
    none in 28 days (its event was 41 days before; in); hooli is pro (out); zeta never
    had an event, so 0 active users (in)."""
    add_cohort(warehouse, "quiet", json.dumps(QUIET))
    assert _ids(warehouse, settings, accounts["key"], "quiet", accounts["late"] + timedelta(1)) == [
        "globex", "initech", "zeta"]
    # as of START+40, acme had 2 users: it was quiet then
    assert _ids(warehouse, settings, accounts["key"], "quiet", accounts["late"]) == [
        "acme", "globex", "initech", "zeta"]
    # a day after the last loaded one reads the last loaded day
    assert _ids(warehouse, settings, accounts["key"], "quiet", accounts["late"] + timedelta(9)) == [
        "globex", "initech", "zeta"]


def test_lifecycle_conditions_as_of_the_export_day(settings, warehouse, accounts) -> None:  # noqa: ANN001
    late = accounts["late"]
    for name, state in [("dormant", "dormant"), ("churned", "churned"), ("new", "new"), ("back", "returning")]:
        add_cohort(warehouse, name, json.dumps({"group_key": "company_id", "lifecycle": state}))
    assert _ids(warehouse, settings, accounts["key"], "dormant", late + timedelta(1)) == ["initech"]
    assert _ids(warehouse, settings, accounts["key"], "churned", late + timedelta(1)) == ["initech"]
    assert _ids(warehouse, settings, accounts["key"], "new", late) == ["acme", "globex"]
    assert _ids(warehouse, settings, accounts["key"], "new", late + timedelta(1)) == ["hooli"]
    assert _ids(warehouse, settings, accounts["key"], "back", late + timedelta(1)) == ["acme", "globex"]
    # 20 days after its only event, initech was dormant but not churned yet
    assert _ids(warehouse, settings, accounts["key"], "churned", START + timedelta(20)) == []
    assert _ids(warehouse, settings, accounts["key"], "dormant", START + timedelta(20)) == ["initech"]


@pytest.mark.parametrize(("definition", "message"), [
    ({"group_key": "company_id", "health": [{"metric": "users", "op": "lt", "value": 3}]},
     "--definition: health[0]: 'metric' must be one of events, active_users, active_users_7d, "
     "active_users_28d, new_users, days_since_active, got 'users'"),
    ({"group_key": "company_id", "health": [{"metric": "events", "op": "below", "value": 3}]},
     "--definition: health[0]: 'op' must be one of eq, neq, gt, lt, gte, lte, got 'below'"),
    ({"group_key": "company_id", "health": [{"metric": "events", "op": "lt", "value": "3"}]},
     "--definition: health[0]: 'value' must be a number"),
    ({"group_key": "company_id", "health": [{"metric": "events", "op": ["lt"], "value": 3}]},
     "--definition: health[0]: 'op' must be one of eq, neq, gt, lt, gte, lte, got ['lt']"),
    ({"group_key": "company_id", "health": [{"metric": {"m": 1}, "op": "lt", "value": 3}]},
     "--definition: health[0]: 'metric' must be one of events,"),
    ({"group_key": "company_id", "health": [{"metric": "events", "op": "lt", "value": float("nan")}]},
     "--definition: health[0]: 'value' must be a finite number of at most 9223372036854775807 in magnitude, "
     "got nan"),
    ({"group_key": "company_id", "health": [{"metric": "events", "op": "gt", "value": float("-inf")}]},
     "--definition: health[0]: 'value' must be a finite number"),
    ({"group_key": "company_id", "health": [{"metric": "events", "op": "lt", "value": 10**400}]},
     "--definition: health[0]: 'value' must be a finite number"),
    ({"group_key": "company_id", "lifecycle": ["dormant"]},
     "--definition: 'lifecycle' must be one of new, returning, resurrected, dormant, churned, got ['dormant']"),
    ({"group_key": "company_id", "health": [{"metric": "events", "op": "lt"}]},
     '--definition: health[0]: expected {"metric": M, "op": OP, "value": N}'),
    ({"group_key": "company_id", "health": {"metric": "events"}}, "--definition: 'health' must be a list"),
    ({"group_key": "company_id", "lifecycle": "asleep"},
     "--definition: 'lifecycle' must be one of new, returning, resurrected, dormant, churned, got 'asleep'"),
    ({"lifecycle": "dormant"}, "--definition: 'health' and 'lifecycle' need a group_key: health is kept per group"),
    ({"group_key": "company_id", "static": True}, "--definition: unknown field(s) ['static']"),
])
def test_health_conditions_are_checked_when_saved(warehouse, definition, message) -> None:  # noqa: ANN001
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    with pytest.raises(EtlError) as error:
        add_cohort(warehouse, "c", json.dumps(definition))
    assert str(error.value).startswith(message)


def test_static_ids_keep_what_is_written() -> None:
    assert static_ids("\ufeffacme\r\n globex \n\n  \nacme\nid,with,commas\n\t\nlast", "ids.txt") == [
        "acme", " globex ", "id,with,commas", "last"]
    with pytest.raises(EtlError, match=r"^--static -: no ids \(one id a line; blank lines are skipped\)$"):
        static_ids("\n \r\n", "-")
    with pytest.raises(EtlError, match="NUL"):
        static_ids("a\x00b\n", "f")
    # PostgreSQL could not index it (and the bulk COPY failed with a raw traceback)
    with pytest.raises(EtlError, match=r"^--static f: an id is longer than 1024 bytes \(UTF-8\): 'ééééé"):
        static_ids("ok\n" + "\u00e9" * 512 + "a\n", "f")


def test_a_static_cohort_keeps_100k_odd_ids_exactly(warehouse) -> None:  # noqa: ANN001
    """Saved in bulk (row by row, 100,000 ids took a minute on DuckDB); CSV-like text
    (quotes, commas, a CR inside, NULL and \\N) comes back as written."""
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    odd = ['"quoted"', "a,b", " spaced ", "caf\u00e9", "NULL", "\\N", "a\rb", "x" * 1024, "\u00e9" * 512]
    ids = static_ids("\ufeff" + "\r\n".join([*odd, *(f"id{n}" for n in range(100_000))]), "f")
    add_static_cohort(warehouse, "big", "company_id", ids)
    with warehouse.begin() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM cohort_members WHERE cohort = 'big'")).scalar() == 100_009
        assert sorted(conn.execute(sa.text(
            "SELECT member_id FROM cohort_members WHERE member_id NOT LIKE 'id%'")).scalars()) == sorted(odd)


def test_a_static_cohort_exports_its_ids(settings, warehouse, accounts) -> None:  # noqa: ANN001
    """Members with a profile export it; a member without one exports {} (as Mixpanel's
    include_all_users); ids are matched exactly (' acme' is not acme)."""
    add_static_cohort(warehouse, "dropped", "company_id", ["globex", "zeta", "nobody", " acme"], export=True)
    page = export_profiles(warehouse, Selection(data_group_id=accounts["key"], cohort="dropped"),
                           as_of=accounts["late"], session_dir=settings.export_session_dir)
    assert [(r["$distinct_id"], r["$properties"]) for r in page["results"]] == [
        (" acme", {}), ("globex", {"plan": "enterprise"}), ("nobody", {}), ("zeta", {"plan": "enterprise"})]
    page = export_profiles(warehouse, Selection(data_group_id=accounts["key"], cohort="dropped",
                                                include_all_users=False),
                           as_of=accounts["late"], session_dir=settings.export_session_dir)
    assert [r["$distinct_id"] for r in page["results"]] == ["globex", "zeta"]
    with pytest.raises(EtlError, match="cohort 'dropped' exists"):
        add_static_cohort(warehouse, "dropped", "company_id", ["x"])
    with pytest.raises(EtlError, match=r"^--key: group key 'plan' is not set up"):
        add_static_cohort(warehouse, "other", "plan", ["x"])
    remove_cohort(warehouse, "dropped")
    add_static_cohort(warehouse, "dropped", None, ["u1"])
    page = export_profiles(warehouse, Selection(cohort="dropped"), as_of=accounts["late"],
                           session_dir=settings.export_session_dir)
    assert [(r["$distinct_id"], r["$properties"]) for r in page["results"]] == [("u1", {})]
