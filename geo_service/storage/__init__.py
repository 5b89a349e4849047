"""Storage of uploads and canonical layers.

One interface (:class:`Store`) with two implementations: the embedded single-file GeoPackage
(:class:`GeoPackageStore`, the default) and PostGIS (:class:`PostGISStore`, when
``GEO_SERVICE_DATABASE_URL`` is set). :func:`open_store` picks one from settings; tests run the
storage and API suites against both (stac-fastapi's injected backends).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from geo_service.storage.base import (
    ExportFormat,
    LayerInfo,
    Progress,
    RasterInfo,
    RasterWrite,
    RoundInfo,
    Store,
    StoreBusy,
    StoreConflict,
    StoreError,
    StoreNotFound,
    StoreSchemaError,
    StoreSnapshot,
    StoreUnavailable,
    UploadInfo,
    UploadResult,
    UploadWrite,
    make_upload_key,
)
from geo_service.storage.gpkg import GeoPackageStore

if TYPE_CHECKING:
    from geo_service.settings import Settings
    from geo_service.storage.postgis import PostGISStore

__all__ = [
    "ExportFormat",
    "GeoPackageStore",
    "LayerInfo",
    "PostGISStore",
    "Progress",
    "RasterInfo",
    "RasterWrite",
    "RoundInfo",
    "Store",
    "StoreBusy",
    "StoreConflict",
    "StoreError",
    "StoreNotFound",
    "StoreSchemaError",
    "StoreSnapshot",
    "StoreUnavailable",
    "UploadInfo",
    "UploadResult",
    "UploadWrite",
    "make_upload_key",
    "open_store",
]


def open_store(settings: Settings) -> Store:
    """The store ``settings`` name: PostGIS when ``database_url`` is set, else the GeoPackage.

    Examples
    --------
    >>> with open_store(Settings(store_path=tmp_path / "city.gpkg")) as store:  # doctest: +SKIP
    ...     store.list_layers()
    """
    if settings.database_url is not None:
        from geo_service.storage.postgis import PostGISStore  # noqa: PLC0415 - psycopg on demand

        return PostGISStore(
            settings.database_url.get_secret_value(),
            schema=settings.database_schema,
            busy_timeout_ms=settings.busy_timeout_ms,
        )
    return GeoPackageStore(settings.store_path, busy_timeout_ms=settings.busy_timeout_ms)


def __getattr__(name: str) -> object:
    if name == "PostGISStore":  # imported lazily: the embedded store never needs psycopg
        from geo_service.storage.postgis import PostGISStore  # noqa: PLC0415

        return PostGISStore
    raise AttributeError(name)
