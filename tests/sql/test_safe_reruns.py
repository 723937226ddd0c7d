"""Safe to operate, on DuckDB and PostgreSQL: the shrink check covers every kind of
input, a day lands by its events (or its exact landing marker), and `status` lists
the lake as `run` does."""

from __future__ import annotations

import shutil
from datetime import date

import pytest
import sqlalchemy as sa

from etl.errors import NotLandedError, ShrinkError
from etl.run.airflow import run_day_task
from etl.run.day import run_day
from etl.serve.status import day_status, problems
from tests.sql.test_profile_updates import T1, g, keyed, u  # noqa: F401 - keyed: a fixture
from tests.support import event, make_settings, snapshot, write_jsonl

D = date(2024, 8, 1)


def counts(warehouse) -> dict[str, int]:  # noqa: ANN001
    with warehouse.begin() as conn:
        return dict(conn.execute(sa.text("SELECT stage, loaded FROM load_audit WHERE load_date = :d "
                                         "ORDER BY stage"), {"d": D}).all())


def full_day(lake) -> None:  # noqa: ANN001
    write_jsonl(lake, f"events/dt={D}/a.jsonl", [event("E", f"u{n}", T1 + n, str(n)) for n in range(4)])
    write_jsonl(lake, f"groups/dt={D}/a.jsonl", [g(f"c{n}", T1 + n, "$set", {"n": n}) for n in range(3)])
    write_jsonl(lake, f"people/dt={D}/a.jsonl", [u(f"u{n}", T1 + n, "$set", {"n": n}) for n in range(5)])


@pytest.mark.parametrize(("source", "kind", "was"), [("groups", "group updates", 3), ("people", "user updates", 5)])
def test_a_rerun_that_loses_a_days_profile_updates_is_refused_naming_the_kind(
        settings, keyed, lake, source, kind, was) -> None:  # noqa: ANN001, F811
    full_day(lake)
    run_day(settings, keyed, lake, D)
    assert counts(keyed) == {"events": 4, "groups": 3, "people": 5}
    before = snapshot(keyed)
    shutil.rmtree(f"{lake.url}/{source}/dt={D}")  # the dump of one kind moved away
    with pytest.raises(ShrinkError) as caught:
        run_day(settings, keyed, lake, D)
    assert str(caught.value) == (
        f"{D}: this run would load 0 {kind} where {was} are loaded now (a loss of 100%, over "
        "GROUP_ETL_SHRINK_LIMIT=0.5); check the lake, or run again with --allow-shrink")
    assert snapshot(keyed) == before
    with pytest.raises(ShrinkError) as caught:  # the daily DAG's task names the Airflow way
        run_day_task(settings, D)
    assert str(caught.value).endswith(
        f"over GROUP_ETL_SHRINK_LIMIT=0.5); check the lake; to accept the smaller day: "
        f"`group-etl run --date {D} --allow-shrink`, then clear this run's run_day")
    assert snapshot(keyed) == before
    run_day(settings, keyed, lake, D, allow_shrink=True)
    assert counts(keyed)[source] == 0
    assert run_day_task(settings, D)["loaded"] == 4  # accepted: the next run is no shrink


def test_groups_or_people_alone_is_no_landed_day(settings, keyed, lake) -> None:  # noqa: ANN001, F811
    write_jsonl(lake, f"groups/dt={D}/a.jsonl", [g("c1", T1, "$set", {"n": 1})])
    write_jsonl(lake, f"people/dt={D}/a.jsonl", [u("u1", T1, "$set", {"n": 1})])
    with pytest.raises(NotLandedError) as caught:
        run_day(settings, keyed, lake, D)
    assert str(caught.value) == (
        f"{D} has not landed: no objects under events/dt={D}/ in the lake {lake.url} (groups/dt={D}/ and "
        f"people/dt={D}/ alone is no landed day: a dump landing in pieces should write a landing marker "
        "last, GROUP_ETL_LANDING_MARKER); run with --allow-empty to load it as an empty day")
    assert counts(keyed) == {}
    run_day(settings, keyed, lake, D, allow_empty=True)
    assert counts(keyed) == {"events": 0, "groups": 1, "people": 1}


def test_the_landing_marker_is_one_exact_object(warehouse_url, lake_path, keyed, lake) -> None:  # noqa: ANN001, F811
    url, schema = warehouse_url
    marked = make_settings(url, str(lake_path), schema, GROUP_ETL_LANDING_MARKER="_SUCCESS")
    folder = lake_path / "events" / f"dt={D}"
    write_jsonl(lake, f"events/dt={D}/_SUCCESS/a.jsonl", [event("E", "u1", T1, "1")])  # a folder, not the marker
    (folder / "_SUCCESS.tmp").write_bytes(b"")  # a marker being written: an ordinary object
    not_landed = f"^{D} has not landed: no events/dt={D}/_SUCCESS in the lake"
    with pytest.raises(NotLandedError, match=not_landed):
        run_day(marked, keyed, lake, D)
    result = run_day(marked, keyed, lake, D, allow_empty=True)  # both are records, the folder's too
    assert (result.input_records, result.loaded, result.rejected_by_reason) == (2, 1, {"empty_object": 1})
    shutil.rmtree(folder / "_SUCCESS")
    with pytest.raises(NotLandedError, match=not_landed):
        run_day(marked, keyed, lake, D)
    (folder / "_SUCCESS").write_bytes(b"")
    (lake_path / "groups" / f"dt={D}").mkdir(parents=True)
    (lake_path / "groups" / f"dt={D}" / "_SUCCESS").write_bytes(b"")  # a marker in each folder: no record
    result = run_day(marked, keyed, lake, D, allow_shrink=True)
    assert (result.input_records, result.loaded, result.rejected_by_reason) == (1, 0, {"empty_object": 1})
    with keyed.begin() as conn:
        assert conn.execute(sa.text("SELECT source_object FROM rejected_records")).scalars().all() == [
            f"events/dt={D}/_SUCCESS.tmp"]
    assert counts(keyed) == {"events": 0, "groups": 0, "people": 0}


def test_status_lists_the_lake_as_run_does_with_a_landing_marker(warehouse_url, lake_path, keyed, lake) -> None:  # noqa: ANN001, F811
    url, schema = warehouse_url
    marked = make_settings(url, str(lake_path), schema, GROUP_ETL_LANDING_MARKER="_SUCCESS")
    full_day(lake)
    lake.write(f"events/dt={D}/_SUCCESS", b"")
    run_day(marked, keyed, lake, D)
    write_jsonl(lake, "events/dt=2024-08-02/a.jsonl", [event("E", "u1", T1 + 86_400, "n")])
    lake.write("events/dt=2024-08-02/_SUCCESS", b"")
    run_day(marked, keyed, lake, date(2024, 8, 2))
    rows = day_status(keyed, lake, None, None, "_SUCCESS")
    assert [(r["date"], r["state"]) for r in rows] == [("2024-08-01", "ok"), ("2024-08-02", "ok")]
    assert problems(rows, 0.01) == []
    # the bug this fixes: the marker listed as an input makes each day look changed
    assert [r["state"] for r in day_status(keyed, lake, None, None)] == ["stale", "stale"]
