"""Cohorts: saved sets of groups (of one key) or users, by profile and behaviour.

A definition is JSON:

    {"group_key": "company_id",            # or null / absent: a cohort of users
     "properties": [{"property": "plan", "op": "eq", "value": "enterprise"}],
     "behaviors": [{"event": "Purchase", "at_least": 1, "last_days": 7}],
     "groups": [{"group_key": "company_id", "property": "plan", "op": "eq", "value": "pro"}],
     "health": [{"metric": "active_users_28d", "op": "lt", "value": 3}],
     "lifecycle": "dormant",
     "export": true}

`properties` test the member's own profile; `behaviors` count the member's
deduplicated events (per group, or per user, as the reports do) in the last
`last_days` days up to the reference day, inclusive; `groups` (users only)
test the profile of a group the user belongs to. Ops: eq, neq, in, contains,
gt, lt, is_set, not_set. `health` and `lifecycle` (group cohorts) test the
group's row of group_activity_daily on the reference day (etl.serve.health).
All conditions must hold. A static cohort (`add_static_cohort`) is a fixed
list of ids, kept in cohort_members; its definition says `"static": true`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from etl.errors import EtlError
from etl.serve.filters import Compare, Ref, SqlCompiler
from etl.serve.health import check_health, health_conditions
from etl.store.sql import render_sql
from etl.store.warehouse import Warehouse

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
OPS = {"eq": "==", "neq": "!=", "in": "in", "contains": "contains", "gt": ">", "lt": "<",
       "is_set": "is set", "not_set": "is not set"}
TOP_LEVEL = {"group_key", "properties", "behaviors", "groups", "export", "user_properties", "health", "lifecycle"}


@dataclass(frozen=True)
class Cohort:
    name: str
    group_key: str | None
    definition: dict
    #: the stable number filter_by_cohort={"id": N} names (table cohort_ids)
    cohort_id: int | None = None

    @property
    def exported(self) -> bool:
        return bool(self.definition.get("export"))


def check_name(name: str) -> str:
    """A cohort name becomes a path segment (exports/<name>/): letters, digits, - and _ only."""
    if not NAME.match(name or ""):
        raise EtlError(f"cohort name {name!r}: use 1-64 letters, digits, '-' or '_', starting with a letter or digit")
    return name


def _condition(item: object, where: str, keys: set[str]) -> Compare:
    if not isinstance(item, dict):
        raise EtlError(f"{where}: a condition is an object like {{\"property\": \"plan\", \"op\": \"eq\", \"value\": \"pro\"}}")
    unknown = set(item) - {"property", "op", "value", "group_key"}
    if unknown:
        raise EtlError(f"{where}: unknown field(s) {sorted(unknown)}")
    prop, op = item.get("property"), item.get("op")
    if not isinstance(prop, str) or not prop:
        raise EtlError(f"{where}: 'property' must be a non-empty string")
    if op not in OPS:
        raise EtlError(f"{where}: 'op' must be one of {', '.join(OPS)}, got {op!r}")
    value = item.get("value")
    if op in ("is_set", "not_set"):
        if "value" in item:
            raise EtlError(f"{where}: {op} takes no value")
    elif "value" not in item:
        raise EtlError(f"{where}: {op} needs a value")
    if op == "in" and not isinstance(value, list):
        raise EtlError(f"{where}: 'in' needs a list value")
    if op in ("gt", "lt") and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise EtlError(f"{where}: {op} needs a number")
    if op == "contains" and not isinstance(value, str):
        raise EtlError(f"{where}: contains needs a string")
    scope = item.get("group_key")
    if scope is not None and scope not in keys:
        raise EtlError(f"{where}: group key {scope!r} is not set up")
    return Compare(Ref(scope, prop), OPS[op], value)


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    return isinstance(value, list) and any(_holds_nul(v) for v in value)


def validate(definition: object, keys: set[str]) -> dict:
    """The definition, checked; raises with what is wrong and where."""
    if not isinstance(definition, dict):
        raise EtlError("--definition: a JSON object is expected")
    if _holds_nul(definition):  # PostgreSQL's text and JSON cannot hold it: refused on every engine
        raise EtlError("--definition: holds a NUL character (\\u0000), which no property, value or event "
                       "name can hold")
    unknown = set(definition) - TOP_LEVEL
    if unknown:
        raise EtlError(f"--definition: unknown field(s) {sorted(unknown)}; expected {sorted(TOP_LEVEL)}")
    key = definition.get("group_key")
    if key is not None and key not in keys:
        raise EtlError(f"--definition: group key {key!r} is not set up (see `group-etl keys list`)")
    if key is not None and (definition.get("user_properties") or definition.get("groups")):
        raise EtlError("--definition: a cohort of groups cannot use user profile conditions (the link "
                       "from users to groups is one-way: users may be filtered by their groups, not groups by their users)")
    for field in ("properties", "behaviors", "groups", "user_properties"):
        if not isinstance(definition.get(field, []), list):
            raise EtlError(f"--definition: '{field}' must be a list")
    for n, item in enumerate(definition.get("properties", []) + definition.get("user_properties", [])):
        if isinstance(item, dict) and "group_key" in item:
            raise EtlError(f"--definition: properties[{n}]: group_key belongs in 'groups' conditions")
        _condition(item, f"--definition: properties[{n}]", keys)
    for n, item in enumerate(definition.get("groups", [])):
        if not isinstance(item, dict) or not item.get("group_key"):
            raise EtlError(f"--definition: groups[{n}]: needs a group_key")
        _condition(item, f"--definition: groups[{n}]", keys)
    for n, item in enumerate(definition.get("behaviors", [])):
        where = f"--definition: behaviors[{n}]"
        if not isinstance(item, dict) or set(item) - {"event", "at_least", "last_days"}:
            raise EtlError(f"{where}: expected {{\"event\": E, \"at_least\": N, \"last_days\": K}}")
        if not isinstance(item.get("event"), str) or not item["event"]:
            raise EtlError(f"{where}: 'event' must be a non-empty string")
        for field in ("at_least", "last_days"):
            value = item.get(field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise EtlError(f"{where}: '{field}' must be a whole number of at least 1")
    if not isinstance(definition.get("export", False), bool):
        raise EtlError("--definition: 'export' must be true or false")
    check_health(definition)
    return definition


def _keys(warehouse: Warehouse) -> set[str]:
    with warehouse.begin() as conn:
        return set(conn.execute(sa.text("SELECT DISTINCT group_key FROM group_keys")).scalars())


def add_cohort(warehouse: Warehouse, name: str, definition_text: str) -> Cohort:
    check_name(name)
    try:
        definition = json.loads(definition_text)
    except json.JSONDecodeError as error:
        raise EtlError(f"--definition: not JSON ({error.msg} at character {error.pos})") from None
    definition = validate(definition, _keys(warehouse))
    with warehouse.begin() as conn:
        cohort_id = _save(conn, warehouse, name, definition)
    return Cohort(name, definition.get("group_key"), definition, cohort_id)


def _save(conn: sa.Connection, warehouse: Warehouse, name: str, definition: dict) -> int:
    """Save a cohort under a new id; returns the id."""
    if conn.execute(sa.text("SELECT count(*) FROM cohorts WHERE name = :n"), {"n": name}).scalar():
        raise EtlError(f"cohort {name!r} exists; remove it first to redefine it")
    warehouse.write(conn, "cohorts", ("name", "group_key", "definition"), replacing=None,
                    values=[{"name": name, "group_key": definition.get("group_key"),
                             "definition": json.dumps(definition)}])
    # the next number ever given (removed cohorts keep theirs): an id names one definition
    cohort_id = conn.execute(sa.text("SELECT coalesce(max(cohort_id), 0) + 1 FROM cohort_ids")).scalar()
    warehouse.write(conn, "cohort_ids", ("cohort_id", "name", "assigned_at"), replacing=None,
                    values=[{"cohort_id": cohort_id, "name": name, "assigned_at": datetime.now(UTC)}])
    return cohort_id


#: the longest id a static cohort keeps, in UTF-8 bytes (Mixpanel's ids are far shorter)
STATIC_ID_BYTES = 1024


def static_ids(text: str, source: str) -> list[str]:
    """The ids of a `--static` file: one a line, exactly as written (spaces included; only
    the line ending, LF or CRLF, and a UTF-8 byte order mark are not part of it), blank
    lines skipped, repeats kept once. An empty list, or an id with a NUL or past
    STATIC_ID_BYTES, is an error."""
    ids = dict.fromkeys(line.removesuffix("\r") for line in text.removeprefix("\ufeff").split("\n"))
    ids = [i for i in ids if i.strip()]
    if not ids:
        raise EtlError(f"--static {source}: no ids (one id a line; blank lines are skipped)")
    if any("\x00" in i for i in ids):
        raise EtlError(f"--static {source}: an id holds a NUL character (\\u0000), which no id can hold")
    for member in ids:
        if len(member.encode()) > STATIC_ID_BYTES:
            # PostgreSQL cannot index a much longer one (its B-tree rows hold at most ~2.7 kB)
            raise EtlError(f"--static {source}: an id is longer than {STATIC_ID_BYTES} bytes (UTF-8): "
                           f"{member[:20]!r}...")
    return ids


def add_static_cohort(warehouse: Warehouse, name: str, group_key: str | None, ids: list[str],
                      export: bool = False) -> Cohort:
    """Save a fixed list of group ids (of `group_key`) or distinct_ids as a cohort: a
    drilled-down list (`report ... --list-units`) kept, exported like any cohort."""
    import pyarrow as pa  # here: listing and reading cohorts needs no Arrow (issue 21)

    check_name(name)
    if group_key is not None and group_key not in _keys(warehouse):
        raise EtlError(f"--key: group key {group_key!r} is not set up (see `group-etl keys list`)")
    definition = {"group_key": group_key, "static": True, "export": export}
    with warehouse.begin() as conn:
        cohort_id = _save(conn, warehouse, name, definition)
        # in bulk: an executemany of 100,000 ids took a minute on DuckDB
        warehouse.write(conn, "cohort_members", ["cohort", "member_id"], replacing=None,
                        rows=pa.table({"cohort": pa.array([name] * len(ids), pa.string()),
                                       "member_id": pa.array(ids, pa.string())}))
    return Cohort(name, group_key, definition, cohort_id)


def list_cohorts(warehouse: Warehouse) -> list[Cohort]:
    with warehouse.begin() as conn:
        rows = conn.execute(sa.text(
            "SELECT c.name, c.group_key, CAST(c.definition AS VARCHAR), "
            "  (SELECT max(i.cohort_id) FROM cohort_ids AS i WHERE i.name = c.name) "
            "FROM cohorts AS c ORDER BY c.name")).all()
    return [Cohort(n, k, json.loads(d), i) for n, k, d, i in rows]


def get_cohort(warehouse: Warehouse, name: str) -> Cohort:
    for cohort in list_cohorts(warehouse):
        if cohort.name == name:
            return cohort
    raise EtlError(f"cohort {name!r} does not exist (see `group-etl cohorts list`)")


def cohort_by_id(warehouse: Warehouse, cohort_id: int) -> Cohort:
    """The saved cohort with that number (filter_by_cohort={"id": N})."""
    for cohort in list_cohorts(warehouse):
        if cohort.cohort_id == cohort_id:
            return cohort
    raise EtlError(f"cohort id {cohort_id} does not exist (see `group-etl cohorts list`)")


def remove_cohort(warehouse: Warehouse, name: str) -> None:
    get_cohort(warehouse, name)
    with warehouse.begin() as conn:
        warehouse.write(conn, "cohorts", (), params={"n": name}, replacing="name = :n")
        warehouse.write(conn, "cohort_members", (), params={"n": name}, replacing="cohort = :n")


def behaviour_window(cohort: Cohort, as_of: date) -> tuple[date, date] | None:
    """The first and last event date any behaviour of the cohort counts (None: no behaviour):
    every member found by behaviour did an event in it, profile or not."""
    behaviors = cohort.definition.get("behaviors", [])
    if not behaviors:
        return None
    return as_of - timedelta(days=max(b["last_days"] for b in behaviors) - 1), as_of


def member_conditions(cohort: Cohort, dialect: str, params: dict, as_of: date, profile: str = "p",
                      at: datetime | None = None) -> list[str]:
    """SQL conditions that all hold for a member, over `profile`: a row of (profile_id,
    properties), the id a group id or a distinct_id as the cohort is of groups or users.
    `at`: `groups` conditions test each group's profile as it was then (its history)."""
    definition = cohort.definition
    compiler = SqlCompiler(dialect, params, prefix="c")
    at_param = compiler.bind(at) if at is not None else None
    conditions = []
    if definition.get("static"):
        conditions.append(render_sql("serve/cohort_static", dialect, member=f"{profile}.profile_id",
                                     cohort=compiler.bind(cohort.name)).strip())
    conditions += health_conditions(definition, dialect, f"{profile}.profile_id", compiler.bind, as_of)
    for item in definition.get("properties", []) + definition.get("user_properties", []):
        conditions.append(compiler.compile(_condition(item, "", {item.get("group_key")}),
                                           lambda _ref: f"{profile}.properties"))
    for item in definition.get("groups", []):
        node = _condition(item, "", {item["group_key"]})
        condition = compiler.compile(node, lambda _ref: "gp.properties")
        conditions.append(render_sql("serve/member_of_group", dialect, member=f"{profile}.profile_id",
                                     key=compiler.bind(item["group_key"]), condition=condition,
                                     at=at_param).strip())
    for item in definition.get("behaviors", []):
        conditions.append(render_sql(
            "serve/cohort_behavior", dialect, member=f"{profile}.profile_id",
            event=compiler.bind(item["event"]),
            first=compiler.bind(as_of - timedelta(days=item["last_days"] - 1)),
            last=compiler.bind(as_of),
            at_least=compiler.bind(item["at_least"]),
            group_key=compiler.bind(cohort.group_key) if cohort.group_key else None,
        ).strip())
    return conditions
