"""Each warehouse table's write is declared once (etl.store.tables): every table the
migrations make is declared, and each `partitions` table is partitioned by a DATE
column it has (the Spark engine names its folders by it)."""

from __future__ import annotations

import pytest

from etl.store.spark import schema_types
from etl.store.tables import TABLES, declaration


def test_every_table_of_the_schema_is_declared_and_nothing_else() -> None:
    assert set(TABLES) == set(schema_types())


@pytest.mark.parametrize("name", sorted(n for n, t in TABLES.items() if t.strategy == "partitions"))
def test_a_partitioned_table_is_partitioned_by_one_of_its_date_columns(name: str) -> None:
    assert dict(schema_types()[name])[TABLES[name].partition] == "DATE"


def test_a_table_without_partitions_names_no_column() -> None:
    assert {n for n, t in TABLES.items() if t.partition is not None} == {
        n for n, t in TABLES.items() if t.strategy == "partitions"}


def test_an_undeclared_table_is_refused_with_its_name() -> None:
    with pytest.raises(KeyError, match="no warehouse table 'nope' is declared"):
        declaration("nope")
