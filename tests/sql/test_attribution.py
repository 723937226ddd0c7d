"""Group keys and attribution on DuckDB and PostgreSQL: docs/rules.md, exact rows."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from etl.errors import EtlError
from etl.model.activity import TEMP_TABLES as ACTIVITY_SCRATCH
from etl.model.keys import add_key, data_group_id_for, list_keys, preview_key, remove_key
from etl.run.day import run_day
from etl.serve.groups import encode_cursor, show_group
from tests.support import event, snapshot, write_jsonl

D1, D2 = date(2024, 6, 1), date(2024, 6, 2)
SETUP = datetime(2024, 6, 1, 12, tzinfo=UTC)
T = int(SETUP.timestamp())


def rows(warehouse, sql: str, **params) -> list[tuple]:  # noqa: ANN001
    with warehouse.begin() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def attributed(warehouse) -> list[tuple]:  # noqa: ANN001
    return rows(warehouse, "SELECT insert_id, group_key, group_id FROM event_groups "
                           "ORDER BY insert_id, group_key, group_id")


def audit_invalid(warehouse, day: date) -> int:  # noqa: ANN001
    return rows(warehouse, "SELECT invalid_group_id FROM load_audit WHERE stage = 'events' AND load_date = :d",
                d=day)[0][0]


def test_setup_rule_to_the_second(settings, warehouse, lake) -> None:  # noqa: ANN001
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [
        event("Open", "u1", T - 1, "before", company_id="c1"),
        event("Open", "u1", T - 0.001, "just-before", company_id="c1"),
        event("Open", "u1", T, "at", company_id="c1"),
        event("Open", "u1", T + 0.5, "after", company_id="c1"),
    ])
    run_day(settings, warehouse, lake, D1)
    assert attributed(warehouse) == [("after", "company_id", "c1"), ("at", "company_id", "c1")]


def test_values_lists_and_invalid_ids(settings, warehouse, lake) -> None:  # noqa: ANN001
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [
        event("E", "u1", T, "list", company_id=["a", "b", "a"]),
        event("E", "u1", T, "int", company_id=42),
        event("E", "u1", T, "float", company_id=4.5),
        event("E", "u1", T, "empty", company_id=""),
        event("E", "u1", T, "null", company_id=None),
        event("E", "u1", T, "bool", company_id=True),
        event("E", "u1", T, "object", company_id={"id": "x"}),
        event("E", "u1", T, "mixed", company_id=["ok", "", None, 1.5, 7, ["n"]]),
        event("E", "u1", T, "absent"),
        event("E", "u1", T, "case", Company_ID="c9"),
    ])
    run_day(settings, warehouse, lake, D1)
    assert attributed(warehouse) == [
        ("int", "company_id", "42"),
        ("list", "company_id", "a"), ("list", "company_id", "b"),
        ("mixed", "company_id", "7"), ("mixed", "company_id", "ok"),
    ]
    # float, empty, null, bool, object (5) + four bad elements of "mixed"
    assert audit_invalid(warehouse, D1) == 9


def test_whole_numbers_in_64_bits_are_ids_as_written_in_decimal(settings, warehouse, lake) -> None:  # noqa: ANN001
    """The group-id rule: a non-empty string as is, or a number whose value is a whole
    number in [-2^63, 2^63-1], as its decimal integer text; the rest is invalid. Events
    and user profiles (user_groups) follow the same rule, on both engines."""
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    values = {  # value as written -> the id it names, or None (invalid)
        "1e3": "1000", "1.0": "1", "-0": "0", "1000.000": "1000", "1.5e1": "15",
        "9223372036854775807": "9223372036854775807", "-9223372036854775808": "-9223372036854775808",
        "9007199254740993": "9007199254740993", "12345678901234567.0": "12345678901234568",
        "9223372036854775808": None, "18446744073709551616": None, "1e19": None,
        "1.5": None, '"1e3"': "1e3", '" 1"': " 1", '""': None,
    }
    # (1e400 is no longer an invalid id: no double holds it, so its record is rejected, number_out_of_range)
    lines = [f'{{"event":"E","properties":{{"distinct_id":"u1","time":{T},"$insert_id":"v{n}","company_id":{v}}}}}'
             for n, v in enumerate(values)]
    lake.write(f"events/dt={D1}/a.jsonl", ("\n".join(lines) + "\n").encode())
    people = [f'{{"$distinct_id":"p{n}","$time":{T},"$set":{{"company_id":{v}}}}}' for n, v in enumerate(values)]
    lake.write(f"people/dt={D1}/a.jsonl", ("\n".join(people) + "\n").encode())
    run_day(settings, warehouse, lake, D1)
    expected = sorted((f"v{n}", "company_id", gid) for n, gid in enumerate(values.values()) if gid is not None)
    assert attributed(warehouse) == expected
    assert audit_invalid(warehouse, D1) == 5
    assert rows(warehouse, "SELECT distinct_id, group_key, group_id FROM user_groups ORDER BY distinct_id") == sorted(
        (f"p{n}", "company_id", gid) for n, gid in enumerate(values.values()) if gid is not None)


def test_of_duplicate_names_in_a_record_the_last_names_the_group(settings, warehouse, lake) -> None:  # noqa: ANN001
    """As JSON.parse and PostgreSQL's JSONB read it; a name also nested or inside a string
    value does not count."""
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    add_key(warehouse, 'we"ird\\key', max_keys=6, setup_at=SETUP)
    head = f'"distinct_id":"u1","time":{T}'
    lake.write(f"events/dt={D1}/a.jsonl", "".join(f'{{"event":"E","properties":{{{head},{p}}}}}\n' for p in [
        '"$insert_id":"two","company_id":"first","company_id":"last"',
        '"$insert_id":"bad-last","company_id":"first","company_id":1.5',
        '"$insert_id":"nested","company_id":"top","x":{"company_id":"inner"},"y":"\\"company_id\\":"',
        '"$insert_id":"weird","we\\"ird\\\\key":"a","we\\"ird\\\\key":"b"',
    ]).encode())
    run_day(settings, warehouse, lake, D1)
    assert attributed(warehouse) == [("nested", "company_id", "top"), ("two", "company_id", "last"),
                                     ("weird", 'we"ird\\key', "b")]
    assert audit_invalid(warehouse, D1) == 1


def test_at_most_300_ids_per_event_in_list_order(settings, warehouse, lake) -> None:  # noqa: ANN001
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    ids = [f"g{n:03d}" for n in range(301)]
    # repeats do not count towards the cap: 300 distinct ids, each named twice, all stay
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [event("E", "u1", T, "big", company_id=ids),
                                                  event("E", "u1", T, "twice", company_id=ids[1:] * 2)])
    run_day(settings, warehouse, lake, D1)
    got = [g for i, _, g in attributed(warehouse) if i == "big"]
    assert len(got) == 300 and sorted(got) == ids[:300]
    assert sorted(g for i, _, g in attributed(warehouse) if i == "twice") == ids[1:]


def test_a_key_only_on_user_profiles_attributes_nothing(settings, warehouse, lake) -> None:  # noqa: ANN001
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    write_jsonl(lake, f"people/dt={D1}/a.jsonl", [
        {"$distinct_id": "u1", "$time": T, "$set": {"company_id": "c1"}}])
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [event("E", "u1", T + 5, "no-key")])
    run_day(settings, warehouse, lake, D1)
    assert attributed(warehouse) == []


def test_a_late_copy_moves_an_event_to_another_group(settings, warehouse, lake) -> None:  # noqa: ANN001
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [event("Buy", "u1", T + 10, "x", company_id="old")])
    run_day(settings, warehouse, lake, D1)
    assert attributed(warehouse) == [("x", "company_id", "old")]
    write_jsonl(lake, f"events/dt={D2}/a.jsonl", [event("Buy", "u1", T + 10, "x", company_id="new")])
    run_day(settings, warehouse, lake, D2)
    assert attributed(warehouse) == [("x", "company_id", "new")]
    assert rows(warehouse, "SELECT event_date, group_id, event, event_count, user_count FROM group_daily_metrics") == [
        (D1, "new", "Buy", 1, 1)]


def test_the_latest_copy_decides_even_without_the_key(settings, warehouse, lake) -> None:  # noqa: ANN001
    """Copies in a later load, later in a file and later in one batch line: the last one
    carries the event's groups, and a last copy without the key takes it out of them."""
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [
        event("Buy", "u1", T + 10, "gone", company_id="c1"),
        event("Buy", "u2", T + 20, "file", company_id="c1"), event("Buy", "u2", T + 20, "file", company_id="c2"),
    ])
    batch = [event("Buy", "u3", T + 30, "line", company_id="c1"), event("Buy", "u3", T + 30, "line", company_id="c3")]
    lake.write(f"events/dt={D1}/b.jsonl", (json.dumps(batch) + "\n").encode())
    run_day(settings, warehouse, lake, D1)
    assert attributed(warehouse) == [("file", "company_id", "c2"), ("gone", "company_id", "c1"),
                                     ("line", "company_id", "c3")]
    write_jsonl(lake, f"events/dt={D2}/a.jsonl", [event("Buy", "u1", T + 10, "gone")])
    run_day(settings, warehouse, lake, D2)
    assert attributed(warehouse) == [("file", "company_id", "c2"), ("line", "company_id", "c3")]
    assert rows(warehouse, "SELECT group_id, event_count FROM group_daily_metrics ORDER BY group_id") == [
        ("c2", 1), ("c3", 1)]
    assert rows(warehouse, "SELECT load_date, duplicates FROM load_audit WHERE stage = 'events' "
                           "ORDER BY load_date") == [(D1, 2), (D2, 1)]


def test_warehouse_tables_named_like_our_scratch_tables_survive(settings, warehouse, lake) -> None:  # noqa: ANN001
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    scratch = ["group_values", "listed", "attributed", "shard_sizes", "over_limit", "affected_profiles",
               *ACTIVITY_SCRATCH]
    with warehouse.begin() as conn:
        for name in scratch:
            conn.exec_driver_sql(f"CREATE TABLE {name} (kept INTEGER)")
            conn.exec_driver_sql(f"INSERT INTO {name} VALUES (7)")  # noqa: S608 - our constant names
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [event("Buy", "u1", T + 10, "x", company_id="c1")])
    write_jsonl(lake, f"groups/dt={D1}/a.jsonl", [
        {"$group_key": "company_id", "$group_id": "c1", "$time": T, "$set": {"plan": "pro"}}])
    run_day(settings, warehouse, lake, D1)
    assert attributed(warehouse) == [("x", "company_id", "c1")]
    for name in scratch:
        assert rows(warehouse, f"SELECT kept FROM {name}") == [(7,)], name  # noqa: S608


def test_hot_shard_keeps_the_first_events_by_time_then_insert_id(settings, warehouse, lake) -> None:  # noqa: ANN001
    settings = replace(settings, hot_shard_limit=5)
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    records = [event("E", f"u{n}", T + 100 - n // 2, f"i{n:02d}", company_id="hot") for n in range(8)]
    records.append(event("E", "u9", T + 1, "cold", company_id="cold"))
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", records)
    run_day(settings, warehouse, lake, D1)
    kept = rows(warehouse, "SELECT insert_id FROM event_groups WHERE group_id = 'hot' ORDER BY insert_id")
    # times: i00,i01 at +100; i02,i03 +99; i04,i05 +98; i06,i07 +97. The earliest
    # four, then the tie at +99 goes to the lower $insert_id.
    assert [k for (k,) in kept] == ["i02", "i04", "i05", "i06", "i07"]
    assert rows(warehouse, "SELECT group_key, group_id, event_date, events_over FROM hot_shards") == [
        ("company_id", "hot", D1, 3)]
    assert rows(warehouse, "SELECT group_id, event_count FROM group_daily_metrics ORDER BY group_id") == [
        ("cold", 1), ("hot", 5)]


def test_metrics_count_deduplicated_events_and_distinct_users(settings, warehouse, lake) -> None:  # noqa: ANN001
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [
        event("Open", "u1", T + 1, "a", company_id="c1"), event("Open", "u1", T + 1, "a", company_id="c1"),
        event("Open", "u2", T + 2, "b", company_id=["c1", "c2"]), event("Buy", "u1", T + 3, "c", company_id="c1"),
    ])
    run_day(settings, warehouse, lake, D1)
    assert rows(warehouse, "SELECT event_date, group_key, group_id, event, event_count, user_count "
                           "FROM group_daily_metrics ORDER BY group_id, event") == [
        (D1, "company_id", "c1", "Buy", 1, 1),
        (D1, "company_id", "c1", "Open", 2, 2),
        (D1, "company_id", "c2", "Open", 1, 1),
    ]


def test_removing_and_re_adding_a_key(settings, warehouse, lake) -> None:  # noqa: ANN001
    first = add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    removed = remove_key(warehouse, "company_id", removed_at=SETUP + timedelta(hours=1))
    assert removed.removed_at == SETUP + timedelta(hours=1)
    second = add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP + timedelta(hours=2))
    assert second.data_group_id != first.data_group_id
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [
        event("E", "u1", T + 60, "during-first", company_id="c1"),
        event("E", "u1", T + 5400, "gap", company_id="c1"),
        event("E", "u1", T + 9000, "during-second", company_id="c1"),
    ])
    run_day(settings, warehouse, lake, D1)
    assert rows(warehouse, "SELECT insert_id, data_group_id FROM event_groups ORDER BY insert_id") == [
        ("during-first", first.data_group_id), ("during-second", second.data_group_id)]
    assert [(k.group_key, k.removed_at is None) for k in list_keys(warehouse)] == [
        ("company_id", False), ("company_id", True)]


def test_key_rules(warehouse) -> None:  # noqa: ANN001
    add_key(warehouse, "a", max_keys=2, setup_at=SETUP)
    with pytest.raises(EtlError, match="'a' is already set up"):
        add_key(warehouse, "a", max_keys=2)
    add_key(warehouse, "A", max_keys=2, setup_at=SETUP)  # case-sensitive: another key
    with pytest.raises(EtlError, match="already has 2 group keys, the limit .* is 2"):
        add_key(warehouse, "b", max_keys=2)
    with pytest.raises(EtlError, match="'zzz' is not set up"):
        remove_key(warehouse, "zzz")
    assert data_group_id_for("a", SETUP) == data_group_id_for("a", SETUP)
    assert -(2**63) <= data_group_id_for("a", SETUP) < 2**63


@pytest.mark.parametrize("name", ['we"ird', "it's", "x; DROP TABLE events; --", "a\\b", "$insert_id", "/p", "Ünï"])
def test_hostile_key_names_are_data_not_sql(settings, warehouse, lake, name: str) -> None:  # noqa: ANN001
    add_key(warehouse, name, max_keys=6, setup_at=SETUP)
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [{"event": "E", "properties": {
        "distinct_id": "u1", "time": T, "$insert_id": "k", name: "g1", "$insert_idx": "no"}}])
    run_day(settings, warehouse, lake, D1)
    assert rows(warehouse, "SELECT group_key, group_id FROM event_groups") == [(name, "g1")]


def test_rerun_gives_identical_tables_with_keys(settings, warehouse, lake) -> None:  # noqa: ANN001
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [event("E", "u1", T + n, str(n), company_id=f"c{n % 3}")
                                                  for n in range(20)])
    write_jsonl(lake, f"events/dt={D2}/a.jsonl", [event("E", "u1", T + 3, "3", company_id="moved")])
    run_day(settings, warehouse, lake, D1)
    run_day(settings, warehouse, lake, D2)
    before = snapshot(warehouse)
    run_day(settings, warehouse, lake, D1)
    run_day(settings, warehouse, lake, D2)
    assert snapshot(warehouse) == before


def test_activity_feed_newest_first_and_paged(settings, warehouse, lake) -> None:  # noqa: ANN001
    key = add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [event(f"E{n}", "u1", T + n, str(n), company_id="c1")
                                                  for n in range(5)])
    run_day(settings, warehouse, lake, D1)
    page = show_group(warehouse, "company_id", "c1", limit=2)
    assert (page["data_group_id"], page["profile"]) == (key.data_group_id, None)
    assert [e["event"] for e in page["events"]] == ["E4", "E3"]
    older = show_group(warehouse, "company_id", "c1", limit=2, before=page["events"][-1]["time"])
    assert [e["event"] for e in older["events"]] == ["E2", "E1"]
    assert older["events"][0]["properties"]["company_id"] == "c1"
    with pytest.raises(EtlError, match="group key 'nope' is not set up"):
        show_group(warehouse, "nope", "c1")
    with pytest.raises(EtlError) as unknown:
        show_group(warehouse, "company_id", "c9")
    assert str(unknown.value) == "group company_id = 'c9' is unknown: no profile and no attributed events"


def test_activity_feed_pages_ties_in_one_second_without_skips_or_repeats(settings, warehouse, lake) -> None:  # noqa: ANN001
    """Five events in the same second (and two a second earlier): pages of 2 by cursor,
    and by --before/--before-id, reach all seven once, in (time, event id) order."""
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [event(f"E{n}", "u1", T + 10, f"same{n}", company_id="c1")
                                                  for n in range(5)]
                + [event("Early", "u2", T + 9, f"early{n}", company_id="c1") for n in range(2)]
                + [event("Other", "u1", T + 10, "other", company_id="c2")])
    run_day(settings, warehouse, lake, D1)
    expected = rows(warehouse, "SELECT event_id FROM event_groups WHERE group_id = 'c1' "
                               "ORDER BY event_time DESC, event_id DESC")
    assert len(expected) == 7

    def feed(**paging) -> list[list[str]]:  # noqa: ANN003
        pages = []
        while True:
            page = show_group(warehouse, "company_id", "c1", limit=2, **paging)
            pages.append([e["event_id"] for e in page["events"]])
            if page["next_cursor"] is None:
                return pages
            last = page["events"][-1]
            assert paging.get("cursor") != page["next_cursor"]
            paging = ({"cursor": page["next_cursor"]} if "cursor" in paging or not paging
                      else {"before": last["time"], "before_id": last["event_id"]})

    by_cursor = feed()
    assert [len(p) for p in by_cursor] == [2, 2, 2, 1]
    assert [e for p in by_cursor for e in p] == [e for (e,) in expected]
    assert feed() == by_cursor  # ties come back in one order every time
    first = show_group(warehouse, "company_id", "c1", limit=2)
    last = first["events"][-1]
    assert feed(before=last["time"], before_id=last["event_id"]) == by_cursor[1:]
    assert [e["event"] for e in show_group(warehouse, "company_id", "c1", before=last["time"])["events"]] == [
        "Early", "Early"]  # --before alone: strictly before that time
    assert show_group(warehouse, "company_id", "c1", limit=7)["next_cursor"] is None
    with pytest.raises(EtlError, match=r"^--cursor 'nope' is not a cursor of `groups show`"):
        show_group(warehouse, "company_id", "c1", cursor="nope")
    forged = encode_cursor(last["time"], "a\x00b")  # PostgreSQL refused the NUL with a traceback
    with pytest.raises(EtlError, match=r"^group company_id = 'c\\x001' is unknown"):  # the page's URL can hold one
        show_group(warehouse, "company_id", "c\x001")
    with pytest.raises(EtlError, match=r"is not a cursor of `groups show`"):
        show_group(warehouse, "company_id", "c1", cursor=forged)
    with pytest.raises(EtlError, match=r"^--cursor already says where the page starts"):
        show_group(warehouse, "company_id", "c1", cursor=first["next_cursor"], before=last["time"])
    with pytest.raises(EtlError, match=r"^--before-id needs --before"):
        show_group(warehouse, "company_id", "c1", before_id="x")


def test_preview_writes_nothing_and_counts_case_mismatches(settings, warehouse, lake) -> None:  # noqa: ANN001
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [
        event("E", "u1", T - 10, "early", company_id="c0"),
        event("E", "u1", T + 1, "a", company_id="c1"),
        event("E", "u2", T + 2, "b", company_id=["c1", "c2", ""]),
        event("E", "u3", T + 3, "c", Company_ID="c3"),
        event("E", "u3", T + 4, "d", COMPANY_ID="c4"),
    ])
    run_day(settings, warehouse, lake, D1)
    before = snapshot(warehouse)
    preview = preview_key(warehouse, "company_id", SETUP, D1, D1)
    assert {k: preview[k] for k in ("events", "groups", "invalid_values", "case_mismatched_events")} == {
        "events": 2, "groups": 2, "invalid_values": 1, "case_mismatched_events": 2}
    assert snapshot(warehouse) == before
