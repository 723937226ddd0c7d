"""The account-health oracle: group_activity_daily recomputed from scratch, in plain
Python, from attributed events (README, "Account health"). Tests compare the
incrementally kept table with it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta


def health_rows(attributed: Iterable[tuple[str, str, date, str]], horizon: date,
                churn_days: int) -> list[tuple]:
    """Rows of group_activity_daily, in its column order, from (group_key, group_id,
    event_date, distinct_id) rows (one per attributed event) up to `horizon`."""
    events: dict[tuple[str, str], dict[date, list[str]]] = defaultdict(lambda: defaultdict(list))
    for key, gid, day, user in attributed:
        if day <= horizon:
            events[(key, gid)][day].append(user)
    out = []
    for (key, gid), days in events.items():
        first_seen: dict[str, date] = {}
        for day in sorted(days):
            for user in days[day]:
                first_seen.setdefault(user, day)
        day, last_active = min(days), None
        while day <= horizon:
            users = days.get(day, [])
            window = {u for back in range(28) for u in days.get(day - timedelta(back), [])}
            week = {u for back in range(7) for u in days.get(day - timedelta(back), [])}
            if users:
                state = ("new" if last_active is None else
                         "returning" if last_active == day - timedelta(1) else "resurrected")
                last_active = day
            else:
                state = "dormant"
            since = (day - last_active).days
            out.append((day, key, gid, len(users), len(set(users)), len(week), len(window),
                        sum(1 for d in first_seen.values() if d == day), since, state,
                        state == "dormant" and since >= churn_days))
            day += timedelta(1)
    return sorted(out)
