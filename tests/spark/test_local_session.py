"""The local session's Python tasks run this venv's Python (where group-etl imports), not
`python3` from PATH: under `make test` PATH has no .venv/bin."""

from __future__ import annotations

import sys

import pytest

pytestmark = pytest.mark.spark


def test_python_tasks_run_this_venvs_python(spark_session) -> None:
    ran = spark_session.sparkContext.parallelize([0], 1).map(lambda _: sys.executable).collect()
    assert ran == [sys.executable]
