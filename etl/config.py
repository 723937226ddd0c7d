"""Project settings: docs/configuration.md, read from the environment with
command-line overrides. A wrong value is a `ConfigError` naming the variable.

Every command imports this module, `--help` included: SQLAlchemy (about 150 ms to
import) is imported only when a warehouse URL is parsed (issue 21)."""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from etl.errors import ConfigError

DEFAULTS: dict[str, str] = {
    "GROUP_ETL_WAREHOUSE_URL": "duckdb:///data/warehouse.duckdb",
    "GROUP_ETL_LAKE_URL": "data/lake",
    "GROUP_ETL_SCHEMA": "",
    "GROUP_ETL_TIMEZONE": "UTC",
    "GROUP_ETL_PROJECT_TOKEN": "",
    "GROUP_ETL_MAX_GROUP_KEYS": "6",
    "GROUP_ETL_MAX_GROUP_PROFILES": "1000000",
    "GROUP_ETL_HOT_SHARD_LIMIT": "1000000",
    "GROUP_ETL_SESSION_DIR": "",
    "GROUP_ETL_SESSION_TTL_SECONDS": "86400",
    "GROUP_ETL_SHRINK_LIMIT": "0.5",
    "GROUP_ETL_LANDING_MARKER": "",
    "GROUP_ETL_LOCK_TIMEOUT": "300",
    "GROUP_ETL_REJECT_WARN": "0.01",
    "GROUP_ETL_CHURN_DAYS": "30",
    "GROUP_ETL_ENGINE": "",
    "GROUP_ETL_SPARK_MASTER": "local[*]",
    "GROUP_ETL_SPARK_WAREHOUSE": "data/spark-warehouse",
    "GROUP_ETL_SPARK_DATABASE": "group_etl",
}

# One line each, for `group-etl --help` and `group-etl settings` (docs/configuration.md says more).
MEANINGS: dict[str, str] = {
    "GROUP_ETL_WAREHOUSE_URL": "SQLAlchemy URL of the warehouse: duckdb:///relative/path, "
                               "duckdb:////absolute/path or postgresql+psycopg://user:pw@host/db",
    "GROUP_ETL_LAKE_URL": "the lake: a folder path, file:///abs/path or s3://bucket/prefix",
    "GROUP_ETL_SCHEMA": "schema of every table (empty: DuckDB main, PostgreSQL public)",
    "GROUP_ETL_TIMEZONE": "project time zone: the calendar days of events and dumps",
    "GROUP_ETL_PROJECT_TOKEN": "when set, events with another token are rejected (wrong_token)",
    "GROUP_ETL_MAX_GROUP_KEYS": "active group keys a project may have",
    "GROUP_ETL_MAX_GROUP_PROFILES": "group profiles per group key; new ones past it are refused",
    "GROUP_ETL_HOT_SHARD_LIMIT": "attributed events per group id per event date",
    "GROUP_ETL_SESSION_DIR": "folder of pinned export sessions (empty: export-sessions/ beside "
                             "the DuckDB file, or one in the system temp folder)",
    "GROUP_ETL_SESSION_TTL_SECONDS": "seconds a pinned export session lasts",
    "GROUP_ETL_SHRINK_LIMIT": "largest share of a loaded day a re-run may drop without run --allow-shrink",
    "GROUP_ETL_LANDING_MARKER": "file name (such as _SUCCESS) that marks a day's dump as landed "
                                "(empty: any object does)",
    "GROUP_ETL_LOCK_TIMEOUT": "seconds a writer waits for a DuckDB file or a Spark warehouse another process holds",
    "GROUP_ETL_REJECT_WARN": "rejected share of a day's records above which run warns and status --check fails",
    "GROUP_ETL_CHURN_DAYS": "days a group stays dormant before group_activity_daily marks it churned",
    "GROUP_ETL_ENGINE": "spark: tables in Spark (docs/spark.md); empty: the warehouse URL's database",
    "GROUP_ETL_SPARK_MASTER": "Spark engine: the master, such as local[*], spark://host:7077 or yarn",
    "GROUP_ETL_SPARK_WAREHOUSE": "Spark engine: where the tables live, a folder or s3a://bucket/prefix",
    "GROUP_ETL_SPARK_DATABASE": "Spark engine: the catalog database of the tables",
    "GROUP_ETL_SERVE_HOST": "group-etl serve: the address it listens on",
    "GROUP_ETL_SERVE_PORT": "group-etl serve: the port it listens on",
    "GROUP_ETL_SERVE_USER": "group-etl serve: the service account's user (HTTP basic authentication)",
    "GROUP_ETL_SERVE_SECRET": "group-etl serve: the service account's secret",
    "GROUP_ETL_SERVE_ROOT_PATH": "group-etl serve: the path prefix a reverse proxy adds, such as /analytics",
}
# Values never printed as they are.
_SECRETS = ("GROUP_ETL_PROJECT_TOKEN", "GROUP_ETL_SERVE_SECRET")

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Settings:
    warehouse_url: str
    lake_url: str
    schema: str | None
    timezone: str
    project_token: str | None
    max_group_keys: int
    max_group_profiles: int
    hot_shard_limit: int
    session_dir: str | None = None
    #: a re-run may remove at most this share of a loaded day's events without --allow-shrink
    shrink_limit: float = 0.5
    #: when set, a day has landed once events/dt=D/<marker> exists (the marker is no record)
    landing_marker: str | None = None
    #: seconds a writer waits for a DuckDB file another process holds (0: fail at once)
    lock_timeout: float = 300.0
    #: a day whose rejected share of event records is above this is flagged (run, status --check)
    reject_warn: float = 0.01
    #: seconds a pinned export session lasts; the next export deletes older ones
    session_ttl: int = 86_400
    #: days a group stays dormant before group_activity_daily marks it churned
    churn_days: int = 30
    #: "spark": the Spark engine keeps the tables (docs/spark.md); None: the warehouse URL's database
    engine: str | None = None
    spark_master: str = "local[*]"
    spark_warehouse: str = "data/spark-warehouse"
    spark_database: str = "group_etl"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def export_session_dir(self) -> Path:
        """Where `export profiles` pins its sessions: GROUP_ETL_SESSION_DIR, else a folder
        `export-sessions` beside a DuckDB file, else one in the system's temp folder."""
        if self.session_dir:
            return Path(self.session_dir)
        from sqlalchemy.engine import make_url

        url = make_url(self.warehouse_url)
        if url.get_backend_name() == "duckdb" and url.database and url.database != ":memory:":
            return Path(url.database).parent / "export-sessions"
        user = getattr(os, "getuid", lambda: "user")()
        return Path(tempfile.gettempdir()) / f"group-etl-export-sessions-{user}"


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Environment first, then command-line options (None keeps the environment's
    value); the result is validated once, so an option can mend a bad variable."""
    env = os.environ if environ is None else environ
    raw = {name: env.get(name, default) for name, default in DEFAULTS.items()}
    for name, value in overrides.items():
        if value is not None:
            raw[f"GROUP_ETL_{name.upper()}"] = str(value)
    settings = Settings(
        warehouse_url=raw["GROUP_ETL_WAREHOUSE_URL"],
        lake_url=raw["GROUP_ETL_LAKE_URL"],
        schema=raw["GROUP_ETL_SCHEMA"] or None,
        timezone=raw["GROUP_ETL_TIMEZONE"],
        project_token=raw["GROUP_ETL_PROJECT_TOKEN"] or None,
        max_group_keys=count_setting("GROUP_ETL_MAX_GROUP_KEYS", raw),
        max_group_profiles=count_setting("GROUP_ETL_MAX_GROUP_PROFILES", raw),
        hot_shard_limit=count_setting("GROUP_ETL_HOT_SHARD_LIMIT", raw),
        session_dir=raw["GROUP_ETL_SESSION_DIR"] or None,
        shrink_limit=_share("GROUP_ETL_SHRINK_LIMIT", raw),
        landing_marker=raw["GROUP_ETL_LANDING_MARKER"] or None,
        lock_timeout=seconds_setting("GROUP_ETL_LOCK_TIMEOUT", raw),
        reject_warn=_share("GROUP_ETL_REJECT_WARN", raw),
        session_ttl=count_setting("GROUP_ETL_SESSION_TTL_SECONDS", raw),
        churn_days=count_setting("GROUP_ETL_CHURN_DAYS", raw),
        engine=raw["GROUP_ETL_ENGINE"] or None,
        spark_master=raw["GROUP_ETL_SPARK_MASTER"],
        spark_warehouse=raw["GROUP_ETL_SPARK_WAREHOUSE"],
        spark_database=raw["GROUP_ETL_SPARK_DATABASE"],
    )
    return _validated(settings)


def describe_settings(environ: Mapping[str, str] | None = None, more: Mapping[str, str] | None = None,
                      **overrides: object) -> list[dict]:
    """Each setting (`more`: other defaults by name, such as the server's) with its value
    (the project token and the server's secret masked; the caller masks the warehouse
    URL's password), where the value came from (option, environment or default) and
    what it means."""
    env = os.environ if environ is None else environ
    rows = []
    for name, default in {**DEFAULTS, **(more or {})}.items():
        option = overrides.get(name.removeprefix("GROUP_ETL_").lower())
        if option is not None:
            value, source = str(option), "option"
        elif name in env:
            value, source = env[name], "environment"
        else:
            value, source = default, "default"
        if name in _SECRETS and value:
            value = "***"
        rows.append({"setting": name, "value": value, "source": source, "meaning": MEANINGS[name]})
    return rows


def _share(name: str, raw: Mapping[str, str]) -> float:
    return _float_setting(name, raw, "a share between 0 and 1, such as 0.5", 0.0, 1.0, "between 0 and 1")


def seconds_setting(name: str, raw: Mapping[str, str]) -> float:
    """A number of seconds, 0 or more (also for the variables the DAG files read)."""
    return _float_setting(name, raw, "a number of seconds, such as 300", 0.0, sys.float_info.max,
                          "0 or more seconds")


def _float_setting(name: str, raw: Mapping[str, str], expected: str, low: float, high: float,
                   bounds: str) -> float:
    value = raw[name]
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name}: expected {expected}, got {value!r}") from None
    if not low <= number <= high:  # NaN and infinities fail here too
        raise ConfigError(f"{name}: must be {bounds}, got {value}")
    return number


def count_setting(name: str, raw: Mapping[str, str], least: int = 1) -> int:
    """A whole number, at least `least` (also for the variables the DAG files read)."""
    value = raw[name]
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number, got {value!r}") from None
    if number < least:
        raise ConfigError(f"{name}: must be at least {least}, got {number}")
    return number


def _validated(settings: Settings) -> Settings:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    # Never echo the URL in these messages: it may carry a password.
    if settings.warehouse_url.partition("://")[2].split("/", 1)[0].count("@") > 1:
        raise ConfigError("GROUP_ETL_WAREHOUSE_URL: the user or password holds '@': "
                          "write it percent-encoded, as %40")
    try:
        url = make_url(settings.warehouse_url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise ConfigError("GROUP_ETL_WAREHOUSE_URL: not a valid SQLAlchemy URL "
                          "(dialect+driver://user:password@host:port/database)") from None
    if url.get_backend_name() not in ("duckdb", "postgresql"):
        raise ConfigError(
            "GROUP_ETL_WAREHOUSE_URL: unsupported database "
            f"{url.get_backend_name()!r} (use duckdb:/// or postgresql+psycopg://)"
        )
    lake = settings.lake_url
    if not lake or ("://" in lake and not lake.startswith(("file://", "s3://"))):
        raise ConfigError("GROUP_ETL_LAKE_URL: expected a folder path, file:///abs/path or s3://bucket/prefix")
    if lake.startswith("s3://") and not lake[len("s3://"):].split("/")[0]:
        raise ConfigError("GROUP_ETL_LAKE_URL: s3:// URL has no bucket")
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"GROUP_ETL_TIMEZONE: unknown time zone {settings.timezone!r}") from None
    if settings.landing_marker is not None and ("/" in settings.landing_marker
                                                or settings.landing_marker in (".", "..")):
        raise ConfigError("GROUP_ETL_LANDING_MARKER: a file name such as _SUCCESS, without '/', "
                          f"got {settings.landing_marker!r}")
    if settings.schema is not None and not _SCHEMA_NAME.match(settings.schema):
        raise ConfigError(
            "GROUP_ETL_SCHEMA: use letters, digits and underscores, starting with a letter "
            f"(got {settings.schema!r})"
        )
    _check_spark(settings)
    return settings


ENGINES = ("spark",)


def _check_spark(settings: Settings) -> None:
    if settings.engine is not None and settings.engine not in ENGINES:
        raise ConfigError(f"GROUP_ETL_ENGINE: expected spark, or nothing for the warehouse URL's database "
                          f"(got {settings.engine!r})")
    if not settings.spark_master.strip():
        raise ConfigError("GROUP_ETL_SPARK_MASTER: expected a Spark master such as local[*] or spark://host:7077")
    where = settings.spark_warehouse
    if not where or ("://" in where and not where.startswith(("file://", "s3a://", "s3://", "hdfs://",
                                                                "abfss://", "gs://", "dbfs:/"))):
        raise ConfigError("GROUP_ETL_SPARK_WAREHOUSE: expected a folder path or a URL Spark reads "
                          "(file://, s3a://, hdfs://, abfss://, gs://)")
    if not _SCHEMA_NAME.match(settings.spark_database):
        raise ConfigError("GROUP_ETL_SPARK_DATABASE: use letters, digits and underscores, starting with a "
                          f"letter (got {settings.spark_database!r})")
