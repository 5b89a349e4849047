"""Metric coordinate reference systems for distances and areas.

Layers are stored in EPSG:4326; analyses measure in metres. :func:`metric_crs` picks the UTM
zone of the data (as osmnx ``project_gdf`` does with ``estimate_utm_crs``), :func:`to_metric`
projects several frames into one common metric CRS, and :func:`require_metric` refuses a
geographic CRS where a function needs metres.
"""

from __future__ import annotations

import geopandas as gpd
import pyproj

from profiling.errors import ProfilingError

__all__ = ["GeographicCRSError", "metric_crs", "require_metric", "to_metric"]


class GeographicCRSError(ProfilingError):
    """A distance or area was asked of data in degrees."""


def require_metric(frame: gpd.GeoDataFrame | gpd.GeoSeries, *, what: str = "this measure") -> None:
    """Raise :class:`GeographicCRSError` unless ``frame`` is in a projected CRS in metres.

    Examples
    --------
    >>> import shapely
    >>> require_metric(gpd.GeoSeries([shapely.Point(0, 0)], crs=32737))
    """
    crs = frame.crs
    if crs is None:
        raise GeographicCRSError(f"{what} needs a metric CRS; the data has no CRS")
    if not crs.is_projected:
        raise GeographicCRSError(
            f"{what} needs a metric CRS, the data is in {crs.to_string()} (degrees): "
            "project it first, e.g. with profiling.crs.to_metric"
        )
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    if unit not in {"metre", "meter", "m"}:
        raise GeographicCRSError(f"{what} needs metres, the CRS unit is {unit!r}")


def metric_crs(*frames: gpd.GeoDataFrame | gpd.GeoSeries) -> pyproj.CRS:
    """The UTM zone covering the first non-empty frame (WGS 84 / UTM, metres)."""
    for frame in frames:
        if len(frame) and frame.crs is not None:
            if frame.crs.is_projected:
                return pyproj.CRS(frame.crs)
            crs = frame.estimate_utm_crs()
            return pyproj.CRS(crs)
    raise ProfilingError("no non-empty layer with a CRS to choose a metric CRS from")


def to_metric(
    *frames: gpd.GeoDataFrame | gpd.GeoSeries, crs: pyproj.CRS | None = None
) -> tuple[gpd.GeoDataFrame | gpd.GeoSeries, ...]:
    """Project every frame into one metric CRS (``crs``, or the UTM zone of the first)."""
    target = crs or metric_crs(*frames)
    return tuple(f.to_crs(target) for f in frames)
