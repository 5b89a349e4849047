"""Health and service metadata."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

import geo_service
from geo_service.api.deps import Caller, Services, get_services
from geo_service.servicedb import Role
from profiling.schema import LAYERS

__all__ = ["router"]

router = APIRouter(tags=["service"])


@router.get(
    "/health",
    summary="Liveness and store check",
    responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}},
)
def health(
    services: Annotated[Services, Depends(get_services)], principal: Caller
) -> dict[str, Any]:
    """``ok`` when the store answers, and the service version; admins also get the row count
    of each layer (counts include settlements not published, so nobody else sees them) and
    the state of the cache warm-up job queued at start."""
    version = services.store.data_version()
    body: dict[str, Any] = {"status": "ok", "version": geo_service.__version__}
    if principal.role is Role.admin:
        counts = services.store.counts()
        body["uploads"] = version[0]
        body["layers"] = {name: counts.get(name, 0) for name in LAYERS}
        warm_up = services.warm_up_job and services.db.job(services.warm_up_job)
        if warm_up:
            body["warm_cache"] = {"job": warm_up.job_id, "status": str(warm_up.status)}
    return body
