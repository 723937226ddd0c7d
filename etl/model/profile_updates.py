"""Profile updates: replacing a load's partition of `profile_updates` and rebuilding
the profiles it touches.

A load replaces its partition of `profile_updates`; every profile it touched
(before or now) is then rebuilt from all of that profile's updates, in
(effective time, timed before untimed, load date, object, line, element)
order. So a re-run of any day is exact, and a late update with an early
`$time` lands where it belongs in the history.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from etl.ingest.records import ACCEPTED, REJECT_COLUMNS, REJECTED, ParsedPartition
from etl.ingest.updates import MAX_PROPERTIES, UPDATE_COLUMNS
from etl.model.attribution import MAX_GROUP_IDS_PER_EVENT
from etl.model.profiles import CREATING_OPERATIONS, Update, Version, created_at, fold_profile
from etl.store.arrow import text_array
from etl.store.sql import render_sql
from etl.store.tables import EVERY_ROW
from etl.store.warehouse import Warehouse, json_value


def replace_update_partition(
    conn: Connection, warehouse: Warehouse, kind: str, day: date, parsed: ParsedPartition,
    max_group_profiles: int,
) -> tuple[int, int]:
    """Replace (kind, D) in profile_updates and rejected_records, enforce the profile
    limit, rebuild every profile the load touched (refusing this load's updates that
    would take a profile past MAX_PROPERTIES). Returns (applied, rejected)."""
    touched_before = _touched(conn, kind, day)
    of_kind = {"params": {"k": kind}, "partitions": [day], "replacing": "kind = :k"}
    warehouse.write(conn, "profile_updates", UPDATE_COLUMNS, rows=parsed.rows(), where=ACCEPTED, **of_kind)
    warehouse.write(conn, "rejected_records", REJECT_COLUMNS, rows=parsed.rows(), where=REJECTED, **of_kind)
    refused = 0
    if kind == "group":
        refused = enforce_profile_limit(conn, warehouse, day, max_group_profiles)
    capped = rebuild_profiles(conn, warehouse, "group" if kind == "group" else "user",
                              sorted(touched_before | _touched(conn, kind, day), key=repr),
                              refusable=(kind, day))
    return parsed.loaded - refused - capped, parsed.rejected + refused + capped


def _touched(conn: Connection, kind: str, day: date) -> set[tuple[str, str]]:
    rows = conn.execute(
        sa.text("SELECT DISTINCT coalesce(group_key, ''), profile_id FROM profile_updates "
                "WHERE kind = :k AND load_date = :d"),
        {"k": kind, "d": day},
    )
    return {(key, pid) for key, pid in rows}


def enforce_profile_limit(
    conn: Connection, warehouse: Warehouse, day: date, limit: int, *,
    upload: tuple[str, datetime] | None = None,
) -> int:
    """Refuse the updates of profiles new in a partition past the per-key limit
    (`over_limit`); returns how many updates were refused.

    The partition is day D's group updates, or with `upload` (source, applied at)
    the rows of that CSV upload (load date D). New profiles are admitted in arrival
    order; profiles that already exist keep updating. The rule is one SQL text,
    `sql/model/over_limit.sql`; the refused updates move to rejected_records
    (`profile_limit_rejects.sql`, then a write of profile_updates that replaces them
    with nothing: `over_limit_updates.sql`).
    """
    partition = "group" if upload is None else "upload"
    params = {"d": day, "max_profiles": limit, "creating": list(CREATING_OPERATIONS)}
    if upload is not None:
        params["source"], params["now"] = upload
    count = sa.text(
        "SELECT count(*) FROM rejected_records WHERE kind = :k AND load_date = :d AND reason = 'profile_limit'")
    before = conn.execute(count, {"k": partition, **params}).scalar()
    warehouse.scratch(conn, "over_limit", render_sql("model/over_limit", warehouse.dialect, partition=partition),
                      params)
    warehouse.write(conn, "rejected_records", REJECT_COLUMNS, params=params, partitions=[day], replacing=None,
                    query=render_sql("model/profile_limit_rejects", warehouse.dialect, partition=partition))
    warehouse.write(conn, "profile_updates", UPDATE_COLUMNS, params=params, partitions=[day],
                    replacing=render_sql("model/over_limit_updates", warehouse.dialect, partition=partition))
    after = conn.execute(count, {"k": partition, **params}).scalar()
    warehouse.drop_temp(conn, "over_limit")
    return after - before


def rebuild_profiles(
    conn: Connection, warehouse: Warehouse, target: str, profiles: list[tuple[str, str]],
    *, refusable: tuple[str, date] | None = None,
) -> int:
    """Fold all updates of the given profiles into current state and history.

    target 'group': group_profiles and group_profile_history, from kinds group and
    upload; target 'user': user_profiles and user_groups, from kind user. With
    `refusable` (kind, load date), an update of that partition that would give its
    profile more than MAX_PROPERTIES properties moves to rejected_records
    (`profile_property_limit`); returns how many did. Updates already accepted by
    other loads are never refused, so other days' load_audit rows stay true.
    """
    if not profiles:
        return 0
    kinds = ["group", "upload"] if target == "group" else ["user"]
    warehouse.scratch_rows(conn, "affected_profiles", {"group_key": "VARCHAR", "profile_id": "VARCHAR"}, pa.table({
        "group_key": text_array([k for k, _ in profiles]),
        "profile_id": text_array([p for _, p in profiles])}))
    rows = conn.execute(
        sa.text(
            "SELECT coalesce(u.group_key, '') AS group_key, u.profile_id, u.update_time, "
            "u.operation, CAST(u.value AS VARCHAR) AS value, u.kind, u.load_date, "
            "u.source_object, u.source_line, u.source_index "
            "FROM profile_updates AS u JOIN affected_profiles AS a "
            "  ON a.group_key = coalesce(u.group_key, '') AND a.profile_id = u.profile_id "
            "WHERE u.kind IN :kinds "
            "ORDER BY 1, 2, u.update_time, u.timed DESC, u.load_date, u.source_object, "
            "u.source_line, u.source_index"
        ).bindparams(sa.bindparam("kinds", expanding=True)),
        {"kinds": kinds},
    )
    refused: list[tuple] = []
    folded = list(_fold_all(rows, refusable, refused))
    _refuse(conn, warehouse, refused)
    if target == "group":
        _write_groups(conn, warehouse, folded)
    else:
        _write_users(conn, warehouse, folded)
    warehouse.drop_temp(conn, "affected_profiles")
    return len(refused)


_REFUSED = ("EXISTS (SELECT 1 FROM refused_updates AS r WHERE r.kind = profile_updates.kind "
            "AND r.load_date = profile_updates.load_date AND r.source_object = profile_updates.source_object "
            "AND r.source_line = profile_updates.source_line AND r.source_index = profile_updates.source_index)")


def _refuse(conn: Connection, warehouse: Warehouse, refused: list[tuple]) -> None:
    """Move the updates the property cap refused (all of one load date) from
    profile_updates to rejected_records (`sql/model/property_limit_rejects.sql`)."""
    if not refused:
        return
    kinds, days, objects, lines, indexes = zip(*refused, strict=True)
    warehouse.scratch_rows(conn, "refused_updates", {
        "kind": "VARCHAR", "load_date": "DATE", "source_object": "VARCHAR", "source_line": "BIGINT",
        "source_index": "INTEGER"}, pa.table({
            "kind": text_array(list(kinds)), "load_date": pa.array(days, pa.date32()),
            "source_object": text_array(list(objects)), "source_line": pa.array(lines, pa.int64()),
            "source_index": pa.array(indexes, pa.int32())}))
    day = {"params": {"d": days[0]}, "partitions": [days[0]]}
    warehouse.write(conn, "rejected_records", REJECT_COLUMNS, replacing=None,
                    query=render_sql("model/property_limit_rejects", warehouse.dialect), **day)
    warehouse.write(conn, "profile_updates", UPDATE_COLUMNS, replacing=_REFUSED, **day)
    warehouse.drop_temp(conn, "refused_updates")


def _fold_all(
    rows: Iterable, refusable: tuple[str, date] | None, refused: list[tuple],
) -> Iterator[tuple[str, str, list[Version]]]:
    def ref(r) -> tuple | None:
        if refusable is None or (r.kind, r.load_date) != refusable:
            return None
        return (r.kind, r.load_date, r.source_object, r.source_line, r.source_index)

    for (key, pid), updates in itertools.groupby(rows, key=lambda r: (r.group_key, r.profile_id)):
        yield key, pid, fold_profile(
            (Update(r.update_time, r.operation, json_value(r.value), ref(r)) for r in updates),
            MAX_PROPERTIES, refused,
        )


def _affected(table: str, key: str, pid: str) -> str:
    """The rows of a profile table that belong to the profiles being rebuilt."""
    return (f"EXISTS (SELECT 1 FROM affected_profiles AS a WHERE a.group_key = {key} "  # noqa: S608 - ours
            f"AND a.profile_id = {table}.{pid})")


def _write_groups(conn: Connection, warehouse: Warehouse, folded: list) -> None:
    history = [
        {"group_key": key, "group_id": pid, "properties": _dump(v.properties),
         "valid_from": v.valid_from, "valid_to": v.valid_to, "deleted": v.deleted}
        for key, pid, versions in folded for v in versions
    ]
    current = [
        {"group_key": key, "group_id": pid, "properties": _dump(versions[-1].properties),
         "created_at": created_at(versions), "updated_at": versions[-1].valid_from}
        for key, pid, versions in folded if versions and not versions[-1].deleted
    ]
    _replace(conn, warehouse, "group_profile_history", history, {
        "group_key": pa.string(), "group_id": pa.string(), "properties": pa.string(),
        "valid_from": pa.timestamp("us", "UTC"), "valid_to": pa.timestamp("us", "UTC"), "deleted": pa.bool_()},
        _affected("group_profile_history", "group_profile_history.group_key", "group_id"))
    _replace(conn, warehouse, "group_profiles", current, {
        "group_key": pa.string(), "group_id": pa.string(), "properties": pa.string(),
        "created_at": pa.timestamp("us", "UTC"), "updated_at": pa.timestamp("us", "UTC")},
        _affected("group_profiles", "group_profiles.group_key", "group_id"))


def _write_users(conn: Connection, warehouse: Warehouse, folded: list) -> None:
    current = [(pid, versions[-1]) for _, pid, versions in folded if versions and not versions[-1].deleted]
    users = [{"distinct_id": pid, "properties": _dump(v.properties), "updated_at": v.valid_from}
             for pid, v in current]
    _replace(conn, warehouse, "user_profiles", users, {
        "distinct_id": pa.string(), "properties": pa.string(), "updated_at": pa.timestamp("us", "UTC")},
        _affected("user_profiles", "''", "distinct_id"))
    write_user_groups(conn, warehouse, affected_only=True)


def rebuild_user_groups(conn: Connection, warehouse: Warehouse) -> None:
    """All of user_groups again, after the set of registered keys changed."""
    write_user_groups(conn, warehouse, affected_only=False)


def write_user_groups(conn: Connection, warehouse: Warehouse, *, affected_only: bool) -> None:
    """user_groups from user_profiles (of the users in affected_profiles, or all), by the
    attribution rule and cap that events use (`sql/model/user_groups.sql`)."""
    warehouse.write(conn, "user_groups", ("distinct_id", "group_key", "group_id"),
                    query=render_sql("model/user_groups", warehouse.dialect, affected=affected_only),
                    params={"max_ids": MAX_GROUP_IDS_PER_EVENT},
                    replacing=_affected("user_groups", "''", "distinct_id") if affected_only else EVERY_ROW)


def _replace(conn: Connection, warehouse: Warehouse, table: str, rows: list[dict], schema: dict,
             replacing: str) -> None:
    warehouse.write(conn, table, list(schema), rows=pa.Table.from_pylist(rows, schema=pa.schema(schema)),
                    replacing=replacing)


def _dump(properties: dict | None) -> str | None:
    return None if properties is None else json_text(properties)


# Outside strings: a float Python writes with an exponent (1e+16) or not finite.
_NUMBER_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|-?Infinity|NaN|-?[0-9]+(?:\.[0-9]+)?e\+[0-9]+')


def json_text(value: object) -> str:
    """JSON text of a profile, with numbers written so both engines read them as DuckDB's
    JSON writer (events.properties) has them: a float of 1e16 or more is written whole
    with `.0` (JSONB would keep `1e+16` as the integer 10000000000000000, DuckDB as a
    double), and a float too large for a double (read from 1e400) as 1e400."""
    def number(match: re.Match) -> str:
        token = match.group(0)
        if token.startswith('"'):
            return token
        if token.endswith("Infinity"):
            return token.replace("Infinity", "1e400")
        if token == "NaN":
            return "null"
        return f"{Decimal(token):f}.0"
    return _NUMBER_TOKENS.sub(number, json.dumps(value, ensure_ascii=False, sort_keys=True))
