"""Errors as Mixpanel's query API answers them: a JSON body {"request", "error",
"status": "error"} with 400 for a wrong request, 401 without valid credentials,
404 for an unknown page, 503 while the warehouse cannot be reached, 500 for a
fault of ours (logged; the body says no more than that)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from etl.errors import EtlError, StorageError

log = logging.getLogger("group_etl.serve")


def error_body(request: Request, status: int, message: str, headers: dict | None = None) -> JSONResponse:
    """Mixpanel's error shape; `request` is the path only (a query string may hold customer data)."""
    return JSONResponse({"request": request.url.path, "error": message, "status": "error"}, status,
                        headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StorageError)
    async def _unavailable(request: Request, error: StorageError) -> JSONResponse:
        log.warning("%s %s: warehouse unavailable: %s", request.method, request.url.path, error)
        return error_body(request, 503, "the warehouse is unavailable; try again later")

    @app.exception_handler(EtlError)
    async def _wrong_request(request: Request, error: EtlError) -> JSONResponse:
        return error_body(request, 400, str(error))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, error: HTTPException) -> JSONResponse:
        return error_body(request, error.status_code, str(error.detail), getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_body(request, 400, f"{where}: {first.get('msg', 'invalid request')}")


def fault_body(request: Request, error: Exception) -> JSONResponse:
    """A fault of ours: its traceback logged once (the request line follows), the body says
    no more. Called by the request-log middleware, so the exception never reaches uvicorn,
    which would log it a second time."""
    log.error("%s %s failed", request.method, request.url.path, exc_info=error)
    return error_body(request, 500, "internal error (see the server's log)")
