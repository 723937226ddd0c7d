"""`group-etl demo`: sample lake -> keys -> daily runs -> summary.

The company_id key is set up at noon of the middle sample day, so the
summary shows no attribution before it (Mixpanel never backfills a key).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console

from etl.cli.output import Format, print_rows
from etl.cli.sample import write_sample_lake
from etl.config import Settings
from etl.days import day_range
from etl.errors import EtlError
from etl.model.keys import add_key, list_keys
from etl.model.uploads import apply_new_uploads
from etl.store.lake import INPUT_PREFIXES, open_lake
from etl.store.warehouse import Warehouse, safe_url

# The demo rewrites the lake's inputs: only a lake it wrote itself (this marker) or an empty one.
DEMO_MARKER = "demo/written-by-group-etl-demo"
LAKE_INPUTS = tuple(f"{prefix}/" for prefix in INPUT_PREFIXES)


def replace_sample_lake(lake) -> None:  # noqa: ANN001
    """Clear the inputs of a lake the demo wrote before; refuse any other lake with data."""
    if not lake.exists():
        return
    if not lake.list(DEMO_MARKER) and any(lake.list(prefix) for prefix in LAKE_INPUTS):
        raise EtlError(f"the lake at {lake.url} holds data that `group-etl demo` did not write, and the demo "
                       "replaces events/, groups/ and people/: point GROUP_ETL_LAKE_URL (or --lake-url) at an "
                       "empty folder")
    for prefix in LAKE_INPUTS:
        lake.delete_prefix(prefix)


def run_demo(settings: Settings, first_day: date, days: int) -> None:
    console = Console()
    lake = open_lake(settings.lake_url)
    with Warehouse(settings) as warehouse:
        warehouse.migrate()  # a warehouse it cannot use stops the demo before the lake is touched
    replace_sample_lake(lake)
    written = write_sample_lake(lake, first_day, days=days)
    lake.write(DEMO_MARKER, b"written by group-etl demo: it may replace events/, groups/ and people/\n")
    console.print(
        f"sample lake at {lake.url}: {written['events']} events (with duplicate deliveries), "
        f"{written['bad_lines']} bad lines, {written['groups']} group and {written['people']} user updates"
    )
    last_day = first_day + timedelta(days=days - 1)
    setup_day = first_day + timedelta(days=days // 2)
    setup_at = datetime.combine(setup_day, time(12), tzinfo=settings.tz).astimezone(UTC)
    with Warehouse(settings) as warehouse:
        warehouse.migrate()
        if not any(k.group_key == "company_id" and k.removed_at is None for k in list_keys(warehouse)):
            add_key(warehouse, "company_id", max_keys=settings.max_group_keys,
                    display_name="Company", setup_at=setup_at)
        key = next(k for k in list_keys(warehouse) if k.group_key == "company_id" and k.removed_at is None)
        console.print(
            f"group key company_id (data_group_id {key.data_group_id}) set up at {key.setup_at.isoformat()}"
        )
    days = day_range(first_day, last_day)
    if airflow_installed() and DAGS.is_dir():
        console.print(f"running the Airflow DAG group_analytics_daily in-process (dag.test) for {len(days)} days ...")
        run_days_with_dag(settings, days, console)
    elif airflow_installed():
        console.print(f"no DAG files at {DAGS} (an installed wheel ships the package, not dags/): "
                      "running the pipeline directly")
        run_each_day(settings, days, console)
    else:
        console.print("airflow is not installed (the \\[airflow] extra): running the pipeline directly")
        run_each_day(settings, days, console)
    with Warehouse(settings) as warehouse:
        for upload in apply_new_uploads(warehouse, lake, max_profiles=settings.max_group_profiles,
                                        infer_types=True, tz=settings.tz):
            state = upload.error or ("already applied" if upload.already_applied else f"{upload.profiles} profiles set")
            console.print(f"CSV upload {upload.source}: {state}")
    with Warehouse(settings) as warehouse, warehouse.begin() as conn:
        results = conn.execute(sa.text(
            "SELECT load_date, input_records, loaded, rejected, duplicates FROM load_audit "
            "WHERE stage = 'events' AND load_date BETWEEN :a AND :b ORDER BY load_date"),
            {"a": first_day, "b": last_day}).all()
        reasons = conn.execute(sa.text(
            "SELECT reason, count(*) FROM rejected_records GROUP BY reason ORDER BY reason")).all()
        per_day = {
            row.event_date: row
            for row in conn.execute(sa.text(
                "SELECT d.event_date, d.events, coalesce(g.attributed, 0) AS attributed, "
                "coalesce(g.groups, 0) AS groups "
                "FROM (SELECT event_date, count(*) AS events FROM events_deduped GROUP BY event_date) AS d "
                "LEFT JOIN (SELECT event_date, count(DISTINCT event_id) AS attributed, "
                "count(DISTINCT group_id) AS groups FROM event_groups WHERE group_key = 'company_id' "
                "GROUP BY event_date) AS g ON g.event_date = d.event_date ORDER BY d.event_date"))
        }
        top = conn.execute(sa.text(
            "SELECT group_id, sum(event_count) AS events, max(user_count) AS peak_users "
            "FROM group_daily_metrics WHERE group_key = 'company_id' "
            "GROUP BY group_id ORDER BY events DESC, group_id LIMIT 5")).all()

    # The tables print as the commands print theirs: no id or date ever cut.
    print_rows([r._asdict() for r in results], ["load_date", "input_records", "loaded", "rejected", "duplicates"],
               Format.table, title="daily runs (load date)")
    console.print("rejected by reason: " + (", ".join(f"{r} {n}" for r, n in reasons) or "none"))
    print_rows([row._asdict() for row in per_day.values()], ["event_date", "events", "attributed", "groups"],
               Format.table, title=f"company_id attribution by event date (key set up {key.setup_at.isoformat()})",
               headers={"events": "events (deduplicated)", "groups": "companies"})
    print_rows([row._asdict() for row in top], ["group_id", "events", "peak_users"], Format.table,
               title="busiest companies (group_daily_metrics)",
               headers={"group_id": "company_id", "peak_users": "peak daily users"})
    show_company(console, settings)
    export_enterprise_cohort(console, settings, lake, last_day)
    console.print(f"warehouse: {safe_url(settings.warehouse_url)}; try `group-etl status` or "
                  f"`group-etl groups show --key company_id --id {top[0].group_id if top else 'c001'}`")


def show_company(console: Console, settings: Settings) -> None:
    """The company with the longest history: its profile now, its versions, its members."""
    with Warehouse(settings) as warehouse, warehouse.begin() as conn:
        group_id = conn.execute(sa.text(
            "SELECT group_id FROM group_profile_history WHERE group_key = 'company_id' "
            "GROUP BY group_id ORDER BY count(*) DESC, group_id LIMIT 1")).scalar()
        if group_id is None:
            return
        profile = conn.execute(sa.text(
            "SELECT CAST(properties AS VARCHAR), created_at, updated_at FROM group_profiles "
            "WHERE group_key = 'company_id' AND group_id = :g"), {"g": group_id}).first()
        history = conn.execute(sa.text(
            "SELECT valid_from, valid_to, deleted, CAST(properties AS VARCHAR) FROM group_profile_history "
            "WHERE group_key = 'company_id' AND group_id = :g ORDER BY valid_from"), {"g": group_id}).all()
        members = conn.execute(sa.text(
            "SELECT distinct_id FROM user_groups WHERE group_key = 'company_id' AND group_id = :g "
            "ORDER BY distinct_id"), {"g": group_id}).scalars().all()
    console.print(f"[bold]company_id = {group_id}[/]: profile {profile[0] if profile else None}")
    def second(moment: datetime) -> str:  # to the second: the properties keep room in 80 columns
        return moment.astimezone(UTC).isoformat(timespec="seconds")

    print_rows([{"valid_from": second(row[0]), "valid_to": second(row[1]) if row[1] else "(current)", "deleted": row[2],
                 "properties": json.loads(row[3]) if row[3] else None} for row in history],
               ["valid_from", "valid_to", "deleted", "properties"], Format.table,
               title=f"history of {group_id} (group_profile_history)")
    shown = ", ".join(members[:12]) + (f" ... ({len(members)} in all)" if len(members) > 12 else "")
    console.print(f"members of {group_id} (user_groups): {shown or 'none'}")


def run_each_day(settings: Settings, days: list[date], console: Console) -> None:
    """The pipeline one day at a time, a line a day as it finishes."""
    import time as clock

    from etl.cli.runs import run_days

    for n, day in enumerate(days, start=1):
        started = clock.monotonic()
        result = run_days(settings, [day])[0]
        console.print(f"day {day} ({n} of {len(days)}): {result.loaded} events loaded "
                      f"in {clock.monotonic() - started:.1f} s")


# Deprecation notices of third-party code that dag.test runs in-process (Airflow's own
# standard provider behind @task.sensor, FastAPI's test client behind the in-process
# execution API), filtered by their exact text: nothing the demo's reader can act on.
THIRD_PARTY_WARNINGS = (
    r"The `airflow\.utils\.operator_helpers\.determine_kwargs` attribute is deprecated",
    r"Using `httpx` with `starlette\.testclient` is deprecated",
)


def quiet_third_party_warnings() -> None:
    import warnings

    for text in THIRD_PARTY_WARNINGS:
        warnings.filterwarnings("ignore", message=text)


# The checkout's dags/ folder (etl/cli/demo.py -> the repository root).
DAGS = Path(__file__).resolve().parents[2] / "dags"


def airflow_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("airflow") is not None


def run_days_with_dag(settings: Settings, days: list[date], console: Console) -> None:
    """The real daily DAG, one dag.test() a day, on a throwaway SQLite metadata DB
    under ./data/airflow (never one a scheduler uses: see README, Operations)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    home = Path("data/airflow").resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "GROUP_ETL_WAREHOUSE_URL": settings.warehouse_url,
        "GROUP_ETL_LAKE_URL": settings.lake_url,
        "GROUP_ETL_TIMEZONE": settings.timezone,
        "GROUP_ETL_TASK_RETRIES": "0",
    })
    if settings.schema:
        os.environ["GROUP_ETL_SCHEMA"] = settings.schema
    airflow = Path(sys.executable).parent / "airflow"
    console.print(f"preparing Airflow's metadata database at {home} ...")
    quiet_third_party_warnings()
    migrated = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True, check=False)
    if migrated.returncode != 0:
        raise EtlError(f"airflow db migrate failed: {migrated.stderr.strip().splitlines()[-1:]}")
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise EtlError(f"DAG import errors: {bag.import_errors}")
    daily = bag.get_dag("group_analytics_daily")
    if daily is None:
        raise EtlError(f"no DAG group_analytics_daily in {DAGS}")
    import time as clock

    for n, day in enumerate(days, start=1):
        started = clock.monotonic()
        logical = datetime.combine(day + timedelta(days=1), time(0), tzinfo=settings.tz)
        run = daily.test(logical_date=logical)
        if run.state != "success":
            raise EtlError(f"group_analytics_daily failed for {day} (see the task logs under {home})")
        console.print(f"day {day} ({n} of {len(days)}): group_analytics_daily succeeded "
                      f"in {clock.monotonic() - started:.1f} s")


COHORT = {
    "group_key": "company_id",
    "properties": [{"property": "plan", "op": "eq", "value": "enterprise"}],
    "behaviors": [{"event": "Page Viewed", "at_least": 1, "last_days": 7}],
    "export": True,
}


def export_enterprise_cohort(console: Console, settings: Settings, lake, day: date) -> None:  # noqa: ANN001
    """A cohort of enterprise companies active in the last 7 days, exported to the lake."""
    import json

    from etl.serve.cohorts import add_cohort, list_cohorts
    from etl.serve.export import run_exports

    with Warehouse(settings) as warehouse:
        if "enterprise-active" not in [c.name for c in list_cohorts(warehouse)]:
            add_cohort(warehouse, "enterprise-active", json.dumps(COHORT))
        written = [w for w in run_exports(warehouse, lake, day) if w["cohort"] == "enterprise-active"]
    for entry in written:
        console.print(f"cohort enterprise-active (plan = enterprise, Page Viewed in the 7 days to {day}): "
                      f"{entry['profiles']} companies -> {lake.url}/{entry['object']}")
        head = b"".join(lake.iter_bytes(entry["object"])).decode().splitlines()[:3]
        for line in head:
            console.print("  " + line, markup=False, highlight=False, soft_wrap=True)
