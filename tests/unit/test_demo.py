"""The demo runs the checkout's real DAG: it must find dags/ from etl/cli/demo.py."""

from __future__ import annotations

from pathlib import Path

from etl.cli.demo import DAGS


def test_the_demo_finds_the_checkouts_dags() -> None:
    assert DAGS == Path(__file__).resolve().parents[2] / "dags"
    assert (DAGS / "group_analytics_daily.py").is_file()
