"""The views an engine without view migrations makes from etl.store.tables.VIEWS (the
Spark engine) give the rows the migrations' views give DuckDB and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from etl.run.day import run_day
from etl.store.sql import render_sql
from etl.store.tables import VIEWS
from tests.support import event, write_jsonl

pytestmark = pytest.mark.usefixtures("warehouse")


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_a_declared_view_gives_the_migrated_view_s_rows(settings, warehouse, lake, view: str) -> None:  # noqa: ANN001
    from datetime import date

    day, later = date(2024, 6, 1), date(2024, 6, 2)
    write_jsonl(lake, f"events/dt={day}/a.jsonl", [event("Buy", "u1", 1717236000, "x"),
                                                   event("Buy", "u2", 1717236001, "y")])
    write_jsonl(lake, f"events/dt={later}/a.jsonl", [event("Buy", "u1", 1717236000, "x", late=True)])  # a copy of x
    run_day(settings, warehouse, lake, day)
    run_day(settings, warehouse, lake, later)
    with warehouse.begin() as conn:
        migrated = sorted(map(tuple, conn.execute(sa.text(f"SELECT * FROM {view}")).all()), key=repr)  # noqa: S608
        declared = sorted(map(tuple, conn.execute(sa.text(render_sql(VIEWS[view], warehouse.dialect))).all()),
                          key=repr)
    assert len(migrated) == 2 and sorted(row[0] for row in migrated) == [day, later]  # the latest copy wins
    assert declared == migrated
