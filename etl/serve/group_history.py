"""A group profile's versions (group_profile_history), newest first: what the page's
history lists, each version's start a point the as-of picker can show."""

from __future__ import annotations

import sqlalchemy as sa

from etl.store.warehouse import Warehouse, json_value


def profile_versions(warehouse: Warehouse, group_key: str, group_id: str, limit: int = 50) -> list[dict]:
    """{"valid_from", "valid_to" (None: current), "deleted", "properties"}, newest first."""
    with warehouse.begin() as conn:
        rows = conn.execute(sa.text(
            "SELECT valid_from, valid_to, deleted, CAST(properties AS VARCHAR) AS properties "
            "FROM group_profile_history WHERE group_key = :k AND group_id = :g "
            "ORDER BY valid_from DESC LIMIT :limit"), {"k": group_key, "g": group_id, "limit": limit}).all()
    return [{"valid_from": r.valid_from, "valid_to": r.valid_to, "deleted": bool(r.deleted),
             "properties": json_value(r.properties)} for r in rows]
