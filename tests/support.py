"""Helpers the tests share: records, lake files, settings and table snapshots."""

from __future__ import annotations

import gzip
import json

import sqlalchemy as sa

from etl.config import Settings, load_settings
from etl.store.lake import Lake
from etl.store.warehouse import Warehouse

# Every warehouse table, and the columns that legitimately differ between runs.
TABLES = [
    "group_keys", "events", "event_groups", "group_profiles", "group_profile_history",
    "user_profiles", "user_groups", "group_daily_metrics", "cohorts", "rejected_records",
    "load_audit", "hot_shards", "profile_updates", "profile_uploads", "upload_failures",
    "group_activity_daily", "group_user_first_days", "cohort_members",
]
RUN_TIME_COLUMNS = {"load_audit": {"started_at", "finished_at"}}


def make_settings(url: str, lake_url: str, schema: str, **extra: str) -> Settings:
    env = {"GROUP_ETL_WAREHOUSE_URL": url, "GROUP_ETL_LAKE_URL": lake_url, "GROUP_ETL_SCHEMA": schema}
    env.update(extra)
    return load_settings(environ=env)


def event(name: str, distinct_id: str | None, time: float | None, insert_id: str | None = None,
          **props: object) -> dict:
    """A Mixpanel event record; None leaves the field out."""
    properties: dict = {}
    if distinct_id is not None:
        properties["distinct_id"] = distinct_id
    if time is not None:
        properties["time"] = time
    if insert_id is not None:
        properties["$insert_id"] = insert_id
    properties.update(props)
    return {"event": name, "properties": properties}


def write_jsonl(lake: Lake, key: str, records: list, compress: bool = False) -> None:
    lines = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records).encode()
    lake.write(key, gzip.compress(lines, mtime=0) if compress else lines)


def snapshot(warehouse: Warehouse) -> dict[str, list[tuple]]:
    """Every table's rows, sorted, with JSON normalised and run times left out."""
    out = {}
    with warehouse.begin() as conn:
        for table in TABLES:
            result = conn.execute(sa.text(f"SELECT * FROM {table}"))  # noqa: S608 - fixed names
            columns = [c for c in result.keys() if c not in RUN_TIME_COLUMNS.get(table, set())]
            rows = [tuple(_normal(row._mapping[c]) for c in columns) for row in result]
            out[table] = sorted(rows, key=repr)
    return out


def _normal(value: object) -> object:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.dumps(json.loads(value), sort_keys=True)
        except ValueError:
            return value
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value
