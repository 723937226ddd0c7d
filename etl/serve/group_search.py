"""Finding groups for the search page: by a part of the id, by a filter on the profile
(the `--where` grammar of etl.serve.filters), or both."""

from __future__ import annotations

from etl.errors import EtlError
from etl.serve.filters import Ref, SqlCompiler, parse
from etl.store.sql import render_sql, sql_clause
from etl.store.warehouse import Warehouse, json_value

SEARCH_LIMIT = 50


def search_groups(warehouse: Warehouse, group_key: str, text: str | None = None, where: str | None = None,
                  limit: int = SEARCH_LIMIT) -> list[dict]:
    """The first `limit` groups of `group_key` (by id) whose id holds `text` and whose
    profile satisfies `where`; each as {"group_id", "properties"}."""
    params: dict = {"key": group_key, "limit": limit}
    conditions = []
    if text:
        params["text"] = text
    if where:
        def column(ref: Ref) -> str:
            if ref.scope is not None:
                raise EtlError(f"where: {ref.scope}.{ref.name}: a search filters on the group's own "
                               "properties (properties[\"name\"] or name)")
            return "gp.properties"

        conditions.append(SqlCompiler(warehouse.dialect, params, prefix="w").compile(parse(where, "where"), column))
    sql = render_sql("serve/group_search", warehouse.dialect, text=bool(text), conditions=conditions)
    with warehouse.begin() as conn:
        rows = conn.execute(sql_clause(sql, params), params).all()
    return [{"group_id": group_id, "properties": json_value(properties)} for group_id, properties in rows]
