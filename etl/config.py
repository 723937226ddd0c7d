"""Project settings: docs/configuration.md, read from the environment with
command-line overrides. A wrong value is a `ConfigError` naming the variable."""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

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
}

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

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def export_session_dir(self) -> Path:
        """Where `export profiles` pins its sessions: GROUP_ETL_SESSION_DIR, else a folder
        `export-sessions` beside a DuckDB file, else one in the system's temp folder."""
        if self.session_dir:
            return Path(self.session_dir)
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
    )
    return _validated(settings)


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
    return settings
