"""Layer 2: compiled filters run on DuckDB and PostgreSQL over a few property
documents; both engines select exactly the same rows."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from etl.serve.filters import SqlCompiler, parse
from etl.store.dialects import dialect_for
from etl.store.sql import sql_clause

DOCUMENTS = {
    1: {"plan": "pro", "n": 5, "tags": ["a", "b"], "flag": True, 'we"ird\\name': "x", "$browser": "Chrome"},
    2: {"plan": "free", "n": "5", "nothing": None},
    3: {"n": 2.5},
    4: {"plan": "Pro", "n": -1, "flag": False},
    5: {},
}


@pytest.fixture
def documents(warehouse):  # noqa: ANN001, ANN201
    json_type = dialect_for(warehouse.dialect).json
    with warehouse.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE filter_rows (id INTEGER NOT NULL, properties {json_type} NOT NULL)"))
        conn.execute(sa.text(f"INSERT INTO filter_rows VALUES (:id, CAST(:doc AS {json_type}))"),  # noqa: S608
                     [{"id": n, "doc": json.dumps(doc)} for n, doc in DOCUMENTS.items()])
    return warehouse


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ('plan == "pro"', [1]),
        ('plan != "pro"', [2, 4]),  # a missing property is neither equal nor unequal
        ('not plan == "pro"', [2, 3, 4, 5]),  # but `not` of it is true
        ("n == 5", [1]),  # numerically: the text "5" is not a number
        ('n == "5"', [1, 2]),  # as text: both read as 5
        ("n > 3", [1]),
        ("n >= 2.5", [1, 3]),
        ("n < 0", [4]),
        ("n <= 2.5", [3, 4]),
        ("n > 1e0", [1, 3]),
        ("n == -1", [4]),
        ('plan in ["pro", "free"]', [1, 2]),
        ("plan in []", []),
        ("n in [5, 2.5]", [1, 2, 3]),
        ('plan contains "r"', [1, 2, 4]),
        ('plan contains "P"', [4]),  # case-sensitive
        ('tags contains "a"', [1]),  # a list: an item holds "a"
        ("flag == true", [1]),
        ("flag == false", [4]),
        ("nothing == null", [2]),
        ("nothing != null", [1, 3, 4, 5]),
        ("plan is set", [1, 2, 4]),
        ("plan is not set", [3, 5]),
        ('plan == "pro" or n < 0', [1, 4]),
        ('plan == "pro" and n > 3', [1]),
        ('(plan == "free" or plan == "Pro") and n is set', [2, 4]),
        ('not (plan == "free" or plan == "Pro")', [1, 3, 5]),
        (r'properties["we\"ird\\name"] == "x"', [1]),
        ('$browser == "Chrome"', [1]),
        ('plan == "\'; DROP TABLE filter_rows; --"', []),
    ],
)
def test_compiled_filters_select_the_same_rows_on_both_engines(documents, text: str, ids: list[int]) -> None:  # noqa: ANN001
    params: dict = {}
    condition = SqlCompiler(documents.dialect, params).compile(parse(text), lambda _ref: "r.properties")
    sql = f"SELECT r.id FROM filter_rows AS r WHERE {condition} ORDER BY r.id"  # noqa: S608 - compiled, values bound
    with documents.begin() as conn:
        assert list(conn.execute(sql_clause(sql, params), params).scalars()) == ids
        assert conn.execute(sa.text("SELECT count(*) FROM filter_rows")).scalar() == len(DOCUMENTS)


# Lists, read item by item as Mixpanel reads them (never through their JSON text).
LIST_DOCUMENTS = {
    1: {"tags": ["eu", "b2b"]},
    2: {"tags": ["b2bx"]},
    3: {"tags": "b2b-partner"},  # a string: `in` and `contains` are substring tests
    4: {"tags": [1, "x,y", None]},
    5: {"tags": []},
    6: {},
}


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ('"b2b" in tags', [1, 3]),  # membership: ["b2bx"] does not hold the item "b2b"
        ('"b2b" in properties["tags"]', [1, 3]),
        ('"b2bx" in tags', [2]),
        ('"1" in tags', [4]),  # an item's text, as ->> gives it
        ('"x,y" in tags', [4]),
        ('"\\", \\"" in tags', []),  # the JSON text's separator is no item
        ('not "b2b" in tags', [2, 4, 5, 6]),
        ('tags contains "b2b"', [1, 2, 3]),  # an item (or the string) holds "b2b"
        ('tags contains "\\","', []),  # never the JSON text: '", "' is in no item
        ('tags contains ","', [4]),
        ('tags contains "["', []),
        ('tags contains "partner"', [3]),
    ],
)
def test_lists_are_read_item_by_item(warehouse, text: str, ids: list[int]) -> None:  # noqa: ANN001
    json_type = dialect_for(warehouse.dialect).json
    with warehouse.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE filter_lists (id INTEGER NOT NULL, properties {json_type} NOT NULL)"))
        conn.execute(sa.text(f"INSERT INTO filter_lists VALUES (:id, CAST(:doc AS {json_type}))"),  # noqa: S608
                     [{"id": n, "doc": json.dumps(doc)} for n, doc in LIST_DOCUMENTS.items()])
    params: dict = {}
    condition = SqlCompiler(warehouse.dialect, params).compile(parse(text), lambda _ref: "r.properties")
    sql = f"SELECT r.id FROM filter_lists AS r WHERE {condition} ORDER BY r.id"  # noqa: S608 - compiled, values bound
    with warehouse.begin() as conn:
        assert list(conn.execute(sql_clause(sql, params), params).scalars()) == ids


# Written as raw text: a duplicate name, and numbers beyond a double's range.
EDGE_DOCUMENTS = {
    1: '{"dup": "a", "n": 1, "dup": "b"}',
    2: '{"big": 1e400, "tiny": 1e-400}',
    3: '{"big": -1e400, "dup": "a"}',
}


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ('dup == "b"', [1]),  # of duplicate names the last, as attribution reads them
        ('dup == "a"', [3]),
        ('dup contains "a"', [3]),
        ("dup is set", [1, 3]),
        ("big > 1e300", [2]),  # beyond a double: an infinity on both engines, never an error
        ("big < -1e300", [3]),
        ("big == 0", []),
        ("tiny == 0", [2]),  # below the least double: 0
        ("n > 0", [1]),
    ],
)
def test_duplicate_names_and_huge_numbers_filter_alike(warehouse, text: str, ids: list[int]) -> None:  # noqa: ANN001
    json_type = dialect_for(warehouse.dialect).json
    with warehouse.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE filter_edge (id INTEGER NOT NULL, properties {json_type} NOT NULL)"))
        conn.execute(sa.text(f"INSERT INTO filter_edge VALUES (:id, CAST(:doc AS {json_type}))"),  # noqa: S608
                     [{"id": n, "doc": doc} for n, doc in EDGE_DOCUMENTS.items()])
    params: dict = {}
    condition = SqlCompiler(warehouse.dialect, params).compile(parse(text), lambda _ref: "r.properties")
    sql = f"SELECT r.id FROM filter_edge AS r WHERE {condition} ORDER BY r.id"  # noqa: S608 - compiled, values bound
    with warehouse.begin() as conn:
        assert list(conn.execute(sql_clause(sql, params), params).scalars()) == ids
