"""How the Spark engine binds our statements without Spark (etl.store.spark): list
parameters written out as markers, and the text type named as Spark names it."""

from __future__ import annotations

from datetime import date

from etl.store.spark import bind, partition_folder, spark_sql

D1, D2 = date(2026, 10, 1), date(2026, 10, 2)


def test_a_list_parameter_becomes_a_list_of_markers_and_others_stay() -> None:
    sql, args = bind("SELECT * FROM t WHERE event_date IN :dates AND k = :k AND x = :unbound",
                     {"dates": [D1, D2], "k": "a", "other": 1})
    assert sql == "SELECT * FROM t WHERE event_date IN (:dates__0, :dates__1) AND k = :k AND x = :unbound"
    assert args == {"dates__0": D1, "dates__1": D2, "k": "a"}
    assert bind("SELECT 1 WHERE d IN :dates", {"dates": []}) == ("SELECT 1 WHERE d IN (NULL)", {})
    assert bind("SELECT CAST(x AS DATE)::DATE, :d", {"d": D1}) == ("SELECT CAST(x AS DATE)::DATE, :d", {"d": D1})


def test_the_text_type_is_spark_s_and_a_trailing_semicolon_goes() -> None:
    assert spark_sql("SELECT CAST(v AS VARCHAR), v::varchar, CAST(w AS VARCHAR(3)) FROM t;", {}) == (
        "SELECT CAST(v AS STRING), v::STRING, CAST(w AS VARCHAR(3)) FROM t", {})


def test_a_partition_s_folder_is_named_as_spark_writes_it() -> None:
    assert partition_folder("event_date", D1) == "event_date=2026-10-01"

