"""The application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import geo_service
from geo_service.api import features, indicators, meta, uploads
from geo_service.api.deps import Services
from geo_service.api.errors import install_error_handlers
from geo_service.api.responses import JSONBytes
from geo_service.settings import Settings, get_settings

__all__ = ["create_app"]

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
    services = Services.open(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.db.fail_unfinished_jobs()
        try:
            yield
        finally:
            services.close()

    app = FastAPI(
        title="geo-service",
        version=geo_service.__version__,
        description=DESCRIPTION,
        default_response_class=JSONBytes,
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    app.include_router(meta.router)
    app.include_router(features.router)
    app.include_router(indicators.router)
    app.include_router(uploads.router)
    return app
