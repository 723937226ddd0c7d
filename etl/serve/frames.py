"""pandas where analysts meet the data: `etl.connect()` and its DataFrames.

    import etl

    with etl.connect() as an:                       # GROUP_ETL_* settings, as the CLI
        keys = an.table("group_keys")
        daily = an.insights("Purchase", "2026-10-01", "2026-10-05", by="company_id")

Every method reads the warehouse through the same functions as the command
line (etl.serve.reports, groups, export, status) and only then turns the
answer into a DataFrame: pandas never sits on the per-event path. A report's
DataFrame holds its rows; the rest of its document (report, unit, event, ...)
is kept in `df.attrs`. JSON columns arrive decoded (dicts and lists), times
as `datetime64[us, UTC]`, dates as `datetime64[us]`.

Close what you open (`close()`, or a `with` block). On DuckDB an Analytics
opens the warehouse file only while a method reads: the pipeline's writer
waits for a query, never for an idle Analytics.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from etl.config import DEFAULTS, Settings, load_settings
from etl.errors import ConfigError, EtlError
from etl.model.keys import parse_instant
from etl.serve import export, groups, reports, status
from etl.serve.durations import parse_window
from etl.store.lake import open_lake
from etl.store.sql import sql_clause
from etl.store.warehouse import open_warehouse, quote_ident

# The tables of docs/tables.md, and the profile update log and uploads beside them.
TABLES = (
    "group_keys", "events", "event_groups", "group_profiles", "group_profile_history",
    "user_profiles", "user_groups", "group_daily_metrics", "cohorts", "rejected_records",
    "load_audit", "hot_shards", "profile_updates", "profile_uploads", "group_activity_daily",
)
SETTINGS = tuple(name.removeprefix("GROUP_ETL_").lower() for name in DEFAULTS)

_INTEGER_TYPES = ("bigint", "integer", "smallint", "hugeint", "tinyint")


def connect(**overrides: object) -> Analytics:
    """An Analytics on the warehouse of the GROUP_ETL_* environment; keyword arguments
    override it as the command line's options do (`warehouse_url=`, `schema=`, ...)."""
    unknown = sorted(set(overrides) - set(SETTINGS))
    if unknown:
        raise ConfigError(f"connect(): unknown setting {unknown[0]!r}; use {', '.join(SETTINGS)}")
    return Analytics(load_settings(**overrides))


@dataclass(frozen=True)
class Group:
    """A group's page: its profile (None when it has none) and its activity feed."""

    group_key: str
    group_id: str
    data_group_id: int
    profile: dict | None
    events: pd.DataFrame
    #: pass as `cursor=` for the next page; None on the last page
    next_cursor: str | None = None


class Analytics:
    """DataFrames from one warehouse; a context manager. See the module docstring."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # the file is held per query only; GROUP_ETL_ENGINE=spark reads the Spark tables
        self.warehouse = open_warehouse(settings, read_only=True)

    def close(self) -> None:
        self.warehouse.close()

    def __enter__(self) -> Analytics:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Analytics({self.warehouse.dialect}, schema {self.warehouse.schema!r})"

    # -- tables -----------------------------------------------------------------

    def table(self, name: str, columns: Sequence[str] | None = None,
              where: Mapping[str, object] | None = None, limit: int | None = None) -> pd.DataFrame:
        """A warehouse table's rows. `columns` picks columns (default: all, in table
        order); `where` keeps rows whose column equals a value (a list or tuple: any
        of its values), e.g. `{"event_date": date(2026, 10, 1), "event": ["A", "B"]}`."""
        if name not in TABLES:
            raise EtlError(f"unknown table {name!r}; the warehouse tables are {', '.join(TABLES)}")
        types = self._column_types(name)
        picked = list(types) if columns is None else list(columns)
        for column in [*picked, *(where or {})]:
            if column not in types:
                raise EtlError(f"table {name} has no column {column!r}; its columns are {', '.join(types)}")
        if limit is not None and limit < 0:
            raise EtlError(f"limit must be 0 or more, got {limit}")
        select = ", ".join(
            f"CAST({quote_ident(c)} AS VARCHAR) AS {quote_ident(c)}" if types[c] in ("json", "jsonb")
            else quote_ident(c)
            for c in picked
        )
        params: dict = {}
        conditions = []
        for n, (column, value) in enumerate((where or {}).items()):
            if value is None:
                conditions.append(f"{quote_ident(column)} IS NULL")
                continue
            params[f"w{n}"] = [_plain(v) for v in value] if isinstance(value, list | tuple) else _plain(value)
            operator = "IN" if isinstance(value, list | tuple) else "="
            conditions.append(f"{quote_ident(column)} {operator} :w{n}")
        sql = f"SELECT {select} FROM {quote_ident(name)}"  # noqa: S608 - quoted identifiers, bound values
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        if limit is not None:
            sql += " LIMIT :limit"
            params["limit"] = limit
        with self.warehouse.begin() as conn:
            rows = conn.execute(sql_clause(sql, params), params).all()
        frame = pd.DataFrame([tuple(r) for r in rows], columns=picked, dtype=object)
        for column in picked:
            frame[column] = _typed(frame[column], types[column])
        return frame

    def _column_types(self, name: str) -> dict[str, str]:
        """Column -> lower-case SQL type, in table order."""
        found = self.warehouse.column_types(name)
        if not found:
            raise EtlError(f"table {name} does not exist in schema {self.warehouse.schema!r} "
                           "(run `group-etl init`)")
        return found

    # -- reports ----------------------------------------------------------------

    def insights(self, event: str, first: date | str, last: date | str, *, by: str | None = None,
                 breakdown: str | None = None, where: str | None = None,
                 where_group: str | None = None, measure: str = "uniques", interval: str = "day",
                 breakdown_limit: int | None = None, group_props: str = "at-event") -> pd.DataFrame:
        """`group-etl report insights`: per day, week or month (and breakdown value) events,
        uniques and the measure's value."""
        document = reports.insights(self.warehouse, event, _day(first, "first"), _day(last, "last"),
                                    reports.Scope(by, where, where_group, breakdown, group_props), measure=measure,
                                    interval=interval, breakdown_limit=breakdown_limit)
        frame = _frame(document["rows"], ["date", "breakdown", "events", "uniques", "value"])
        frame["date"] = _datetimes(frame["date"])
        return _with_attrs(frame, document, "rows")

    def funnel(self, steps: Sequence[str], first: date | str, last: date | str, *,
               window: str | int = "7d", by: str | None = None, where: str | None = None,
               where_group: str | None = None, breakdown: str | None = None, breakdown_limit: int | None = None,
               group_props: str = "at-event") -> pd.DataFrame:
        """`group-etl report funnel`: one row per step (per breakdown value, with a
        `breakdown` column); `window` as `--window` (7d, 1w, 12h, 30m, 90s), or an int
        of seconds."""
        seconds = window if isinstance(window, int) else _window(window)
        document = reports.funnel(self.warehouse, list(steps), seconds, _day(first, "first"),
                                  _day(last, "last"), reports.Scope(by, where, where_group, breakdown, group_props),
                                  breakdown_limit=breakdown_limit)
        frame = _frame(document["steps"], [*(["breakdown"] if breakdown else []), "event", "units",
                                           "conversion_from_previous", "conversion_from_first",
                                           "median_seconds_to_convert"])
        frame["median_seconds_to_convert"] = frame["median_seconds_to_convert"].astype("float64")
        return _with_attrs(frame, document, "steps")

    def retention(self, born: str, returned: str, first: date | str, last: date | str, *,
                  by: str | None = None, unit: str = "day", where: str | None = None,
                  where_group: str | None = None, breakdown: str | None = None, breakdown_limit: int | None = None,
                  group_props: str = "at-event") -> pd.DataFrame:
        """`group-etl report retention`: one row per cohort date (per breakdown value, with a
        `breakdown` column), its size, and one column per period (`day_0`, `day_1`, ... or
        `week_0`, ...): the retention triangle, <NA> where a period lies past `last`."""
        document = reports.retention(self.warehouse, born, returned, _day(first, "first"),
                                     _day(last, "last"), reports.Scope(by, where, where_group, breakdown, group_props),
                                     period=unit, breakdown_limit=breakdown_limit)
        cohorts = document["cohorts"]
        periods = max((len(c["retained"]) for c in cohorts), default=0)
        names = [f"{unit}_{n}" for n in range(periods)]
        label = ["breakdown"] if breakdown else []
        frame = _frame([{**{k: c[k] for k in label}, "cohort_date": c["cohort_date"], "size": c["size"],
                         **dict(zip(names, c["retained"], strict=False))} for c in cohorts],
                       [*label, "cohort_date", "size", *names])
        frame["cohort_date"] = _datetimes(frame["cohort_date"])
        for name in names:
            frame[name] = frame[name].astype("Int64")
        return _with_attrs(frame, document, "cohorts")

    # -- groups, profiles, status ----------------------------------------------

    def group(self, group_key: str, group_id: str, *, limit: int = 50,
              before: datetime | str | None = None, as_of: datetime | str | None = None,
              cursor: str | None = None) -> Group:
        """`group-etl groups show`: the profile (now, or as of a time) and the latest
        events, newest first (columns event, time, distinct_id, properties); the next
        page: `cursor=` the page's `next_cursor`."""
        document = groups.show_group(self.warehouse, group_key, group_id, limit,
                                     self._instant(before, "before"), self._instant(as_of, "as_of"), cursor=cursor)
        events = _frame(document["events"], ["event", "time", "distinct_id", "properties"])
        events["time"] = _datetimes(events["time"], utc=True)
        return Group(group_key, group_id, document["data_group_id"], document["profile"], events,
                     document["next_cursor"])

    def profiles(self, data_group_id: int | None = None, cohort: str | None = None,
                 where: str | None = None, *, output_properties: Sequence[str] | None = None,
                 as_of: date | str | None = None) -> pd.DataFrame:
        """`group-etl export profiles` as a table: groups of one key (by data_group_id)
        or users, filtered by a saved cohort and a `--where` expression; a `$distinct_id`
        column, then one column per property (sorted), ordered by id; `as_of` a day: each
        group as it was at its end, as `export profiles --as-of D`."""
        day = (_day(as_of, "as_of") if as_of is not None
               else datetime.now(UTC).astimezone(self.settings.tz).date())
        at = export.end_of_day(day, self.settings.tz) if as_of is not None else None
        data_group_id = None if data_group_id is None else int(data_group_id)  # also numpy's int64
        results = export.all_results(self.warehouse, export.Selection(data_group_id, cohort, where, at),
                                     list(output_properties) if output_properties else None, day)
        names = sorted({name for r in results for name in r["$properties"]} - {"$distinct_id"})
        return _frame([{**r["$properties"], "$distinct_id": r["$distinct_id"]} for r in results],
                      ["$distinct_id", *names])

    def status(self, first: date | str | None = None, last: date | str | None = None) -> pd.DataFrame:
        """`group-etl status`: per load date its state and counts (<NA> when not loaded)."""
        rows = status.day_status(self.warehouse, open_lake(self.settings.lake_url),
                                 _day(first, "first") if first is not None else None,
                                 _day(last, "last") if last is not None else None,
                                 self.settings.landing_marker)
        frame = _frame(rows, ["date", "state", "input_records", "loaded", "rejected", "duplicates",
                              "invalid_group_id", "rejected_by_reason", "loaded_at"])
        frame["date"] = _datetimes(frame["date"])
        for column in ("input_records", "loaded", "rejected", "duplicates", "invalid_group_id"):
            frame[column] = frame[column].astype("Int64")
        frame["loaded_at"] = _datetimes(frame["loaded_at"], utc=True)
        return frame

    def _instant(self, value: datetime | str | None, what: str) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return value
        return parse_instant(value, self.settings.tz, what)


def _day(value: date | str, what: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise EtlError(f"{what}: expected a date or YYYY-MM-DD, got {value!r}") from None


def _plain(value: object) -> object:
    """A value taken from a DataFrame (numpy scalar, Timestamp) as the driver's Python value."""
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value.item() if isinstance(value, np.generic) else value


def _frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    """Rows as a DataFrame with these columns in this order, even when there are none."""
    return pd.DataFrame.from_records(rows, columns=columns) if rows else pd.DataFrame(columns=columns)


def _datetimes(values: pd.Series, utc: bool = False) -> pd.Series:
    """Dates, datetimes or ISO texts as datetime64[us] (in UTC with `utc`), whatever
    resolution pandas would infer from the values."""
    return pd.to_datetime(values, utc=utc, format="ISO8601").dt.as_unit("us")


def _with_attrs(frame: pd.DataFrame, document: dict, rows_key: str) -> pd.DataFrame:
    frame.attrs.update({k: v for k, v in document.items() if k != rows_key})
    return frame


def _typed(values: pd.Series, sql_type: str) -> pd.Series:
    """A column as pandas holds it best: JSON decoded, times in UTC, dates as
    datetime64, whole numbers as int64 (Int64 when some are NULL), booleans as bool;
    the rest as they come."""
    if sql_type in ("json", "jsonb"):
        return values.map(lambda v: None if v is None else json.loads(v)).astype(object)
    if sql_type.startswith("timestamp"):
        return _datetimes(values, utc=True)
    if sql_type == "date":
        return _datetimes(values)
    if sql_type in _INTEGER_TYPES:
        return values.astype("Int64" if values.isna().any() else "int64")
    if sql_type == "boolean" and not values.isna().any():
        return values.astype(bool)
    return values.infer_objects()


def _window(text: str) -> int:
    try:
        return parse_window(text)
    except ValueError as error:
        raise EtlError(f"window: {error}") from None
