"""What every SQL engine's adapter shares and callers use without a warehouse at
hand: identifier quoting, URLs safe to show, JSON text decoded, and the one place
that tells a warehouse fault worth retrying from wrong data or settings
(`transient_error`, which Airflow's retries also ask)."""

from __future__ import annotations

import json
import re

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

from etl.errors import EtlError, WarehouseBusyError, WarehouseUnavailableError


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB and PostgreSQL alike (both use SQL-standard quoting)."""
    if "\x00" in name:
        raise EtlError("identifiers may not contain a NUL character")
    return '"' + name.replace('"', '""') + '"'


# query parameters that may carry a secret (?password=..., ?sslkey=..., ?token=...)
_SECRET_PARAMETER = re.compile(r"pass|secret|token|key|auth|cred", re.IGNORECASE)


def safe_url(url: str | URL) -> str:
    """The URL with its password masked, in the user part and in query parameters,
    for messages and logs."""
    try:
        parsed = make_url(url)
        hidden = {name: "***" for name in parsed.query if _SECRET_PARAMETER.search(name)}
        rendered = parsed.update_query_dict(hidden).render_as_string(hide_password=True)
        return rendered.replace("=%2A%2A%2A", "=***")
    except Exception:  # noqa: BLE001 - never echo something unparseable
        return "<warehouse URL>"


def json_value(text: str | None) -> object:
    """A JSON column selected as text (`CAST(col AS VARCHAR)`), decoded.

    Selecting JSON as text and decoding here gives the same Python value on
    both engines (duckdb-engine and psycopg decode JSON columns differently).
    """
    return None if text is None else json.loads(text)


def first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


# PostgreSQL SQLSTATEs worth a retry: connection exceptions (08...), the server shutting
# down or starting (57P01-57P03), too many connections, serialization failures, deadlocks.
_TRANSIENT_SQLSTATE = re.compile(r"^(08...|57P0[123]|53300|40001|40P01)$")
# A refused login carries no SQLSTATE in psycopg: these say the settings are wrong.
_WRONG_LOGIN = re.compile(r"does not exist|authentication failed|no pg_hba\.conf entry|permission denied"
                          r"|password", re.IGNORECASE)


def lock_conflict(error: BaseException) -> bool:
    """DuckDB's "Could not set lock on file": another process holds the file."""
    orig = getattr(error, "orig", None) or error
    text = str(orig).lower()
    return type(orig).__module__.startswith(("duckdb", "_duckdb")) and (
        "could not set lock" in text or "conflicting lock" in text)


def transient_error(error: BaseException) -> bool:
    """A warehouse error that a later attempt may not meet: a DuckDB file locked by
    another process, a connection refused, lost or invalidated (a PostgreSQL restart,
    a terminated backend), too many connections, a serialization failure or deadlock.
    Wrong SQL, wrong data, a wrong password or database name are not: retrying cannot help."""
    if isinstance(error, WarehouseBusyError | WarehouseUnavailableError):
        return True
    if lock_conflict(error):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    orig = getattr(error, "orig", None) or error
    if type(orig).__module__.startswith("psycopg"):
        import psycopg

        if isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError):
            state = getattr(orig, "sqlstate", None)
            if state is None:  # refused, reset or closed before a query: unless the login was wrong
                return not _WRONG_LOGIN.search(str(orig))
            return bool(_TRANSIENT_SQLSTATE.match(state))
        state = getattr(orig, "sqlstate", None)
        return bool(state and _TRANSIENT_SQLSTATE.match(state))
    return False
