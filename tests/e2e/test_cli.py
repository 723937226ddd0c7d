"""The command line: exit codes, JSON documents, status, and no secret in any output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from etl.cli import commands as cli
from tests.support import event, write_jsonl

D1 = date(2024, 7, 1)
T = int(datetime(2024, 7, 1, 12, tzinfo=UTC).timestamp())


@pytest.fixture
def group_etl(settings, monkeypatch, capsys):  # noqa: ANN001, ANN201
    """Run `group-etl ARGS` in-process against the test warehouse; returns (code, out, err)."""
    monkeypatch.setenv("GROUP_ETL_WAREHOUSE_URL", settings.warehouse_url)
    monkeypatch.setenv("GROUP_ETL_LAKE_URL", settings.lake_url)
    monkeypatch.setenv("GROUP_ETL_SCHEMA", settings.schema)
    monkeypatch.setenv("GROUP_ETL_SESSION_DIR", settings.session_dir)
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr("sys.argv", ["group-etl", *args])
        code = 0
        try:
            cli.main()
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_init_is_safe_to_repeat(group_etl) -> None:  # noqa: ANN001
    assert group_etl("init")[:2] == (0, "warehouse ready (schema version none -> 13)\n")
    assert group_etl("init")[:2] == (0, "warehouse ready (schema version 13 -> 13)\n")
    assert group_etl("migrate")[:2] == (0, "warehouse ready (schema version 13 -> 13)\n")


def test_run_status_and_stale_days(group_etl, lake) -> None:  # noqa: ANN001
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [event("Open", "u1", T, "a"), "{bad"])
    code, out, _ = group_etl("run", "--date", str(D1), "--format", "json")
    assert code == 0
    [row] = json.loads(out)["rows"]
    assert set(row.pop("seconds")) == {"parsed", "events_deleted", "events_loaded", "attributed", "health_refreshed",
                                       "groups_applied", "people_applied", "audited", "committed"}
    assert row == {"date": "2024-07-01", "input_records": 2, "loaded": 1, "rejected": 1, "duplicates": 0,
                   "invalid_group_id": 0, "group_updates": 0, "user_updates": 0}
    code, out, _ = group_etl("status", "--format", "json")
    [row] = json.loads(out)["rows"]
    assert (row["date"], row["state"], row["rejected_by_reason"]) == ("2024-07-01", "ok", {"invalid_json": 1})

    write_jsonl(lake, f"events/dt={D1}/b.jsonl", [event("Open", "u2", T, "b")])
    write_jsonl(lake, "events/dt=2024-07-02/a.jsonl", [event("Open", "u2", T + 86_400, "c")])
    _, out, _ = group_etl("status", "--format", "json")
    assert [(r["date"], r["state"]) for r in json.loads(out)["rows"]] == [
        ("2024-07-01", "stale"), ("2024-07-02", "not loaded")]
    assert group_etl("run", "--from", "2024-07-01", "--to", "2024-07-02", "--format", "csv")[0] == 0
    _, out, _ = group_etl("status", "--format", "json")
    assert [(r["date"], r["state"], r["loaded"]) for r in json.loads(out)["rows"]] == [
        ("2024-07-01", "ok", 2), ("2024-07-02", "ok", 1)]


def test_keys_commands(group_etl) -> None:  # noqa: ANN001
    code, out, _ = group_etl("keys", "add", "company_id", "--display-name", "Company",
                             "--setup-at", "2024-07-01T12:00:00+00:00")
    assert code == 0 and int(out) != 0
    code, out, _ = group_etl("keys", "list", "--format", "json")
    assert json.loads(out) == {"rows": [{"data_group_id": int(out.split('"data_group_id": ')[1].split(",")[0]),
                                         "group_key": "company_id", "display_name": "Company",
                                         "setup_at": "2024-07-01T12:00:00+00:00", "removed_at": None}]}
    code, _, err = group_etl("keys", "add", "company_id")
    assert (code, err.strip()) == (1, "error: group key 'company_id' is already set up; remove it first to set it up again")
    assert group_etl("keys", "remove", "company_id")[0] == 0
    code, _, err = group_etl("keys", "remove", "company_id")
    assert (code, err.strip()) == (1, "error: group key 'company_id' is not set up")


def test_groups_show_json_document(group_etl, lake) -> None:  # noqa: ANN001
    group_etl("keys", "add", "company_id", "--setup-at", "2024-07-01T00:00:00Z")
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [event("Open", "u1", T, "a", company_id="c1")])
    group_etl("run", "--date", str(D1))
    code, out, _ = group_etl("groups", "show", "--key", "company_id", "--id", "c1", "--format", "json")
    document = json.loads(out)
    assert code == 0
    assert (document["group_key"], document["group_id"], document["profile"]) == ("company_id", "c1", None)
    assert [(e["event"], e["distinct_id"], e["time"]) for e in document["events"]] == [
        ("Open", "u1", "2024-07-01T12:00:00+00:00")]
    assert document["next_cursor"] is None
    code, out, err = group_etl("groups", "show", "--key", "company_id", "--id", "nope")
    assert (code, out, err) == (1, "", "error: group company_id = 'nope' is unknown: no profile and no attributed events\n")


def test_groups_show_pages_by_cursor_through_ties(group_etl, lake) -> None:  # noqa: ANN001
    group_etl("keys", "add", "company_id", "--setup-at", "2024-07-01T00:00:00Z")
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [event(f"E{n}", "u1", T, f"i{n}", company_id="c1") for n in range(5)])
    group_etl("run", "--date", str(D1))
    seen, paging = [], []
    while True:
        code, out, _ = group_etl("groups", "show", "--key", "company_id", "--id", "c1", "--limit", "2",
                                 "--format", "json", *paging)
        document = json.loads(out)
        seen += [e["event"] for e in document["events"]]
        if document["next_cursor"] is None:
            break
        paging = ["--cursor", document["next_cursor"]]
    assert (code, sorted(seen), len(seen)) == (0, [f"E{n}" for n in range(5)], 5)
    code, out, _ = group_etl("groups", "show", "--key", "company_id", "--id", "c1", "--limit", "4")
    assert code == 0 and "next page: --cursor " in out


def test_export_run_writes_the_days_loaded_since_their_last_export(group_etl, lake) -> None:  # noqa: ANN001
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [event("Open", "u1", T, "a")])
    write_jsonl(lake, f"people/dt={D1}/a.jsonl", [{"$distinct_id": "u1", "$time": T, "$set": {"n": 1}}])
    assert group_etl("run", "--date", str(D1))[0] == 0
    assert group_etl("cohorts", "add", "all", "--definition", '{"export": true}')[0] == 0
    code, out, _ = group_etl("export", "run", "--format", "json")
    assert (code, json.loads(out)) == (0, {"rows": [
        {"cohort": "all", "date": "2024-07-01", "profiles": 1, "object": "exports/all/dt=2024-07-01/part-0000.jsonl"}]})
    assert json.loads(group_etl("export", "run", "--pending", "--format", "json")[1]) == {"rows": []}
    assert group_etl("run", "--date", str(D1))[0] == 0  # loaded again: pending again
    assert [r["date"] for r in json.loads(group_etl("export", "run", "--format", "json")[1])["rows"]] == ["2024-07-01"]
    code, out, _ = group_etl("export", "run", "--date", str(D1), "--format", "json")  # by hand, a loaded day
    assert (code, [r["date"] for r in json.loads(out)["rows"]]) == (0, ["2024-07-01"])
    code, out, err = group_etl("export", "run", "--date", "2024-06-30")  # a day never loaded: refused
    assert (code, out, err) == (1, "", "error: export run --date 2024-06-30: that day was never loaded (load it "
                                       "first, e.g. `group-etl run --date D`); nothing written\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", "--date", "2024-13-01"), "expected YYYY-MM-DD"),
        (("export", "profiles", "--as-of", "9999-12-31"), "expected YYYY-MM-DD or an ISO 8601 time, got '9999-12-31'"),
        (("run",), "give --date D, or --from D1 --to D2"),
        (("run", "--from", "2024-07-02", "--to", "2024-07-01"), "--to is before --from"),
        (("nonsense",), "No such command"),
        (("export", "run", "--date", "2024-07-01", "--pending"), "give --date D or --pending, not both"),
    ],
)
def test_usage_errors_exit_2(group_etl, args, message) -> None:  # noqa: ANN001
    code, _, err = group_etl(*args)
    assert code == 2
    assert message in err


def test_data_errors_exit_1_with_one_line(group_etl, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("GROUP_ETL_TIMEZONE", "Nowhere/Land")
    code, out, err = group_etl("init")
    assert (code, out, err) == (1, "", "error: GROUP_ETL_TIMEZONE: unknown time zone 'Nowhere/Land'\n")


def test_a_password_never_reaches_the_output_of_a_failing_run(tmp_path) -> None:  # noqa: ANN001
    """The real console script, all of stdout and stderr captured."""
    secret = "Sup3r-S3cret-pw"  # noqa: S105
    env = {**os.environ,
           "GROUP_ETL_WAREHOUSE_URL": f"postgresql+psycopg://postgres:{secret}@127.0.0.1:1/test",
           "GROUP_ETL_LAKE_URL": str(tmp_path / "lake"),
           "AWS_SECRET_ACCESS_KEY": "aws-secret-value"}
    script = Path(sys.executable).parent / "group-etl"
    done = subprocess.run([str(script), "run", "--date", str(D1)], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert done.stderr.startswith("error: warehouse postgresql+psycopg://postgres:***@127.0.0.1:1/test")
    everything = done.stdout + done.stderr
    assert secret not in everything and "aws-secret-value" not in everything


def test_export_to_a_file_writes_the_pinned_session(group_etl, tmp_path) -> None:  # noqa: ANN001
    _, out, _ = group_etl("keys", "add", "company_id", "--setup-at", "2024-07-01T00:00:00Z")
    data_group_id = out.strip()
    upload = tmp_path / "up.csv"
    upload.write_text("$group_id,plan\nc2,pro\nc1,free\n")
    assert group_etl("upload-csv", "--key", "company_id", str(upload))[0] == 0
    target = tmp_path / "out" / "groups.jsonl"
    code, out, _ = group_etl("export", "profiles", "--data-group-id", data_group_id, "--page-size", "1",
                             "--to", str(target))
    page = json.loads(out)
    assert code == 0
    assert (page["total"], page["results"]) == (2, [{"$distinct_id": "c1", "$properties": {"plan": "free"}}])
    assert [json.loads(line) for line in target.read_text().splitlines()] == [
        {"$distinct_id": "c1", "$properties": {"plan": "free"}},
        {"$distinct_id": "c2", "$properties": {"plan": "pro"}}]
    code, _, err = group_etl("export", "profiles", "--data-group-id", data_group_id, "--to", str(tmp_path / "x.txt"))
    assert (code, err.strip()) == (1, f"error: --to {tmp_path / 'x.txt'}: use a .jsonl, .json, .csv or .parquet name")


def test_an_export_session_is_refused_for_another_selection_and_after_its_ttl(group_etl, tmp_path,  # noqa: ANN001
                                                                            monkeypatch) -> None:  # noqa: ANN001
    _, out, _ = group_etl("keys", "add", "company_id", "--setup-at", "2024-07-01T00:00:00Z")
    data_group_id = out.strip()
    upload = tmp_path / "up.csv"
    upload.write_text("$group_id,plan\nc2,pro\nc1,free\nc3,pro\n")
    assert group_etl("upload-csv", "--key", "company_id", str(upload))[0] == 0
    asked = ["export", "profiles", "--data-group-id", data_group_id, "--where", 'plan == "pro"', "--page-size", "1"]
    first = json.loads(group_etl(*asked)[1])
    session = first["session_id"]
    assert (first["total"], first["results"]) == (2, [{"$distinct_id": "c2", "$properties": {"plan": "pro"}}])
    code, out, _ = group_etl(*asked, "--page", "1", "--session-id", session)
    assert (code, json.loads(out)["results"]) == (0, [{"$distinct_id": "c3", "$properties": {"plan": "pro"}}])
    code, out, err = group_etl("export", "profiles", "--data-group-id", data_group_id, "--page", "1",
                               "--page-size", "1", "--session-id", session)
    assert (code, out) == (1, "")
    assert err.replace("\n", "") == (
        f"error: session {session!r} was pinned for --data-group-id {data_group_id} --where 'plan == \"pro\"', "
        f"not for --data-group-id {data_group_id}: ask for the same selection, or for page 0 again")
    session_file = Path(os.environ["GROUP_ETL_SESSION_DIR"]) / f"{session}.parquet"
    past = session_file.stat().st_mtime - 3601
    os.utime(session_file, (past, past))
    monkeypatch.setenv("GROUP_ETL_SESSION_TTL_SECONDS", "3600")
    code, _, err = group_etl(*asked, "--page", "1", "--session-id", session)
    assert (code, err) == (1, f"error: session {session!r} expired (sessions last 1 hour): ask for page 0 again\n")
    assert group_etl(*asked)[0] == 0  # the next export purges it
    assert not session_file.exists()


def test_export_profiles_as_of_a_day_or_a_time(group_etl, lake) -> None:  # noqa: ANN001
    """--as-of D: each group as it was at the end of D (project time zone); --as-of T: at T."""
    _, out, _ = group_etl("keys", "add", "company_id", "--setup-at", "2024-07-01T00:00:00Z")
    data_group_id = out.strip()
    for n, plan in ((0, "pro"), (2, "enterprise")):
        day = D1 + timedelta(days=n)
        write_jsonl(lake, f"events/dt={day}/a.jsonl", [event("Open", "u1", T + n * 86_400, f"e{n}")])
        write_jsonl(lake, f"groups/dt={day}/a.jsonl", [
            {"$group_key": "company_id", "$group_id": "c1", "$time": T + n * 86_400, "$set": {"plan": plan}}])
        assert group_etl("run", "--date", str(day))[0] == 0

    def plans(*args: str) -> list:
        code, out, err = group_etl("export", "profiles", "--data-group-id", data_group_id, *args)
        assert code == 0, err
        return [r["$properties"].get("plan") for r in json.loads(out)["results"]]

    assert plans() == ["enterprise"]
    assert plans("--as-of", "2024-07-02") == ["pro"]
    assert plans("--as-of", "2024-07-03") == ["enterprise"]
    assert plans("--as-of", "2024-06-01T00:00:00Z") == []
    code, _, err = group_etl("export", "profiles", "--as-of", "2024-02-31")
    assert code == 2 and "expected YYYY-MM-DD or an ISO 8601 time" in err
    code, _, err = group_etl("export", "profiles", "--include-all-users")
    assert (code, err) == (1, "error: --include-all-users: needs --cohort (members without a profile are found "
                              "by behaviour)\n")
    first = json.loads(group_etl("export", "profiles", "--data-group-id", data_group_id, "--as-of", "2024-07-02")[1])
    code, _, err = group_etl("export", "profiles", "--data-group-id", data_group_id, "--page", "1",
                             "--session-id", first["session_id"])  # a session pinned as of a day is that day's
    assert (code, err.replace("\n", "")) == (1, f"error: session {first['session_id']!r} was pinned for "
                                                f"--data-group-id {data_group_id} --as-of 2024-07-02T23:59:59.999999+00:00, "
                                                f"not for --data-group-id {data_group_id}: ask for the same selection, "
                                                "or for page 0 again")


def test_a_mistyped_range_runs_nothing_and_an_empty_day_needs_allow_empty(group_etl, lake) -> None:  # noqa: ANN001
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [event("Open", "u1", T, "a")])
    code, out, err = group_etl("run", "--from", "2023-06-30", "--to", str(D1))
    assert (code, out) == (1, "")
    assert err.replace("\n", " ").startswith(
        f"error: 367 of the 368 days have not landed in the lake {lake.url} (2023-06-30, 2023-07-01, "
        "2023-07-02, 2023-07-03, 2023-07-04 and 362 more); nothing was run: check the range, or run with "
        "--allow-empty to load them as empty days")
    assert json.loads(group_etl("status", "--format", "json")[1])["rows"][0]["state"] == "not loaded"
    code, _, err = group_etl("run", "--date", "2024-07-02")
    assert code == 1 and "2024-07-02 has not landed: no objects under events/dt=2024-07-02/" in err.replace("\n", " ")
    code, out, _ = group_etl("run", "--date", "2024-07-02", "--allow-empty", "--format", "json")
    assert code == 0 and json.loads(out)["rows"][0]["input_records"] == 0


def test_upload_from_the_lake_applies_the_good_files_and_names_the_bad_ones(group_etl, lake) -> None:  # noqa: ANN001
    group_etl("keys", "add", "company_id", "--setup-at", "2024-07-01T00:00:00Z")
    lake.write("uploads/groups/company_id/a.csv", b"$group_id,plan\nc1,pro\n")
    lake.write("uploads/groups/company_id/b.csv", b"$group_id,plan,plan\nc2,x,y\n")
    code, out, err = group_etl("upload-csv", "--from-lake", "--format", "json")
    assert [(r["source"], r["status"], r["profiles"], r["error"]) for r in json.loads(out)["rows"]] == [
        ("uploads/groups/company_id/a.csv", "applied", 1, None),
        ("uploads/groups/company_id/b.csv", "failed", 0,
         "uploads/groups/company_id/b.csv line 1: repeated column(s) 'plan': each property must have one column")]
    assert (code, err) == (1, "error: 1 upload(s) failed: uploads/groups/company_id/b.csv (see the error column)\n")
    code, out, err = group_etl("upload-csv", "--from-lake", "--format", "json")
    assert [r["status"] for r in json.loads(out)["rows"]] == ["already_applied", "failed_unchanged"]
    assert (code, err) == (0, "")


def test_insights_measures_and_intervals(group_etl, lake, tmp_path) -> None:  # noqa: ANN001
    prop = 're"v'  # a property name with a quote: bound, never spliced into SQL
    noon = {day: int(datetime(2026, 4, 30, 12, tzinfo=UTC).timestamp()) + 86_400 * n
            for n, day in enumerate(["2026-04-30", "2026-05-01", "2026-05-02", "2026-05-03", "2026-05-04"])}
    files = {"2026-04-30": [event("Buy", "u1", noon["2026-04-30"], "a", **{prop: 10}),
                            event("Buy", "u2", noon["2026-04-30"], "b", **{prop: "12"})],  # text: ignored
             "2026-05-03": [event("Buy", "u1", noon["2026-05-03"], "c", **{prop: 2.5})],  # a Sunday
             "2026-05-04": [event("Buy", "u2", noon["2026-05-04"], "d", **{prop: 4}),  # a Monday
                            event("Buy", "u2", noon["2026-05-04"], "e"),
                            event("Open", "u1", noon["2026-05-04"], "f", **{prop: 1000})]}
    for day, records in files.items():
        write_jsonl(lake, f"events/dt={day}/a.jsonl", records)
        assert group_etl("run", "--date", day)[0] == 0

    def report(*args: str) -> tuple[int, str, str]:
        return group_etl("report", "insights", "--event", "Buy", *args)

    code, out, err = report("--from", "2026-04-30", "--to", "2026-05-04", "--measure", f"sum:{prop}",
                            "--interval", "week", "--format", "json")
    assert (code, err) == (0, "")
    assert json.loads(out) == {"report": "insights", "unit": "users", "event": "Buy", "measure": f"sum:{prop}",
                               "interval": "week", "rows": [
        {"date": "2026-04-27", "breakdown": None, "events": 3, "uniques": 2, "value": 12.5},
        {"date": "2026-05-04", "breakdown": None, "events": 2, "uniques": 1, "value": 4.0}]}
    code, out, _ = report("--from", "2026-04-30", "--to", "2026-05-04", "--measure", f"median:{prop}",
                          "--interval", "month", "--format", "csv", "--chart", str(tmp_path / "m.png"))
    assert code == 0
    assert out.splitlines() == ["date,breakdown,events,uniques,value", "2026-04-01,,2,2,10.0", "2026-05-01,,3,2,3.25"]
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"
    code, out, _ = report("--from", "2026-04-30", "--to", "2026-05-02", "--measure", f"avg:{prop}", "--format", "json")
    assert [(r["date"], r["events"], r["value"]) for r in json.loads(out)["rows"]] == [
        ("2026-04-30", 2, 10.0), ("2026-05-01", 0, None), ("2026-05-02", 0, None)]
    code, out, _ = report("--from", "2026-05-04", "--to", "2026-05-04", "--measure", "events", "--format", "json")
    assert [(r["events"], r["value"]) for r in json.loads(out)["rows"]] == [(2, 2)]
    code, out, err = report("--from", "2026-05-03", "--to", "2026-05-04", "--measure", "sum:absent")
    assert (code, out.splitlines()[-2:]) == (0, ["2026-05-03       1        1           0",
                                                 "2026-05-04       2        1           0"])
    assert err == ("warning: property 'absent' not seen on 'Buy' from 2026-05-03 to 2026-05-04; "
                   "known: '$insert_id', 'distinct_id', 're\"v', 'time'\n")

    assert report("--from", "2026-04-30", "--to", "2026-05-04", "--measure", "total")[0] == 2  # usage mistakes
    assert report("--from", "2026-04-30", "--to", "2026-05-04", "--interval", "year")[0] == 2
    code, _, err = report("--from", "2026-04-30", "--to", "2026-05-04", "--measure", "sum:")
    assert (code, err.strip().splitlines()[-1]) == (2, "Error: Invalid value for --measure: expected events, "
                                                       "uniques, sum:PROP, avg:PROP or median:PROP, got 'sum:'")


def test_insights_split_a_list_breakdown_and_fold_past_the_limit(group_etl, lake) -> None:  # noqa: ANN001
    noon = int(datetime(2026, 5, 1, 12, tzinfo=UTC).timestamp())
    write_jsonl(lake, "events/dt=2026-05-01/a.jsonl", [
        event("Buy", "u1", noon, "a", plan=["P1", "P2", "P1"], amount=10),  # once under P1, once under P2
        event("Buy", "u2", noon, "b", plan="P1", amount=1),
        event("Buy", "u3", noon, "c", plan=[], amount=5),  # an empty list: the null bucket
        event("Buy", "u3", noon, "d", plan=["P3"], amount=2),
        event("Buy", "u4", noon, "e", plan=["P2", "P3", "P4"], amount=100)])
    assert group_etl("run", "--date", "2026-05-01")[0] == 0

    def report(*args: str) -> tuple[int, str, str]:
        return group_etl("report", "insights", "--event", "Buy", "--from", "2026-05-01", "--to", "2026-05-01",
                         "--breakdown", "plan", "--measure", "sum:amount", "--format", "csv", *args)

    code, out, err = report()
    assert (code, err) == (0, "")
    assert out.splitlines() == ["date,breakdown,events,uniques,value", "2026-05-01,P1,2,2,11.0",
                                "2026-05-01,P2,2,2,110.0", "2026-05-01,P3,2,2,102.0", "2026-05-01,P4,1,1,100.0",
                                "2026-05-01,(none),1,1,5.0"]  # the null bucket
    # P1, P2 and P3 have two events each (ties by value); P4 and null fold; u4's event counts once in (other)
    code, out, err = report("--breakdown-limit", "2")
    assert (code, err) == (0, "")
    assert out.splitlines() == ["date,breakdown,events,uniques,value", "2026-05-01,P1,2,2,11.0",
                                "2026-05-01,P2,2,2,110.0", "2026-05-01,(other),3,2,107.0"]
    code, _, err = report("--breakdown-limit", "0")
    assert code == 2 and "Invalid value for '--breakdown-limit'" in err  # a usage mistake


def test_insights_weeks_start_on_monday_in_the_project_time_zone(group_etl, lake, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("GROUP_ETL_TIMEZONE", "Asia/Tokyo")
    sunday_evening_utc = int(datetime(2026, 5, 3, 20, tzinfo=UTC).timestamp())  # Monday 05:00 in Tokyo
    write_jsonl(lake, "events/dt=2026-05-04/a.jsonl", [event("Buy", "u1", sunday_evening_utc, "a", amount=3)])
    assert group_etl("run", "--date", "2026-05-04")[0] == 0
    code, out, _ = group_etl("report", "insights", "--event", "Buy", "--from", "2026-05-01", "--to", "2026-05-10",
                             "--measure", "sum:amount", "--interval", "week", "--format", "json")
    assert code == 0
    assert [(r["date"], r["events"], r["value"]) for r in json.loads(out)["rows"]] == [
        ("2026-04-27", 0, 0), ("2026-05-04", 1, 3.0)]


def test_funnel_and_retention_break_down_by_a_groups_plan_at_each_event(group_etl, lake, tmp_path) -> None:  # noqa: ANN001
    group_etl("keys", "add", "company_id", "--setup-at", "2024-07-01T00:00:00Z")
    write_jsonl(lake, f"groups/dt={D1}/a.jsonl", [
        {"$group_key": "company_id", "$group_id": "c1", "$time": T - 3600, "$set": {"plan": "free"}},
        {"$group_key": "company_id", "$group_id": "c1", "$time": T + 60, "$set": {"plan": "pro"}},
        {"$group_key": "company_id", "$group_id": "c2", "$time": T - 3600, "$set": {"plan": "enterprise"}}])
    write_jsonl(lake, f"events/dt={D1}/a.jsonl", [
        event("Open", "u1", T, "a", company_id="c1"),  # c1 enters while free
        event("Open", "u2", T + 60, "b", company_id="c1"),
        event("Buy", "u1", T + 120, "c", company_id="c1"),
        event("Open", "u3", T, "d", company_id="c2"),
        event("Buy", "u3", T + 30, "e", company_id="c2")])
    assert group_etl("run", "--date", str(D1))[0] == 0

    def report(kind: str, *args: str) -> tuple[int, str, str]:
        events = ("--steps", "Open", "Buy") if kind == "funnel" else ("--born", "Open", "--return", "Buy")
        return group_etl("report", kind, *events, "--from", str(D1), "--to", str(D1), "--by", "company_id", *args)

    def units(out: str) -> list[tuple]:
        return [(s.get("breakdown"), s["event"], s["units"], s["median_seconds_to_convert"])
                for s in json.loads(out)["steps"]]

    code, out, err = report("funnel", "--breakdown", "group.plan", "--format", "json", "--chart", str(tmp_path / "f.png"))
    assert (code, err) == (0, f"chart written to {tmp_path / 'f.png'}\n")  # stdout holds the JSON only
    assert units(out) == [("enterprise", "Open", 1, None), ("enterprise", "Buy", 1, 30.0),
                          ("free", "Open", 1, None), ("free", "Buy", 1, 120.0)]
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    # the values add up to the unbroken funnel
    assert units(report("funnel", "--format", "json")[1]) == [(None, "Open", 2, None), (None, "Buy", 2, 75.0)]
    code, out, _ = report("funnel", "--breakdown", "group.plan", "--group-props", "current", "--breakdown-limit", "1",
                          "--format", "json")
    assert units(out) == [("enterprise", "Open", 1, None), ("enterprise", "Buy", 1, 30.0),
                          ("(other)", "Open", 1, None), ("(other)", "Buy", 1, 120.0)]
    code, out, _ = report("funnel", "--breakdown", "group.plan", "--format", "csv")
    assert out.splitlines()[0] == ("breakdown,event,units,conversion_from_previous,conversion_from_first,"
                                   "median_seconds_to_convert")
    assert [line.split(",")[:3] for line in out.splitlines()[1:]] == [
        ["enterprise", "Open", "1"], ["enterprise", "Buy", "1"], ["free", "Open", "1"], ["free", "Buy", "1"]]

    code, out, err = report("retention", "--breakdown", "group.plan", "--group-props", "current", "--format", "json")
    assert (code, err) == (0, "")
    assert json.loads(out)["cohorts"] == [
        {"breakdown": "enterprise", "cohort_date": "2024-07-01", "size": 1, "retained": [1]},
        {"breakdown": "pro", "cohort_date": "2024-07-01", "size": 1, "retained": [1]}]
    code, out, _ = report("retention", "--breakdown", "group.plan", "--format", "csv")
    assert out.splitlines() == ["breakdown,cohort_date,size,day_0,day_0_share", "enterprise,2024-07-01,1,1,1.0",
                                "free,2024-07-01,1,1,1.0"]

    code, _, err = report("funnel", "--group-props", "then")
    assert code == 2 and "Invalid value for '--group-props'" in err
    code, _, err = group_etl("report", "insights", "--event", "Open", "--from", str(D1), "--to", str(D1),
                             "--breakdown", "account_id.plan")
    assert (code, err) == (1, "error: --breakdown account_id.plan: group key 'account_id' is not set up (see "
                              "`group-etl keys list`); for an event property of that name, write "
                              "properties[\"account_id.plan\"]\n")
