"""Group keys: the project settings that say which event property names a group.

A key applies to events from its `setup_at` (to the second) until
`removed_at`; registering a property again makes a new key with a new id, and
may not start before the previous registration's `removed_at` (no event is
attributed twice).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from etl.errors import EtlError
from etl.store.sql import render_sql
from etl.store.warehouse import Warehouse

MAX_KEY_NAME_LENGTH = 255


@dataclass(frozen=True)
class GroupKey:
    data_group_id: int
    group_key: str
    display_name: str
    setup_at: datetime
    removed_at: datetime | None

    def as_dict(self) -> dict:
        row = asdict(self)
        row["setup_at"] = self.setup_at.isoformat()
        row["removed_at"] = self.removed_at.isoformat() if self.removed_at else None
        return row


def data_group_id_for(group_key: str, setup_at: datetime) -> int:
    """A stable signed 64-bit id, distinct per (property, setup time)."""
    digest = hashlib.blake2b(f"{group_key}\x1f{setup_at.isoformat()}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def parse_instant(text: str, tz: ZoneInfo, what: str) -> datetime:
    """ISO 8601; a time without an offset is read in the project time zone."""
    try:
        value = datetime.fromisoformat(text)
        if value.tzinfo is None:
            value = value.replace(tzinfo=tz)
        return value.astimezone(UTC)
    except ValueError:
        raise EtlError(f"{what}: not an ISO 8601 date or time: {text!r}") from None
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before the first instant Python has
        raise EtlError(f"{what}: {text!r} is out of range") from None


KEY_COLUMNS = ("data_group_id", "group_key", "display_name", "setup_at", "removed_at")


def list_keys(warehouse: Warehouse, include_removed: bool = True) -> list[GroupKey]:
    with warehouse.begin() as conn:
        return _keys(conn, include_removed)


def _keys(conn: sa.Connection, include_removed: bool = True) -> list[GroupKey]:
    query = "SELECT data_group_id, group_key, display_name, setup_at, removed_at FROM group_keys"
    if not include_removed:
        query += " WHERE removed_at IS NULL"
    rows = conn.execute(sa.text(query + " ORDER BY setup_at, group_key")).all()
    return [GroupKey(*[_utc(v) if isinstance(v, datetime) else v for v in row]) for row in rows]


def add_key(
    warehouse: Warehouse,
    group_key: str,
    *,
    max_keys: int,
    display_name: str | None = None,
    setup_at: datetime | None = None,
) -> GroupKey:
    if not group_key or not group_key.strip():
        raise EtlError("group key: the property name may not be empty")
    if len(group_key) > MAX_KEY_NAME_LENGTH or "\x00" in group_key:
        raise EtlError(f"group key: the property name must be 1-{MAX_KEY_NAME_LENGTH} characters without NUL")
    setup = (setup_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    key = GroupKey(
        data_group_id=data_group_id_for(group_key, setup),
        group_key=group_key,
        display_name=display_name or group_key,
        setup_at=setup,
        removed_at=None,
    )
    with warehouse.begin() as conn:
        warehouse.lock(conn, "group_keys")
        active = conn.execute(
            sa.text("SELECT group_key FROM group_keys WHERE removed_at IS NULL")
        ).scalars().all()
        if group_key in active:
            raise EtlError(f"group key {group_key!r} is already set up; remove it first to set it up again")
        if len(active) >= max_keys:
            raise EtlError(
                f"group key {group_key!r}: the project already has {len(active)} group keys, "
                f"the limit (GROUP_ETL_MAX_GROUP_KEYS) is {max_keys}"
            )
        # registrations of one property may not overlap in time: each event is attributed once
        overlapping = conn.execute(
            sa.text("SELECT max(removed_at) FROM group_keys WHERE group_key = :k AND removed_at > :setup"),
            {"k": group_key, "setup": setup},
        ).scalar()
        if overlapping is not None:
            until = _utc(overlapping).isoformat()
            raise EtlError(f"group key {group_key!r} was set up until {until}: a new registration may not "
                           f"overlap it (setup at {setup.isoformat()}); set it up at {until} or later")
        taken = conn.execute(
            sa.text("SELECT count(*) FROM group_keys WHERE data_group_id = :id"),
            {"id": key.data_group_id},
        ).scalar()
        if taken:
            raise EtlError(f"group key {group_key!r} was already set up at {setup.isoformat()}; pick another time")
        warehouse.write(conn, "group_keys", KEY_COLUMNS, values=[asdict(key)], replacing=None)
        _rebuild_user_groups(conn, warehouse)
    return key


def remove_key(warehouse: Warehouse, group_key: str, removed_at: datetime | None = None) -> GroupKey:
    """Stop attributing events from now on; what was attributed before stays."""
    when = (removed_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    with warehouse.begin() as conn:
        warehouse.lock(conn, "group_keys")
        row = conn.execute(
            sa.text(
                "SELECT data_group_id FROM group_keys WHERE group_key = :k AND removed_at IS NULL"
            ),
            {"k": group_key},
        ).first()
        if row is None:
            raise EtlError(f"group key {group_key!r} is not set up")
        warehouse.write(conn, "group_keys", KEY_COLUMNS, values=[
            {**asdict(key), "removed_at": when if key.data_group_id == row[0] else key.removed_at}
            for key in _keys(conn)])
        _rebuild_user_groups(conn, warehouse)
    return next(k for k in list_keys(warehouse) if k.data_group_id == row[0])


def _rebuild_user_groups(conn: sa.Connection, warehouse: Warehouse) -> None:
    """user_groups again, after a key changed: imported here, because the profile stages
    load Arrow and numpy, which `keys list`, `groups show` and reports never need (issue 21)."""
    from etl.model.profile_updates import rebuild_user_groups

    rebuild_user_groups(conn, warehouse)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def preview_key(
    warehouse: Warehouse, group_key: str, setup_at: datetime, first: date, last: date
) -> dict:
    """What `keys add` would attribute over event dates first..last, writing nothing.

    The candidate key is inserted in a transaction that is always rolled back, so
    the preview runs the very SQL the pipeline runs.
    """
    from etl.days import day_range
    from etl.store.sql import sql_clause

    setup = setup_at.astimezone(UTC).replace(microsecond=0)
    candidate = data_group_id_for(group_key, setup) ^ 1  # never an id a real key holds
    params = {"dates": day_range(first, last), "setup_at": setup, "group_key": group_key,
              "data_group_id": candidate}
    with warehouse.engine.connect() as conn:
        transaction = conn.begin()
        try:
            conn.execute(
                sa.text("INSERT INTO group_keys (data_group_id, group_key, display_name, setup_at) "
                        "VALUES (:data_group_id, :group_key, :group_key, :setup_at)"),
                params,
            )
            warehouse.scratch(conn, "group_values", render_sql("model/group_values", warehouse.dialect), params)
            counts = conn.execute(sql_clause(render_sql("model/key_preview", warehouse.dialect)), params).one()
            mismatched = conn.execute(
                sql_clause(render_sql("model/case_mismatches", warehouse.dialect)), params
            ).scalar()
        finally:
            transaction.rollback()
    return {
        "group_key": group_key,
        "setup_at": setup.isoformat(),
        "from": first.isoformat(),
        "to": last.isoformat(),
        "events": counts.events,
        "groups": counts.groups,
        "invalid_values": counts.invalid_values,
        "case_mismatched_events": mismatched,
    }


def registered_keys(warehouse: Warehouse) -> list[str]:
    """Every property ever registered as a group key: group updates must name one."""
    with warehouse.begin() as conn:
        return list(conn.execute(sa.text("SELECT DISTINCT group_key FROM group_keys")).scalars())
