"""A group's activity over time for its page: active users and events per day from
its attributed events, and the account-health figures of `group_activity_daily`."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from etl.store.sql import render_sql
from etl.store.warehouse import Warehouse

DAYS = 30
HEALTH_COLUMNS = ("activity_date", "events", "active_users", "active_users_7d", "active_users_28d",
                  "new_users", "days_since_active", "lifecycle", "churned")


def last_active_day(warehouse: Warehouse, group_key: str, group_id: str, until: date | None = None) -> date | None:
    """The group's latest event date (on or before `until`): where its charts end."""
    with warehouse.begin() as conn:
        return conn.execute(sa.text(
            "SELECT max(event_date) FROM event_groups WHERE group_key = :k AND group_id = :g "
            "AND (CAST(:until AS DATE) IS NULL OR event_date <= :until)"),
            {"k": group_key, "g": group_id, "until": until}).scalar()


def daily_activity(warehouse: Warehouse, group_key: str, group_id: str, last: date,
                   days: int = DAYS) -> list[dict]:
    """{"day", "active_users", "events"} for each of the `days` days ending `last`, 0 where idle."""
    first = last - timedelta(days=days - 1)
    params = {"key": group_key, "group_id": group_id, "first": first, "last": last}
    with warehouse.begin() as conn:
        found = {_day(r.event_date): (r.active_users, r.events) for r in conn.execute(
            sa.text(render_sql("serve/group_active_users", warehouse.dialect)), params)}
    return [{"day": day, "active_users": found.get(day, (0, 0))[0], "events": found.get(day, (0, 0))[1]}
            for day in (first + timedelta(days=n) for n in range(days))]


def account_health(warehouse: Warehouse, group_key: str, group_id: str, until: date,
                   days: int = DAYS) -> list[dict]:
    """The group's rows of group_activity_daily for the `days` days ending on its last row
    on or before `until`, oldest first. The table has a row for every loaded day from the
    group's first event on, so a quiet group's last row says how long it has been dormant."""
    columns = ", ".join(HEALTH_COLUMNS)
    params = {"k": group_key, "g": group_id, "until": until}
    with warehouse.begin() as conn:
        last = conn.execute(sa.text(
            "SELECT max(activity_date) FROM group_activity_daily "
            "WHERE group_key = :k AND group_id = :g AND activity_date <= :until"), params).scalar()
        if last is None:
            return []
        rows = conn.execute(sa.text(
            f"SELECT {columns} FROM group_activity_daily "  # noqa: S608 - fixed column names
            "WHERE group_key = :k AND group_id = :g AND activity_date BETWEEN :first AND :last "
            "ORDER BY activity_date"),
            {**params, "first": _day(last) - timedelta(days=days - 1), "last": last}).all()
    return [dict(zip(HEALTH_COLUMNS, (_day(r[0]), *r[1:]), strict=True)) for r in rows]


def _day(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)
