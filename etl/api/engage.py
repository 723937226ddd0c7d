"""Engage query parameters (as Mixpanel names them) read into an export of
etl.serve.export, which answers the page: this module only translates.

Parameters: data_group_id, where (etl.api.where), output_properties (a JSON
array), filter_by_cohort ({"id": N}), include_all_users, distinct_id,
distinct_ids (a JSON array), session_id, page, page_size (default and maximum
1000, as Mixpanel's). project_id and Mixpanel's other request decorations
(verbose, workspace_id) are accepted and ignored: a warehouse is one project.
behaviors and as_of_timestamp are refused (save a cohort and filter by it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime

from etl.api.where import to_filter
from etl.errors import EtlError
from etl.serve.cohorts import cohort_by_id
from etl.serve.export import Selection, export_profiles
from etl.store.warehouse import Warehouse

PAGE_SIZE = 1000  # Mixpanel's default and maximum
MAX_IDS = 2000  # distinct_ids a request may name: each is a bound parameter (PostgreSQL takes 65,535)
_WHOLE = re.compile(r"-?[0-9]{1,20}")  # a 64-bit id has at most 19 digits
REFUSED = {"behaviors": "behaviors", "as_of_timestamp": "as_of_timestamp"}


def query_engage(warehouse: Warehouse, params: Mapping[str, str]) -> dict:
    """One page of the Engage answer for the request's parameters (EtlError: a 400)."""
    for name in REFUSED:
        if params.get(name):
            raise EtlError(f"{name} is not supported here: save the condition as a cohort "
                           "(`group-etl cohorts add`) and pass filter_by_cohort={\"id\": N}")
    page = _whole(params, "page", 0, 0)
    page_size = _whole(params, "page_size", PAGE_SIZE, 1)
    if page_size > PAGE_SIZE:
        raise EtlError(f"page_size must be at most {PAGE_SIZE}, got {page_size}")
    session_id = params.get("session_id") or None
    if page > 0 and session_id is None:
        raise EtlError("page > 0 needs the session_id of page 0's answer")
    settings = warehouse.settings
    return export_profiles(
        warehouse, selection(warehouse, params), page=page, page_size=page_size, session_id=session_id,
        output_properties=_strings(params, "output_properties"),
        as_of=datetime.now(settings.tz).date(),
    )


def selection(warehouse: Warehouse, params: Mapping[str, str]) -> Selection:
    """Which profiles the parameters select, as `export profiles` takes them."""
    # a key's id is any 64-bit number (a hash: negative ones too)
    data_group_id = _whole(params, "data_group_id", None, None) if params.get("data_group_id") else None
    cohort = None
    if params.get("filter_by_cohort"):
        cohort = cohort_by_id(warehouse, _cohort_id(params["filter_by_cohort"])).name
    where = to_filter(params["where"]) if params.get("where") else None
    include = params.get("include_all_users")
    if include not in (None, "", "true", "false", "1", "0"):
        raise EtlError(f"include_all_users must be true or false, got {include!r}")
    include_all_users = None if include in (None, "") else include in ("true", "1")
    if include_all_users is not None and cohort is None:
        include_all_users = None  # only meaningful with filter_by_cohort, as in Mixpanel
    ids = None
    if params.get("distinct_ids"):
        ids = tuple(_strings(params, "distinct_ids") or [])
        if len(ids) > MAX_IDS:
            raise EtlError(f"distinct_ids: at most {MAX_IDS} ids a request, got {len(ids)}")
    if params.get("distinct_id"):
        ids = (*(ids or ()), params["distinct_id"])
    if ids is not None:  # no profile id holds a NUL (PostgreSQL's text cannot): such an id matches nothing
        ids = tuple(i for i in ids if "\x00" not in i)
    return Selection(data_group_id, cohort, where, None, include_all_users, ids)


def _whole(params: Mapping[str, str], name: str, default: int | None, least: int | None) -> int | None:
    text = params.get(name)
    if text in (None, ""):
        return default
    # digits only: int() would also take "1_0", " 7 ", Arabic-Indic digits and 4,300 digits
    if not _WHOLE.fullmatch(text):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise EtlError(f"{name} must be a whole number, got {shown!r}")
    number = int(text)
    if least is not None and number < least:
        raise EtlError(f"{name} must be at least {least}, got {number}")
    return number


def _strings(params: Mapping[str, str], name: str) -> list[str] | None:
    """A JSON array of strings (output_properties, distinct_ids)."""
    text = params.get(name)
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        raise EtlError(f'{name} must be a JSON array of strings, such as ["a", "b"]') from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise EtlError(f'{name} must be a JSON array of strings, such as ["a", "b"]')
    return value


def _cohort_id(text: str) -> int:
    """filter_by_cohort: {"id": N} (a saved cohort's number, see `group-etl cohorts list`)."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    cohort_id = value.get("id") if isinstance(value, dict) and set(value) == {"id"} else None
    if isinstance(cohort_id, str) and cohort_id.isdigit():
        cohort_id = int(cohort_id)
    if isinstance(cohort_id, bool) or not isinstance(cohort_id, int):
        raise EtlError('filter_by_cohort must be {"id": N}, N a saved cohort\'s id (`group-etl cohorts list`)')
    return cohort_id
