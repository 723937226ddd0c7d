"""The demo runs the checkout's real DAG: it must find dags/ from etl/cli/demo.py."""

from __future__ import annotations

from pathlib import Path

from etl.cli.demo import DAGS


def test_the_demo_finds_the_checkouts_dags() -> None:
    assert DAGS == Path(__file__).resolve().parents[2] / "dags"
    assert (DAGS / "group_analytics_daily.py").is_file()


def test_the_demo_never_replaces_a_lake_it_did_not_write(tmp_path: Path) -> None:
    import pytest

    from etl.cli.demo import DEMO_MARKER, replace_sample_lake
    from etl.errors import EtlError
    from etl.store.lake import open_lake

    lake = open_lake(str(tmp_path / "lake"))
    lake.write("events/dt=2026-01-01/real.jsonl", b'{"event": "kept"}\n')
    with pytest.raises(EtlError) as caught:
        replace_sample_lake(lake)
    assert str(caught.value) == (
        f"the lake at {lake.url} holds data that `group-etl demo` did not write, and the demo replaces "
        "events/, groups/ and people/: point GROUP_ETL_LAKE_URL (or --lake-url) at an empty folder")
    assert [o.key for o in lake.list("events/")] == ["events/dt=2026-01-01/real.jsonl"]

    lake.write(DEMO_MARKER, b"demo\n")  # a lake the demo wrote is replaced
    replace_sample_lake(lake)
    assert lake.list("events/") == []
    replace_sample_lake(open_lake(str(tmp_path / "empty")))  # an empty lake is fine


def test_a_longer_sample_keeps_the_first_five_days_and_then_quiets_companies(tmp_path: Path) -> None:
    """`demo --days 10` gives account health something to show; the default demo's days stay as documented."""
    import gzip
    import json
    from datetime import date

    from etl.cli.sample import quiet_companies, write_sample_lake
    from etl.store.lake import open_lake

    def read(lake, key: str) -> bytes:  # noqa: ANN001
        return b"".join(lake.iter_bytes(key))

    short, long = open_lake(str(tmp_path / "short")), open_lake(str(tmp_path / "long"))
    write_sample_lake(short, date(2026, 10, 1), days=5)
    write_sample_lake(long, date(2026, 10, 1), days=7)
    keys = [o.key for o in short.list("") if "/dt=" in o.key]  # the days (an upload file follows the last)
    assert [read(long, k) for k in keys] == [read(short, k) for k in keys]

    companies = [f"c{n:03d}" for n in range(1, 41)]
    assert quiet_companies(companies, 4) == set()
    assert sorted(quiet_companies(companies, 5)) == sorted(
        {"c008", "c016", "c024", "c032", "c040"} | {c for n, c in enumerate(companies, 1) if n % 3 == 2})
    day6 = gzip.decompress(read(long, "events/dt=2026-10-06/part-0000.jsonl.gz")).decode() \
        + read(long, "events/dt=2026-10-06/part-0001.jsonl").decode()
    seen = set()
    for line in day6.splitlines():
        try:
            records = json.loads(line)
        except json.JSONDecodeError:
            continue  # the sample's deliberately bad lines
        for record in records if isinstance(records, list) else [records]:
            moment = record.get("properties", {}).get("time", 0)
            if (moment / 1000 if moment > 10**11 else moment) < 1_791_244_800:  # a late copy of 10-05
                continue
            company = record.get("properties", {}).get("company_id")
            seen.update(company if isinstance(company, list) else [company] if company else [])
    assert seen == set(companies) - quiet_companies(companies, 5)
