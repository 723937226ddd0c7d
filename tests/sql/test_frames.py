"""etl.connect(): each DataFrame holds exactly what the CLI's function returns, on
DuckDB and PostgreSQL, for a small day run through the real pipeline."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

import etl
from etl.errors import ConfigError, EtlError
from etl.model.keys import add_key
from etl.run.day import run_day
from etl.serve import export, groups, reports, status
from etl.serve.frames import Analytics
from tests.support import event, write_jsonl

D1 = date(2024, 7, 1)
T = int(datetime(2024, 7, 1, 12, tzinfo=UTC).timestamp())


def utc(seconds: int) -> pd.Timestamp:
    return pd.Timestamp(seconds, unit="s", tz="UTC")


@pytest.fixture
def loaded(settings, warehouse, lake):  # noqa: ANN001, ANN201
    """Four events (one sent twice, one line malformed), two group profiles, a user profile."""
    key = add_key(warehouse, "company_id", max_keys=6, setup_at=datetime(2024, 1, 1, tzinfo=UTC))
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [
        event("Open", "u1", T, "i1", company_id="c1"),
        event("Open", "u2", T + 60, "i2", company_id="c1"),
        event("Buy", "u1", T + 120, "i3", company_id="c1", amount=5),
        event("Open", "u3", T + 180, "i4", company_id="c2"),
        event("Open", "u1", T, "i1", company_id="c1"),
        "{bad",
    ])
    write_jsonl(lake, f"groups/dt={D1}/a.jsonl", [
        {"$group_key": "company_id", "$group_id": "c1", "$time": T, "$set": {"plan": "pro", "seats": 3}},
        {"$group_key": "company_id", "$group_id": "c2", "$time": T, "$set": {"plan": "free"}},
    ])
    write_jsonl(lake, f"people/dt={D1}/a.jsonl", [
        {"$distinct_id": "u1", "$time": T, "$set": {"name": "Ann", "company_id": "c1"}},
    ])
    result = run_day(settings, warehouse, lake, D1)
    assert (result.input_records, result.loaded, result.rejected, result.duplicates) == (6, 5, 1, 1)
    warehouse.close()  # a DuckDB file is either written by one connection or read by several
    return key


@pytest.fixture
def an(settings, loaded):  # noqa: ANN001, ANN201
    with etl.connect(warehouse_url=settings.warehouse_url, lake_url=settings.lake_url,
                     schema=settings.schema) as analytics:
        yield analytics


def test_table_decodes_json_and_types_columns(an: Analytics) -> None:
    df = an.table("events", columns=["event", "distinct_id", "event_time", "event_date", "properties"],
                  where={"event": "Open", "distinct_id": ["u1", "u3"]})
    df = df.sort_values(["distinct_id", "event_time"], ignore_index=True)
    expected = pd.DataFrame({
        "event": ["Open", "Open", "Open"],
        "distinct_id": ["u1", "u1", "u3"],
        "event_time": pd.to_datetime([utc(T), utc(T), utc(T + 180)]).as_unit("us"),
        "event_date": pd.to_datetime(["2024-07-01"] * 3).as_unit("us"),
        "properties": [
            {"distinct_id": "u1", "time": T, "$insert_id": "i1", "company_id": "c1"},
            {"distinct_id": "u1", "time": T, "$insert_id": "i1", "company_id": "c1"},
            {"distinct_id": "u3", "time": T + 180, "$insert_id": "i4", "company_id": "c2"},
        ],
    })
    pd.testing.assert_frame_equal(df, expected)
    assert (str(df["event_time"].dtype), str(df["event_date"].dtype)) == ("datetime64[us, UTC]", "datetime64[us]")

    profiles = an.table("group_profiles", columns=["group_id", "properties"]).sort_values("group_id")
    assert profiles.to_dict("records") == [{"group_id": "c1", "properties": {"plan": "pro", "seats": 3}},
                                          {"group_id": "c2", "properties": {"plan": "free"}}]
    keys = an.table("group_keys")
    assert list(keys.columns) == ["data_group_id", "group_key", "display_name", "setup_at", "removed_at"]
    assert keys["data_group_id"].dtype == "int64" and keys["removed_at"].isna().all()
    assert len(an.table("events", limit=2)) == 2
    # values taken from a DataFrame (numpy int64, Timestamp) filter like Python's own
    lines = an.table("events", columns=["insert_id", "source_line", "event_time"]).set_index("insert_id")
    line, time = lines.loc["i4", "source_line"], lines.loc["i4", "event_time"]
    assert (type(line), type(time)) == (np.int64, pd.Timestamp)
    picked = an.table("events", columns=["insert_id"], where={"source_line": line, "event_time": [time]})
    assert picked["insert_id"].tolist() == ["i4"]
    assert an.table("events", where={"event": "Nothing"}).empty
    assert an.table("rejected_records", columns=["reason", "raw"]).to_dict("records") == [
        {"reason": "invalid_json", "raw": "{bad"}]


def test_table_refuses_unknown_names(an: Analytics) -> None:
    with pytest.raises(EtlError, match=r"^unknown table 'schema_version'; the warehouse tables are group_keys, "):
        an.table("schema_version")
    with pytest.raises(EtlError, match=r'^table events has no column \'event"; DROP TABLE events; --\'; its columns'):
        an.table("events", columns=['event"; DROP TABLE events; --'])
    with pytest.raises(EtlError, match=r"^table events has no column 'nope'"):
        an.table("events", where={"nope": 1})
    assert len(an.table("events")) == 5


def test_reports_hold_the_documents_rows_and_metadata(an: Analytics) -> None:
    warehouse = an.warehouse  # the CLI's functions, on the same read-only connection
    scope = reports.Scope(by="company_id")
    document = reports.insights(warehouse, "Open", D1, D1, scope)
    df = an.insights("Open", "2024-07-01", D1, by="company_id")
    assert document["rows"] == [{"date": "2024-07-01", "breakdown": None, "events": 3, "uniques": 2, "value": 2}]
    expected = pd.DataFrame(document["rows"]).assign(date=pd.to_datetime(["2024-07-01"]).as_unit("us"))
    pd.testing.assert_frame_equal(df, expected)
    assert df.attrs == {"report": "insights", "unit": "company_id", "event": "Open", "measure": "uniques",
                        "interval": "day"}

    by_plan = an.insights("Open", D1, D1, by="company_id", breakdown="group.plan")
    assert by_plan[["breakdown", "events", "uniques"]].to_dict("records") == [
        {"breakdown": "free", "events": 1, "uniques": 1}, {"breakdown": "pro", "events": 2, "uniques": 1}]

    document = reports.funnel(warehouse, ["Open", "Buy"], 86_400, D1, D1, reports.Scope())
    df = an.funnel(["Open", "Buy"], D1, D1, window="1d")
    assert document["steps"] == [
        {"event": "Open", "units": 3, "conversion_from_previous": 1.0, "conversion_from_first": 1.0,
         "median_seconds_to_convert": None},
        {"event": "Buy", "units": 1, "conversion_from_previous": 1 / 3, "conversion_from_first": 1 / 3,
         "median_seconds_to_convert": 120.0}]
    pd.testing.assert_frame_equal(df, pd.DataFrame(document["steps"]).astype({"median_seconds_to_convert": float}))
    assert df.attrs == {"report": "funnel", "unit": "users", "window_seconds": 86_400}

    document = reports.retention(warehouse, "Open", "Buy", D1, D1, scope)
    df = an.retention("Open", "Buy", D1, D1, by="company_id")
    assert document["cohorts"] == [{"cohort_date": "2024-07-01", "size": 2, "retained": [1]}]
    expected = pd.DataFrame({"cohort_date": pd.to_datetime(["2024-07-01"]).as_unit("us"), "size": [2],
                             "day_0": pd.array([1], dtype="Int64")})
    pd.testing.assert_frame_equal(df, expected)
    assert df.attrs == {"report": "retention", "unit": "company_id", "period": "day"}

    by_plan = reports.Scope(by="company_id", breakdown="group.plan")
    document = reports.funnel(warehouse, ["Open", "Buy"], 86_400, D1, D1, by_plan, breakdown_limit=1)
    df = an.funnel(["Open", "Buy"], D1, D1, window="1d", by="company_id", breakdown="group.plan", breakdown_limit=1)
    assert list(df.columns) == ["breakdown", "event", "units", "conversion_from_previous", "conversion_from_first",
                                "median_seconds_to_convert"]
    pd.testing.assert_frame_equal(df, pd.DataFrame(document["steps"]).astype({"median_seconds_to_convert": float}))
    document = reports.retention(warehouse, "Open", "Buy", D1, D1, by_plan)
    df = an.retention("Open", "Buy", D1, D1, by="company_id", breakdown="group.plan")
    assert df[["breakdown", "size", "day_0"]].to_dict("records") == [
        {"breakdown": c["breakdown"], "size": c["size"], "day_0": c["retained"][0]} for c in document["cohorts"]]
    assert len(document["cohorts"]) == 2

    with pytest.raises(EtlError, match=r"^user\.plan: group analysis never uses user profile properties"):
        an.insights("Open", D1, D1, by="company_id", where='user.plan == "pro"')


def test_group_profiles_and_status(an: Analytics, lake, loaded) -> None:  # noqa: ANN001
    warehouse = an.warehouse
    page = an.group("company_id", "c1")
    document = groups.show_group(warehouse, "company_id", "c1")
    assert (page.group_key, page.group_id, page.data_group_id, page.profile) == (
        "company_id", "c1", loaded.data_group_id, {"plan": "pro", "seats": 3})
    assert page.data_group_id == document["data_group_id"] and page.profile == document["profile"]
    assert page.events[["event", "distinct_id"]].to_dict("records") == [
        {"event": "Buy", "distinct_id": "u1"}, {"event": "Open", "distinct_id": "u2"},
        {"event": "Open", "distinct_id": "u1"}]
    assert list(page.events["time"]) == [utc(T + 120), utc(T + 60), utc(T)]
    assert list(page.events["properties"]) == [e["properties"] for e in document["events"]]
    assert len(an.group("company_id", "c1", limit=1, before=datetime(2024, 7, 1, 12, 1, 30, tzinfo=UTC)).events) == 1
    first = an.group("company_id", "c1", limit=2)
    rest = an.group("company_id", "c1", limit=2, cursor=first.next_cursor)
    assert (list(first.events["event"]), list(rest.events["event"]), rest.next_cursor) == (
        ["Buy", "Open"], ["Open"], None)
    assert list(rest.events["distinct_id"]) == ["u1"]

    groups_df = an.profiles(data_group_id=an.table("group_keys")["data_group_id"][0])  # numpy's int64
    rows = export.all_results(warehouse, export.Selection(loaded.data_group_id), None, D1)
    assert rows == [{"$distinct_id": "c1", "$properties": {"plan": "pro", "seats": 3}},
                    {"$distinct_id": "c2", "$properties": {"plan": "free"}}]
    expected = pd.DataFrame({"$distinct_id": ["c1", "c2"], "plan": ["pro", "free"], "seats": [3.0, float("nan")]})
    pd.testing.assert_frame_equal(groups_df, expected)
    pro = an.profiles(data_group_id=loaded.data_group_id, where='plan == "pro"', output_properties=["plan"])
    assert pro.to_dict("records") == [{"$distinct_id": "c1", "plan": "pro"}]
    assert an.profiles(data_group_id=loaded.data_group_id, as_of="2000-01-01").empty  # no group yet then
    pd.testing.assert_frame_equal(an.profiles(data_group_id=loaded.data_group_id, as_of=D1), expected)
    assert an.profiles().to_dict("records") == [{"$distinct_id": "u1", "company_id": "c1", "name": "Ann"}]
    assert list(an.profiles(data_group_id=loaded.data_group_id, where='plan == "none"').columns) == ["$distinct_id"]

    [row] = status.day_status(warehouse, lake, None, None)
    df = an.status()
    assert df.drop(columns=["loaded_at"]).to_dict("records") == [{
        "date": pd.Timestamp("2024-07-01"), "state": "ok", "input_records": 6, "loaded": 5, "rejected": 1,
        "duplicates": 1, "invalid_group_id": 0, "rejected_by_reason": {"invalid_json": 1}}]
    assert df["loaded_at"][0] == pd.Timestamp(row["loaded_at"])
    assert str(df["loaded"].dtype) == "Int64" and an.status(first="2024-07-02").empty


def test_connect_checks_its_settings() -> None:
    with pytest.raises(ConfigError, match=r"^connect\(\): unknown setting 'warehouse'; use warehouse_url, "):
        etl.connect(warehouse="duckdb:///x.duckdb")
    with pytest.raises(ConfigError, match=r"^GROUP_ETL_TIMEZONE: unknown time zone 'Mars/Base'"):
        etl.connect(timezone="Mars/Base")


def test_import_etl_stays_cheap() -> None:
    code = ("import sys, etl; heavy = [m for m in ('pandas', 'sqlalchemy', 'duckdb', 'pyarrow') if m in sys.modules];"
            "print(heavy, callable(etl.connect), 'pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out == "[] True True\n"
