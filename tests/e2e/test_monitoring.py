"""Monitoring: `status --check` exits 1 naming each day that needs an operator, and
`run` warns about a day with many rejects or a cut-short gzip; on both engines."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

from tests.e2e.test_cli import group_etl  # noqa: F401 - the in-process command line fixture
from tests.support import event

T = int(datetime(2024, 7, 1, 12, tzinfo=UTC).timestamp())
DAY = 86_400


def test_run_warns_about_rejects_and_a_cut_gzip(group_etl, lake, monkeypatch) -> None:  # noqa: ANN001, F811
    lake.write("events/dt=2024-07-01/a.jsonl", (json.dumps(event("Open", "u1", T, "a")) + "\n"
                                                + json.dumps(event("Open", "u2", T, "b")) + "\n{bad\n").encode())
    lake.write("events/dt=2024-07-02/a.jsonl", (json.dumps(event("Open", "u1", T + DAY, "c")) + "\n").encode())
    whole = "".join(json.dumps(event("Open", f"u{n}", T + 2 * DAY, f"d{n}")) + "\n" for n in range(200))
    lake.write("events/dt=2024-07-03/a.jsonl.gz", gzip.compress(whole.encode(), mtime=0)[:-40])

    code, out, err = group_etl("run", "--from", "2024-07-01", "--to", "2024-07-03", "--format", "json")
    assert code == 0
    rows = {r["date"]: (r["input_records"], r["loaded"], r["rejected"]) for r in json.loads(out)["rows"]}
    # 6 of 200 lines lost with the cut: the share (0.5%) is under the threshold, the cut is not
    assert rows == {"2024-07-01": (3, 2, 1), "2024-07-02": (1, 1, 0), "2024-07-03": (195, 194, 1)}
    assert err == (
        "warning: 2024-07-01: 1 of 3 event records rejected (33.3%, over GROUP_ETL_REJECT_WARN=0.01)\n"
        "warning: 2024-07-03: 1 record rejected as truncated_gzip (a .gz object was cut short: check the dump)\n")

    monkeypatch.setenv("GROUP_ETL_REJECT_WARN", "0.001")  # both stand out now, on one line
    code, _, err = group_etl("run", "--date", "2024-07-03")
    assert (code, err) == (0, "warning: 2024-07-03: 1 of 195 event records rejected (0.5%, over "
                              "GROUP_ETL_REJECT_WARN=0.001); 1 record rejected as truncated_gzip (a .gz "
                              "object was cut short: check the dump)\n")


def test_status_check_names_each_day_that_needs_an_operator(group_etl, lake, monkeypatch) -> None:  # noqa: ANN001, F811
    def day(n: int, *records: object) -> None:
        lake.write(f"events/dt=2024-07-0{n}/a.jsonl",
                   "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records).encode())

    day(1, event("Open", "u1", T, "a"), event("Open", "u2", T, "b"), "{bad")
    day(2, event("Open", "u1", T + DAY, "c"))
    day(3, event("Open", "u1", T + 2 * DAY, "e"))
    assert group_etl("run", "--from", "2024-07-01", "--to", "2024-07-03")[0] == 0

    code, out, err = group_etl("status", "--check", "--format", "json")
    assert (code, err) == (1, "check: 2024-07-01: 1 of 3 event records rejected (33.3%, over "
                              "GROUP_ETL_REJECT_WARN=0.01)\n")
    assert [r["state"] for r in json.loads(out)["rows"]] == ["ok", "ok", "ok"]  # the listing is as without --check

    monkeypatch.setenv("GROUP_ETL_REJECT_WARN", "0.5")
    assert group_etl("status", "--check", "--format", "json")[::2] == (0, "")

    day(2, event("Open", "u1", T + DAY, "c"), event("Open", "u3", T + DAY, "c2"))  # changed since it ran
    day(5, event("Open", "u1", T + 4 * DAY, "f"))  # landed, never run
    code, _, err = group_etl("status", "--check", "--from", "2024-07-01", "--to", "2024-07-06")
    assert code == 1
    assert err.splitlines() == [
        "check: 2024-07-02: stale (its lake input changed since it was loaded): re-run it",
        "check: 2024-07-03: stale after 2024-07-02 (profile state carries over): re-run from 2024-07-02",
        "check: 2024-07-04: missing (nothing in the lake, never loaded)",
        "check: 2024-07-05: not loaded (in the lake, never run)",
        "check: 2024-07-06: missing (nothing in the lake, never loaded)",
    ]
    assert group_etl("status", "--from", "2024-07-01", "--to", "2024-07-06")[0] == 0  # without --check: a listing


def test_status_check_names_a_cut_gzip_and_a_marker_is_no_change(group_etl, lake, monkeypatch) -> None:  # noqa: ANN001, F811
    monkeypatch.setenv("GROUP_ETL_LANDING_MARKER", "_SUCCESS")
    whole = "".join(json.dumps(event("Open", f"u{n}", T, f"d{n}")) + "\n" for n in range(200))
    lake.write("events/dt=2024-07-01/a.jsonl.gz", gzip.compress(whole.encode(), mtime=0)[:-40])
    lake.write("events/dt=2024-07-02/a.jsonl", (json.dumps(event("Open", "u1", T + DAY, "c")) + "\n").encode())
    for day in ("2024-07-01", "2024-07-02"):
        lake.write(f"events/dt={day}/_SUCCESS", b"")
    assert group_etl("run", "--from", "2024-07-01", "--to", "2024-07-02")[0] == 0
    code, out, err = group_etl("status", "--check", "--format", "json")
    assert [r["state"] for r in json.loads(out)["rows"]] == ["ok", "ok"]
    assert (code, err) == (1, "check: 2024-07-01: 1 record rejected as truncated_gzip (a .gz object was cut "
                              "short: check the dump)\n")
