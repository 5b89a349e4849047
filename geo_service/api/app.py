"""The application factory."""

from __future__ import annotations

import logging
import shutil
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI

import geo_service
from geo_service.api import features, indicators, maps, meta, redact, uploads, urban
from geo_service.api.deps import Services, get_principal
from geo_service.api.errors import install_error_handlers
from geo_service.api.responses import PROBLEM, JSONBytes
from geo_service.indicator_service import recompute_for_settlements, warm_cache
from geo_service.instance import AlreadyServing, serving
from geo_service.jobs import JobError, JobOutcome, Progress
from geo_service.settings import Settings, get_settings

__all__ = ["create_app", "queue_warm_up", "remove_stale_uploads"]

log = logging.getLogger(__name__)


def remove_stale_uploads(work_dir: Path | None) -> int:
    """Delete the staged upload folders (``upload-<hex>``) left by a process that died.

    Called at start, after the unfinished jobs are marked failed: no job of this process owns
    a folder yet, and a folder left behind holds a raw upload (personal data) that would
    otherwise stay on disk for ever. Returns the number of folders removed.
    """
    if work_dir is None or not work_dir.is_dir():
        return 0
    stale = [p for p in work_dir.glob("upload-*") if p.is_dir() and not p.is_symlink()]
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    if stale:
        log.warning("removed %d staged upload folder(s) left by an interrupted run", len(stale))
    return len(stale)


def queue_warm_up(services: Services) -> str:
    """Queue the job that computes every city into the indicator cache; its id.

    The job belongs to no key (admins see it at ``GET /jobs/{id}``); it runs on the job
    threads like an upload, so the server answers requests meanwhile. When the service
    stops, the job ends after the city at hand instead of computing the others.
    """
    job, _ = services.db.create_job("warm_cache", {})

    def run(progress: Progress) -> JobOutcome:
        def city_done(done: int, total: int) -> None:
            if services.jobs.stopping:
                raise JobError(f"the service stopped after {done} of {total} cities")
            progress(done, total)

        return JobOutcome(result={"cities": warm_cache(services, city_done)})

    services.jobs.submit(job.job_id, run)
    return job.job_id


DESCRIPTION = """
Slum-profiling and planning service. Federations upload enumerations; planners read layers
(OGC API - Features); MEL staff pull indicators. Authenticate with an API key
(`Authorization: Bearer <key>` or `X-API-Key: <key>`); without one you are the public and see
settlement- and city-level aggregates of published settlements.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the FastAPI application on the store and service database of ``settings``.

    Parameters
    ----------
    settings : Settings, optional
        Defaults to :func:`geo_service.settings.get_settings` (the environment).
    """
    settings = settings or get_settings()
    redact.install("uvicorn.access", "uvicorn.error", "geo_service")
    services = Services.open(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with ExitStack() as stack:
            try:  # one serving process per service database (geo_service.instance)
                stack.enter_context(serving(services.settings.service_db))
            except AlreadyServing:
                services.close()
                raise
            stack.callback(services.close)  # jobs finish before the lock is released
            services.db.fail_unfinished_jobs()
            remove_stale_uploads(services.settings.work_dir)
            if services.settings.warm_cache_on_start:
                services.warm_up_job = queue_warm_up(services)
            yield

    app = FastAPI(
        title="geo-service",
        version=geo_service.__version__,
        description=DESCRIPTION,
        default_response_class=JSONBytes,
        lifespan=lifespan,
        # every route checks a key that is sent, even routes open to anyone: a revoked or
        # malformed key is a 401, never silently anonymous
        dependencies=[Depends(get_principal)],
    )
    app.state.services = services
    services.after_upload.append(recompute_for_settlements)
    install_error_handlers(app)
    _document_problems(app)
    app.include_router(meta.router)
    app.include_router(features.router)
    app.include_router(indicators.router)
    app.include_router(uploads.router)
    app.include_router(urban.router)
    app.include_router(maps.router)
    return app


_PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["status", "title", "detail"],
    "properties": {
        "status": {"type": "integer"},
        "title": {"type": "string"},
        "detail": {"type": "string"},
    },
    "additionalProperties": True,
}
_COMMON_ERRORS = {
    "400": "Bad request (a parameter is malformed or unknown)",
    "401": "An API key is needed, or the key is invalid or revoked",
    "403": "The caller's role may not do this",
    "404": "Not found, or not visible to the caller",
    "422": "The request is not valid",
    "503": "The store is busy; retry after the Retry-After delay",
}


def _document_problems(app: FastAPI) -> None:
    """Document the problem+json errors every operation can answer (OpenAPI)."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = _PROBLEM_SCHEMA
        content = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                responses = operation.setdefault("responses", {})
                for code, text in _COMMON_ERRORS.items():
                    responses.setdefault(code, {"description": text, "content": content})
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
