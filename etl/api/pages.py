"""The group pages: `/groups` (search by id or profile) and `/groups/<key>/<id>`
(profile, its history with an as-of picker, the activity feed by cursor, activity
and account-health charts, the cohorts it belongs to). Server-rendered Jinja2,
inline SVG, no script. Each figure comes from an etl.serve function; this module
only gathers and renders."""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import quote, urlencode

import jinja2
from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from etl.api.auth import authenticated_user
from etl.api.svg import day_bars
from etl.errors import EtlError, StorageError
from etl.store.warehouse import Warehouse

FEED_PAGE = 25
_TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("etl.api", "templates"),
                                autoescape=True, undefined=jinja2.StrictUndefined)
_TEMPLATES.filters["segment"] = lambda value: quote(str(value), safe="")
_TEMPLATES.filters["json"] = lambda value: json.dumps(value, ensure_ascii=False)
_TEMPLATES.filters["query"] = lambda pairs: urlencode({k: v for k, v in pairs.items() if v})


class NotFound(EtlError):
    """No such group key, or no such group: the page is a 404."""


def install_pages(app: FastAPI) -> None:
    @app.get("/groups", response_class=HTMLResponse, include_in_schema=False)
    async def search(request: Request, _user: str = Depends(authenticated_user)) -> HTMLResponse:
        params = dict(request.query_params)
        return await _page(request, "search.html", search_context, app.state.warehouse, params)

    @app.get("/groups/{group_key}/{group_id:path}", response_class=HTMLResponse, include_in_schema=False)
    async def group(request: Request, group_key: str, group_id: str,
                    _user: str = Depends(authenticated_user)) -> HTMLResponse:
        params = {**request.query_params, "group_key": group_key, "group_id": group_id}
        return await _page(request, "group.html", group_context, app.state.warehouse, params)


async def _page(request: Request, template: str, gather, warehouse: Warehouse, params: dict) -> HTMLResponse:  # noqa: ANN001
    """Render `template` with what `gather` finds; a wrong request or unknown group is a
    page saying so (400 or 404), not a stack trace."""
    base = request.scope.get("root_path", "")
    try:
        context = await run_in_threadpool(gather, warehouse, params)
    except StorageError:
        raise
    except EtlError as error:
        status = 404 if isinstance(error, NotFound) else 400
        html = _TEMPLATES.get_template("error.html").render(base=base, message=str(error), status=status)
        return HTMLResponse(html, status)
    return HTMLResponse(_TEMPLATES.get_template(template).render(base=base, **context))


def search_context(warehouse: Warehouse, params: dict) -> dict:
    from etl.model.keys import list_keys
    from etl.serve.group_search import search_groups

    keys = sorted({k.group_key for k in list_keys(warehouse, include_removed=False)})
    key = params.get("key") or (keys[0] if keys else "")
    text, where = params.get("q", "").strip(), params.get("where", "").strip()
    asked = bool(text or where)
    results = search_groups(warehouse, key, text or None, where or None) if key and asked else []
    return {"keys": keys, "key": key, "q": text, "where": where, "asked": asked, "results": results}


def group_context(warehouse: Warehouse, params: dict) -> dict:
    from etl.serve.group_activity import account_health, daily_activity, last_active_day
    from etl.serve.group_cohorts import member_cohorts
    from etl.serve.group_history import profile_versions
    from etl.serve.groups import show_group

    key, group_id = params["group_key"], params["group_id"]
    tz = warehouse.settings.tz
    as_of_text = params.get("as_of", "").strip()
    at = _as_of(as_of_text, tz) if as_of_text else None
    try:
        shown = show_group(warehouse, key, group_id, limit=FEED_PAGE, as_of=at, cursor=params.get("cursor") or None)
    except EtlError as error:  # show_group's two refusals of a group that is not there
        if str(error).startswith((f"group key {key!r} is not set up", f"group {key} = {group_id!r} is unknown")):
            raise NotFound(str(error)) from None
        raise
    for event in shown["events"]:
        event["local_time"] = event["time"].astimezone(tz)
    today = (at or datetime.now(tz)).astimezone(tz).date()
    last = last_active_day(warehouse, key, group_id, today) or today
    activity = daily_activity(warehouse, key, group_id, last)
    health = account_health(warehouse, key, group_id, today)
    return {
        **shown, "as_of": as_of_text, "at": at, "tz": tz.key,
        "versions": profile_versions(warehouse, key, group_id),
        "cohorts": member_cohorts(warehouse, key, shown["data_group_id"], group_id, today, at),
        "active_chart": day_bars([(d["day"], d["active_users"]) for d in activity], "active users per day"),
        "events_chart": day_bars([(d["day"], d["events"]) for d in activity], "events per day"),
        "activity": activity, "health": health,
        "health_chart": day_bars([(h["activity_date"], h["active_users_7d"]) for h in health],
                                 "active users, trailing 7 days") if health else None,
    }


def _as_of(text: str, tz) -> datetime:  # noqa: ANN001
    """A day (its end in the project time zone) or an ISO 8601 time, as `--as-of` reads it."""
    from etl.serve.export import as_of_instant

    try:
        return as_of_instant(text, tz, "as_of")
    except ValueError:
        raise EtlError(f"as of: expected YYYY-MM-DD or an ISO 8601 time, got {text!r}") from None
