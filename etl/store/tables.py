"""How each warehouse table is written, declared once: the column that partitions it
and its write strategy. Every write names its table here, and each engine's adapter
carries the strategy out its own way (DuckDB and PostgreSQL: DELETE then INSERT in
the caller's transaction; Spark: the touched partitions written natively beside the
table and moved in at commit, etl.store.spark). Nobody reads SQL text to find out
what a write means.

Strategies:
- `partitions`: a write names the values of `partition` it replaces (a load date, the
  event dates a load touched); rows of other partitions are never touched.
- `table`: a write replaces rows of the whole table (a small table, or profiles
  rebuilt by id).
Either may narrow what it replaces with a condition of ours on the table's rows
(`replacing`, never user input): the rows of the named partitions (or of the table)
that match it are replaced by the write's rows; `replacing=None` replaces nothing
(the rows are added).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from etl.errors import EtlError

Strategy = Literal["partitions", "table"]

# A write's `replacing` default: every row of the partitions it names (or of the table).
EVERY_ROW = "true"


@dataclass(frozen=True)
class Table:
    """A warehouse table's write: its strategy, the column a `partitions` write names,
    and whether PostgreSQL's statistics are refreshed after a write (a table the
    day's later statements read at once: their plans depend on its size)."""

    name: str
    strategy: Strategy
    partition: str | None = None
    analyze: bool = False


TABLES: dict[str, Table] = {t.name: t for t in (
    # a load date's records (the day's parse)
    Table("events", "partitions", "load_date", analyze=True),
    Table("rejected_records", "partitions", "load_date"),
    Table("profile_updates", "partitions", "load_date"),
    # the event dates a load touched (attribution)
    Table("event_groups", "partitions", "event_date", analyze=True),
    Table("hot_shards", "partitions", "event_date"),
    Table("group_daily_metrics", "partitions", "event_date"),
    # account health: the dates from a changed group's first changed date on
    Table("group_activity_daily", "partitions", "activity_date"),
    Table("group_user_first_days", "table"),
    # profiles, rebuilt by id
    Table("group_profiles", "table"),
    Table("group_profile_history", "table"),
    Table("user_profiles", "table"),
    Table("user_groups", "table"),
    # small tables
    Table("load_audit", "table"),
    Table("group_keys", "table"),
    Table("profile_uploads", "table"),
    Table("upload_failures", "table"),
    Table("cohorts", "table"),
    Table("cohort_ids", "table"),
    Table("cohort_members", "table"),
    Table("export_days", "table"),
    Table("schema_version", "table"),
    Table("project_settings", "table"),
)}


# The views every engine has, by the template of their SELECT (DuckDB and PostgreSQL
# have each as a view since a migration; the Spark engine makes it each session).
VIEWS = {"events_deduped": "store/events_deduped"}


def declaration(name: str) -> Table:
    """The declaration of a warehouse table; an unknown name is our bug, said at once."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"no warehouse table {name!r} is declared in etl.store.tables") from None


def replaced_partitions(name: str, partitions: Sequence | None) -> list | None:
    """The partition values a write of `name` replaces, sorted (bound as
    `:replaced_partitions`); None for a `table` write. A `partitions` write must name
    them: an empty list replaces nothing."""
    declared = declaration(name)
    if declared.strategy != "partitions":
        return None
    if partitions is None:
        raise EtlError(f"a write of {name} names the {declared.partition} partitions it replaces")
    return sorted(set(partitions))
