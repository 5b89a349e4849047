"""ODK / KoboToolbox geometry text → numbers and shapely geometries.

XForms write geometry answers as text, in **latitude, longitude** order (the reverse of the
RFC 7946 / shapely ``x = lon, y = lat`` order used everywhere else in this project):

``geopoint``
    ``"lat lon alt acc"`` — four numbers separated by spaces; altitude (m) and accuracy (m)
    may be missing (``"-1.2921 36.8219"``).
``geotrace``
    vertices of a line joined with ``;``: ``"lat lon alt acc;lat lon alt acc;..."``.
``geoshape``
    the same for a polygon's exterior ring, usually closed (last vertex = first vertex).

The parsers work column-wise (``pandas.Series.str`` and shapely's vectorised constructors):
a million points parse in about a second. They never raise on bad input: an unreadable or
out-of-range answer gives NaN / ``None`` and the caller reports it, knowing which rows held
text (``series.notna()``) but got no geometry.

References
----------
ODK XForms specification, *Geolocation data types*:
https://getodk.github.io/xforms-spec/#data-type:geopoint

Examples
--------
>>> import pandas as pd
>>> lon, lat, alt, acc = parse_geopoint(pd.Series(["-1.2921 36.8219 1650 4.5", "junk", None]))
>>> lon[0], lat[0], acc[0]
(np.float64(36.8219), np.float64(-1.2921), np.float64(4.5))
>>> bool(np.isnan(lat[1])), bool(np.isnan(lat[2]))
(True, True)
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

__all__ = ["parse_geopoint", "parse_geoshape", "parse_geotrace", "parse_vertices"]

_WGS84 = "EPSG:4326"


def _valid_lonlat(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) <= 90.0) & (np.abs(lon) <= 180.0)


_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"


def _to_arrow(series: pd.Series) -> pa.Array:
    """The series as one Arrow string array (nulls where missing)."""
    text = series if isinstance(series.dtype, pd.StringDtype) else series.astype("string")
    arr = pa.array(text.array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.large_string():
        arr = arr.cast(pa.large_string())
    return arr


def _split_numbers(text: pa.Array, parts: int) -> tuple[np.ndarray, np.ndarray]:
    """Split whitespace-separated numbers into a float matrix and an all-parsed mask.

    Returns ``(values, ok)`` where ``values`` has shape ``(len(text), parts)`` and ``ok`` is
    false (and the row all NaN) where the text held anything but 2 to ``parts`` numbers.
    Uses Arrow compute kernels: about 0.3 s per million points.
    """
    n = len(text)
    values = np.full((n, parts), np.nan)
    if n == 0:
        return values, np.zeros(0, dtype=bool)
    lists = pc.utf8_split_whitespace(pc.utf8_trim_whitespace(text))
    lengths = pc.list_value_length(lists).fill_null(0).to_numpy(zero_copy_only=False)
    lengths = lengths.astype(np.int64)
    flat = pc.list_flatten(lists)
    numeric = pc.match_substring_regex(flat, _NUMBER).to_numpy(zero_copy_only=False)
    numbers = pc.cast(pc.if_else(numeric, flat, pa.scalar(None, flat.type)), pa.float64())
    numbers = numbers.to_numpy(zero_copy_only=False)
    row = np.repeat(np.arange(n), lengths)
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    position = np.arange(len(row)) - np.repeat(offsets, lengths)
    bad_parts = np.bincount(row[~numeric], minlength=n)
    ok = (bad_parts == 0) & (lengths >= 2) & (lengths <= parts)
    take = position < parts
    values[row[take], position[take]] = numbers[take]
    values[~ok] = np.nan
    return values, ok


def parse_geopoint(
    series: pd.Series,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parse ODK/Kobo ``geopoint`` answers (``"lat lon alt acc"``) into lon/lat arrays.

    Parameters
    ----------
    series : pandas.Series
        Text answers; missing values and empty strings give NaN.

    Returns
    -------
    lon, lat, altitude, accuracy : numpy.ndarray of float
        Longitude and latitude in degrees (WGS84, swapped into x/y order), altitude above the
        ellipsoid (m) and the accuracy the device reported (m). All four are NaN where the text
        is missing, does not hold 2 to 4 numbers, or lies outside ±90° latitude / ±180°
        longitude.

    Examples
    --------
    >>> lon, lat, alt, acc = parse_geopoint(pd.Series(["5.35 -4.02"]))
    >>> float(lon[0]), float(lat[0]), bool(np.isnan(acc[0]))
    (-4.02, 5.35, True)
    """
    values, _ = _split_numbers(_to_arrow(series), 4)
    lat, lon, alt, acc = (values[:, j].copy() for j in range(4))
    bad = ~_valid_lonlat(lon, lat)
    for arr in (lon, lat, alt, acc):
        arr[bad] = np.nan
    return lon, lat, alt, acc


def parse_vertices(series: pd.Series) -> pd.DataFrame:
    """Explode ``"lat lon alt acc;lat lon ..."`` texts into one row per vertex.

    Parameters
    ----------
    series : pandas.Series
        Geotrace / geoshape answers.

    Returns
    -------
    pandas.DataFrame
        Columns ``pos`` (the 0-based position of the source row in ``series``), ``lon``,
        ``lat`` and ``ok`` (the vertex text held 2 to 4 numbers within lon/lat range).
        Empty parts (a trailing ``;``) are dropped.
    """
    lists = pc.split_pattern(_to_arrow(series), ";")
    pos = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False).astype(np.int64)
    parts = pc.list_flatten(lists)
    keep = pc.invert(pc.match_substring_regex(parts, r"^\s*$"))
    pos = pos[keep.to_numpy(zero_copy_only=False)]
    parts = parts.filter(keep)
    values, ok = _split_numbers(parts, 4)
    lat, lon = values[:, 0], values[:, 1]
    ok &= _valid_lonlat(lon, lat)
    return pd.DataFrame({"pos": pos, "lon": lon, "lat": lat, "ok": ok})


def _build(series: pd.Series, *, polygon: bool) -> gpd.GeoSeries:
    n = len(series)
    out = np.full(n, None, dtype=object)
    verts = parse_vertices(series)
    if len(verts):
        pos = verts["pos"].to_numpy()
        # A shape is readable only when every one of its vertices is.
        bad_rows = np.unique(pos[~verts["ok"].to_numpy()])
        keep = ~np.isin(pos, bad_rows)
        verts = verts[keep]
        if polygon and len(verts):
            # Drop the closing vertex when it repeats the first: the ring is closed again below.
            first = verts.groupby("pos", sort=False)[["lon", "lat"]].transform("first")
            last_of_row = ~verts["pos"].duplicated(keep="last")
            closing = (
                last_of_row
                & verts["lon"].eq(first["lon"])
                & verts["lat"].eq(first["lat"])
                & verts["pos"].duplicated(keep="first")
            )
            verts = verts[~closing.to_numpy()]
        if len(verts):
            counts = verts.groupby("pos", sort=False).size()
            minimum = 3 if polygon else 2
            enough = counts.index[counts.to_numpy() >= minimum].to_numpy()
            verts = verts[np.isin(verts["pos"].to_numpy(), enough)]
        if len(verts):
            pos = verts["pos"].to_numpy()
            coords = verts[["lon", "lat"]].to_numpy()
            rows, indices = np.unique(pos, return_inverse=True)
            if polygon:
                rings = shapely.linearrings(coords, indices=indices)
                geoms = shapely.polygons(rings)
            else:
                geoms = shapely.linestrings(coords, indices=indices)
            out[rows] = geoms
    return gpd.GeoSeries(out, index=series.index, crs=_WGS84)


def parse_geoshape(series: pd.Series) -> gpd.GeoSeries:
    """Parse ``geoshape`` answers into Polygons (EPSG:4326).

    The ring is closed when the last vertex does not repeat the first. A shape with an
    unreadable vertex or fewer than three distinct vertices gives ``None``; self-intersecting
    rings are returned as they are (validation reports them).

    Parameters
    ----------
    series : pandas.Series
        Text answers ``"lat lon alt acc;lat lon alt acc;..."``.

    Returns
    -------
    geopandas.GeoSeries
        Indexed like ``series``.

    Examples
    --------
    >>> s = pd.Series(["0 0 0 0;0 1 0 0;1 1 0 0;0 0 0 0", "0 0;1 1"])
    >>> g = parse_geoshape(s)
    >>> g.iloc[0].wkt, g.iloc[1] is None
    ('POLYGON ((0 0, 1 0, 1 1, 0 0))', True)
    """
    return _build(series, polygon=True)


def parse_geotrace(series: pd.Series) -> gpd.GeoSeries:
    """Parse ``geotrace`` answers into LineStrings (EPSG:4326).

    A trace with an unreadable vertex or fewer than two vertices gives ``None``.

    Parameters
    ----------
    series : pandas.Series
        Text answers ``"lat lon alt acc;lat lon alt acc;..."``.

    Returns
    -------
    geopandas.GeoSeries
        Indexed like ``series``.

    Examples
    --------
    >>> parse_geotrace(pd.Series(["-1 36 0 5;-1.1 36.1 0 5;"])).iloc[0].wkt
    'LINESTRING (36 -1, 36.1 -1.1)'
    """
    return _build(series, polygon=False)
