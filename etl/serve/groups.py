"""A group's page: its profile, its health on the last loaded day (group_activity_daily)
and its activity feed (attributed events, newest first).

The feed is ordered by (event time, event id), both descending: event ids are
unique and compared bytewise on both engines, so ties in the same second have
one order and a page boundary is a point of that order. A page's `next_cursor`
(or `--before TIME --before-id ID` of its last event) starts the next page just
after it, so paging neither skips nor repeats an event.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

import sqlalchemy as sa

from etl.errors import EtlError
from etl.model.keys import list_keys
from etl.serve.health import group_health
from etl.store.warehouse import Warehouse, json_value


def encode_cursor(time: datetime, event_id: str) -> str:
    """An opaque token for the point just after (time, event_id) in the feed's order."""
    text = json.dumps([time.isoformat(), event_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        time, event_id = json.loads(raw)
        moment = datetime.fromisoformat(time)
        if moment.tzinfo is None or not isinstance(event_id, str) or "\x00" in event_id:
            raise ValueError  # a NUL is no event id, and PostgreSQL refuses it in a bound string
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise EtlError(f"--cursor {cursor!r} is not a cursor of `groups show` (use next_cursor as printed)") from None
    return moment, event_id


def show_group(
    warehouse: Warehouse, group_key: str, group_id: str, limit: int = 50,
    before: datetime | None = None, as_of: datetime | None = None,
    before_id: str | None = None, cursor: str | None = None,
) -> dict:
    """The profile now (or as it was at `as_of`) and `limit` events, newest first:
    after `cursor`, or after (`before`, `before_id`), or strictly before `before`
    (default: `as_of`, else all). An unknown group (no profile ever, no event) is an error."""
    if cursor is not None:
        if before is not None or before_id is not None:
            raise EtlError("--cursor already says where the page starts: leave out --before and --before-id")
        before, before_id = decode_cursor(cursor)
    elif before_id is not None and before is None:
        raise EtlError("--before-id needs --before (the time of that event)")
    keys = [k for k in list_keys(warehouse) if k.group_key == group_key]
    if not keys:
        raise EtlError(f"group key {group_key!r} is not set up (see `group-etl keys list`)")
    current = next((k for k in reversed(keys) if k.removed_at is None), keys[-1])
    if "\x00" in group_id:  # no group id holds a NUL, and PostgreSQL refuses one in a bound string
        raise EtlError(f"group {group_key} = {group_id!r} is unknown: no profile and no attributed events")
    group = {"k": group_key, "g": group_id}
    with warehouse.begin() as conn:
        if as_of is None:
            profile = conn.execute(
                sa.text("SELECT CAST(properties AS VARCHAR) FROM group_profiles "
                        "WHERE group_key = :k AND group_id = :g"), group,
            ).scalar()
        else:
            before = before or as_of
            profile = conn.execute(
                sa.text(
                    "SELECT CAST(properties AS VARCHAR) FROM group_profile_history "
                    "WHERE group_key = :k AND group_id = :g AND valid_from <= :t "
                    "  AND (valid_to IS NULL OR valid_to > :t) AND NOT deleted"
                ),
                {**group, "t": as_of},
            ).scalar()
        # the page's start as a condition only when there is one: no NULL parameter to type
        # (TIMESTAMPTZ is no Spark type)
        start = ("" if before is None else " AND g.event_time < :before" if before_id is None else
                 " AND (g.event_time < :before OR (g.event_time = :before AND g.event_id < :before_id))")
        events = conn.execute(
            sa.text(
                "SELECT g.event_id, g.event, g.event_time, g.distinct_id, "  # noqa: S608 - `start` is ours
                "  CAST(e.properties AS VARCHAR) AS properties "
                "FROM event_groups AS g JOIN events_deduped AS e "
                "  ON e.event_date = g.event_date AND e.event_id = g.event_id "
                f"WHERE g.group_key = :k AND g.group_id = :g{start} "
                "ORDER BY g.event_time DESC, g.event_id DESC LIMIT :limit"
            ),
            {**group, "before": before, "before_id": before_id, "limit": limit + 1},
        ).all()
        if profile is None and not events and not _known(conn, group):  # asked only when nothing was found
            raise EtlError(f"group {group_key} = {group_id!r} is unknown: no profile and no attributed events")
        health = group_health(conn, group_key, group_id)
    more, events = len(events) > limit, events[:limit]  # one more row says whether a next page exists
    last = events[-1] if more else None
    return {
        "group_key": group_key,
        "group_id": group_id,
        "data_group_id": current.data_group_id,
        "profile": json_value(profile),
        "health": health,
        "events": [
            {"time": e.event_time, "event_id": e.event_id, "event": e.event, "distinct_id": e.distinct_id,
             "properties": json_value(e.properties)}
            for e in events
        ],
        "next_cursor": encode_cursor(last.event_time, last.event_id) if last is not None else None,
    }


def _known(conn: sa.Connection, group: dict) -> bool:
    """A profile now or ever, or an attributed event."""
    return bool(conn.execute(
        sa.text(
            "SELECT EXISTS (SELECT 1 FROM group_profiles WHERE group_key = :k AND group_id = :g) "
            "OR EXISTS (SELECT 1 FROM group_profile_history WHERE group_key = :k AND group_id = :g) "
            "OR EXISTS (SELECT 1 FROM event_groups WHERE group_key = :k AND group_id = :g)"
        ),
        group,
    ).scalar())
