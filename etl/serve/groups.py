"""A group's page: its profile and its activity feed (attributed events, newest first)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from etl.errors import EtlError
from etl.model.keys import list_keys
from etl.store.warehouse import Warehouse, json_value


def show_group(
    warehouse: Warehouse, group_key: str, group_id: str, limit: int = 50,
    before: datetime | None = None, as_of: datetime | None = None,
) -> dict:
    """The profile now (or as it was at `as_of`) and the events before `before`
    (default: `as_of`, else all), newest first."""
    keys = [k for k in list_keys(warehouse) if k.group_key == group_key]
    if not keys:
        raise EtlError(f"group key {group_key!r} is not set up (see `group-etl keys list`)")
    current = next((k for k in reversed(keys) if k.removed_at is None), keys[-1])
    with warehouse.begin() as conn:
        if as_of is None:
            profile = conn.execute(
                sa.text("SELECT CAST(properties AS VARCHAR) FROM group_profiles "
                        "WHERE group_key = :k AND group_id = :g"),
                {"k": group_key, "g": group_id},
            ).scalar()
        else:
            before = before or as_of
            profile = conn.execute(
                sa.text(
                    "SELECT CAST(properties AS VARCHAR) FROM group_profile_history "
                    "WHERE group_key = :k AND group_id = :g AND valid_from <= :t "
                    "  AND (valid_to IS NULL OR valid_to > :t) AND NOT deleted"
                ),
                {"k": group_key, "g": group_id, "t": as_of},
            ).scalar()
        events = conn.execute(
            sa.text(
                "SELECT g.event, g.event_time, g.distinct_id, CAST(e.properties AS VARCHAR) AS properties "
                "FROM event_groups AS g JOIN events_deduped AS e "
                "  ON e.event_date = g.event_date AND e.event_id = g.event_id "
                "WHERE g.group_key = :k AND g.group_id = :g "
                "  AND (CAST(:before AS TIMESTAMPTZ) IS NULL OR g.event_time < :before) "
                "ORDER BY g.event_time DESC, g.event_id DESC LIMIT :limit"
            ),
            {"k": group_key, "g": group_id, "before": before, "limit": limit},
        ).all()
    return {
        "group_key": group_key,
        "group_id": group_id,
        "data_group_id": current.data_group_id,
        "profile": json_value(profile),
        "events": [
            {"event": e.event, "time": e.event_time, "distinct_id": e.distinct_id,
             "properties": json_value(e.properties)}
            for e in events
        ],
    }
