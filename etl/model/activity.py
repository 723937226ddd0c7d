"""Account health: `group_activity_daily`, each group's activity, trailing active
users and lifecycle per day, refreshed by the day run after attribution (the
definitions are in the README, "Account health"; the SQL is
`sql/model/activity_targets.sql` then `sql/model/refresh_group_activity.sql`). Only the groups whose events changed
are recomputed, from their first changed date; the others gain rows when the
last loaded day moves on."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from etl.store.sql import render_sql, run_script
from etl.store.warehouse import Warehouse

LIFECYCLE_STATES = ("new", "returning", "resurrected", "dormant")
TEMP_TABLES = ("activity_targets", "activity_seeds", "activity_user_days", "activity_latest", "activity_events",
               "activity_spine")


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
    for temp in TEMP_TABLES:
        warehouse.drop_temp(conn, temp)
    run_script(conn, render_sql("model/activity_targets", warehouse.dialect, touched=bool(dates),
                                built=previous is not None), params, warehouse.analyze)
    lowest = conn.execute(sa.text("SELECT min(from_date) FROM activity_targets")).scalar()
    if lowest is not None and lowest <= horizon:
        # the earliest changed date, as a constant: both engines then prune event_groups by date
        params.update(lowest=lowest, window_start=lowest - timedelta(days=27))
        run_script(conn, render_sql("model/refresh_group_activity", warehouse.dialect), params, warehouse.analyze)
    for temp in TEMP_TABLES:
        warehouse.drop_temp(conn, temp)
