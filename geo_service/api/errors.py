"""Every error as ``application/problem+json`` (RFC 9457) with the right 4xx / 503, never an
unexplained 500."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from geo_service.api.responses import PROBLEM, JSONBytes
from geo_service.storage import StoreBusy, StoreNotFound, StoreUnavailable
from geo_service.storage.base import StoreSchemaError
from profiling.errors import ProfilingError, ValidationFailed

__all__ = ["install_error_handlers", "problem"]

log = logging.getLogger("geo_service.api")


def problem(
    status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONBytes:
    """A problem-details response."""
    body = {"status": status, "title": HTTPStatus(status).phrase, "detail": detail, **extra}
    response = JSONBytes(body, status_code=status, headers=headers)
    response.headers["content-type"] = PROBLEM
    return response


def install_error_handlers(app: FastAPI) -> None:
    """Map exceptions to problem responses."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONBytes:
        return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONBytes:
        errors = [
            {"location": list(map(str, e.get("loc", ()))), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        in_body = any(e["location"][:1] == ["body"] for e in errors)
        # OGC API Features: an invalid query parameter value is a 400; a bad body a 422.
        status = 422 if in_body else 400
        return problem(status, "the request is not valid", errors=errors)

    @app.exception_handler(StoreBusy)
    async def busy(request: Request, exc: StoreBusy) -> JSONBytes:
        return problem(503, "the store is busy; retry shortly", headers={"Retry-After": "2"})

    @app.exception_handler(StoreUnavailable)
    async def unavailable(request: Request, exc: StoreUnavailable) -> JSONBytes:
        log.warning("store unavailable on %s %s: %s", request.method, request.url.path, exc)
        return problem(
            503, "the database cannot be reached; retry shortly", headers={"Retry-After": "5"}
        )

    @app.exception_handler(StoreNotFound)
    async def not_found(request: Request, exc: StoreNotFound) -> JSONBytes:
        return problem(404, str(exc))

    @app.exception_handler(StoreSchemaError)
    async def schema_error(request: Request, exc: StoreSchemaError) -> JSONBytes:
        return problem(400, str(exc))

    @app.exception_handler(ValidationFailed)
    async def invalid(request: Request, exc: ValidationFailed) -> JSONBytes:
        report = exc.report.to_dict(limit=1000)
        return problem(422, str(exc), report=report)

    @app.exception_handler(ProfilingError)
    async def refused(request: Request, exc: ProfilingError) -> JSONBytes:
        return problem(400, str(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONBytes:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "unexpected error; it has been logged")
