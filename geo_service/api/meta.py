"""Health and service metadata."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

import geo_service
from geo_service.api.deps import Services, get_services
from profiling.schema import LAYERS

__all__ = ["router"]

router = APIRouter(tags=["service"])


@router.get(
    "/health",
    summary="Liveness and store check",
    responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}},
)
def health(services: Annotated[Services, Depends(get_services)]) -> dict[str, Any]:
    """``ok`` when the store answers; the service version and the row count of each layer."""
    counts = services.store.counts()
    return {
        "status": "ok",
        "version": geo_service.__version__,
        "layers": {name: counts.get(name, 0) for name in LAYERS},
    }
