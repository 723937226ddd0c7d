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
