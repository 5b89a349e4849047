"""The HTTP service (FastAPI): OGC API Features layers, indicators, uploads as jobs, API keys.

Build it with :func:`create_app`; ``geo-service serve`` runs it with uvicorn.
"""

from geo_service.api.app import create_app

__all__ = ["create_app"]
