"""Storage of uploads and canonical layers.

One interface (:class:`Store`) with an embedded single-file GeoPackage implementation
(:class:`GeoPackageStore`); a PostGIS implementation for country scale comes later. The web
layer picks one from settings and tests may swap it (stac-fastapi's injected backends).
"""

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
    UploadInfo,
    UploadResult,
    UploadWrite,
    make_upload_key,
)
from geo_service.storage.gpkg import GeoPackageStore

__all__ = [
    "ExportFormat",
    "GeoPackageStore",
    "LayerInfo",
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
    "UploadInfo",
    "UploadResult",
    "UploadWrite",
    "make_upload_key",
]
