"""What Airflow tasks call: one function a task.

The DAG files in `dags/` stay thin: they declare schedules and order and call
`run_task(name, data_interval_start)`. Settings come from the GROUP_ETL_*
environment; when GROUP_ETL_WAREHOUSE_URL is unset, the Airflow connection
`group_etl_warehouse` is used (its URI is never logged). S3 credentials come
from boto3's chain, or from the `aws_default` connection's login/password.
Storage errors and transient warehouse errors propagate, so Airflow retries them
(etl.run.retries: the delay doubles per try of the current run, capped); wrong
data or settings fail the task at once (retrying cannot help).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from etl.config import DEFAULTS, Settings, count_setting, load_settings, seconds_setting
from etl.errors import (
    ConfigError,
    EtlError,
    NotLandedError,
    ShrinkError,
    StorageError,
    WarehouseUnavailableError,
)

log = logging.getLogger("group_etl")

# Variables the DAG files read at parse time (beyond etl.config's GROUP_ETL_*).
ORCHESTRATION_VARIABLES = {
    "GROUP_ETL_START_DATE": "first day the daily DAG schedules (default 2026-01-01)",
    "GROUP_ETL_CATCHUP": "false: the daily DAG does not catch up from its start date (default true)",
    "GROUP_ETL_TASK_RETRIES": "retries of a task on storage errors (default 3)",
    "GROUP_ETL_RETRY_DELAY_SECONDS": "first retry delay of a run, doubled each try of that run (default 60)",
    "GROUP_ETL_MAX_RETRY_DELAY_SECONDS": "longest retry delay (default 1800)",
    "GROUP_ETL_UPLOAD_SCHEDULE": "schedule of group_profile_upload (default @hourly)",
    "GROUP_ETL_LANDING_TIMEOUT_SECONDS": "how long the daily DAG waits for day D's dump before failing "
                                         "(default 21600: 6 hours)",
    "GROUP_ETL_LANDING_POKE_SECONDS": "how often it looks for the dump while waiting (default 300)",
    "GROUP_ETL_ENGINE_MEMORY": "memory limit of each DuckDB group-etl opens (default 768MB)",
    "GROUP_ETL_MAX_RECORD_BYTES": "a longer record is rejected as oversized_record (default 1048576)",
}
WAREHOUSE_CONNECTION = "group_etl_warehouse"
# The Asset the daily DAG publishes when a day completes; its event carries {"day": D}.
DAILY_ASSET = {"name": "group_analytics_daily", "uri": "group-etl://group_analytics_daily"}
DUCKDB_POOL = "group_etl_duckdb"


def pool_for(environ: dict | None = None) -> str:
    """An embedded DuckDB allows one writer: its tasks share a one-slot pool. The
    warehouse is the effective one (the environment, else the Airflow connection),
    read when the DAG file is parsed."""
    return DUCKDB_POOL if warehouse_url(environ).startswith("duckdb") else "default_pool"


def warehouse_url(environ: dict | None = None) -> str:
    """GROUP_ETL_WAREHOUSE_URL, else the URI of the Airflow connection group_etl_warehouse
    (Airflow writes PostgreSQL's as postgres://), else the default DuckDB file."""
    url = (environ if environ is not None else os.environ).get("GROUP_ETL_WAREHOUSE_URL")
    if url:
        return url
    uri = _connection_uri(WAREHOUSE_CONNECTION)
    if not uri:
        return DEFAULTS["GROUP_ETL_WAREHOUSE_URL"]
    scheme, rest = uri.split("://", 1) if "://" in uri else (uri, "")
    return f"postgresql+psycopg://{rest}" if scheme in ("postgres", "postgresql") else uri


def task_defaults() -> dict:
    """default_args of every group-etl DAG: retries whose delay doubles per try of the
    current run up to a cap (etl.run.retries; never with the try count of earlier runs),
    the pool."""
    from datetime import timedelta

    from etl.run.retries import RunRetryPolicy

    first = _seconds("GROUP_ETL_RETRY_DELAY_SECONDS", 60)
    cap = _seconds("GROUP_ETL_MAX_RETRY_DELAY_SECONDS", 1800)
    return {
        "retries": _count("GROUP_ETL_TASK_RETRIES", 3),
        "retry_delay": timedelta(seconds=first),
        "retry_policy": RunRetryPolicy(first, cap),
        "max_retry_delay": timedelta(seconds=cap),
        "pool": pool_for(),
    }


def start_date() -> datetime:
    """GROUP_ETL_START_DATE at midnight in the project time zone. A naive datetime is UTC
    to Airflow: east of UTC, the first day's interval would start before the start date
    and never be scheduled."""
    value = os.environ.get("GROUP_ETL_START_DATE", "2026-01-01")
    try:
        start = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"GROUP_ETL_START_DATE: expected YYYY-MM-DD, got {value!r}") from None
    zone = project_timezone()  # the timetable's zone
    return start if start.tzinfo else start.replace(tzinfo=ZoneInfo(zone))


def dag_defaults(catchup: bool = False, paused: bool = False) -> dict:
    """Arguments every group-etl DAG shares: start date, one run at a time, task defaults, tag.

    Unpaused on creation (a fresh deployment exports and applies uploads) unless `paused`:
    the daily DAG waits for the operator, who sets up group keys before days load."""
    return {
        "start_date": start_date(),
        "catchup": catchup,
        "is_paused_upon_creation": paused,
        "max_active_runs": 1,
        "default_args": task_defaults(),
        "tags": ["group-etl"],
    }


def _seconds(name: str, default: float) -> float:
    """A DAG-file variable in seconds, checked like every setting (one line naming it)."""
    return seconds_setting(name, {name: os.environ.get(name) or str(default)})


def _count(name: str, default: int) -> int:
    return count_setting(name, {name: os.environ.get(name) or str(default)}, least=0)


def project_timezone() -> str:
    """GROUP_ETL_TIMEZONE for the DAG files' timetables, checked (one line naming it)."""
    zone = os.environ.get("GROUP_ETL_TIMEZONE") or DEFAULTS["GROUP_ETL_TIMEZONE"]
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"GROUP_ETL_TIMEZONE: unknown time zone {zone!r}") from None
    return zone


def landing_sensor_args() -> dict:
    """Arguments of the daily DAG's first task, which waits for day D's dump.

    Reschedule mode: between pokes the task is up_for_reschedule and holds no worker
    slot. It needs no DuckDB slot either (it reads only the lake), so it runs in the
    default pool. `wait_for_landing` fails it once GROUP_ETL_LANDING_TIMEOUT_SECONDS
    have passed, naming the prefix; Airflow's own timeout (one poke later) is a backstop."""
    timeout = _seconds("GROUP_ETL_LANDING_TIMEOUT_SECONDS", 6 * 3600)
    poke = _seconds("GROUP_ETL_LANDING_POKE_SECONDS", 300)
    return {"mode": "reschedule", "poke_interval": poke, "timeout": timeout + poke, "pool": "default_pool"}


def wait_for_landing(data_interval_start: datetime | None) -> bool:
    """One poke of the sensor: has day D landed (etl.run.day.check_landed, the rule
    `group-etl run` applies: its landing marker when one is set, else any input object)?

    Past the timeout, counted from the first poke, the task fails for good
    (AirflowSensorTimeout is not retried) with the reason, which names the prefix. Other
    storage errors (a missing lake root, an unreachable endpoint) propagate, so Airflow
    retries the task with back-off like any task's."""
    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

    from etl.run.day import check_landed, lake_listings
    from etl.store.lake import open_lake

    if data_interval_start is None:
        raise AirflowFailException("this task needs a data interval (a scheduled or backfill run)")
    context = get_current_context()
    first_poke = context["ti"].get_first_reschedule_date(context)
    waited = (datetime.now(UTC) - first_poke).total_seconds() if first_poke else 0.0
    with failing_at_once_on_wrong_input("wait_for_dump: "):
        settings = task_settings()
        day = day_of(data_interval_start, settings)
        lake = open_lake(settings.lake_url)
        try:
            check_landed(settings, lake, day, lake_listings(settings, lake, day), way=empty_way(day))
        except NotLandedError as not_yet:
            timeout = _seconds("GROUP_ETL_LANDING_TIMEOUT_SECONDS", 6 * 3600)
            if waited >= timeout:
                raise AirflowSensorTimeout(f"gave up waiting for {day} after {waited:.0f}s "
                                           f"(GROUP_ETL_LANDING_TIMEOUT_SECONDS={timeout:g}): {not_yet}") from None
            log.info("waiting for %s (%.0fs so far): %s", day, waited, not_yet)
            return False
    log.info("%s has landed", day)
    return True


def empty_way(day: date) -> str:
    """How an operator loads a truly empty day D in Airflow (README: Operations)."""
    return (f"if {day} is truly empty: `group-etl run --date {day} --allow-empty`, then mark this run's "
            "wait_for_dump and run_day success and clear its audit")


def shrink_way(day: date) -> str:
    """How an operator accepts a shrunk day D in Airflow (README: Operations)."""
    return (f"check the lake; to accept the smaller day: `group-etl run --date {day} --allow-shrink`, "
            "then clear this run's run_day")


def task_settings() -> Settings:
    overrides = {"warehouse_url": warehouse_url()} if not os.environ.get("GROUP_ETL_WAREHOUSE_URL") else {}
    _aws_from_connection()
    return load_settings(None, **overrides)


def _connection_uri(conn_id: str) -> str | None:
    try:
        from airflow.sdk import Connection

        return Connection.get(conn_id).get_uri()
    except Exception:  # noqa: BLE001 - no such connection: fall back to the defaults
        return None


def _aws_from_connection() -> None:
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        return
    try:
        from airflow.sdk import Connection

        connection = Connection.get("aws_default")
    except Exception:  # noqa: BLE001 - boto3's own chain then applies
        return
    if connection.login and connection.password:
        os.environ["AWS_ACCESS_KEY_ID"] = connection.login
        os.environ["AWS_SECRET_ACCESS_KEY"] = connection.password


def day_of(data_interval_start: datetime, settings: Settings) -> date:
    """Day D of a run: its data interval's start, as a calendar day in the project time zone.
    The standard library's own date, not Airflow's pendulum one: it reaches every engine
    as a value, and Spark's row check accepts only the standard types."""
    start = data_interval_start if data_interval_start.tzinfo else data_interval_start.replace(tzinfo=UTC)
    local = start.astimezone(settings.tz)
    return date(local.year, local.month, local.day)


def run_task(name: str, data_interval_start: datetime | None) -> dict:
    """Run one named task for the run's day; returns a small summary (kept as XCom)."""
    from airflow.sdk.exceptions import AirflowFailException

    with failing_at_once_on_wrong_input(f"{name}: "):
        settings = task_settings()
    if data_interval_start is None:
        raise AirflowFailException("this task needs a data interval (a scheduled or backfill run)")
    day = day_of(data_interval_start, settings)
    with failing_at_once_on_wrong_input(f"{name} {day}: "):
        summary = TASKS[name](settings, day)
    log.info("%s %s: %s", name, day, summary)
    return {"day": day.isoformat(), **summary}


@contextlib.contextmanager
def failing_at_once_on_wrong_input(prefix: str = "") -> Iterator[None]:
    """Storage errors and transient warehouse errors (a lock, a lost connection, a server
    restart: etl.store.warehouse.transient_error) propagate as StorageError, which Airflow
    retries; wrong data or settings fail the task at once (retrying cannot help)."""
    from airflow.sdk.exceptions import AirflowFailException

    from etl.store.warehouse import transient_error

    try:
        yield
    except StorageError:
        raise
    except EtlError as error:
        raise AirflowFailException(f"{prefix}{error}") from None
    except Exception as error:
        if transient_error(error):
            raise WarehouseUnavailableError(f"{prefix}{type(error).__name__}: "
                                            f"{str(error).strip().splitlines()[0]}") from None
        raise


def run_day_task(settings: Settings, day: date) -> dict:
    """Every stage of day D in one transaction: the same `run_day` as `group-etl run`."""
    from etl.run.day import open_stores, run_day

    try:
        with open_stores(settings) as (warehouse, lake):
            return run_day(settings, warehouse, lake, day).summary()
    except NotLandedError as error:  # the dump vanished after the sensor: retried
        raise NotLandedError(error.reason, empty_way(day)) from None
    except ShrinkError as error:
        raise ShrinkError(error.reason, shrink_way(day)) from None


def audit(settings: Settings, day: date) -> dict:
    """Every stage of D ran, and nothing was lost: input = loaded + rejected."""
    from etl.run.day import check_day
    from etl.store.warehouse import open_warehouse

    with open_warehouse(settings, read_only=True) as warehouse:  # a check: it only reads
        return check_day(warehouse, day)


def apply_uploads(settings: Settings) -> list[dict]:
    """Apply CSV files dropped under uploads/groups/<key>/ (each once)."""
    from etl.model.uploads import apply_new_uploads
    from etl.store.lake import open_lake
    from etl.store.warehouse import open_warehouse

    with open_warehouse(settings) as warehouse:
        warehouse.migrate()
        results = apply_new_uploads(warehouse, open_lake(settings.lake_url),
                                    max_profiles=settings.max_group_profiles, tz=settings.tz)
    return [r.as_dict() for r in results]


def run_upload_task() -> list[dict]:
    """Apply the uploads; the good files always apply. The task fails (no retry) when a
    file failed in this run, naming each; a bad file that stayed unchanged since it
    failed is not retried, only named in a warning, so the next runs succeed."""
    from airflow.sdk.exceptions import AirflowFailException

    with failing_at_once_on_wrong_input():
        results = apply_uploads(task_settings())
    for r in results:
        if r["status"] == "failed_unchanged":
            log.warning("upload %s is unchanged since it failed, not retried: %s", r["source"], r["error"])
    failed = [r["error"] for r in results if r["status"] == "failed"]
    if failed:
        applied = sum(r["status"] == "applied" for r in results)
        raise AirflowFailException(
            f"{len(failed)} upload(s) failed ({applied} applied; a failed file is retried once it changes): "
            + "; ".join(failed))
    return results


def publish_day(outlet_events, asset, summary: dict) -> None:  # noqa: ANN001
    """Put the finished day on the daily Asset's event (for people reading the events: the
    cohort exports DAG reads which days to export from the warehouse)."""
    outlet_events[asset].extra = {"day": summary["day"]}


def run_export_task(conf: dict | None) -> list[dict]:
    """The cohort exports of every day loaded since its last export (the warehouse's
    export_days), whatever Asset events triggered the run: events queued while a run
    is active are consumed by no run. Triggered by hand with conf {"day": D}: day D."""
    from airflow.sdk.exceptions import AirflowFailException

    from etl.serve.export import run_exports, run_pending_exports
    from etl.store.lake import open_lake
    from etl.store.warehouse import open_warehouse

    asked = conf.get("day") if conf else None
    try:
        day = date.fromisoformat(asked) if asked else None
    except (TypeError, ValueError):
        raise AirflowFailException(f'conf {{"day": ...}} must be YYYY-MM-DD, got {asked!r}') from None
    with failing_at_once_on_wrong_input():
        settings = task_settings()
    with failing_at_once_on_wrong_input(), open_warehouse(settings) as warehouse:
        warehouse.migrate()
        lake = open_lake(settings.lake_url)
        return run_pending_exports(warehouse, lake) if day is None else run_exports(warehouse, lake, day)


# The daily DAG's tasks: the day itself (every stage, one transaction), then its audit.
TASKS: dict[str, Callable[[Settings, date], dict]] = {
    "run_day": run_day_task,
    "audit": audit,
}
