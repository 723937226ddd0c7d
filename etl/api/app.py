"""The ASGI application of `group-etl serve`: routes only, each a call into
etl.api.engage or etl.api.pages. The warehouse is opened read-only (no DDL,
never DuckDB's writer lock), once, and shared by every request."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from etl.api.auth import authenticated_user
from etl.api.engage import query_engage
from etl.api.errors import error_body, fault_body, install_error_handlers
from etl.api.pages import install_pages
from etl.api.settings import ServeSettings
from etl.config import Settings
from etl.errors import StorageError
from etl.store.warehouse import Warehouse, open_warehouse

log = logging.getLogger("group_etl.serve")
ENGAGE_PATHS = ("/api/query/engage", "/api/2.0/engage", "/api/2.0/engage/")
# 2,000 distinct_ids of Mixpanel's longest (255 bytes), url-encoded, fit with room to spare
MAX_BODY, MAX_FIELDS = 4_000_000, 100


def create_app(settings: Settings, serve: ServeSettings, warehouse: Warehouse | None = None) -> FastAPI:
    """The application; `warehouse` (read-only) is opened from `settings` when not given."""
    app = FastAPI(title="group-etl", root_path=serve.root_path, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.serve_settings = serve
    app.state.warehouse = warehouse or open_warehouse(settings, read_only=True)  # DuckDB, PostgreSQL or Spark
    install_error_handlers(app)
    app.middleware("http")(_log_request)

    async def engage(request: Request, _user: str = Depends(authenticated_user)) -> JSONResponse:
        params = dict(request.query_params)
        if request.method == "POST":
            params.update(await _form(request))
        return JSONResponse(await run_in_threadpool(query_engage, app.state.warehouse, params))

    for path in ENGAGE_PATHS:
        app.add_api_route(path, engage, methods=["GET", "POST"], include_in_schema=False)

    @app.get("/healthz", include_in_schema=False)
    def health(request: Request) -> JSONResponse:
        """For load balancers and the compose health check: no credentials, no data."""
        try:
            version = app.state.warehouse.check_version()
        except StorageError:
            return error_body(request, 503, "the warehouse is unavailable")
        return JSONResponse({"status": "ok", "schema_version": version})

    install_pages(app)
    return app


async def _form(request: Request) -> dict[str, str]:
    """A form body (application/x-www-form-urlencoded, as mixpanel-utils posts it), read up
    to MAX_BODY bytes: a bigger one is a 413 before it is held in memory whole."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind not in ("", "application/x-www-form-urlencoded"):
        raise HTTPException(415, f"send the parameters as a form (application/x-www-form-urlencoded), not {kind}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise HTTPException(413, f"the request body is over {MAX_BODY // 1_000_000} MB")
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=MAX_FIELDS,
                              errors="strict"))
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "the form body is not UTF-8 url-encoded text") from None


async def _log_request(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """One line a request: method, path (no query string: it may hold customer data), status,
    time, the authenticated user. Never a header: Authorization carries the secret."""
    started = time.perf_counter()
    try:
        response = await call_next(request)
    except Exception as error:  # noqa: BLE001 - a fault of ours: answered here, so it has its request line
        response = fault_body(request, error)
    user = getattr(request.state, "user", "-")
    log.info("%s %s %d %.0fms user=%s", request.method, request.url.path, response.status_code,
             (time.perf_counter() - started) * 1000, user)
    return response
