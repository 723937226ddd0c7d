"""Group and user profiles on DuckDB and PostgreSQL: exact profiles, history, limits, uploads."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from etl.errors import DataError, EtlError
from etl.model.keys import add_key
from etl.model.uploads import apply_new_uploads, upload_csv
from etl.run.day import run_day
from etl.serve.groups import show_group
from etl.serve.status import day_status
from tests.support import snapshot, write_jsonl

D1, D2, D3 = date(2024, 8, 1), date(2024, 8, 2), date(2024, 8, 3)
T1 = int(datetime(2024, 8, 1, 9, tzinfo=UTC).timestamp())
T2 = int(datetime(2024, 8, 2, 9, tzinfo=UTC).timestamp())


def g(group_id: str, time: float | None, op: str, value: object, key: str = "company_id", **extra) -> dict:  # noqa: ANN003
    record = {"$token": "tok", "$group_key": key, "$group_id": group_id, op: value, **extra}
    if time is not None:
        record["$time"] = time
    return record


def u(distinct_id: str, time: float | None, op: str, value: object) -> dict:
    record = {"$token": "tok", "$distinct_id": distinct_id, op: value}
    if time is not None:
        record["$time"] = time
    return record


def rows(warehouse, sql: str, **params) -> list[tuple]:  # noqa: ANN001
    with warehouse.begin() as conn:
        return [tuple(_plain(v) for v in r) for r in conn.execute(sa.text(sql), params)]


def _plain(value):  # noqa: ANN001, ANN202
    return json.loads(value) if isinstance(value, str) and value[:1] in "{[" else value


def profiles(warehouse) -> dict:  # noqa: ANN001
    return {gid: props for gid, props in rows(warehouse, "SELECT group_id, properties FROM group_profiles")}


@pytest.fixture
def keyed(warehouse):  # noqa: ANN001, ANN201
    add_key(warehouse, "company_id", max_keys=6, setup_at=datetime(2024, 1, 1, tzinfo=UTC))
    return warehouse


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def test_operations_apply_in_time_order_not_file_order(settings, keyed, lake) -> None:  # noqa: ANN001
    write_jsonl(lake, f"groups/dt={D1}/a.jsonl", [
        g("c1", T1 + 30, "$set", {"plan": "pro"}),
        g("c1", T1 + 10, "$set", {"plan": "free", "name": "Acme"}),
        g("c1", T1 + 20, "$set_once", {"plan": "ignored", "region": "eu"}),
        g("c1", T1 + 40, "$union", {"tags": ["a", "b"]}),
        g("c1", T1 + 50, "$union", {"tags": ["b", "c"]}),
        g("c1", T1 + 60, "$remove", {"tags": "zzz"}),
        g("c1", T1 + 70, "$remove", {"tags": "a"}),
        g("c1", T1 + 80, "$unset", ["region"]),
    ])
    result = run_day(settings, keyed, lake, D1, allow_empty=True)
    assert result.group_updates == (8, 0)
    assert profiles(keyed) == {"c1": {"plan": "pro", "name": "Acme", "tags": ["b", "c"]}}
    history = rows(keyed, "SELECT valid_from, valid_to, deleted, properties FROM group_profile_history "
                          "ORDER BY valid_from")
    assert [(h[0], h[1]) for h in history] == [
        (at(T1 + 10), at(T1 + 20)), (at(T1 + 20), at(T1 + 30)), (at(T1 + 30), at(T1 + 40)),
        (at(T1 + 40), at(T1 + 50)), (at(T1 + 50), at(T1 + 70)), (at(T1 + 70), at(T1 + 80)),
        (at(T1 + 80), None)]
    assert history[1][3] == {"plan": "free", "name": "Acme", "region": "eu"}


def test_ties_keep_arrival_order_and_untimed_updates_sort_at_the_end_of_the_day(settings, keyed, lake) -> None:  # noqa: ANN001
    write_jsonl(lake, f"groups/dt={D1}/a.jsonl", [
        g("c1", None, "$set", {"plan": "untimed"}),
        g("c1", T1, "$set", {"plan": "first"}),
        g("c1", T1 * 1000, "$set", {"plan": "second, same time in ms"}),
    ])
    write_jsonl(lake, f"groups/dt={D1}/b.jsonl", [g("c1", T1, "$set", {"plan": "third, next object"})])
    run_day(settings, keyed, lake, D1, allow_empty=True)
    assert profiles(keyed) == {"c1": {"plan": "untimed"}}
    assert rows(keyed, "SELECT valid_from, properties ->> 'plan' FROM group_profile_history ORDER BY valid_from") == [
        (at(T1), "third, next object"),
        (datetime(2024, 8, 2, tzinfo=UTC), "untimed")]


def test_state_carries_over_and_history_answers_as_of(settings, keyed, lake) -> None:  # noqa: ANN001
    write_jsonl(lake, f"groups/dt={D1}/a.jsonl", [g("c1", T1, "$set", {"plan": "free", "seats": 3})])
    write_jsonl(lake, f"groups/dt={D2}/a.jsonl", [g("c1", T2, "$set", {"plan": "pro"})])
    run_day(settings, keyed, lake, D1, allow_empty=True)
    run_day(settings, keyed, lake, D2, allow_empty=True)
    assert profiles(keyed) == {"c1": {"plan": "pro", "seats": 3}}
    assert rows(keyed, "SELECT created_at, updated_at FROM group_profiles") == [(at(T1), at(T2))]
    assert show_group(keyed, "company_id", "c1", as_of=at(T1 - 1))["profile"] is None
    assert show_group(keyed, "company_id", "c1", as_of=at(T1))["profile"] == {"plan": "free", "seats": 3}
    assert show_group(keyed, "company_id", "c1", as_of=at(T2 - 1))["profile"] == {"plan": "free", "seats": 3}
    assert show_group(keyed, "company_id", "c1", as_of=at(T2))["profile"] == {"plan": "pro", "seats": 3}


def test_a_late_update_with_an_early_time_lands_in_the_middle_of_the_history(settings, keyed, lake) -> None:  # noqa: ANN001
    write_jsonl(lake, f"groups/dt={D1}/a.jsonl", [g("c1", T1, "$set", {"a": 1}), g("c1", T1 + 100, "$set", {"c": 3})])
    write_jsonl(lake, f"groups/dt={D2}/a.jsonl", [g("c1", T1 + 50, "$set", {"b": 2})])
    run_day(settings, keyed, lake, D1, allow_empty=True)
    run_day(settings, keyed, lake, D2, allow_empty=True)
    assert show_group(keyed, "company_id", "c1", as_of=at(T1 + 60))["profile"] == {"a": 1, "b": 2}
    assert profiles(keyed) == {"c1": {"a": 1, "b": 2, "c": 3}}


def test_delete_leaves_group_profiles_and_a_later_set_recreates(settings, keyed, lake) -> None:  # noqa: ANN001
    write_jsonl(lake, f"groups/dt={D1}/a.jsonl", [g("c1", T1, "$set", {"a": 1}), g("c1", T1 + 10, "$delete", "")])
    run_day(settings, keyed, lake, D1, allow_empty=True)
    assert profiles(keyed) == {}
    assert rows(keyed, "SELECT deleted, valid_to FROM group_profile_history ORDER BY valid_from") == [
        (False, at(T1 + 10)), (True, None)]
    assert show_group(keyed, "company_id", "c1", as_of=at(T1 + 20))["profile"] is None
    write_jsonl(lake, f"groups/dt={D2}/a.jsonl", [g("c1", T2, "$set", {"b": 2})])
    run_day(settings, keyed, lake, D2, allow_empty=True)
    assert profiles(keyed) == {"c1": {"b": 2}}
    assert rows(keyed, "SELECT created_at FROM group_profiles") == [(at(T2),)]


BAD_UPDATES = [
    (g("c1", T1, "$explode", {"a": 1}), "unknown_operation"),
    (g("c1", T1, "$add", {"n": 1}), "unknown_operation"),
    ({"$group_key": "company_id", "$group_id": "c1", "$time": T1}, "missing_operation"),
    ({**g("c1", T1, "$set", {"a": 1}), "$unset": ["b"]}, "multiple_operations"),
    ({"$group_key": "company_id", "$time": T1, "$set": {"a": 1}}, "missing_group_id"),
    (g("", T1, "$set", {"a": 1}), "invalid_group_id"),
    (g(1.5, T1, "$set", {"a": 1}), "invalid_group_id"),
    (g(2**63, T1, "$set", {"a": 1}), "invalid_group_id"),
    (g(True, T1, "$set", {"a": 1}), "invalid_group_id"),
    ({"$group_id": "c1", "$time": T1, "$set": {"a": 1}}, "missing_group_key"),
    (g("c1", T1, "$set", {"a": 1}, key="Company_ID"), "unregistered_group_key"),
    ({**g("c1", T1, "$set", {"a": 1}), "$token": "other"}, "wrong_token"),
    (g("c1", "soon", "$set", {"a": 1}), "invalid_time"),
    (g("c1", T1, "$set", ["a"]), "invalid_value"),
    (g("c1", T1, "$unset", "a"), "invalid_value"),
    (g("c1", T1, "$unset", ["a", 1]), "invalid_value"),
    (g("c1", T1, "$union", {"tags": "a"}), "invalid_value"),
    (g("c1", T1, "$set", {f"p{n}": n for n in range(2001)}), "too_many_properties"),
    (g("c1", T1, "$set", {"x" * 256: 1}), "property_name_too_long"),
]


@pytest.mark.slow  # an oracle or a whole corpus: CI (make test), not the edit loop
@pytest.mark.parametrize(("record", "reason"), BAD_UPDATES, ids=[r for _, r in BAD_UPDATES])
def test_bad_group_updates_are_rejected_while_the_rest_apply(settings, keyed, lake, record, reason) -> None:  # noqa: ANN001
    settings = replace(settings, project_token="tok")
    write_jsonl(lake, f"groups/dt={D1}/a.jsonl", [g("c0", T1, "$set", {"ok": True}), record])
    result = run_day(settings, keyed, lake, D1, allow_empty=True)
    assert result.group_updates == (1, 1)
    assert rows(keyed, "SELECT kind, source_line, reason FROM rejected_records") == [("group", 2, reason)]
    assert profiles(keyed) == {"c0": {"ok": True}}
    assert rows(keyed, "SELECT input_records, loaded, rejected FROM load_audit WHERE stage = 'groups'") == [(2, 1, 1)]


def test_a_group_id_follows_the_rule_events_follow(settings, keyed, lake) -> None:  # noqa: ANN001
    """1e3 and 1000.0 name group '1000', as they do on events: one profile."""
    lake.write(f"groups/dt={D1}/a.jsonl", "".join(
        f'{{"$group_key":"company_id","$group_id":{gid},"$time":{T1 + n},"$set":{{"v{n}":1}}}}\n'
        for n, gid in enumerate(["1e3", "1000.0", "1000", "-0", "9223372036854775807"])).encode())
    run_day(settings, keyed, lake, D1, allow_empty=True)
    assert profiles(keyed) == {"1000": {"v0": 1, "v1": 1, "v2": 1}, "0": {"v3": 1},
                               "9223372036854775807": {"v4": 1}}


def test_profile_limit_refuses_new_profiles_never_updates(settings, keyed, lake) -> None:  # noqa: ANN001
    settings = replace(settings, max_group_profiles=3)
    write_jsonl(lake, f"groups/dt={D1}/a.jsonl", [g(f"c{n}", T1 + n, "$set", {"n": n}) for n in (1, 2)])
    write_jsonl(lake, f"groups/dt={D2}/a.jsonl", [
        g("c4", T2, "$set", {"n": 4}), g("c1", T2, "$set", {"n": 10}), g("c3", T2 + 1, "$set", {"n": 3}),
        g("c5", T2 + 2, "$set", {"n": 5}), g("c4", T2 + 3, "$set", {"m": 4}),
        g("c9", T2 + 4, "$unset", ["n"]),  # does not create: not refused, not a profile
    ])
    run_day(settings, keyed, lake, D1, allow_empty=True)
    result = run_day(settings, keyed, lake, D2, allow_empty=True)
    assert profiles(keyed) == {"c1": {"n": 10}, "c2": {"n": 2}, "c4": {"n": 4, "m": 4}}
    assert result.group_updates == (4, 2)
    assert rows(keyed, "SELECT source_line, reason FROM rejected_records ORDER BY source_line") == [
        (3, "profile_limit"), (4, "profile_limit")]


def test_the_property_cap_is_per_profile_not_per_update(settings, keyed, lake) -> None:  # noqa: ANN001
    first = {f"a{n}": n for n in range(1500)}
    second = {f"b{n}": n for n in range(1500)}
    write_jsonl(lake, f"groups/dt={D1}/a.jsonl", [g("c1", T1, "$set", first)])
    write_jsonl(lake, f"groups/dt={D2}/a.jsonl", [
        g("c1", T2, "$set", second),                                     # 3,000: refused
        g("c1", T2 + 1, "$set", {f"b{n}": n for n in range(500)}),      # exactly 2,000: fine
        g("c1", T2 + 2, "$set", {"b0": "x", "a0": "y"}),                 # only overwrites, at the cap
        g("c1", T2 + 3, "$set_once", {"c0": 1}),                         # 2,001: refused
    ])
    run_day(settings, keyed, lake, D1, allow_empty=True)
    result = run_day(settings, keyed, lake, D2, allow_empty=True)
    assert result.group_updates == (2, 2)
    props = profiles(keyed)["c1"]
    assert len(props) == 2000 and props["a0"] == "y" and props["b0"] == "x" and "b500" not in props
    assert rows(keyed, "SELECT load_date, source_line, reason FROM rejected_records ORDER BY source_line") == [
        (D2, 1, "profile_property_limit"), (D2, 4, "profile_property_limit")]
    raw = rows(keyed, "SELECT raw FROM rejected_records WHERE source_line = 1")[0][0]
    assert raw["$set"] == second
    assert rows(keyed, "SELECT count(*) FROM profile_updates") == [(3,)]
    assert rows(keyed, "SELECT input_records, loaded, rejected FROM load_audit WHERE stage = 'groups' "
                       "ORDER BY load_date") == [(1, 1, 0), (4, 2, 2)]
    run_day(settings, keyed, lake, D2, allow_empty=True)  # a re-run refuses the same updates again
    assert rows(keyed, "SELECT count(*) FROM rejected_records") == [(2,)]
    assert len(profiles(keyed)["c1"]) == 2000


def test_the_property_cap_applies_to_user_profiles(settings, keyed, lake) -> None:  # noqa: ANN001
    write_jsonl(lake, f"people/dt={D1}/a.jsonl", [
        u("u1", T1, "$set", {f"a{n}": n for n in range(1500)}),
        u("u1", T1 + 1, "$union", {f"b{n}": [n] for n in range(1500)}),  # 3,000: refused
        u("u1", T1 + 2, "$add", {"a1": 1}),                               # an existing property
    ])
    result = run_day(settings, keyed, lake, D1, allow_empty=True)
    assert result.user_updates == (2, 1)
    (props,) = [p for _, p in rows(keyed, "SELECT distinct_id, properties FROM user_profiles")]
    assert len(props) == 1500 and props["a1"] == 2
    assert rows(keyed, "SELECT kind, source_line, reason FROM rejected_records") == [
        ("user", 2, "profile_property_limit")]
    assert rows(keyed, "SELECT input_records, loaded, rejected FROM load_audit WHERE stage = 'people'") == [
        (3, 2, 1)]


def test_user_profiles_add_append_and_user_groups(settings, keyed, lake) -> None:  # noqa: ANN001
    write_jsonl(lake, f"people/dt={D1}/a.jsonl", [
        u("u1", T1, "$set", {"company_id": ["c1", "c2", "c1", ""], "name": "Ann"}),
        u("u1", T1 + 1, "$add", {"logins": 1}),
        u("u1", T1 + 2, "$add", {"logins": 2.5}),
        u("u1", T1 + 3, "$append", {"seen": "home"}),
        u("u2", T1, "$set", {"company_id": 42}),
        u("u3", T1, "$add", {"logins": "one"}),
        u("anon", T1, "$set", {"a": 1}),
    ])
    result = run_day(settings, keyed, lake, D1, allow_empty=True)
    assert result.user_updates == (5, 2)
    assert rows(keyed, "SELECT distinct_id, properties FROM user_profiles ORDER BY distinct_id") == [
        ("u1", {"company_id": ["c1", "c2", "c1", ""], "name": "Ann", "logins": 3.5, "seen": ["home"]}),
        ("u2", {"company_id": 42}),
    ]
    assert rows(keyed, "SELECT distinct_id, group_key, group_id FROM user_groups ORDER BY 1, 3") == [
        ("u1", "company_id", "c1"), ("u1", "company_id", "c2"), ("u2", "company_id", "42")]
    assert rows(keyed, "SELECT reason FROM rejected_records WHERE kind = 'user' ORDER BY reason") == [
        ("invalid_distinct_id",), ("invalid_value",)]
    add_key(keyed, "team", max_keys=6)  # keys change: user_groups follows
    write_jsonl(lake, f"people/dt={D2}/a.jsonl", [u("u2", T2, "$set", {"team": "t1"})])
    run_day(settings, keyed, lake, D2, allow_empty=True)
    assert rows(keyed, "SELECT distinct_id, group_key, group_id FROM user_groups ORDER BY 1, 2, 3") == [
        ("u1", "company_id", "c1"), ("u1", "company_id", "c2"), ("u2", "company_id", "42"), ("u2", "team", "t1")]


def test_an_add_no_double_holds_leaves_the_property_as_it_was(settings, keyed, lake) -> None:  # noqa: ANN001
    top = 1.7976931348623157e308
    write_jsonl(lake, f"people/dt={D1}/a.jsonl", [
        u("q", T1, "$add", {"a": top}), u("q", T1 + 1, "$add", {"a": top, "b": 1}),
        u("q", T1 + 2, "$add", {"a": -top}),
    ])
    result = run_day(settings, keyed, lake, D1, allow_empty=True)
    assert result.user_updates == (3, 0)  # loaded, none rejected: input_records = loaded + rejected
    assert rows(keyed, "SELECT distinct_id, properties FROM user_profiles") == [("q", {"a": 0.0, "b": 1})]
    assert rows(keyed, "SELECT input_records, loaded, rejected FROM load_audit WHERE stage = 'people'") == [(3, 3, 0)]


def test_rerun_with_unchanged_inputs_leaves_every_table_identical(settings, keyed, lake) -> None:  # noqa: ANN001
    write_jsonl(lake, f"groups/dt={D1}/a.jsonl", [g("c1", T1, "$set", {"a": 1}), g("c2", None, "$set", {"b": 1})])
    write_jsonl(lake, f"groups/dt={D2}/a.jsonl", [g("c1", T1 + 5, "$union", {"l": [1]}), g("c2", T2, "$delete", "")])
    write_jsonl(lake, f"people/dt={D2}/a.jsonl", [u("u1", T2, "$set", {"company_id": "c1"})])
    for day in (D1, D2):
        run_day(settings, keyed, lake, day, allow_empty=True)
    before = snapshot(keyed)
    for day in (D1, D2, D1):
        run_day(settings, keyed, lake, day, allow_empty=True)
    assert snapshot(keyed) == before


def test_changed_inputs_mark_later_days_stale_and_a_range_rerun_repairs(settings, keyed, lake) -> None:  # noqa: ANN001
    write_jsonl(lake, f"groups/dt={D1}/a.jsonl", [g("c1", T1, "$set", {"a": 1})])
    write_jsonl(lake, f"groups/dt={D2}/a.jsonl", [g("c1", T2, "$set", {"b": 2})])
    write_jsonl(lake, f"groups/dt={D3}/a.jsonl", [g("c1", T2 + 86_400, "$set", {"c": 3})])
    for day in (D1, D2, D3):
        run_day(settings, keyed, lake, day, allow_empty=True)
    write_jsonl(lake, f"groups/dt={D2}/a.jsonl", [g("c1", T2, "$set", {"b": 20})])
    assert [(r["date"], r["state"]) for r in day_status(keyed, lake, None, None)] == [
        ("2024-08-01", "ok"), ("2024-08-02", "stale"), ("2024-08-03", "stale after 2024-08-02")]
    for day in (D2, D3):
        run_day(settings, keyed, lake, day, allow_empty=True)
    assert profiles(keyed) == {"c1": {"a": 1, "b": 20, "c": 3}}
    assert [r["state"] for r in day_status(keyed, lake, None, None)] == ["ok", "ok", "ok"]


NOW = datetime(2024, 8, 5, 12, tzinfo=UTC)


def test_csv_upload_sets_profiles_last_row_wins_and_applies_once(settings, keyed, lake) -> None:  # noqa: ANN001
    data = b"$group_id,plan,seats\nc1,pro,5\nc2,free,\nc1,enterprise,50\n"
    result = upload_csv(keyed, "company_id", "up.csv", data, max_profiles=10, now=NOW)
    assert (result.rows, result.profiles, result.duplicates, result.refused) == (3, 2, 1, 0)
    assert profiles(keyed) == {"c1": {"plan": "enterprise", "seats": "50"}, "c2": {"plan": "free"}}
    assert rows(keyed, "SELECT updated_at FROM group_profiles WHERE group_id = 'c1'") == [(NOW,)]
    before = snapshot(keyed)
    again = upload_csv(keyed, "company_id", "up.csv", data, max_profiles=10, now=NOW + timedelta(hours=1))
    assert again.already_applied and snapshot(keyed) == before
    typed = upload_csv(keyed, "company_id", "typed.csv", b"$group_id,seats,ok,ratio\nc3,7,true,0.5\n",
                       max_profiles=10, infer_types=True, now=NOW)
    assert typed.profiles == 1
    assert profiles(keyed)["c3"] == {"seats": 7, "ok": True, "ratio": 0.5}


def test_csv_upload_respects_the_profile_limit(settings, keyed, lake) -> None:  # noqa: ANN001
    upload_csv(keyed, "company_id", "a.csv", b"$group_id,p\nc1,x\nc2,x\n", max_profiles=3, now=NOW)
    result = upload_csv(keyed, "company_id", "b.csv", b"$group_id,p\nc3,y\nc1,y\nc4,y\n", max_profiles=3, now=NOW)
    assert (result.profiles, result.refused) == (2, 1)
    assert sorted(profiles(keyed)) == ["c1", "c2", "c3"]
    assert rows(keyed, "SELECT kind, source_line, reason FROM rejected_records") == [("upload", 4, "profile_limit")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "x.csv line 1: no header row"),
        (b"plan,seats\npro,5\n", "x.csv line 1: the header has no $group_id column"),
        (b"$group_id;plan\nc1;pro\n", "x.csv line 1: the header has no $group_id column"),
        (b"$group_id,plan\nc1,pro\nc2\n", "x.csv line 3: expected 2 fields, found 1"),
        (b"$group_id,plan\nc1,pro,extra\n", "x.csv line 2: expected 2 fields, found 3"),
        (b"$group_id,plan\n,pro\n", "x.csv line 2: empty $group_id"),
        (b"$group_id,plan,seats,plan,seats,x\nc1,a,1,b,2,y\n",
         "x.csv line 1: repeated column(s) 'plan', 'seats': each property must have one column"),
        (b"$group_id,plan,$group_id\nc1,a,c2\n", "x.csv line 1: repeated column(s) '$group_id'"),
        (b"$group_id,plan\nc1,pro\nc2,\xff\n", "x.csv line 3: not UTF-8"),
        ("\ufeff$group_id,plan,\ufeff$group_id\nc1,a,c2\n".encode(),
         "x.csv line 1: column '\\ufeff$group_id' starts with a byte order mark (U+FEFF), "
         "which belongs only at the very start of the file"),
        ("$group_id,\ufeffplan\nc1,a\n".encode(), "x.csv line 1: column '\\ufeffplan' starts with a byte order mark"),
    ],
)
def test_csv_errors_name_the_line_and_apply_nothing(keyed, data, message) -> None:  # noqa: ANN001
    before = snapshot(keyed)
    with pytest.raises(DataError) as caught:
        upload_csv(keyed, "company_id", "x.csv", data, max_profiles=10, now=NOW)
    assert str(caught.value).startswith(message)
    assert snapshot(keyed) == before


def test_csv_upload_needs_a_set_up_key(keyed) -> None:  # noqa: ANN001
    with pytest.raises(EtlError, match="group key 'account_id' is not set up"):
        upload_csv(keyed, "account_id", "x.csv", b"$group_id,a\n1,2\n", max_profiles=10, now=NOW)


def test_files_dropped_in_the_lake_are_applied_once_each(settings, keyed, lake) -> None:  # noqa: ANN001
    lake.write("uploads/groups/company_id/a.csv", b"$group_id,plan\nc1,pro\n")
    lake.write("uploads/groups/company_id/notes.txt", b"not a csv")
    first = apply_new_uploads(keyed, lake, max_profiles=10)
    assert [(r.source, r.profiles, r.already_applied) for r in first] == [
        ("uploads/groups/company_id/a.csv", 1, False)]
    lake.write("uploads/groups/company_id/b.csv", b"$group_id,plan\nc2,free\n")
    second = apply_new_uploads(keyed, lake, max_profiles=10)
    assert [(r.source, r.already_applied) for r in second] == [
        ("uploads/groups/company_id/a.csv", True), ("uploads/groups/company_id/b.csv", False)]
    assert profiles(keyed) == {"c1": {"plan": "pro"}, "c2": {"plan": "free"}}


def test_csv_ids_are_kept_as_they_are_like_events_group_ids(keyed) -> None:  # noqa: ANN001
    upload_csv(keyed, "company_id", "ids.csv", b"$group_id,plan\nc1,a\n c1 ,b\n\tc1,c\n", max_profiles=10, now=NOW)
    assert profiles(keyed) == {"c1": {"plan": "a"}, " c1 ": {"plan": "b"}, "\tc1": {"plan": "c"}}


def test_infer_types_reads_only_json_numbers(keyed) -> None:  # noqa: ANN001
    cells = ["12", "-0.5e2", "0", "1_000", "\u0663", "012", " 12", "12 ", "+1", ".5", "1e400", "inf", "NaN",
             "9223372036854775807", "9223372036854775808", "true", "True", "0x1F"]
    header = ",".join(f"c{n}" for n in range(len(cells)))
    data = f"$group_id,{header}\ng1,{','.join(cells)}\n".encode()
    upload_csv(keyed, "company_id", "typed.csv", data, max_profiles=10, infer_types=True, now=NOW)
    got = profiles(keyed)["g1"]
    assert [got[f"c{n}"] for n in range(len(cells))] == [
        12, -50.0, 0, "1_000", "\u0663", "012", " 12", "12 ", "+1", ".5", "1e400", "inf", "NaN",
        9223372036854775807, "9223372036854775808", True, "True", "0x1F"]


def test_a_bad_file_among_good_ones_is_reported_and_retried_only_when_it_changes(keyed, lake) -> None:  # noqa: ANN001
    folder = "uploads/groups/company_id/"
    lake.write(folder + "a.csv", b"$group_id,plan\nc1,pro\n")
    lake.write(folder + "b.csv", b"$group_id,plan,plan\nc2,x,y\n")
    lake.write(folder + "c.csv", b"$group_id,plan\nc3,free\n")
    lake.write("uploads/groups/account_id/d.csv", b"$group_id,plan\nc4,free\n")
    bad_b = f"{folder}b.csv line 1: repeated column(s) 'plan': each property must have one column"
    bad_d = "group key 'account_id' is not set up (see `group-etl keys list`)"
    first = apply_new_uploads(keyed, lake, max_profiles=10, now=NOW)
    assert [(r.source, r.status, r.profiles, r.error) for r in first] == [
        ("uploads/groups/account_id/d.csv", "failed", 0, bad_d),
        (folder + "a.csv", "applied", 1, None),
        (folder + "b.csv", "failed", 0, bad_b),
        (folder + "c.csv", "applied", 1, None)]
    assert profiles(keyed) == {"c1": {"plan": "pro"}, "c3": {"plan": "free"}}
    assert rows(keyed, "SELECT source_object, error FROM upload_failures ORDER BY 1") == [
        ("uploads/groups/account_id/d.csv", bad_d), (folder + "b.csv", bad_b)]
    second = apply_new_uploads(keyed, lake, max_profiles=10, now=NOW)  # nothing changed: nothing retried
    assert [(r.source, r.status) for r in second] == [
        ("uploads/groups/account_id/d.csv", "failed_unchanged"), (folder + "a.csv", "already_applied"),
        (folder + "b.csv", "failed_unchanged"), (folder + "c.csv", "already_applied")]
    lake.write(folder + "b.csv", b"$group_id,plan\nc2,fixed\n")  # the operator mends it
    third = apply_new_uploads(keyed, lake, max_profiles=10, now=NOW)
    assert [(r.source, r.status) for r in third if r.source.endswith("b.csv")] == [(folder + "b.csv", "applied")]
    assert profiles(keyed)["c2"] == {"plan": "fixed"}
    assert rows(keyed, "SELECT source_object FROM upload_failures") == [("uploads/groups/account_id/d.csv",)]
    lake.delete("uploads/groups/account_id/d.csv")  # a bad file removed is forgotten
    assert [r.status for r in apply_new_uploads(keyed, lake, max_profiles=10, now=NOW)] == ["already_applied"] * 3
    assert rows(keyed, "SELECT count(*) FROM upload_failures") == [(0,)]
