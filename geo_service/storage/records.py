"""Rows of the store's bookkeeping tables (uploads, rasters) to and from plain values.

Both backends keep the same bookkeeping columns in the same order, so a row read with
``SELECT {UPLOAD_COLUMNS}`` or ``SELECT {RASTER_COLUMNS}`` becomes an
:class:`~geo_service.storage.base.UploadInfo` / :class:`~geo_service.storage.base.RasterInfo`
here, whichever database it came from.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from geo_service.storage.base import (
    RasterInfo,
    RasterWrite,
    StoreSchemaError,
    UploadInfo,
    UploadWrite,
)

__all__ = [
    "RASTER_COLUMNS",
    "UPLOAD_COLUMNS",
    "now",
    "raster_info",
    "raster_row",
    "report_json",
    "upload_info",
]

RASTER_COLUMNS = ", ".join(
    f"r.{c}"
    for c in (
        "raster_id",
        "upload_id",
        "kind",
        "name",
        "settlement_id",
        "crs_wkt",
        "epsg",
        "nodata",
        "dtype",
        "width",
        "height",
        "minx",
        "miny",
        "maxx",
        "maxy",
        "lon_min",
        "lat_min",
        "lon_max",
        "lat_max",
        "sha256",
        "meta_json",
    )
)
"""The columns of ``rasters r`` that :func:`raster_info` reads, in its order."""

UPLOAD_COLUMNS = (
    "u.upload_id, u.upload_key, u.sha256, f.size, u.original_name, u.format, "
    "u.layer, u.source_layer, u.settlement_id, u.round, u.mapping_id, u.created_at, "
    'u."rows", u.status'
)
"""The columns of ``uploads u LEFT JOIN raw_files f`` that :func:`upload_info` reads (the
report, or NULL, follows them)."""


def now() -> str:
    """The current UTC time as ISO 8601 text with milliseconds (``...Z``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def raster_row(raster: RasterWrite, upload: UploadWrite) -> dict[str, Any]:
    """The ``rasters`` columns of an uploaded raster (without ``upload_id`` / ``sha256``).

    Raises
    ------
    StoreSchemaError
        Bounds that are not four numbers.
    """
    meta = dict(raster.meta)
    row: dict[str, Any] = {
        "kind": raster.kind,
        "name": raster.name,
        "settlement_id": upload.settlement_id,
    }
    for key in ("crs_wkt", "epsg", "nodata", "dtype", "width", "height"):
        row[key] = meta.pop(key, None)
    for key, cols in (
        ("bounds", ("minx", "miny", "maxx", "maxy")),
        ("bounds_4326", ("lon_min", "lat_min", "lon_max", "lat_max")),
    ):
        box = meta.pop(key, None)
        if box is not None and len(box) != 4:
            raise StoreSchemaError(f"raster {key} must be (minx, miny, maxx, maxy)")
        row.update(dict(zip(cols, [None] * 4 if box is None else map(float, box), strict=True)))
    row["nodata"] = None if row["nodata"] is None else float(row["nodata"])
    for key in ("epsg", "width", "height"):
        row[key] = None if row[key] is None else int(row[key])
    row["meta_json"] = orjson.dumps(meta, default=str).decode() if meta else None
    return row


def _box(values: Sequence[Any]) -> tuple[float, float, float, float] | None:
    if any(v is None for v in values):
        return None
    minx, miny, maxx, maxy = (float(v) for v in values)
    return minx, miny, maxx, maxy


def raster_info(row: Sequence[Any]) -> RasterInfo:
    """A :class:`RasterInfo` from a row of :data:`RASTER_COLUMNS`."""
    return RasterInfo(
        raster_id=row[0],
        upload_id=row[1],
        kind=row[2],
        name=row[3],
        settlement_id=row[4],
        crs_wkt=row[5],
        epsg=row[6],
        nodata=row[7],
        dtype=row[8],
        width=row[9],
        height=row[10],
        bounds=_box(row[11:15]),
        bounds_4326=_box(row[15:19]),
        sha256=row[19],
        extra=json.loads(row[20]) if row[20] else {},
    )


def upload_info(row: Sequence[Any]) -> UploadInfo:
    """An :class:`UploadInfo` from a row of :data:`UPLOAD_COLUMNS` and the report JSON."""
    return UploadInfo(
        upload_id=row[0],
        upload_key=row[1],
        sha256=row[2],
        size=row[3],
        original_name=row[4],
        format=row[5],
        layer=row[6],
        source_layer=row[7],
        settlement_id=row[8],
        round=row[9],
        mapping_id=row[10],
        created_at=row[11],
        rows=row[12],
        status=row[13],
        report=json.loads(row[14]) if row[14] else None,
    )


def report_json(report: Mapping[str, Any] | Any) -> str:
    """A validation report (``Report`` or its dict) as JSON text."""
    to_dict: Callable[[], Any] | None = getattr(report, "to_dict", None)
    data = to_dict() if callable(to_dict) else dict(report)
    return orjson.dumps(data, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
