"""Cohorts and exports on DuckDB and PostgreSQL: exact members, paging, files, errors."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest

from etl.errors import EtlError
from etl.model.keys import add_key
from etl.run.day import run_day
from etl.serve.cohorts import add_cohort, list_cohorts, remove_cohort
from etl.serve.export import (
    Selection,
    all_results,
    encode,
    end_of_day,
    export_partition,
    export_profiles,
    pending_export_days,
    run_exports,
    run_pending_exports,
)
from etl.store.lake import open_lake
from etl.store.warehouse import Warehouse
from tests.support import event, write_jsonl

D1 = date(2026, 6, 1)
DAYS = [D1 + timedelta(days=n) for n in range(8)]


def ts(day: date, hour: int = 10) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp())


def build_world(settings, warehouse, lake):  # noqa: ANN001, ANN201
    """Four companies with profiles; users in them; purchases on chosen days."""
    key = add_key(warehouse, "company_id", max_keys=6, setup_at=datetime(2026, 5, 1, tzinfo=UTC))
    write_jsonl(lake, f"groups/dt={DAYS[0]}/a.jsonl", [
        {"$group_key": "company_id", "$group_id": gid, "$time": ts(DAYS[0]), "$set": props}
        for gid, props in {
            "c1": {"plan": "enterprise", "employees": 500, "tags": ["eu", "b2b"]},
            "c2": {"plan": "enterprise", "employees": 20},
            "c3": {"plan": "pro", "employees": 50, "region": "us"},
            "c4": {"plan": "free"},
        }.items()])
    write_jsonl(lake, f"people/dt={DAYS[0]}/a.jsonl", [
        {"$distinct_id": uid, "$time": ts(DAYS[0]), "$set": props} for uid, props in {
            "u1": {"company_id": "c1", "tier": "gold"}, "u2": {"company_id": ["c2", "c3"], "tier": "basic"},
            "u3": {"company_id": "c3", "tier": "gold"}, "u4": {"tier": "basic"},
        }.items()])
    purchases = {"c1": [DAYS[7]], "c2": [DAYS[1]], "c3": [DAYS[6], DAYS[7]], "c4": [DAYS[7]]}
    users = {"c1": "u1", "c2": "u2", "c3": "u3", "c4": "u4"}
    for day in DAYS:
        write_jsonl(lake, f"events/dt={day}/a.jsonl", [
            event("Purchase", users[gid], ts(day), f"{gid}-{day}", company_id=gid)
            for gid, days in purchases.items() if day in days])
        run_day(settings, warehouse, lake, day)
    return key


@pytest.fixture
def world(settings, warehouse, lake):  # noqa: ANN001, ANN201
    """A world of the test's own, for tests that change it or list every cohort."""
    return build_world(settings, warehouse, lake)


@pytest.fixture(scope="module")
def shared(module_settings):  # noqa: ANN001, ANN201
    """One world per engine for the tests that only read it (and save cohorts under
    names of their own), built once per module instead of once per case."""
    with Warehouse(module_settings) as warehouse:
        warehouse.init()
        key = build_world(module_settings, warehouse, open_lake(module_settings.lake_url))
        yield SimpleNamespace(warehouse=warehouse, key=key)


def ids(results: list[dict]) -> list[str]:
    return [r["$distinct_id"] for r in results]


@pytest.mark.parametrize(
    ("condition", "members"),
    [
        ({"property": "plan", "op": "eq", "value": "enterprise"}, ["c1", "c2"]),
        ({"property": "plan", "op": "neq", "value": "enterprise"}, ["c3", "c4"]),
        ({"property": "plan", "op": "in", "value": ["pro", "free"]}, ["c3", "c4"]),
        ({"property": "tags", "op": "contains", "value": "b2b"}, ["c1"]),
        ({"property": "employees", "op": "gt", "value": 20}, ["c1", "c3"]),
        ({"property": "employees", "op": "lt", "value": 50}, ["c2"]),
        ({"property": "region", "op": "is_set"}, ["c3"]),
        ({"property": "employees", "op": "not_set"}, ["c4"]),
    ],
)
def test_each_property_condition(shared, condition, members) -> None:  # noqa: ANN001
    name = f"c-{condition['op']}-{condition['property']}"
    add_cohort(shared.warehouse, name, json.dumps({"group_key": "company_id", "properties": [condition]}))
    assert ids(all_results(shared.warehouse, Selection(shared.key.data_group_id, name), None, DAYS[7])) == members


def test_behavioural_window_edges(shared) -> None:  # noqa: ANN001
    add_cohort(shared.warehouse, "buyers", json.dumps({"group_key": "company_id", "behaviors": [
        {"event": "Purchase", "at_least": 1, "last_days": 7}]}))
    add_cohort(shared.warehouse, "repeat", json.dumps({"group_key": "company_id", "behaviors": [
        {"event": "Purchase", "at_least": 2, "last_days": 2}]}))
    # the last 7 days up to DAYS[7] are DAYS[1]..DAYS[7]: c2's purchase on DAYS[1] is just inside
    assert ids(all_results(shared.warehouse, Selection(shared.key.data_group_id, "buyers"), None, DAYS[7])) == ["c1", "c2", "c3", "c4"]
    assert ids(all_results(shared.warehouse, Selection(shared.key.data_group_id, "buyers"), None, DAYS[8 - 1] + timedelta(days=1))) == [
        "c1", "c3", "c4"]
    assert ids(all_results(shared.warehouse, Selection(shared.key.data_group_id, "repeat"), None, DAYS[7])) == ["c3"]


def test_user_cohorts_by_profile_behaviour_and_group_property(world, warehouse) -> None:  # noqa: ANN001
    add_cohort(warehouse, "gold", '{"properties": [{"property": "tier", "op": "eq", "value": "gold"}]}')
    add_cohort(warehouse, "in-enterprise", json.dumps({"groups": [
        {"group_key": "company_id", "property": "plan", "op": "eq", "value": "enterprise"}]}))
    add_cohort(warehouse, "buying-gold", json.dumps({
        "properties": [{"property": "tier", "op": "eq", "value": "gold"}],
        "behaviors": [{"event": "Purchase", "at_least": 2, "last_days": 3}]}))
    assert ids(all_results(warehouse, Selection(None, "gold"), None, DAYS[7])) == ["u1", "u3"]
    assert ids(all_results(warehouse, Selection(None, "in-enterprise"), None, DAYS[7])) == ["u1", "u2"]
    assert ids(all_results(warehouse, Selection(None, "buying-gold"), None, DAYS[7])) == ["u3"]
    assert [c.name for c in list_cohorts(warehouse)] == ["buying-gold", "gold", "in-enterprise"]


def test_where_and_output_properties(shared) -> None:  # noqa: ANN001
    got = all_results(shared.warehouse, Selection(shared.key.data_group_id, None, 'plan == "enterprise" and employees > 100'),
                      ["plan"], DAYS[7])
    assert got == [{"$distinct_id": "c1", "$properties": {"plan": "enterprise"}}]


def test_pages_of_a_session_do_not_shift_while_the_pipeline_runs(settings, world, warehouse, lake) -> None:  # noqa: ANN001
    first = export_profiles(warehouse, Selection(world.data_group_id), page=0, page_size=3, as_of=DAYS[7])
    assert (first["page"], first["page_size"], first["status"], first["total"]) == (0, 3, "ok", 4)
    assert ids(first["results"]) == ["c1", "c2", "c3"]
    # a concurrent load adds a company and changes c4 before page 1 is read
    write_jsonl(lake, f"groups/dt={DAYS[7]}/a.jsonl", [
        {"$group_key": "company_id", "$group_id": "c0", "$time": ts(DAYS[7]), "$set": {"plan": "new"}},
        {"$group_key": "company_id", "$group_id": "c4", "$time": ts(DAYS[7]), "$set": {"plan": "changed"}}])
    run_day(settings, warehouse, lake, DAYS[7])
    second = export_profiles(warehouse, Selection(world.data_group_id), page=1, page_size=3,
                             session_id=first["session_id"])
    assert (second["total"], ids(second["results"])) == (4, ["c4"])
    assert second["results"][0]["$properties"] == {"plan": "free"}
    fresh = export_profiles(warehouse, Selection(world.data_group_id), page=0, page_size=10, as_of=DAYS[7])
    assert ids(fresh["results"]) == ["c0", "c1", "c2", "c3", "c4"]


def test_each_file_format_reads_back(shared) -> None:  # noqa: ANN001
    results = all_results(shared.warehouse, Selection(shared.key.data_group_id, None, 'plan == "enterprise"'), None, DAYS[7])
    lines = [json.loads(line) for line in encode(results, "jsonl").decode().splitlines()]
    assert lines == results
    rows = list(csv.DictReader(io.StringIO(encode(results, "csv").decode())))
    assert rows == [{"$distinct_id": "c1", "employees": "500", "plan": "enterprise", "tags": '["eu", "b2b"]'},
                    {"$distinct_id": "c2", "employees": "20", "plan": "enterprise", "tags": ""}]
    table = pq.read_table(io.BytesIO(encode(results, "parquet")))
    assert table.column("$distinct_id").to_pylist() == ["c1", "c2"]
    assert [json.loads(p) for p in table.column("$properties").to_pylist()] == [r["$properties"] for r in results]


def test_scheduled_export_replaces_its_partition(world, warehouse, lake) -> None:  # noqa: ANN001
    add_cohort(warehouse, "ent", '{"group_key": "company_id", "export": true, '
                                 '"properties": [{"property": "plan", "op": "eq", "value": "enterprise"}]}')
    add_cohort(warehouse, "not-exported", '{"group_key": "company_id"}')
    lake.write(f"exports/ent/dt={DAYS[7]}/stale-part.jsonl", b"old\n")
    lake.write(f"exports/ent/dt={DAYS[7]}/part-0000", b"old\n")  # a name the fresh one starts with
    assert run_exports(warehouse, lake, DAYS[7]) == [
        {"cohort": "ent", "date": DAYS[7].isoformat(), "profiles": 2, "object": f"exports/ent/dt={DAYS[7]}/part-0000.jsonl"}]
    assert [o.key for o in lake.list("exports/")] == [f"exports/ent/dt={DAYS[7]}/part-0000.jsonl"]
    body = b"".join(lake.iter_bytes(f"exports/ent/dt={DAYS[7]}/part-0000.jsonl")).decode()
    assert [json.loads(line)["$distinct_id"] for line in body.splitlines()] == ["c1", "c2"]
    remove_cohort(warehouse, "ent")
    assert [c.name for c in list_cohorts(warehouse)] == ["not-exported"]


def exported(lake, prefix: str = "exports/") -> dict[str, list[str]]:  # noqa: ANN001
    """{object key: the exported ids}, for every export object under `prefix`."""
    return {o.key: [json.loads(line)["$distinct_id"] for line in b"".join(lake.iter_bytes(o.key)).splitlines()]
            for o in lake.list(prefix)}


def test_a_past_day_exports_the_profiles_of_that_day(world, settings, warehouse, lake) -> None:  # noqa: ANN001
    """c3 is `pro` until DAYS[4] and `enterprise` after: a day before is exported with `pro`,
    re-running it (after the change was loaded) writes the same bytes, and `--as-of` agrees."""
    add_cohort(warehouse, "pros", '{"group_key": "company_id", "export": true, '
                                  '"properties": [{"property": "plan", "op": "eq", "value": "pro"}]}')
    run_exports(warehouse, lake, DAYS[3])
    before = b"".join(lake.iter_bytes(f"exports/pros/dt={DAYS[3]}/part-0000.jsonl"))
    write_jsonl(lake, f"groups/dt={DAYS[4]}/b.jsonl", [
        {"$group_key": "company_id", "$group_id": "c3", "$time": ts(DAYS[4]), "$set": {"plan": "enterprise"}}])
    run_day(settings, warehouse, lake, DAYS[4])
    assert run_exports(warehouse, lake, DAYS[3]) == [
        {"cohort": "pros", "date": DAYS[3].isoformat(), "profiles": 1,
         "object": f"exports/pros/dt={DAYS[3]}/part-0000.jsonl"}]
    again = b"".join(lake.iter_bytes(f"exports/pros/dt={DAYS[3]}/part-0000.jsonl"))
    assert again == before
    assert [json.loads(line) for line in again.splitlines()] == [
        {"$distinct_id": "c3", "$properties": {"plan": "pro", "employees": 50, "region": "us"}}]
    assert [r["profiles"] for r in run_exports(warehouse, lake, DAYS[4])] == [0]  # enterprise by then
    at = end_of_day(DAYS[3], settings.tz)
    assert ids(all_results(warehouse, Selection(world.data_group_id, "pros", at=at), None, DAYS[3])) == ["c3"]
    assert ids(all_results(warehouse, Selection(world.data_group_id, "pros"), None, DAYS[3])) == []  # now
    assert ids(all_results(warehouse, Selection(world.data_group_id, None, 'plan == "enterprise"', at=at),
                           None, DAYS[3])) == ["c1", "c2"]
    # a group created after the instant is not there yet; users have no history: their current profile
    early = datetime(2026, 5, 31, tzinfo=UTC)
    assert all_results(warehouse, Selection(world.data_group_id, at=early), None, DAYS[0]) == []
    assert ids(all_results(warehouse, Selection(None, at=early), None, DAYS[0])) == ["u1", "u2", "u3", "u4"]


def test_a_user_cohort_tests_its_groups_as_they_were(world, settings, warehouse, lake) -> None:  # noqa: ANN001
    add_cohort(warehouse, "in-pro", '{"groups": [{"group_key": "company_id", "property": "plan", '
                                    '"op": "eq", "value": "pro"}]}')
    write_jsonl(lake, f"groups/dt={DAYS[4]}/b.jsonl", [
        {"$group_key": "company_id", "$group_id": "c3", "$time": ts(DAYS[4]), "$set": {"plan": "enterprise"}}])
    run_day(settings, warehouse, lake, DAYS[4])
    at = end_of_day(DAYS[3], settings.tz)
    assert ids(all_results(warehouse, Selection(None, "in-pro", at=at), None, DAYS[3])) == ["u2", "u3"]
    assert ids(all_results(warehouse, Selection(None, "in-pro"), None, DAYS[3])) == []


def test_behavioural_cohorts_include_members_without_a_profile(world, settings, warehouse, lake) -> None:  # noqa: ANN001
    """Mixpanel's include_all_users: on by default for a cohort with behaviours; such a member
    comes with empty properties; property conditions still apply to it."""
    write_jsonl(lake, f"events/dt={DAYS[7]}/b.jsonl", [
        event("Purchase", "u9", ts(DAYS[7], 11), "c9-buy", company_id="c9")])
    run_day(settings, warehouse, lake, DAYS[7])
    add_cohort(warehouse, "buyers", '{"group_key": "company_id", "export": true, '
                                    '"behaviors": [{"event": "Purchase", "at_least": 1, "last_days": 1}]}')
    add_cohort(warehouse, "no-plan-buyers", '{"group_key": "company_id", '
                                            '"properties": [{"property": "plan", "op": "not_set"}], '
                                            '"behaviors": [{"event": "Purchase", "at_least": 1, "last_days": 1}]}')
    add_cohort(warehouse, "user-buyers", '{"behaviors": [{"event": "Purchase", "at_least": 1, "last_days": 1}]}')
    add_cohort(warehouse, "ent", '{"group_key": "company_id", '
                                 '"properties": [{"property": "plan", "op": "eq", "value": "enterprise"}]}')
    key = world.data_group_id
    got = all_results(warehouse, Selection(key, "buyers"), None, DAYS[7])
    assert [(r["$distinct_id"], r["$properties"].get("plan")) for r in got] == [
        ("c1", "enterprise"), ("c3", "pro"), ("c4", "free"), ("c9", None)]
    assert got[-1] == {"$distinct_id": "c9", "$properties": {}}
    assert ids(all_results(warehouse, Selection(key, "buyers", include_all_users=False), None, DAYS[7])) == [
        "c1", "c3", "c4"]
    assert ids(all_results(warehouse, Selection(key, "no-plan-buyers"), None, DAYS[7])) == ["c9"]
    assert ids(all_results(warehouse, Selection(None, "user-buyers"), None, DAYS[7])) == ["u1", "u3", "u4", "u9"]
    assert ids(all_results(warehouse, Selection(key, "ent", include_all_users=True), None, DAYS[7])) == ["c1", "c2"]
    assert ids(all_results(warehouse, Selection(key, "buyers"), None, DAYS[6])) == ["c3"]  # outside the window
    with pytest.raises(EtlError, match=r"^--include-all-users: needs --cohort"):
        all_results(warehouse, Selection(key, include_all_users=True), None, DAYS[7])
    assert [(r["cohort"], r["profiles"]) for r in run_exports(warehouse, lake, DAYS[7])] == [("buyers", 4)]


def test_export_run_writes_every_day_loaded_since_its_last_export(world, settings, warehouse, lake) -> None:  # noqa: ANN001
    """Pending days come from the warehouse: every loaded day once, a re-run day again,
    a cohort saved later from the next pending day on (and by hand for an earlier one)."""
    add_cohort(warehouse, "ent", '{"group_key": "company_id", "export": true, '
                                 '"properties": [{"property": "plan", "op": "eq", "value": "enterprise"}]}')
    assert [day for day, _ in pending_export_days(warehouse)] == DAYS
    rows = run_pending_exports(warehouse, lake)
    assert [(r["cohort"], r["date"], r["profiles"]) for r in rows] == [("ent", d.isoformat(), 2) for d in DAYS]
    assert exported(lake) == {f"exports/ent/dt={d}/part-0000.jsonl": ["c1", "c2"] for d in DAYS}
    assert pending_export_days(warehouse) == []
    assert run_pending_exports(warehouse, lake) == []  # nothing loaded since: nothing written

    add_cohort(warehouse, "buyers", '{"group_key": "company_id", "export": true, '
                                    '"behaviors": [{"event": "Purchase", "at_least": 1, "last_days": 1}]}')
    assert pending_export_days(warehouse) == []  # a new cohort does not rewrite past days
    run_day(settings, warehouse, lake, DAYS[6])  # a re-run: its load finished after its export
    run_day(settings, warehouse, lake, DAYS[7])
    assert [day for day, _ in pending_export_days(warehouse)] == [DAYS[6], DAYS[7]]
    rows = run_pending_exports(warehouse, lake)
    assert [(r["cohort"], r["date"], r["profiles"]) for r in rows] == [
        ("buyers", DAYS[6].isoformat(), 1), ("ent", DAYS[6].isoformat(), 2),
        ("buyers", DAYS[7].isoformat(), 3), ("ent", DAYS[7].isoformat(), 2)]
    assert exported(lake, "exports/buyers/") == {
        f"exports/buyers/dt={DAYS[6]}/part-0000.jsonl": ["c3"],
        f"exports/buyers/dt={DAYS[7]}/part-0000.jsonl": ["c1", "c3", "c4"]}
    assert pending_export_days(warehouse) == []
    # by hand, any day: written now, and recorded like a pending one
    assert [(r["cohort"], r["profiles"]) for r in run_exports(warehouse, lake, DAYS[1])] == [("buyers", 1), ("ent", 2)]
    assert exported(lake, f"exports/buyers/dt={DAYS[1]}/") == {
        f"exports/buyers/dt={DAYS[1]}/part-0000.jsonl": ["c2"]}
    assert pending_export_days(warehouse) == []


def test_a_day_loaded_again_while_it_exports_stays_pending(world, settings, warehouse, lake) -> None:  # noqa: ANN001
    """The export records the load it read, not the time it finished: a load of D that
    commits while D exports leaves D pending for the next export run."""
    [(day, loaded_at)] = [p for p in pending_export_days(warehouse) if p[0] == DAYS[2]]
    run_day(settings, warehouse, lake, DAYS[2])  # finishes after `loaded_at` was read
    run_exports(warehouse, lake, day, loaded_at=loaded_at)
    assert DAYS[2] in [d for d, _ in pending_export_days(warehouse)]
    run_exports(warehouse, lake, DAYS[2])
    assert DAYS[2] not in [d for d, _ in pending_export_days(warehouse)]
    with pytest.raises(EtlError, match=r"^export run --date 2030-01-01: that day was never loaded"):
        run_exports(warehouse, lake, date(2030, 1, 1))  # never loaded: refused, nothing written or recorded
    assert [o.key for o in lake.list("exports/")] == []
    assert date(2030, 1, 1) not in [d for d, _ in pending_export_days(warehouse)]


@pytest.mark.parametrize(
    ("name", "definition", "message"),
    [
        ("../escape", "{}", "cohort name '../escape': use 1-64 letters"),
        ("a/b", "{}", "cohort name 'a/b'"),
        ("x'; DROP TABLE cohorts; --", "{}", "cohort name"),
        ("c\u043ehort", "{}", "cohort name"),  # a Cyrillic o: look-alikes are refused
        ("ok", "{not json", "--definition: not JSON"),
        ("ok", '{"group_key": "account_id"}', "group key 'account_id' is not set up"),
        ("ok", '{"group_key": "company_id", "user_properties": [{"property": "tier", "op": "eq", "value": "x"}]}',
         "a cohort of groups cannot use user profile conditions"),
        ("ok", '{"properties": [{"property": "plan", "op": "like", "value": "x"}]}', "'op' must be one of"),
        ("ok", '{"properties": [{"property": "n", "op": "gt", "value": "ten"}]}', "gt needs a number"),
        ("ok", '{"behaviors": [{"event": "E", "at_least": 0, "last_days": 7}]}', "'at_least' must be a whole number"),
        ("ok", '{"colour": "red"}', "unknown field(s) ['colour']"),
        ("ok", '{"properties": [{"property": "a\\u0000", "op": "is_set"}]}',
         "--definition: holds a NUL character (\\u0000), which no property, value or event name can hold"),
        ("ok", '{"properties": [{"property": "a", "op": "in", "value": ["\\u0000"]}]}', "holds a NUL character"),
        ("ok", '{"behaviors": [{"event": "E\\u0000", "at_least": 1, "last_days": 7}]}', "holds a NUL character"),
    ],
)
def test_validation_errors(shared, name, definition, message) -> None:  # noqa: ANN001
    before = list_cohorts(shared.warehouse)
    with pytest.raises(EtlError) as caught:
        add_cohort(shared.warehouse, name, definition)
    assert message in str(caught.value)
    assert list_cohorts(shared.warehouse) == before


def test_export_errors_and_injection_attempts(shared) -> None:  # noqa: ANN001
    with pytest.raises(EtlError, match="data_group_id 42 is not a group key"):
        export_profiles(shared.warehouse, Selection(42))
    with pytest.raises(EtlError, match="cohort 'nope' does not exist"):
        export_profiles(shared.warehouse, Selection(shared.key.data_group_id, "nope"))
    add_cohort(shared.warehouse, "users-all", "{}")
    with pytest.raises(EtlError, match="cohort 'users-all' is a cohort of users, not of company_id"):
        export_profiles(shared.warehouse, Selection(shared.key.data_group_id, "users-all"))
    for hostile in ['plan == "x" OR 1=1', "plan == 'x'", 'plan == "x"; DELETE FROM group_profiles']:
        with pytest.raises(EtlError, match="--where: cannot parse"):
            export_profiles(shared.warehouse, Selection(shared.key.data_group_id, None, hostile))
    # a quote inside a value or a name is data, never SQL
    got = all_results(shared.warehouse, Selection(shared.key.data_group_id, None, 'properties["pl\\"an\'--"] == "x\'; --"'),
                      None, DAYS[7])
    assert got == []
    with pytest.raises(EtlError, match="cohort name"):
        export_partition("../../etc", DAYS[7])
