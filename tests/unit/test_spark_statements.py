"""How the Spark engine reads our statements without Spark (etl.store.spark): list
parameters written out, the partitions a DELETE names, an UPDATE's SET list."""

from __future__ import annotations

from datetime import date, datetime

from etl.store.spark import bind, partitions_named, split_top_level

D1, D2 = date(2026, 10, 1), date(2026, 10, 2)


def test_a_list_parameter_becomes_a_list_of_markers_and_others_stay() -> None:
    sql, args = bind("DELETE FROM t WHERE event_date IN :dates AND k = :k AND x = :unbound",
                     {"dates": [D1, D2], "k": "a", "other": 1})
    assert sql == "DELETE FROM t WHERE event_date IN (:dates__0, :dates__1) AND k = :k AND x = :unbound"
    assert args == {"dates__0": D1, "dates__1": D2, "k": "a"}
    assert bind("SELECT 1 WHERE d IN :dates", {"dates": []}) == ("SELECT 1 WHERE d IN (NULL)", {})
    assert bind("SELECT CAST(x AS DATE)::DATE, :d", {"d": D1}) == ("SELECT CAST(x AS DATE)::DATE, :d", {"d": D1})


def test_a_delete_of_a_day_or_of_dates_names_its_partitions() -> None:
    assert partitions_named("load_date", "kind = 'event' AND load_date = :d", {"d": D1}) == {D1}
    sql, args = bind("e.event_date IN :dates", {"dates": [D1, D2]})
    assert partitions_named("event_date", sql, args) == {D1, D2}


def test_anything_else_is_left_to_a_query() -> None:
    assert partitions_named("load_date", "x = 1 OR load_date = :d", {"d": D1}) is None  # an OR
    assert partitions_named("load_date", "load_date >= :d", {"d": D1}) is None
    assert partitions_named("load_date", "load_date = :d", {"d": "2026-10-01"}) is None  # not a date
    assert partitions_named("load_date", "load_date = :d", {"d": datetime(2026, 10, 1)}) is None
    assert partitions_named("load_date", "EXISTS (SELECT 1 FROM a WHERE a.load_date = :d AND a.k = 1)",
                            {"d": D1}) is None  # inside a subquery


def test_a_set_list_splits_at_its_own_commas_only() -> None:
    assert split_top_level("a = coalesce(b, 'x,y'), c = f(1, 2), d = 'it''s'") == [
        "a = coalesce(b, 'x,y')", "c = f(1, 2)", "d = 'it''s'"]
