"""Layer 2: the event load on DuckDB and PostgreSQL: counts, duplicates, re-runs, crashes."""

from __future__ import annotations

import json
import os
import shutil
import zlib
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from etl.days import day_range
from etl.errors import EtlError, NotLandedError, StorageError
from etl.run.day import run_day
from etl.store.lake import open_lake
from tests.support import event, make_settings, snapshot, write_jsonl

D1, D2 = date(2024, 5, 1), date(2024, 5, 2)
T1 = int(datetime(2024, 5, 1, 10, tzinfo=UTC).timestamp())
T2 = int(datetime(2024, 5, 2, 10, tzinfo=UTC).timestamp())


def rows(warehouse, sql: str, **params) -> list[tuple]:  # noqa: ANN001
    with warehouse.begin() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def test_load_counts_rejects_and_audit(settings, warehouse, lake) -> None:  # noqa: ANN001
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [
        event("Open", "u1", T1, "a"), event("Open", "anon", T1, "b"), "{broken",
        [event("Buy", "u2", T1 + 5, "c"), event("Buy", "u3", T1 + 6, "d")],
    ])
    write_jsonl(lake, f"events/dt={D1}/b.jsonl.gz", [event("Open", "u4", T1, "e")], compress=True)
    result = run_day(settings, warehouse, lake, D1)
    assert (result.input_records, result.loaded, result.rejected, result.duplicates) == (6, 4, 2, 0)
    assert rows(warehouse, "SELECT insert_id, event, distinct_id, source_object, source_line, source_index "
                           "FROM events ORDER BY insert_id") == [
        ("a", "Open", "u1", f"events/dt={D1}/a.jsonl", 1, 0),
        ("c", "Buy", "u2", f"events/dt={D1}/a.jsonl", 4, 0),
        ("d", "Buy", "u3", f"events/dt={D1}/a.jsonl", 4, 1),
        ("e", "Open", "u4", f"events/dt={D1}/b.jsonl.gz", 1, 0),
    ]
    assert rows(warehouse, "SELECT kind, source_line, reason, raw FROM rejected_records ORDER BY source_line") == [
        ("event", 2, "invalid_distinct_id", '{"event": "Open", "properties": {"distinct_id": "anon", '
                                            f'"time": {T1}, "$insert_id": "b"}}}}'),
        ("event", 3, "invalid_json", "{broken"),
    ]
    assert rows(warehouse, "SELECT stage, load_date, input_records, loaded, rejected, duplicates "
                           "FROM load_audit ORDER BY stage") == [
        ("events", D1, 6, 4, 2, 0), ("groups", D1, 0, 0, 0, 0), ("people", D1, 0, 0, 0, 0)]


def test_properties_are_queryable_with_the_arrow_operator(settings, warehouse, lake) -> None:  # noqa: ANN001
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [event("Open", "u1", T1, "a", plan="pro", n=3)])
    run_day(settings, warehouse, lake, D1)
    assert rows(warehouse, "SELECT properties ->> 'plan', properties ->> 'n' FROM events") == [("pro", "3")]


def test_duplicates_within_a_file_across_files_and_a_late_copy(settings, warehouse, lake) -> None:  # noqa: ANN001
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [
        event("Open", "u1", T1, "x", copy="a1"), event("Open", "u1", T1 + 0.4, "x", copy="a2"),
        event("Open", "u1", T1, "y", copy="a3"),
    ])
    write_jsonl(lake, f"events/dt={D1}/b.jsonl", [event("Open", "u1", T1, "y", copy="b1")])
    first = run_day(settings, warehouse, lake, D1)
    assert (first.loaded, first.duplicates) == (4, 2)
    kept = "SELECT insert_id, properties ->> 'copy' FROM events_deduped ORDER BY insert_id"
    assert rows(warehouse, kept) == [("x", "a2"), ("y", "b1")]

    # The next day's dump carries a late copy of x: it wins, whatever day it arrived.
    write_jsonl(lake, f"events/dt={D2}/a.jsonl", [event("Open", "u1", T1, "x", copy="late"),
                                                  event("Open", "u2", T2, "z")])
    second = run_day(settings, warehouse, lake, D2)
    assert (second.loaded, second.duplicates, second.touched_dates) == (2, 1, [D1, D2])
    assert rows(warehouse, kept) == [("x", "late"), ("y", "b1"), ("z", None)]
    assert rows(warehouse, "SELECT count(*) FROM events_deduped WHERE event_date = :d", d=D1) == [(2,)]


def test_rerunning_a_day_or_a_range_leaves_every_table_identical(settings, warehouse, lake) -> None:  # noqa: ANN001
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [event("Open", "u1", T1, "a"), "{bad", event("Open", "u2", T1, "b")])
    write_jsonl(lake, f"events/dt={D2}/a.jsonl", [event("Open", "u1", T1, "a"), event("Buy", "u1", T2, "c")])
    for day in day_range(D1, D2):
        run_day(settings, warehouse, lake, day)
    before = snapshot(warehouse)
    run_day(settings, warehouse, lake, D1)
    assert snapshot(warehouse) == before
    for day in day_range(D1, D2):
        run_day(settings, warehouse, lake, day)
    assert snapshot(warehouse) == before


@pytest.mark.slow  # an oracle or a whole corpus: CI (make test), not the edit loop
@pytest.mark.parametrize("stage", ["parsed", "events_deleted", "events_loaded", "attributed", "health_refreshed",
                                   "groups_applied", "people_applied", "audited"])
def test_a_crash_inside_the_run_leaves_the_previous_state(settings, warehouse, lake, stage) -> None:  # noqa: ANN001
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [event("Open", "u1", T1, "a")])
    run_day(settings, warehouse, lake, D1)
    before = snapshot(warehouse)
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [event("Open", "u1", T1, "a"), event("Open", "u2", T1, "b")])

    def crash(at: str) -> None:
        if at == stage:
            raise RuntimeError(f"injected at {at}")

    with pytest.raises(RuntimeError, match=f"injected at {stage}"):
        run_day(settings, warehouse, lake, D1, hook=crash)
    assert snapshot(warehouse) == before
    assert run_day(settings, warehouse, lake, D1).loaded == 2


def test_an_empty_day_loads_only_when_allowed_and_is_audited(settings, warehouse, lake) -> None:  # noqa: ANN001
    with pytest.raises(NotLandedError) as caught:
        run_day(settings, warehouse, lake, D1)
    assert str(caught.value) == (
        f"{D1} has not landed: no objects under events/dt={D1}/ in the lake "
        f"{lake.url}; run with --allow-empty to load it as an empty day")
    assert rows(warehouse, "SELECT count(*) FROM load_audit") == [(0,)]
    result = run_day(settings, warehouse, lake, D1, allow_empty=True)
    assert (result.input_records, result.loaded, result.touched_dates) == (0, 0, [])
    assert rows(warehouse, "SELECT input_records, loaded, rejected FROM load_audit") == [(0, 0, 0)] * 3


def test_an_empty_listing_never_replaces_a_loaded_day(settings, warehouse, lake, tmp_path) -> None:  # noqa: ANN001
    """A dump that expired, a mistyped or unmounted lake: the loaded day stays as it was."""
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [event("E", f"u{n}", T1 + n, str(n)) for n in range(4)])
    run_day(settings, warehouse, lake, D1)
    before = snapshot(warehouse)
    for name in os.listdir(lake.url):
        shutil.rmtree(os.path.join(lake.url, name))
    with pytest.raises(NotLandedError, match=f"^{D1} has not landed: no objects under events/dt={D1}/"):
        run_day(settings, warehouse, lake, D1)
    missing = open_lake(str(tmp_path / "not-mounted"))
    with pytest.raises(StorageError) as caught:
        run_day(settings, warehouse, missing, D1)
    assert str(caught.value) == (f"lake {tmp_path / 'not-mounted'} does not exist (a mistyped GROUP_ETL_LAKE_URL, "
                                 "or a volume not mounted)")
    assert snapshot(warehouse) == before


def test_a_rerun_that_drops_most_of_a_day_is_refused_unless_allowed(settings, warehouse, lake) -> None:  # noqa: ANN001
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [event("E", f"u{n}", T1 + n, str(n)) for n in range(10)])
    write_jsonl(lake, f"events/dt={D1}/b.jsonl", [event("E", f"v{n}", T1 + n, f"b{n}") for n in range(10)])
    run_day(settings, warehouse, lake, D1)
    before = snapshot(warehouse)
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [event("E", "u0", T1, "0")])
    write_jsonl(lake, f"events/dt={D1}/b.jsonl", [])  # an empty object: 20 events -> 1
    with pytest.raises(EtlError) as caught:
        run_day(settings, warehouse, lake, D1)
    assert str(caught.value) == (
        f"{D1}: this run would load 1 events where 20 are loaded now (a loss of 95%, over "
        "GROUP_ETL_SHRINK_LIMIT=0.5); check the lake, or run again with --allow-shrink")
    assert snapshot(warehouse) == before
    assert run_day(settings, warehouse, lake, D1, allow_shrink=True).loaded == 1
    write_jsonl(lake, f"events/dt={D1}/b.jsonl", [event("E", f"v{n}", T1 + n, f"b{n}") for n in range(9)])
    assert run_day(settings, warehouse, lake, D1).loaded == 10  # growing is always fine


def test_a_landing_marker_gates_the_day_and_is_never_a_record(warehouse_url, lake_path, warehouse, lake) -> None:  # noqa: ANN001
    url, schema = warehouse_url
    marked = make_settings(url, str(lake_path), schema, GROUP_ETL_LANDING_MARKER="_SUCCESS")
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [event("E", "u1", T1, "1")])
    with pytest.raises(NotLandedError) as caught:
        run_day(marked, warehouse, lake, D1)
    assert str(caught.value) == (f"{D1} has not landed: no events/dt={D1}/_SUCCESS in the lake {lake.url} "
                                 "(GROUP_ETL_LANDING_MARKER); run with --allow-empty to load it as an empty day")
    lake.write(f"events/dt={D1}/_SUCCESS", b"")
    result = run_day(marked, warehouse, lake, D1)
    assert (result.input_records, result.loaded, result.rejected) == (1, 1, 0)


def test_input_records_equal_loaded_plus_rejected(settings, warehouse, lake) -> None:  # noqa: ANN001
    records = [event("E", f"u{n}", T1 + n, str(n)) if n % 4 else "{nope" for n in range(40)]
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", records)
    run_day(settings, warehouse, lake, D1)
    [(inputs, loaded, rejected)] = rows(
        warehouse, "SELECT input_records, loaded, rejected FROM load_audit WHERE stage = 'events'")
    assert (inputs, loaded, rejected) == (40, 30, 10)
    assert rows(warehouse, "SELECT count(*) FROM events") == [(30,)]
    assert rows(warehouse, "SELECT count(*) FROM rejected_records") == [(10,)]


def gzip_bomb(inflated_mib: int, head: bytes = b"", tail: bytes = b"") -> bytes:
    """A gzip of a few hundred KB: `head`, then `inflated_mib` MiB of one line with no newline."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"x" * (1 << 20)
    parts = [packer.compress(head)]
    parts += [packer.compress(block) for _ in range(inflated_mib)]
    parts += [packer.compress(tail), packer.flush()]
    return b"".join(parts)


def test_a_gzip_inflating_to_one_huge_line_is_one_oversized_record(settings, warehouse, lake) -> None:  # noqa: ANN001
    """Issue 16: a gzip of a few hundred KB inflating to one line of hundreds of MB took
    1.6 GB and crashed the day. The line is counted, never held: the day completes."""
    good = json.dumps(event("Open", "u1", T1, "a")).encode()
    body = gzip_bomb(200, head=good + b"\n")
    assert len(body) < 400_000
    lake.write(f"events/dt={D1}/bomb.jsonl.gz", body)
    write_jsonl(lake, f"events/dt={D1}/b.jsonl", [event("Open", "u2", T1, "b")])
    result = run_day(settings, warehouse, lake, D1)
    assert (result.input_records, result.loaded, result.rejected) == (3, 2, 1)
    [(line, reason, raw)] = rows(warehouse, "SELECT source_line, reason, raw FROM rejected_records")
    assert (line, reason) == (2, "oversized_record")
    assert raw == f"truncated:{200 << 20}:" + "x" * 1024
    assert rows(warehouse, "SELECT input_records, loaded, rejected FROM load_audit WHERE stage = 'events'") == [
        (3, 2, 1)]
