"""Account health: `group_activity_daily`, each group's activity, trailing active
users and lifecycle per day, refreshed by the day run after attribution (the
definitions are in the README, "Account health"; the SQL is the STEPS below, each
`sql/model/<name>.sql`). Only the groups whose events changed are recomputed, from
their first changed date; the others gain rows when the last loaded day moves on."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from etl.model.models import Model, Scratch, drop_scratch, run_steps
from etl.store.warehouse import Warehouse

LIFECYCLE_STATES = ("new", "returning", "resurrected", "dormant")
# The groups whose rows change (each from its first changed date), and what each carries in
TARGETS = (Scratch("activity_targets"), Scratch("activity_seeds"))
# A target's rows replaced from its from_date: those of the dates :lowest..:horizon written
_TARGETS_FROM = ("EXISTS (SELECT 1 FROM activity_targets AS t WHERE t.group_key = {table}.group_key "
                 "AND t.group_id = {table}.group_id AND {table}.{date} >= t.from_date)")
REFRESH = (
    Scratch("activity_user_days"), Scratch("activity_latest"),
    Model("group_user_first_days", ("group_key", "group_id", "distinct_id", "first_date"),
          replacing=_TARGETS_FROM.format(table="group_user_first_days", date="first_date")
          + " AND first_date >= :lowest"),
    Scratch("activity_events"), Scratch("activity_spine"),
    Model("group_activity_daily", ("activity_date", "group_key", "group_id", "events", "active_users",
                                   "active_users_7d", "active_users_28d", "new_users", "days_since_active",
                                   "lifecycle", "churned"),
          replacing=_TARGETS_FROM.format(table="group_activity_daily", date="activity_date")),
)
TEMP_TABLES = tuple(step.name for step in TARGETS + REFRESH if isinstance(step, Scratch))


def health_horizon(conn: Connection) -> date | None:
    """The last loaded day: every group's rows run up to it (None before any load)."""
    return conn.execute(sa.text("SELECT max(load_date) FROM load_audit WHERE stage = 'events'")).scalar()


def refresh_activity(conn: Connection, warehouse: Warehouse, dates: list[date], churn_days: int) -> None:
    """Bring group_activity_daily and group_user_first_days up to date after attribution
    rebuilt event_groups for `dates`, inside the run's transaction."""
    horizon = health_horizon(conn)
    if horizon is None:
        return
    previous = conn.execute(sa.text("SELECT max(activity_date) FROM group_activity_daily")).scalar()
    params = {"dates": list(dates), "horizon": horizon, "previous": previous, "churn_days": churn_days}
    run_steps(conn, warehouse, TARGETS, params, touched=bool(dates), built=previous is not None)
    lowest = conn.execute(sa.text("SELECT min(from_date) FROM activity_targets")).scalar()
    if lowest is not None and lowest <= horizon:
        # the earliest changed date, as a constant: both engines then prune event_groups by date
        params.update(lowest=lowest, window_start=lowest - timedelta(days=27))
        rewritten = [lowest + timedelta(days=n) for n in range((horizon - lowest).days + 1)]
        run_steps(conn, warehouse, REFRESH, params, partitions=rewritten)
    drop_scratch(conn, warehouse, TARGETS + REFRESH)
