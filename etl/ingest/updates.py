"""Profile updates: how a record of `groups/dt=D/` or `people/dt=D/` is validated
(`sql/ingest/parse_profile_updates.sql`) and what of it is kept."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from etl.ingest.records import (
    Parse,
    ParsedPartition,
    RecordKind,
    common_params,
    parse_partition,
)
from etl.store.columnar import Engine
from etl.store.lake import Lake, LakeObject
from etl.store.sql import render_sql

MAX_PROPERTIES = 2000
MAX_NAME_LENGTH = 255
META_KEYS = ["$token", "$time", "$group_key", "$group_id", "$distinct_id", "$ip",
             "$ignore_time", "$ignore_alias", "$latitude", "$longitude"]
UPDATE_COLUMNS = [
    "kind", "load_date", "source_object", "source_line", "source_index", "group_key",
    "profile_id", "update_time", "timed", "operation", "value", "raw",
]
# lake prefix and allowed operations of each kind of update
PREFIXES = {"group": "groups", "user": "people"}
# The operations a profile update may carry (Mixpanel's Engage API); users also take $add, $append.
GROUP_OPERATIONS = ("$set", "$set_once", "$unset", "$union", "$remove", "$delete")
USER_OPERATIONS = (*GROUP_OPERATIONS, "$add", "$append")
OPERATIONS = {"group": list(GROUP_OPERATIONS), "user": list(USER_OPERATIONS)}


def update_kind(kind: str) -> RecordKind:
    return RecordKind(kind, render_sql("ingest/parse_profile_updates", "duckdb"))


def parse_updates(
    engine: Engine, lake: Lake, objects: list[LakeObject], kind: str, day: date, tz: ZoneInfo,
    token: str | None, registered_keys: list[str], parse: Parse = parse_partition,
) -> ParsedPartition:
    params = {
        **common_params(day, tz, token),
        "kind": kind,
        "operations": OPERATIONS[kind],
        "all_operations": list(USER_OPERATIONS),
        "meta_keys": META_KEYS,
        "registered_keys": registered_keys,
        "max_properties": MAX_PROPERTIES,
        "max_name_length": MAX_NAME_LENGTH,
    }
    return parse(engine, lake, objects, update_kind(kind), params, None)
