"""The ASGI application of `group-etl serve`: routes only, each a call into
etl.api.engage or etl.api.pages. The warehouse is opened read-only (no DDL,
never DuckDB's writer lock), once, and shared by every request."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from fastapi import Depends, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from etl.api.auth import authenticated_user
from etl.api.engage import query_engage
from etl.api.errors import error_body, fault_body, install_error_handlers
from etl.api.pages import install_pages
from etl.api.settings import ServeSettings
from etl.config import Settings
from etl.errors import StorageError
from etl.store.warehouse import Warehouse

log = logging.getLogger("group_etl.serve")
ENGAGE_PATHS = ("/api/query/engage", "/api/2.0/engage", "/api/2.0/engage/")


def create_app(settings: Settings, serve: ServeSettings, warehouse: Warehouse | None = None) -> FastAPI:
    """The application; `warehouse` (read-only) is opened from `settings` when not given."""
    app = FastAPI(title="group-etl", root_path=serve.root_path, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.serve_settings = serve
    app.state.warehouse = warehouse or Warehouse(settings, read_only=True)
    install_error_handlers(app)
    app.middleware("http")(_log_request)

    async def engage(request: Request, _user: str = Depends(authenticated_user)) -> JSONResponse:
        params = dict(request.query_params)
        if request.method == "POST":
            params.update({k: v for k, v in (await request.form()).items() if isinstance(v, str)})
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
