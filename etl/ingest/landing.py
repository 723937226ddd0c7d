"""Which lake objects are day D's input, and whether day D has landed: one rule for
`group-etl run`, the Airflow sensor and `group-etl status` (status compares the
fingerprint of this listing with the one a run recorded, so both must list alike).
"""

from __future__ import annotations

from datetime import date

from etl.store.lake import INPUT_PREFIXES, Lake, LakeObject, partition_prefix


def marker_key(day: date, marker: str) -> str:
    """The landing marker of day D: exactly this key, nothing that merely starts with it."""
    return partition_prefix("events", day.isoformat()) + marker


def input_objects(lake: Lake, source: str, day: date, marker: str | None) -> list[LakeObject]:
    """The objects under `<source>/dt=D/`, less the landing marker: the object named
    exactly `<source>/dt=D/<marker>`. `_SUCCESS.tmp` or `_SUCCESS/part.jsonl` are
    ordinary objects, read as records like any other."""
    prefix = partition_prefix(source, day.isoformat())
    objects = lake.list(prefix)
    if marker:
        objects = [o for o in objects if o.key != prefix + marker]
    return objects


def day_listings(lake: Lake, day: date, marker: str | None) -> dict[str, list[LakeObject]]:
    """The input objects of day D, by source (events, groups, people)."""
    return {source: input_objects(lake, source, day, marker) for source in INPUT_PREFIXES}


def not_landed(lake: Lake, day: date, marker: str | None, listings: dict[str, list[LakeObject]]) -> str | None:
    """Why day D has not landed, or None once it has: with a landing marker, once the
    object `events/dt=D/<marker>` exists; without one, once `events/dt=D/` holds an
    object. groups/ or people/ alone is a dump still landing (or half-copied) far more
    often than a day without events."""
    if marker:
        key = marker_key(day, marker)
        if any(o.key == key for o in lake.list(key)):
            return None
        return f"{day} has not landed: no {key} in the lake {lake.url} (GROUP_ETL_LANDING_MARKER)"
    if listings.get("events"):
        return None
    events = partition_prefix("events", day.isoformat())
    others = [partition_prefix(s, day.isoformat()) for s in INPUT_PREFIXES if s != "events" and listings.get(s)]
    if others:
        return (f"{day} has not landed: no objects under {events} in the lake {lake.url} "
                f"({' and '.join(others)} alone is no landed day: a dump landing in pieces "
                "should write a landing marker last, GROUP_ETL_LANDING_MARKER)")
    return f"{day} has not landed: no objects under {events} in the lake {lake.url}"
