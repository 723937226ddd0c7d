"""`group-etl`: the command line of the README's command table.

Exit codes: 0 success, 1 wrong data or request (one line on stderr), 2 usage.

Start-up (issue 21): a command imports what it uses inside its function; this
module imports only Typer and etl's foundations, so `--help` and `--version`
load no SQLAlchemy, DuckDB, Arrow, pandas or rich
(tests/unit/test_startup_imports.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import sys
from datetime import date, datetime
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from etl.cli.interrupts import on_sigint, stopped_by_ctrl_c
from etl.cli.output import Format, print_feed, print_json, print_rows
from etl.config import DEFAULTS, Settings, load_settings
from etl.errors import EtlError, Interrupted

if TYPE_CHECKING:
    from rich.console import Console

# pretty_exceptions off: its tracebacks print local variables, which may hold secrets.
# rich_markup_mode=None: click's plain help (no `<bool>` type column, no rich import to print it).
app = typer.Typer(
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None,
    help="Mixpanel-style Group Analytics in your warehouse.",
    epilog="Every option above overrides the GROUP_ETL_* environment variable it names; "
           "`group-etl settings` lists every variable with its meaning, value and source "
           "(docs/configuration.md).",
)
keys_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Group keys (project settings).")
groups_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Group profiles and activity.")
report_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Insights, funnels and retention, per user or per group.")
cohorts_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Saved cohorts of groups or users.")
export_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Profile exports (Mixpanel's Engage shape).")
app.add_typer(keys_app, name="keys")
app.add_typer(groups_app, name="groups")
app.add_typer(report_app, name="report")
app.add_typer(cohorts_app, name="cohorts")
app.add_typer(export_app, name="export")

FormatOption = Annotated[Format, typer.Option(
    "--format", help="table (for people), json or csv (for machines and spreadsheets)")]


@cache
def _err() -> Console:
    """The console of stderr's one-line messages; rich is imported on the first."""
    from rich.console import Console

    return Console(stderr=True)


def _settings(ctx: typer.Context) -> Settings:
    root = ctx.find_root()
    if not isinstance(root.obj, Settings):
        root.obj = load_settings(**(root.obj or {}))
    return root.obj


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"group-etl {version('group-analytics-etl')}")
        raise typer.Exit


def _setting(name: str, metavar: str, default: str) -> dict:
    """An option's help: the variable's meaning, its name and its default."""
    from etl.config import MEANINGS

    return {"metavar": metavar, "show_default": False,
            "help": f"{MEANINGS[name]} [env {name}; default: {default or 'unset'}]"}


@app.callback()
def _options(
    ctx: typer.Context,
    warehouse_url: Annotated[str | None, typer.Option(**_setting(
        "GROUP_ETL_WAREHOUSE_URL", "URL", DEFAULTS["GROUP_ETL_WAREHOUSE_URL"]))] = None,
    lake_url: Annotated[str | None, typer.Option(**_setting("GROUP_ETL_LAKE_URL", "URL", "data/lake"))] = None,
    schema: Annotated[str | None, typer.Option(**_setting("GROUP_ETL_SCHEMA", "NAME", "main or public"))] = None,
    timezone: Annotated[str | None, typer.Option(**_setting("GROUP_ETL_TIMEZONE", "ZONE", "UTC"))] = None,
    project_token: Annotated[str | None, typer.Option(**_setting("GROUP_ETL_PROJECT_TOKEN", "TOKEN", ""))] = None,
    max_group_keys: Annotated[int | None, typer.Option(**_setting(
        "GROUP_ETL_MAX_GROUP_KEYS", "N", DEFAULTS["GROUP_ETL_MAX_GROUP_KEYS"]))] = None,
    max_group_profiles: Annotated[int | None, typer.Option(**_setting(
        "GROUP_ETL_MAX_GROUP_PROFILES", "N", DEFAULTS["GROUP_ETL_MAX_GROUP_PROFILES"]))] = None,
    hot_shard_limit: Annotated[int | None, typer.Option(**_setting(
        "GROUP_ETL_HOT_SHARD_LIMIT", "N", DEFAULTS["GROUP_ETL_HOT_SHARD_LIMIT"]))] = None,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="print the version and exit")] = False,
) -> None:
    """Mixpanel-style Group Analytics in your warehouse."""
    ctx.obj = {
        "warehouse_url": warehouse_url, "lake_url": lake_url, "schema": schema,
        "timezone": timezone, "project_token": project_token, "max_group_keys": max_group_keys,
        "max_group_profiles": max_group_profiles, "hot_shard_limit": hot_shard_limit,
    }


@app.command()
def settings(ctx: typer.Context, fmt: FormatOption = Format.table) -> None:
    """Show every setting, its value and where it came from.

    Each GROUP_ETL_* variable: its value (passwords masked), its source (option,
    environment or default) and what it means."""
    from etl.api.settings import DEFAULTS as SERVE_DEFAULTS
    from etl.config import describe_settings
    from etl.store.warehouse import safe_url

    rows = describe_settings(more=SERVE_DEFAULTS, **(ctx.find_root().obj or {}))
    for row in rows:
        if row["setting"] == "GROUP_ETL_WAREHOUSE_URL":
            row["value"] = safe_url(row["value"])
        elif row["setting"] == "GROUP_ETL_LAKE_URL":  # s3://KEY:SECRET@bucket is no lake, but never echo a secret
            row["value"] = re.sub(r"(://[^/@]*?:)[^/@]*@", r"\1***@", row["value"])
    if fmt is not Format.table:
        print_rows(rows, ["setting", "value", "source", "meaning"], fmt)
        return
    import shutil
    import textwrap

    width = max(40, shutil.get_terminal_size().columns) if sys.stdout.isatty() else 100
    for row in rows:  # a block a setting: four columns would not fit 80 characters
        typer.echo(f"{row['setting']} = {row['value'] or '(unset)'}  ({row['source']})")
        typer.echo(textwrap.fill(row["meaning"], width, initial_indent="    ", subsequent_indent="    "))


def _warehouse(ctx: typer.Context):  # noqa: ANN202
    """The warehouse for a command that writes: it then calls `migrate()` first."""
    from etl.store.warehouse import open_warehouse

    return open_warehouse(_settings(ctx))


def _reader(ctx: typer.Context):  # noqa: ANN202
    """The warehouse opened read-only for a command that only reads: no lock on DuckDB's
    file, no DDL, and a clear error when the schema is missing, older or newer."""
    from etl.store.warehouse import open_warehouse

    return open_warehouse(_settings(ctx), read_only=True)


def _lake(ctx: typer.Context):  # noqa: ANN202
    from etl.store.lake import open_lake

    return open_lake(_settings(ctx).lake_url)


def _instant(text: str | None, ctx: typer.Context, option: str) -> datetime | None:
    """An ISO 8601 option as a UTC instant (None for none); a bad one is a usage mistake."""
    from etl.model.keys import parse_instant

    if text is None:
        return None
    try:
        return parse_instant(text, _settings(ctx).tz, option)
    except EtlError as error:
        raise typer.BadParameter(str(error).removeprefix(f"{option}: "), param_hint=option) from None


def _date(value: str, option: str) -> date:
    # the pattern first: fromisoformat alone also takes 20261005 and the week date 2026-W40-1
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value, re.ASCII):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"expected YYYY-MM-DD, got {value!r}", param_hint=option) from None


def _migrate(ctx: typer.Context) -> None:
    with _warehouse(ctx) as warehouse:
        before = warehouse.schema_version()
        after = warehouse.migrate()
    was = "none" if before is None else str(before)
    typer.echo(f"warehouse ready (schema version {was} -> {after})")


@app.command()
def init(ctx: typer.Context) -> None:
    """Create or migrate the warehouse schema; safe to repeat."""
    _migrate(ctx)


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Apply the schema migrations the warehouse lacks.

    Prints the schema version before and after."""
    _migrate(ctx)


@app.command()
def run(
    ctx: typer.Context,
    day: Annotated[str | None, typer.Option("--date", metavar="YYYY-MM-DD", help="one load date")] = None,
    first: Annotated[str | None, typer.Option("--from", metavar="YYYY-MM-DD", help="first load date of a range")] = None,
    last: Annotated[str | None, typer.Option("--to", metavar="YYYY-MM-DD", help="last load date of a range")] = None,
    allow_empty: Annotated[bool, typer.Option(
        "--allow-empty", help="load a day with no input in the lake as an empty day "
        "(refused by default: a missing dump must not replace a loaded day)")] = False,
    allow_shrink: Annotated[bool, typer.Option(
        "--allow-shrink", help="accept a re-run that drops more than GROUP_ETL_SHRINK_LIMIT "
        "of a day's loaded events")] = False,
    fmt: FormatOption = Format.table,
) -> None:
    """Run the daily pipeline for one day or a range.

    Days run in date order; re-running a day leaves every table identical."""
    from etl.days import day_range

    if day and (first or last):
        raise typer.BadParameter("give --date, or --from and --to, not both")
    if day:
        days = [_date(day, "--date")]
    elif first and last:
        start, end = _date(first, "--from"), _date(last, "--to")
        if end < start:
            raise typer.BadParameter("--to is before --from")
        days = day_range(start, end)
    else:
        raise typer.BadParameter("give --date D, or --from D1 --to D2")
    from etl.cli.runs import run_days

    results = run_days(_settings(ctx), days, allow_empty=allow_empty, allow_shrink=allow_shrink)
    rows = [
        {"date": r.day.isoformat(), "input_records": r.input_records, "loaded": r.loaded,
         "rejected": r.rejected, "duplicates": r.duplicates, "invalid_group_id": r.invalid_group_id,
         "group_updates": r.group_updates[0], "user_updates": r.user_updates[0],
         "seconds": r.seconds}
        for r in results
    ]
    columns = [c for c in (rows[0] if rows else {}) if c != "seconds" or fmt is Format.json]
    print_rows(rows, columns, fmt, title="group-etl run")


@app.command()
def status(
    ctx: typer.Context,
    first: Annotated[str | None, typer.Option(
        "--from", metavar="YYYY-MM-DD", show_default="the first loaded day", help="first load date shown")] = None,
    last: Annotated[str | None, typer.Option(
        "--to", metavar="YYYY-MM-DD", show_default="the last loaded day", help="last load date shown")] = None,
    check: Annotated[bool, typer.Option(
        "--check", help="exit 1 when a day is stale, not loaded, or has rejects over "
        "GROUP_ETL_REJECT_WARN, one line a day on stderr (for cron)")] = False,
    fmt: FormatOption = Format.table,
) -> None:
    """Show each load date's counts, rejects and staleness.

    Per load date: counts, rejects by reason, and stale days whose inputs changed."""
    from etl.serve.status import day_status, problems

    start = _date(first, "--from") if first else None
    end = _date(last, "--to") if last else None
    if start and end and end < start:
        _range(first, last)
    with _reader(ctx) as warehouse:
        rows = day_status(warehouse, _lake(ctx), start, end, _settings(ctx).landing_marker)
    columns = ["date", "state", "input_records", "loaded", "rejected", "duplicates",
               "invalid_group_id", "rejected_by_reason"]
    print_rows(rows, columns, fmt, title="load status", formats={"rejected_by_reason": _reasons})
    found = problems(rows, _settings(ctx).reject_warn, start, end) if check else []
    for line in found:
        _err().print(f"check: {line}", markup=False, highlight=False, soft_wrap=True)
    if found:
        raise typer.Exit(1)


def _reasons(counts: dict | None) -> str:
    """{"invalid_json": 2} as `invalid_json 2`, which wraps between reasons."""
    return ", ".join(f"{reason} {n}" for reason, n in (counts or {}).items())


@keys_app.command("add")
def keys_add(
    ctx: typer.Context,
    prop: Annotated[str, typer.Argument(metavar="PROPERTY", help="event property naming the group")],
    display_name: Annotated[str | None, typer.Option(
        "--display-name", show_default="the property", help="the name reports show")] = None,
    setup_at: Annotated[str | None, typer.Option(
        "--setup-at", metavar="TIME", show_default="now",
        help="ISO 8601: events from then on are attributed")] = None,
) -> None:
    """Register a group key; prints its data_group_id."""
    from etl.model.keys import add_key

    settings = _settings(ctx)
    when = _instant(setup_at, ctx, "--setup-at")
    with _warehouse(ctx) as warehouse:
        warehouse.migrate()
        key = add_key(warehouse, prop, max_keys=settings.max_group_keys,
                      display_name=display_name, setup_at=when)
    typer.echo(key.data_group_id)


@keys_app.command("list")
def keys_list(ctx: typer.Context, fmt: FormatOption = Format.table) -> None:
    """List group keys, removed ones included."""
    from etl.model.keys import list_keys

    with _reader(ctx) as warehouse:
        rows = [k.as_dict() for k in list_keys(warehouse)]
    print_rows(rows, ["group_key", "display_name", "data_group_id", "setup_at", "removed_at"], fmt,
               title="group keys")


@keys_app.command("remove")
def keys_remove(ctx: typer.Context, prop: Annotated[str, typer.Argument(
        metavar="PROPERTY", help="the group key to stop attributing")]) -> None:
    """Stop attributing a key from now on; its history stays."""
    from etl.model.keys import remove_key

    with _warehouse(ctx) as warehouse:
        warehouse.migrate()
        key = remove_key(warehouse, prop)
    typer.echo(f"removed {key.group_key!r} (data_group_id {key.data_group_id}) at {key.removed_at.isoformat()}")


@keys_app.command("preview")
def keys_preview(
    ctx: typer.Context,
    prop: Annotated[str, typer.Argument(metavar="PROPERTY", help="event property naming the group")],
    setup_at: Annotated[str, typer.Option("--setup-at", metavar="TIME", help="ISO 8601: when the key would start")],
    first: FromOption,
    last: ToOption,
    fmt: FormatOption = Format.table,
) -> None:
    """Preview what a key would attribute (writes nothing).

    A dry run over the loaded events of --from .. --to."""
    from etl.model.keys import preview_key

    start, end = _range(first, last)
    setup = _instant(setup_at, ctx, "--setup-at")
    with _reader(ctx):  # a dry run: a DuckDB file that does not exist is an error, not created
        pass
    with _warehouse(ctx) as warehouse:
        warehouse.migrate()
        document = preview_key(warehouse, prop, setup, start, end)
    if fmt is Format.json:
        print_json(document)
    elif fmt is Format.csv:
        print_rows([document], list(document), fmt)
    else:  # one record: a line a field fits any terminal
        print_rows([{"field": k, "value": v} for k, v in document.items()], ["field", "value"], fmt,
                   title="key preview (nothing written)")


@groups_app.command("show")
def groups_show(
    ctx: typer.Context,
    key: Annotated[str, typer.Option("--key", help="group key")],
    group_id: Annotated[str, typer.Option("--id", help="group id")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="events a page")] = 50,
    before: Annotated[str | None, typer.Option(
        "--before", metavar="TIME", show_default="the newest", help="ISO 8601: events strictly before")] = None,
    before_id: Annotated[str | None, typer.Option(
        "--before-id", metavar="ID", help="with --before: also the events at that time with a smaller event_id")] = None,
    cursor: Annotated[str | None, typer.Option(
        "--cursor", show_default="the first page", help="next_cursor of the previous page")] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", metavar="TIME", show_default="now", help="ISO 8601: the profile as it was then")] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Show a group's profile and its latest events.

    The profile now, or --as-of a time, and its latest events (the activity feed),
    newest first by (time, event_id); the next page: --cursor NEXT_CURSOR."""
    from etl.serve.groups import show_group

    cutoff = _instant(before, ctx, "--before")
    moment = _instant(as_of, ctx, "--as-of")
    with _reader(ctx) as warehouse:
        document = show_group(warehouse, key, group_id, limit, cutoff, moment, before_id=before_id, cursor=cursor)
    if fmt is Format.json:
        print_json(document)
        return
    if fmt is Format.table:
        typer.echo(f"{key} = {group_id} (data_group_id {document['data_group_id']})")
        profile = document["profile"]
        if profile is None:
            typer.echo("profile: none")
        else:
            print_rows([{"property": k, "value": v} for k, v in profile.items()], ["property", "value"], fmt,
                       title="profile", formats={"value": _profile_value})
        typer.echo(health_line(document["health"]))
    if fmt is Format.table:
        print_feed(document["events"])
    else:
        print_rows(document["events"], ["time", "event_id", "event", "distinct_id", "properties"], fmt)
    if fmt is Format.table:
        typer.echo(f"next page: --cursor {document['next_cursor']}" if document["next_cursor"]
                   else "no more events")


def _profile_value(value: object) -> str:
    """A profile value as JSON writes it (a string without quotes)."""
    import json

    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def health_line(health: dict | None) -> str:
    """`groups show`'s health summary: the group's row of the last loaded day."""
    if health is None:
        return "health: no attributed events yet"
    churned = ", churned" if health["churned"] else ""
    since = health["days_since_active"]
    return (f"health on {health['activity_date']}: active users {health['active_users']} (1 day), "
            f"{health['active_users_7d']} (7 days), {health['active_users_28d']} (28 days); "
            f"{health['lifecycle']}{churned}, {since} day{'' if since == 1 else 's'} since active")


@app.command("upload-csv")
def upload_csv_command(
    ctx: typer.Context,
    file: Annotated[str | None, typer.Argument(help="local path, file:// or s3:// URL (or --from-lake)")] = None,
    key: Annotated[str | None, typer.Option("--key", help="group key the ids belong to (with FILE)")] = None,
    from_lake: Annotated[bool, typer.Option("--from-lake", help="apply new files under uploads/groups/<key>/")] = False,
    infer_types: Annotated[bool, typer.Option("--infer-types", help="numbers and true/false instead of strings")] = False,
    fmt: FormatOption = Format.table,
) -> None:
    """Apply a CSV of group profiles now.

    One $set a row (the last row wins for a repeated id)."""
    from etl.model.uploads import apply_new_uploads, read_source, upload_csv

    settings = _settings(ctx)
    if from_lake == bool(file):
        raise typer.BadParameter("give FILE with --key, or --from-lake")
    if file and not key:
        raise typer.BadParameter("--key is required with FILE", param_hint="--key")
    with _warehouse(ctx) as warehouse:
        warehouse.migrate()
        if from_lake:
            results = apply_new_uploads(warehouse, _lake(ctx), max_profiles=settings.max_group_profiles,
                                        infer_types=infer_types, tz=settings.tz)
        else:
            results = [upload_csv(warehouse, key, file, read_source(file),
                                  max_profiles=settings.max_group_profiles,
                                  infer_types=infer_types, tz=settings.tz)]
    rows = [r.as_dict() for r in results]
    print_rows(rows, ["source", "group_key", "status", "rows", "profiles", "duplicates", "refused", "error"],
               fmt, title="CSV uploads")
    failed = [r.source for r in results if r.status == "failed"]
    if failed:  # the good files are applied; a failed one is retried once it changes
        raise EtlError(f"{len(failed)} upload(s) failed: {', '.join(failed)} (see the error column)")


ByOption = Annotated[str | None, typer.Option(
    "--by", metavar="KEY", show_default="users", help="count groups of this group key instead of users")]
WhereOption = Annotated[str | None, typer.Option(
    "--where", metavar="EXPR", show_default="all events",
    help='filter, e.g. properties["plan"] == "pro" (docs/reports.md, Filter expressions)')]
WhereGroupOption = Annotated[str | None, typer.Option(
    "--where-group", metavar="EXPR", show_default="all users",
    help='user reports: keep users in a group whose profile matches, e.g. company_id.plan == "pro"')]
ChartOption = Annotated[str | None, typer.Option(
    "--chart", metavar="FILE", show_default="no chart",
    help="also draw the result to FILE (.png, .svg or .pdf; its folder must exist)")]
BreakdownOption = Annotated[str | None, typer.Option(
    "--breakdown", metavar="PROP", show_default="none",
    help='event property (properties["a.b"] for a dotted name), group.PROP (with --by), '
         "user.PROP, or KEY.PROP (user reports: the profiles of the user's groups of key KEY)")]


def _limit_option(weight: str) -> typer.models.OptionInfo:
    """`--breakdown-limit`, saying what ranks the values of that report."""
    return typer.Option("--breakdown-limit", min=1, metavar="N", show_default="all values",
                        help=f"keep the N breakdown values with the most {weight}, "
                             "the rest counted once as (other)")


class GroupProps(StrEnum):
    at_event = "at-event"
    current = "current"


GroupPropsOption = Annotated[GroupProps, typer.Option(
    "--group-props", help="group profiles in breakdowns and filters: as they were when the event happened "
                          "(at-event) or as they are now (current)")]


def _range(first: str, last: str) -> tuple[date, date]:
    """--from and --to as dates; --to before --from is a usage error."""
    start, end = _date(first, "--from"), _date(last, "--to")
    if end < start:
        raise typer.BadParameter(f"--to {end} is before --from {start}", param_hint="--to")
    return start, end


def _chart_target(chart: str | None) -> None:
    """A chart's file is checked before the report runs: a missing folder is an error."""
    if chart:
        from etl.cli.charts import check_target

        try:
            check_target(chart)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--chart") from None


def _caption(start: date, end: date, scope) -> str:  # noqa: ANN001
    """The range and filters of a report, for its chart's and table's title."""
    parts = [f"{start} to {end}" if start != end else str(start)]
    if scope.breakdown:
        parts.append(f"by {scope.breakdown}")
    if scope.where:
        parts.append(f"where {scope.where}")
    if scope.where_group:
        parts.append(f"in groups where {scope.where_group}")
    return "; ".join(parts)


def _report_output(document: dict, fmt: Format, chart: str | None, listing, caption: str,  # noqa: ANN001
                   unseen: list[str]) -> None:
    """The report as JSON or a listing, its chart, then a warning for each name never seen."""
    from etl.cli.report_tables import print_listing

    if chart:
        from etl.cli.charts import draw

        written = draw(document, chart, caption)
    if fmt is Format.json:
        print_json(document)
    else:
        print_listing(listing, fmt, f"{document['report']} by {document['unit']}, {caption}")
    if chart:
        said = f"chart written to {written}"
        if fmt is Format.table:
            typer.echo(said)
        else:  # stdout is for the machine-readable document
            _err().print(said, markup=False, highlight=False, soft_wrap=True)
    for line in unseen:
        _err().print(f"warning: {line}", markup=False, highlight=False, soft_wrap=True)


class Interval(StrEnum):
    day = "day"
    week = "week"
    month = "month"


class Period(StrEnum):
    day = "day"
    week = "week"


FromOption = Annotated[str, typer.Option("--from", metavar="YYYY-MM-DD", help="first event date")]
ToOption = Annotated[str, typer.Option("--to", metavar="YYYY-MM-DD", help="last event date (not before --from)")]


def _measure(measure: str) -> None:
    from etl.serve.measures import parse_measure

    try:
        parse_measure(measure)
    except EtlError as error:
        raise typer.BadParameter(str(error).removeprefix("--measure: "), param_hint="--measure") from None


def _units_output(document: dict, fmt: Format) -> None:
    """A drill-down list: one id a line (table: ready for `cohorts add --static -`), a CSV
    column `unit`, or the JSON document."""
    if fmt is Format.json:
        print_json(document)
    elif fmt is Format.csv:
        print_rows([{"unit": unit} for unit in document["units"]], ["unit"], fmt)
    else:
        for unit in document["units"]:
            sys.stdout.write(unit + "\n")


@report_app.command("insights")
def report_insights(
    ctx: typer.Context,
    event: Annotated[str, typer.Option("--event", help="the event to count")],
    first: FromOption,
    last: ToOption,
    by: ByOption = None,
    breakdown: BreakdownOption = None,
    where: WhereOption = None,
    where_group: WhereGroupOption = None,
    measure: Annotated[str, typer.Option(
        "--measure", help="events, uniques, sum:PROP, avg:PROP or median:PROP (PROP an event property)")] = "uniques",
    interval: Annotated[Interval, typer.Option("--interval", help="day, week (from Monday) or month")] = Interval.day,
    breakdown_limit: Annotated[int | None, _limit_option("events")] = None,
    group_props: GroupPropsOption = GroupProps.at_event,
    chart: ChartOption = None,
    fmt: FormatOption = Format.table,
    list_units: Annotated[str | None, typer.Option(
        "--list-units", metavar="DATE", help="list the units counted in the interval starting DATE")] = None,
) -> None:
    """Count an event per day, week or month.

    Events, unique users (or groups with --by) and the measure's value per bucket
    (and breakdown value)."""
    from etl.cli.report_tables import insights_listing
    from etl.serve.reports import Scope, insights
    from etl.serve.vocabulary import Asked, unseen_names

    start, end = _range(first, last)
    _measure(measure)
    _chart_target(chart)
    scope = Scope(by, where, where_group, breakdown, group_props.value)
    if list_units is not None:
        from etl.serve.drilldown import insights_units

        if breakdown or breakdown_limit is not None or chart:
            raise typer.BadParameter("lists every unit of the date: leave out --breakdown, --breakdown-limit "
                                     "and --chart", param_hint="--list-units")
        with _reader(ctx) as warehouse:
            document = insights_units(warehouse, event, start, end,
                                      Scope(by, where, where_group, None, group_props.value), _date(list_units, "--list-units"),
                                      interval=interval.value)
        _units_output(document, fmt)
        return
    with _reader(ctx) as warehouse:
        document = insights(warehouse, event, start, end, scope, measure=measure, interval=interval.value,
                            breakdown_limit=breakdown_limit)
        unseen = unseen_names(warehouse, Asked([event], by, where, where_group, breakdown, measure), start, end)
    _report_output(document, fmt, chart, insights_listing(document, breakdown, fmt), _caption(start, end, scope),
                   unseen)


def _window(window: str) -> int:
    from etl.serve.durations import parse_window

    try:
        return parse_window(window)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--window") from None


@report_app.command("funnel")
def report_funnel(
    ctx: typer.Context,
    steps: Annotated[list[str], typer.Option(
        "--steps", metavar="EVENT...", help="two or more step events in order (repeat, or space-separated)")],
    first: FromOption,
    last: ToOption,
    window: Annotated[str, typer.Option(
        "--window", metavar="DURATION",
        help="time from the first step to convert: 7d, 1w, 12h, 30m or 90s (a unit is required; at most 366d)")] = "7d",
    by: ByOption = None,
    breakdown: BreakdownOption = None,
    breakdown_limit: Annotated[int | None, _limit_option("units entering")] = None,
    where: WhereOption = None,
    where_group: WhereGroupOption = None,
    group_props: GroupPropsOption = GroupProps.at_event,
    chart: ChartOption = None,
    fmt: FormatOption = Format.table,
    list_units: Annotated[int | None, typer.Option(
        "--list-units", metavar="STEP", help="list the units that reached STEP-1 and not STEP")] = None,
    converted: Annotated[bool, typer.Option(
        "--converted", help="with --list-units: the units that reached STEP instead")] = False,
) -> None:
    """Conversion through ordered steps within a window.

    Per step: units reached, shares of the previous and first step, median time to convert."""
    from etl.cli.report_tables import funnel_listing
    from etl.serve.durations import format_duration
    from etl.serve.reports import Scope, funnel
    from etl.serve.vocabulary import Asked, unseen_names

    if len(steps) < 2:
        raise typer.BadParameter("a funnel needs at least two steps", param_hint="--steps")
    start, end = _range(first, last)
    seconds = _window(window)
    _chart_target(chart)
    scope = Scope(by, where, where_group, breakdown, group_props.value)
    if converted and list_units is None:
        raise typer.BadParameter("goes with --list-units STEP", param_hint="--converted")
    if list_units is not None:
        from etl.serve.drilldown import funnel_units

        if chart:
            raise typer.BadParameter("a list has no chart: leave out --chart", param_hint="--list-units")
        with _reader(ctx) as warehouse:
            document = funnel_units(warehouse, steps, seconds, start, end, Scope(by, where, where_group, None, group_props.value), list_units, converted)
        _units_output(document, fmt)
        return
    with _reader(ctx) as warehouse:
        document = funnel(warehouse, steps, seconds, start, end, scope, breakdown_limit=breakdown_limit)
        unseen = unseen_names(warehouse, Asked(list(steps), by, where, where_group, breakdown), start, end)
    caption = f"{_caption(start, end, scope)}; window {format_duration(seconds)}"
    _report_output(document, fmt, chart, funnel_listing(document, breakdown), caption, unseen)


@report_app.command("retention")
def report_retention(
    ctx: typer.Context,
    born: Annotated[str, typer.Option("--born", help="the event that starts a unit's cohort")],
    returned: Annotated[str, typer.Option("--return", help="the event that counts as a return")],
    first: FromOption,
    last: ToOption,
    by: ByOption = None,
    unit: Annotated[Period, typer.Option("--unit", help="period of the cohorts and returns: day or week")] = Period.day,
    breakdown: BreakdownOption = None,
    breakdown_limit: Annotated[int | None, _limit_option("units born")] = None,
    where: WhereOption = None,
    where_group: WhereGroupOption = None,
    group_props: GroupPropsOption = GroupProps.at_event,
    chart: ChartOption = None,
    fmt: FormatOption = Format.table,
    list_units: Annotated[str | None, typer.Option(
        "--list-units", metavar="COHORT_DATE:PERIOD", help="list the units of that cohort retained in PERIOD")] = None,
) -> None:
    """Day-N or week-N retention by cohort date.

    One column per period: units retained and their share of the cohort."""
    from etl.cli.report_tables import retention_listing
    from etl.serve.reports import Scope, retention
    from etl.serve.vocabulary import Asked, unseen_names

    start, end = _range(first, last)
    _chart_target(chart)
    scope = Scope(by, where, where_group, breakdown, group_props.value)
    if list_units is not None:
        from etl.serve.drilldown import parse_cohort_period, retention_units

        if chart:
            raise typer.BadParameter("a list has no chart: leave out --chart", param_hint="--list-units")
        cohort_date, period = parse_cohort_period(list_units)
        with _reader(ctx) as warehouse:
            document = retention_units(warehouse, born, returned, start, end,
                                       Scope(by, where, where_group, None, group_props.value), cohort_date, period, unit=unit.value)
        _units_output(document, fmt)
        return
    with _reader(ctx) as warehouse:
        document = retention(warehouse, born, returned, start, end, scope, period=unit.value,
                             breakdown_limit=breakdown_limit)
        unseen = unseen_names(warehouse, Asked([born, returned], by, where, where_group, breakdown), start, end)
    caption = f"{_caption(start, end, scope)}; born {born}, return {returned}"
    _report_output(document, fmt, chart, retention_listing(document, fmt, breakdown), caption, unseen)


@report_app.command("lifecycle")
def report_lifecycle(
    ctx: typer.Context,
    by: Annotated[str, typer.Option("--by", metavar="KEY", help="the group key whose groups are counted")],
    first: FromOption,
    last: ToOption,
    chart: ChartOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Groups per lifecycle state per day.

    new, returning, resurrected, dormant and churned (README: Account health)."""
    from etl.cli.report_tables import Listing
    from etl.serve.health import REPORT_STATES, lifecycle_report
    from etl.serve.vocabulary import Asked, unseen_names

    start, end = _range(first, last)
    _chart_target(chart)
    with _reader(ctx) as warehouse:
        document = lifecycle_report(warehouse, by, start, end)
        unseen = unseen_names(warehouse, Asked([], by), start, end)
    caption = f"{start} to {end}" if start != end else str(start)
    _report_output(document, fmt, chart, Listing(document["rows"], ["date", *REPORT_STATES]), caption, unseen)


@cohorts_app.command("add")
def cohorts_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="letters, digits, - and _")],
    definition: Annotated[str | None, typer.Option("--definition", help="JSON; see docs/cohorts.md")] = None,
    static: Annotated[str | None, typer.Option(
        "--static", help="FILE (or - for stdin): a fixed list of ids, one a line")] = None,
    key: Annotated[str | None, typer.Option("--key", help="with --static: the ids are groups of this key")] = None,
    export: Annotated[bool, typer.Option("--export", help="with --static: export it daily (export run)")] = False,
) -> None:
    """Save a cohort of groups (with a group_key) or users; validated before it is saved.
    --static saves a fixed list of ids instead (e.g. a report's --list-units)."""
    from etl.serve.cohorts import add_cohort, add_static_cohort, static_ids

    if (definition is None) == (static is None):
        raise typer.BadParameter("give --definition JSON or --static FILE")
    if static is None and (key is not None or export):
        raise typer.BadParameter("--key and --export go with --static (a definition says group_key and export)")
    ids = static_ids(_read_text(static), static) if static is not None else []
    with _warehouse(ctx) as warehouse:
        warehouse.migrate()
        if static is None:
            cohort = add_cohort(warehouse, name, definition)
        else:
            cohort = add_static_cohort(warehouse, name, key, ids, export)
    size = f" ({len(ids)} id{'' if len(ids) == 1 else 's'})" if static is not None else ""
    typer.echo(f"cohort {cohort.name} of {cohort.group_key or 'users'} saved{size}")


def _read_text(source: str) -> str:
    """A file's text (UTF-8), or standard input's for '-'."""
    try:
        if source == "-":
            return sys.stdin.buffer.read().decode("utf-8")
        with open(source, encoding="utf-8", newline="") as handle:
            return handle.read()
    except OSError as error:
        raise EtlError(f"--static {source}: cannot read it ({error.strerror})") from None
    except UnicodeDecodeError:
        raise EtlError(f"--static {source}: not UTF-8 text") from None


@cohorts_app.command("list")
def cohorts_list(ctx: typer.Context, fmt: FormatOption = Format.table) -> None:
    """Saved cohorts with their definitions."""
    from etl.serve.cohorts import list_cohorts

    with _reader(ctx) as warehouse:
        rows = [{"id": c.cohort_id, "name": c.name, "group_key": c.group_key, "export": c.exported,
                 "definition": c.definition} for c in list_cohorts(warehouse)]
    print_rows(rows, ["id", "name", "group_key", "export", "definition"], fmt, title="cohorts")


@cohorts_app.command("remove")
def cohorts_remove(ctx: typer.Context, name: Annotated[str, typer.Argument(help="the cohort's name")]) -> None:
    """Delete a saved cohort (its past exports stay in the lake)."""
    from etl.serve.cohorts import remove_cohort

    with _warehouse(ctx) as warehouse:
        warehouse.migrate()
        remove_cohort(warehouse, name)
    typer.echo(f"cohort {name} removed")


@export_app.command("profiles")
def export_profiles_command(
    ctx: typer.Context,
    data_group_id: Annotated[int | None, typer.Option(
        "--data-group-id", metavar="ID", show_default="users",
        help="a group key's data_group_id (group-etl keys list)")] = None,
    cohort: Annotated[str | None, typer.Option(
        "--cohort", show_default="every profile", help="a saved cohort's name")] = None,
    where: Annotated[str | None, typer.Option(
        "--where", metavar="EXPR", show_default="every profile",
        help='profile filter, e.g. properties["plan"] == "pro"')] = None,
    output_properties: Annotated[str | None, typer.Option(
        "--output-properties", metavar="A,B,C", show_default="all", help="the properties to output")] = None,
    page: Annotated[int, typer.Option("--page", min=0, help="page number, from 0")] = 0,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=100_000, help="profiles a page")] = 1000,
    session_id: Annotated[str | None, typer.Option(
        "--session-id", show_default="a new session (page 0)", help="session_id of page 0's answer")] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", metavar="DATE|TIME", show_default="now",
        help="YYYY-MM-DD (its end) or an ISO 8601 time: each group as it was then")] = None,
    include_all_users: Annotated[bool | None, typer.Option(
        "--include-all-users/--no-include-all-users",
        help="cohort members without a profile too (default: on for behavioural cohorts)")] = None,
    to: Annotated[str | None, typer.Option(
        "--to", metavar="FILE", show_default="no file", help="also write every row: .jsonl, .csv or .parquet")] = None,
) -> None:
    """Export group or user profiles as Engage JSON.

    Filtered by cohort or --where; prints the Engage response as JSON."""
    from datetime import UTC, datetime

    from etl.serve.export import (
        Selection,
        encode,
        export_profiles,
        format_of,
        session_results,
        write_target,
    )

    settings = _settings(ctx)
    moment = _as_of_instant(as_of, settings.tz) if as_of else None
    day = moment.astimezone(settings.tz).date() if moment else datetime.now(UTC).astimezone(settings.tz).date()
    names = [n.strip() for n in output_properties.split(",") if n.strip()] if output_properties else None
    selection = Selection(data_group_id, cohort, where, moment, include_all_users)
    with _reader(ctx) as warehouse:
        fmt = format_of(to) if to else None  # a wrong extension fails before any work
        document = export_profiles(warehouse, selection, page=page, page_size=page_size,
                                   session_id=session_id, output_properties=names, as_of=day)
    if to:  # the file holds the pinned session the pages come from, read once
        write_target(to, encode(session_results(warehouse, document["session_id"], names), fmt))
    print_json(document)


def _as_of_instant(text: str, tz: ZoneInfo) -> datetime:
    """--as-of: a day means its end in the project time zone, a time that instant."""
    from etl.serve.export import as_of_instant

    try:
        return as_of_instant(text, tz)
    except (ValueError, OverflowError, EtlError):  # OverflowError: the end of 9999-12-31, or year 1 in UTC
        raise typer.BadParameter(f"expected YYYY-MM-DD or an ISO 8601 time, got {text!r}",
                                 param_hint="--as-of") from None


@export_app.command("run")
def export_run(
    ctx: typer.Context,
    day: Annotated[str | None, typer.Option(
        "--date", metavar="YYYY-MM-DD", show_default="--pending", help="export day D now: exports/<cohort>/dt=D/")] = None,
    pending: Annotated[bool, typer.Option("--pending", help="every day loaded since its last export "
                                                            "(the default without --date)")] = False,
    fmt: FormatOption = Format.table,
) -> None:
    """Write the exported cohorts to the lake.

    Every cohort saved with "export": true, replacing day D's partition
    (--date D), or that of every day loaded since its last export (the default)."""
    from etl.serve.export import run_exports, run_pending_exports

    if day is not None and pending:
        raise typer.BadParameter("give --date D or --pending, not both", param_hint="--pending")
    with _warehouse(ctx) as warehouse:
        warehouse.migrate()
        if day is None:
            rows = run_pending_exports(warehouse, _lake(ctx))
        else:
            rows = run_exports(warehouse, _lake(ctx), _date(day, "--date"))
    print_rows(rows, ["cohort", "date", "profiles", "object"], fmt, title="cohort exports")


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="GROUP_ETL_SERVE_HOST (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="GROUP_ETL_SERVE_PORT (default 8000)")] = None,
    root_path: Annotated[str | None, typer.Option("--root-path", help="GROUP_ETL_SERVE_ROOT_PATH: the "
                                                  "prefix a reverse proxy serves this under")] = None,
) -> None:
    """Serve the Engage API and the group pages over HTTP.

    Mixpanel's Engage query API and the group pages, read-only (docs/serve.md)."""
    from etl.api.server import run_server
    from etl.api.settings import load_serve_settings

    run_server(_settings(ctx), load_serve_settings(host=host, port=port, root_path=root_path))


@app.command()
def demo(
    ctx: typer.Context,
    days: Annotated[int, typer.Option(min=2, max=60, help="sample days to write and load")] = 5,
    first_day: Annotated[str, typer.Option("--first-day", metavar="YYYY-MM-DD", help="the first sample day")]
        = "2026-10-01",
) -> None:
    """Run the pipeline over a generated sample lake.

    Writes a realistic sample lake, sets up a key, runs each day, prints the summary."""
    from etl.cli.demo import run_demo

    run_demo(_settings(ctx), _date(first_day, "--first-day"), days)


def expand_steps(argv: list[str]) -> list[str]:
    """the documented `--steps E1 E2 E3` (one flag, several values) as Typer's repeated
    `--steps E1 --steps E2 --steps E3`."""
    out: list[str] = []
    in_steps = False
    for arg in argv:
        if arg == "--steps":
            in_steps = True
            continue
        if arg.startswith("-"):
            in_steps = False
        out.extend(["--steps", arg] if in_steps else [arg])
    return out


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a line is logged."""

    @property
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # noqa: ANN001
        pass


def _log_to_stderr() -> None:
    """group-etl's warnings (a writer waiting for the warehouse, a day with many rejects)
    go to stderr, one line each; Airflow's task logs get them through logging."""
    logger = logging.getLogger("group_etl")
    if not any(isinstance(h, _Stderr) for h in logger.handlers):
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.setLevel(logging.WARNING)
        logger.addHandler(handler)


def main() -> None:
    sys.argv[1:] = expand_steps(sys.argv[1:])
    _log_to_stderr()
    # Ctrl-C as our own Interrupted: click would print "Aborted!" and exit 1. A transaction
    # it stops rolls back (`run` says which day); the exit code is the shell's 128 + SIGINT.
    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        app()
    except BaseException as error:
        if stopped_by_ctrl_c(error):  # first: a driver's error after Ctrl-C is the interrupt
            _err().print(str(error) if isinstance(error, Interrupted) else "interrupted",
                      markup=False, highlight=False, soft_wrap=True)
            sys.exit(130)
        if not isinstance(error, EtlError):
            raise
        _err().print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
    finally:
        signal.signal(signal.SIGINT, previous)


def console() -> None:
    """The console script `group-etl`: `main`, then leave without tearing the interpreter
    down. Unloading SQLAlchemy, DuckDB and Arrow module by module took 0.15-0.45 s of
    every command (measured, docs/performance.md) and does nothing for us: stores are
    closed, temporary folders removed and threads joined before `main` returns. Output is
    flushed and logging shut down first; an unexpected exception still exits the usual
    way, with its traceback. Output that cannot be written (a full disk) is an error, as
    the interpreter's own exit makes it; a reader that went away (`| head`) is not."""
    try:
        main()
        code = 0
    except SystemExit as done:
        code = done.code
    finally:
        logging.shutdown()
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # nothing more to tell a reader that went away
        pass
    except OSError as error:
        print(f"error: the output could not be written: {error.strerror or error}", file=sys.stderr)
        code = code or 1
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    main()
