"""Inspect GeoTIFF uploads: georeferencing, data type, nodata, size and value range.

:func:`inspect_raster` opens a *staged* file with rasterio restricted to the ``GTiff`` driver
(GDAL's VRT, GTI and network drivers are also deregistered by :mod:`profiling._gdal_env`,
and side-car files are never looked up), checks it against :class:`~profiling.ingest.safety.
Limits` *before* reading any pixel, and describes it. Pixels are read only for the optional
value-range estimate, at a decimated resolution (at most ``limits.raster_overview_cells``
cells per band).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
import rasterio.errors
from rasterio._err import CPLE_BaseError  # GDAL errors raised as such (no public alias)
from rasterio.enums import MaskFlags, Resampling
from rasterio.warp import transform_bounds

from profiling import _gdal_env
from profiling.errors import InputTooLarge, MissingCRS, UnsupportedFormat
from profiling.ingest.safety import Limits, parse_user_crs, sniff
from profiling.report import ERROR, INFO, WARNING, Report

__all__ = ["DEFAULT_DTYPES", "RasterRead", "inspect_raster"]

DEFAULT_DTYPES: frozenset[str] = frozenset(
    {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64"}
)
"""Pixel types accepted by default (no complex or 64-bit integer rasters)."""

_LAYER = "raster"


@dataclass(frozen=True)
class RasterRead:
    """What a GeoTIFF is, without its pixels.

    Attributes
    ----------
    crs : str
        ``"EPSG:32737"``, or WKT when the CRS has no authority code.
    epsg : int or None
        EPSG code when there is one.
    nodata : float or None
        The nodata value of band 1 (``None`` when not set).
    dtype : str
        Pixel type of band 1 (``"float32"``...).
    width, height, count : int
        Columns, rows and bands.
    transform : tuple of float
        Affine coefficients ``(a, b, c, d, e, f)``: ``x = a*col + b*row + c``,
        ``y = d*col + e*row + f``, in CRS units (pixel size ``a``, ``-e``).
    bounds : tuple of float
        ``(left, bottom, right, top)`` in the raster's CRS units.
    bounds_4326 : tuple of float
        The same box in EPSG:4326 (lon/lat degrees), densified so curved edges are covered.
    report : Report
        Problems: ``dtype_not_allowed``, ``no_georeferencing`` (errors), ``no_nodata``,
        ``rotated_grid``, ``all_nodata`` (warnings), ``crs_stated``,
        ``crs_ignored`` (info / warning).
    value_range : tuple of float or None
        ``(min, max)`` of valid cells over all bands, estimated on a decimated read;
        ``None`` when not computed or no valid cell was seen.
    """

    crs: str
    epsg: int | None
    nodata: float | None
    dtype: str
    width: int
    height: int
    count: int
    transform: tuple[float, float, float, float, float, float]
    bounds: tuple[float, float, float, float]
    bounds_4326: tuple[float, float, float, float]
    report: Report = field(default_factory=Report)
    value_range: tuple[float, float] | None = None


def _crs_text(crs: rasterio.crs.CRS) -> tuple[str, int | None]:
    epsg = crs.to_epsg()
    if epsg is not None:
        return f"EPSG:{epsg}", epsg
    authority = crs.to_authority()
    if authority is not None:
        return f"{authority[0]}:{authority[1]}", None
    return crs.to_wkt(), None


def _value_range(ds: rasterio.io.DatasetReader, limits: Limits) -> tuple[float, float] | None:
    """Masked min/max over all bands, from a nearest-neighbour decimated read."""
    step = max(1.0, math.sqrt(ds.width * ds.height / max(1, limits.raster_overview_cells)))
    shape = (ds.count, max(1, round(ds.height / step)), max(1, round(ds.width / step)))
    try:
        data = ds.read(out_shape=shape, masked=True, resampling=Resampling.nearest)
    except rasterio.errors.RasterioIOError as exc:
        raise UnsupportedFormat(
            f"the raster's cells cannot be read (corrupt file?): {exc}"
        ) from None
    values = data.compressed()
    if np.issubdtype(values.dtype, np.floating):
        values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    return float(values.min()), float(values.max())


def inspect_raster(
    path: Path,
    *,
    crs: str | int | None = None,
    allowed_dtypes: frozenset[str] | set[str] | tuple[str, ...] = DEFAULT_DTYPES,
    limits: Limits = Limits(),  # noqa: B008  (frozen dataclass: an immutable default)
    value_range: bool = True,
) -> RasterRead:
    """Describe a staged GeoTIFF and report what is wrong with it.

    Parameters
    ----------
    path : Path
        A staged file (:func:`~profiling.ingest.safety.stage_upload`).
    crs : str or int, optional
        CRS to assume when the file has none (``"EPSG:32737"``); ignored with a warning when
        the file declares another.
    allowed_dtypes : collection of str
        Pixel types accepted; any band of another type is an error in the report.
    limits : Limits
        ``max_raster_cells`` (width × height × bands), ``max_raster_bands`` and
        ``raster_overview_cells`` are used.
    value_range : bool, default True
        Estimate the masked min/max from a decimated read.

    Returns
    -------
    RasterRead
        Georeferencing, size, type, nodata and the report.

    Raises
    ------
    UnsupportedFormat
        Not a TIFF, or GDAL's GTiff driver cannot open it.
    UnsafeInput
        The content is a VRT or other refused content (from :func:`sniff`).
    MissingCRS
        No CRS in the file and none stated.
    InputTooLarge
        More cells or bands than the limits allow (checked before reading pixels).

    Examples
    --------
    >>> import tempfile
    >>> from affine import Affine
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     tif = Path(tmp) / "depth.tif"
    ...     with rasterio.open(tif, "w", driver="GTiff", width=4, height=3, count=1,
    ...                        dtype="float32", crs="EPSG:32737", nodata=-9999,
    ...                        transform=Affine(2, 0, 252048, 0, -2, 9855356)) as dst:
    ...         dst.write(np.arange(12, dtype="float32").reshape(1, 3, 4))
    ...     info = inspect_raster(tif)
    >>> info.epsg, info.width, info.height, info.bounds, info.value_range
    (32737, 4, 3, (252048.0, 9855350.0, 252056.0, 9855356.0), (0.0, 11.0))
    """
    _gdal_env.assert_gdal_safe()
    path = Path(path)
    fmt = sniff(path, limits=limits)
    if fmt != "geotiff":
        raise UnsupportedFormat(f"the content is {fmt}, not a GeoTIFF")
    stated = parse_user_crs(crs) if crs is not None else None
    report = Report()
    with warnings.catch_warnings():
        # We check georeferencing ourselves and report it (no_georeferencing / MissingCRS).
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        try:
            ds = rasterio.open(path, driver="GTiff")
        except rasterio.errors.RasterioIOError as exc:
            message = str(exc).replace(str(path), "<upload>")[:300]
            raise UnsupportedFormat(f"GeoTIFF: GDAL could not open it ({message})") from None
    with ds, warnings.catch_warnings():
        # rasterio 1.4 multiplies Affine objects with `*`, which affine 3 deprecates
        warnings.filterwarnings(
            "ignore", message="Use `@` matmul", category=PendingDeprecationWarning
        )
        if ds.driver != "GTiff":
            raise UnsupportedFormat(f"GeoTIFF: opened by driver {ds.driver!r}, not accepted")
        cells = ds.width * ds.height * ds.count
        if ds.count > limits.max_raster_bands:
            raise InputTooLarge(
                f"the raster has {ds.count} bands, over the limit of {limits.max_raster_bands}"
            )
        if cells > limits.max_raster_cells:
            raise InputTooLarge(
                f"the raster has {cells:,} cells ({ds.width} × {ds.height} × {ds.count}), "
                f"over the limit of {limits.max_raster_cells:,}"
            )
        for band, dtype in enumerate(ds.dtypes, start=1):
            if dtype not in allowed_dtypes:
                report.add(
                    _LAYER,
                    None,
                    f"band {band}",
                    "dtype_not_allowed",
                    ERROR,
                    f"pixel type {dtype} is not accepted (accepted: "
                    f"{', '.join(sorted(allowed_dtypes))})",
                )
        if ds.crs is None and not ds.gcps[0]:
            if stated is None:
                raise MissingCRS("the GeoTIFF has no CRS; state the CRS with --crs EPSG:xxxx")
            source_crs = rasterio.crs.CRS.from_user_input(stated.to_wkt())
            report.add(
                _LAYER,
                None,
                None,
                "crs_stated",
                INFO,
                f"the file has no CRS; read as {stated.to_string()} as stated",
            )
        elif ds.crs is None:
            raise MissingCRS(
                "the GeoTIFF is georeferenced by ground control points only; warp it to a "
                "regular grid first (gdalwarp)"
            )
        else:
            source_crs = ds.crs
            if stated is not None and not stated.equals(ds.crs.to_wkt(), ignore_axis_order=True):
                report.add(
                    _LAYER,
                    None,
                    None,
                    "crs_ignored",
                    WARNING,
                    f"the file declares {_crs_text(ds.crs)[0][:80]}; the stated "
                    f"{stated.to_string()} is ignored",
                )
        transform = ds.transform
        if transform.is_identity:
            report.add(
                _LAYER,
                None,
                None,
                "no_georeferencing",
                ERROR,
                "the GeoTIFF has no geotransform: pixel positions are unknown",
            )
        elif transform.b != 0 or transform.d != 0:
            report.add(
                _LAYER,
                None,
                None,
                "rotated_grid",
                WARNING,
                "the grid is rotated or sheared; analyses assume north-up rasters",
            )
        has_mask = any(flags != [MaskFlags.all_valid] for flags in ds.mask_flag_enums)
        if ds.nodata is None and not has_mask:
            report.add(
                _LAYER,
                None,
                None,
                "no_nodata",
                WARNING,
                "no nodata value is set: every cell counts as data",
            )
        crs_text, epsg = _crs_text(source_crs)
        bounds = tuple(float(v) for v in ds.bounds)
        try:
            bounds_4326 = tuple(
                float(v) for v in transform_bounds(source_crs, "EPSG:4326", *bounds, densify_pts=21)
            )
        except (rasterio.errors.CRSError, CPLE_BaseError) as exc:
            # e.g. an engineering CRS: no coordinate operation to longitude / latitude
            raise MissingCRS(f"the GeoTIFF's CRS cannot be used ({str(exc)[:200]})") from None
        estimate = None
        if value_range and not report.has_errors:
            estimate = _value_range(ds, limits)
            if estimate is None:
                report.add(
                    _LAYER,
                    None,
                    None,
                    "all_nodata",
                    WARNING,
                    "no valid cell found (all nodata, in a decimated read)",
                )
        result = RasterRead(
            crs=crs_text,
            epsg=epsg,
            nodata=None if ds.nodata is None else float(ds.nodata),
            dtype=str(ds.dtypes[0]),
            width=int(ds.width),
            height=int(ds.height),
            count=int(ds.count),
            transform=tuple(float(v) for v in transform[:6]),  # type: ignore[arg-type]
            bounds=bounds,  # type: ignore[arg-type]
            bounds_4326=bounds_4326,  # type: ignore[arg-type]
            report=report,
            value_range=estimate,
        )
    report.facts.update({"raster_cells": cells, "raster_dtype": result.dtype})
    return result
