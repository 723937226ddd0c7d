"""Hostile input (issue 16) through run_day on DuckDB and PostgreSQL: a day always
completes, nothing is lost, and the counts are functions of the day's own input."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime

import sqlalchemy as sa

from etl.model.keys import add_key
from etl.run.day import run_day
from tests.support import write_jsonl

D1, D2 = date(2024, 6, 1), date(2024, 6, 2)
SETUP = datetime(2024, 1, 1, tzinfo=UTC)
T = int(datetime(2024, 6, 1, 10, tzinfo=UTC).timestamp())


def rows(warehouse, sql: str, **params) -> list[tuple]:  # noqa: ANN001, ANN003
    with warehouse.begin() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def audit(warehouse) -> list[tuple]:  # noqa: ANN001
    return rows(warehouse, "SELECT stage, load_date, input_records, loaded, rejected, invalid_group_id "
                           "FROM load_audit ORDER BY stage, load_date")


def ev(insert_id: str, distinct_id: str = "u1", event: str = "E", **props: object) -> dict:
    return {"event": event, "properties": {"distinct_id": distinct_id, "time": T, "$insert_id": insert_id, **props}}


def test_records_no_warehouse_could_store_are_rejected_and_the_day_completes(settings, warehouse, lake) -> None:  # noqa: ANN001
    """A raw NUL byte (kept as base64) and numbers outside a double's range, as events
    and as a group $set whose number would be an integer of 5,001 digits."""
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    good = json.dumps(ev("good"))
    nul = json.dumps(ev("nul", note="a")).replace('"a"', '"a\x00b"')
    huge = [json.dumps(ev(f"n{n}", v=0)).replace('"v": 0', f'"v": {v}')
            for n, v in enumerate(["1e400", "-1e400", "1e-400", "9" * 2000, "1e200000"])]
    lake.write(f"events/dt={D1}/a.jsonl", "\n".join([good, nul, *huge]).encode() + b"\n")
    group = {"$group_key": "company_id", "$group_id": "c1", "$time": T, "$set": {"n": 1}}
    lake.write(f"groups/dt={D1}/a.jsonl", (json.dumps(group) + "\n" + json.dumps(group).replace(
        '"n": 1', '"n": 1e5000') + "\n").encode())
    run_day(settings, warehouse, lake, D1)
    assert rows(warehouse, "SELECT kind, source_line, reason FROM rejected_records ORDER BY kind, source_line") == [
        ("event", 2, "nul_character"), *[("event", n, "number_out_of_range") for n in range(3, 8)],
        ("group", 2, "number_out_of_range")]
    assert rows(warehouse, "SELECT raw FROM rejected_records WHERE source_line = 2 AND kind = 'event'") == [
        ("base64:" + base64.b64encode(nul.encode()).decode(),)]
    assert audit(warehouse) == [("events", D1, 7, 1, 6, 0), ("groups", D1, 2, 1, 1, 0), ("people", D1, 0, 0, 0, 0)]
    assert rows(warehouse, "SELECT group_id, CAST(properties AS VARCHAR) FROM group_profiles") == [("c1", '{"n": 1}')]


def test_fields_holding_the_joining_character_never_make_two_events_one(settings, warehouse, lake) -> None:  # noqa: ANN001
    """("a\\x1fb", "c") and ("a", "b\\x1fc") were one identity when the fields were joined
    by U+001F; now two events. True copies still collapse, on a re-run too."""
    records = [ev("x", distinct_id="c", event="a\x1fb"), ev("x", distinct_id="b\x1fc", event="a"),
               ev("x", distinct_id="c", event="a\x1fb"), ev("y\x1f", distinct_id="u"), ev("y", distinct_id="\x1fu")]
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", records)
    for _ in range(2):
        run_day(settings, warehouse, lake, D1)
        assert rows(warehouse, "SELECT count(*), count(DISTINCT event_id) FROM events") == [(5, 4)]
        assert rows(warehouse, "SELECT count(*) FROM events_deduped") == [(4,)]
        assert rows(warehouse, "SELECT duplicates FROM load_audit WHERE stage = 'events'") == [(1,)]


def test_migration_9_gives_stored_events_the_identity_a_new_parse_gives(settings, warehouse, lake) -> None:  # noqa: ANN001
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [ev("x", distinct_id="c", event="a\x1fb"), ev("plain")])
    run_day(settings, warehouse, lake, D1)
    parsed = rows(warehouse, "SELECT insert_id, event_id FROM events ORDER BY insert_id")
    with warehouse.begin() as conn:  # as version 6 stored it: the fields joined by U+001F
        conn.execute(sa.text("UPDATE events SET event_id = 'old' WHERE insert_id = 'x'"))
        conn.execute(sa.text("DELETE FROM schema_version WHERE version = 9"))
    warehouse.migrate()
    assert rows(warehouse, "SELECT insert_id, event_id FROM events ORDER BY insert_id") == parsed


def test_a_rerun_keeps_invalid_group_id_after_a_later_day_replaced_its_event(settings, warehouse, lake) -> None:  # noqa: ANN001
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [ev("x", company_id=1.5), ev("y", company_id="ok")])
    write_jsonl(lake, f"events/dt={D2}/a.jsonl", [ev("x", company_id="late")])
    for day in (D1, D2, D1):
        run_day(settings, warehouse, lake, day)
        assert rows(warehouse, "SELECT invalid_group_id FROM load_audit WHERE stage = 'events' AND load_date = :d",
                    d=D1) == [(1,)]
    assert rows(warehouse, "SELECT group_id FROM event_groups ORDER BY group_id") == [("late",), ("ok",)]


def test_a_re_added_key_may_not_overlap_its_removed_registration(settings, warehouse, lake) -> None:  # noqa: ANN001
    """Re-adding with a setup time before the old removal would attribute its events twice."""
    from datetime import timedelta

    import pytest

    from etl.errors import EtlError
    from etl.model.keys import list_keys, remove_key

    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    until = SETUP + timedelta(days=200)
    remove_key(warehouse, "company_id", removed_at=until)
    for setup in (SETUP, SETUP - timedelta(days=1), until - timedelta(seconds=1)):
        with pytest.raises(EtlError) as refused:
            add_key(warehouse, "company_id", max_keys=6, setup_at=setup)
        assert str(refused.value) == (
            f"group key 'company_id' was set up until {until.isoformat()}: a new registration may not overlap it "
            f"(setup at {setup.isoformat()}); set it up at {until.isoformat()} or later")
    assert len(list_keys(warehouse)) == 1
    again = add_key(warehouse, "company_id", max_keys=6, setup_at=until)  # touching is not overlapping
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [ev("x", company_id="c1")])
    run_day(settings, warehouse, lake, D1)
    assert rows(warehouse, "SELECT count(*) FROM event_groups") == [(1,)]
    assert again.setup_at == until


def test_set_of_true_over_1_is_a_change_on_both_engines(settings, warehouse, lake) -> None:  # noqa: ANN001
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    updates = [{"$group_key": "company_id", "$group_id": "c1", "$time": T + n, op: value}
               for n, (op, value) in enumerate([("$set", {"a": 1, "b": 0, "l": [1, True]}),
                                                ("$set", {"a": True, "b": False}), ("$remove", {"l": 1})])]
    write_jsonl(lake, f"groups/dt={D1}/a.jsonl", updates)
    run_day(settings, warehouse, lake, D1, allow_empty=True)
    history = rows(warehouse, "SELECT CAST(properties AS VARCHAR) FROM group_profile_history ORDER BY valid_from")
    assert [json.loads(p) for (p,) in history] == [{"a": 1, "b": 0, "l": [1, True]}, {"a": True, "b": False,
                                                   "l": [1, True]}, {"a": True, "b": False, "l": [True]}]


def test_of_repeated_names_in_an_update_the_last_wins(settings, warehouse, lake) -> None:  # noqa: ANN001
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    lake.write(f"groups/dt={D1}/a.jsonl", (
        f'{{"$group_key":"company_id","$group_id":"a","$group_id":"b","$time":1,"$time":{T},'
        f'"$set":{{"plan":"free","plan":"pro"}}}}\n').encode())
    run_day(settings, warehouse, lake, D1, allow_empty=True)
    assert rows(warehouse, "SELECT group_id, CAST(properties AS VARCHAR) FROM group_profiles") == [
        ("b", '{"plan": "pro"}')]
    assert rows(warehouse, "SELECT count(*) FROM rejected_records") == [(0,)]
