"""Geo service: the web layer, storage, maps and CLI around :mod:`profiling`.

``geo_service.storage`` keeps uploads and canonical layers in one GeoPackage file (or PostGIS);
the FastAPI app, the CLI and the maps build on it. Nothing is built at import time.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("geo-service")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"
