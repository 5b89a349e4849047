"""Fast GeoJSON (RFC 7946) and CSV encoding of store frames.

The frames :meth:`geo_service.storage.GeoPackageStore.read_layer` returns are turned into
bytes column by column: each column becomes one Python list of JSON-ready values (NumPy /
pandas do the conversion in C), points become ``[lon, lat]`` lists straight from
:func:`shapely.get_coordinates`, other geometries are written by :func:`shapely.to_geojson`
and embedded with :class:`orjson.Fragment` (no parse, no re-encode), and the
``attributes`` column (JSON text) is embedded the same way. orjson then writes the whole
FeatureCollection at once. For 100,000 points with ~45 fields this is several times faster
than building per-feature dicts and passing them through FastAPI's ``jsonable_encoder``
(see ``benchmarks/bench_api_features.py``).

Values: ``NaN`` / ``NA`` / ``NaT`` → ``null``; dates → ISO ``YYYY-MM-DD`` strings (or full
ISO date-times when a value has a time of day); nullable integers and booleans → JSON
numbers and booleans.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson
import pandas as pd
import shapely

from geo_service.storage.values import csv_safe

__all__ = [
    "column_values",
    "feature_bytes",
    "feature_collection_bytes",
    "features",
    "frame_csv_bytes",
    "geometry_values",
]

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_RAW_JSON_COLUMNS = frozenset({"attributes"})


def _dates(values: np.ndarray) -> list[str | None]:
    """ISO strings of a ``datetime64`` array (``None`` for ``NaT``)."""
    missing = np.isnat(values)
    days = values.astype("datetime64[D]")
    whole_days = bool((values[~missing] == days[~missing]).all())
    text = np.datetime_as_string(days if whole_days else values, unit="D" if whole_days else "s")
    out: list[str | None] = text.tolist()
    if missing.any():
        for i in np.flatnonzero(missing).tolist():
            out[i] = None
    return out


def column_values(series: pd.Series, *, raw_json: bool = False) -> list[Any]:
    """One column as a list of JSON-ready Python values.

    Parameters
    ----------
    series : pandas.Series
        A column of a store frame (``float64``, ``Int64``, ``boolean``, ``str``,
        ``datetime64``...).
    raw_json : bool
        The cells are JSON text (the ``attributes`` column): embed them as JSON values
        rather than as strings.

    Returns
    -------
    list
        ``None`` where a value is missing (``float`` ``NaN`` is left as it is: orjson writes
        it as ``null``).
    """
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        values = series.to_numpy()
        if getattr(values.dtype, "tz", None) is not None:  # pragma: no cover - not stored
            values = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        return _dates(values)
    if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
        return series.to_numpy().tolist()
    values = series.to_numpy(dtype=object)
    missing = series.isna().to_numpy(dtype=bool)
    if missing.any():
        values[missing] = None
    out: list[Any] = values.tolist()
    if raw_json:
        return [None if v is None else orjson.Fragment(v) for v in out]
    return out


def geometry_values(geoms: np.ndarray) -> list[Any]:
    """GeoJSON geometry objects (or ``None``) for an array of shapely geometries.

    Points are built from their coordinates as ``{"type": "Point", "coordinates": [x, y]}``
    dicts; any other type is written by :func:`shapely.to_geojson` and embedded as an
    :class:`orjson.Fragment`. Missing and empty geometries become ``None``.
    """
    n = len(geoms)
    if n == 0:
        return []
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    types = shapely.get_type_id(geoms)
    out: list[Any] = [None] * n
    points = (types == 0) & ~missing
    if points.any():
        xy = shapely.get_coordinates(geoms[points]).tolist()
        for i, c in zip(np.flatnonzero(points).tolist(), xy, strict=True):
            out[i] = {"type": "Point", "coordinates": c}
    other = ~points & ~missing
    if other.any():
        text = shapely.to_geojson(geoms[other])
        for i, t in zip(np.flatnonzero(other).tolist(), text.tolist(), strict=True):
            out[i] = orjson.Fragment(t)
    return out


def features(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """GeoJSON Feature dicts (values already JSON-ready) of a store frame indexed by ``fid``.

    A frame without geometry (the ``members`` table) gives features with ``geometry: null``.
    """
    geometry_name = frame.geometry.name if hasattr(frame, "geometry") else None
    names = [c for c in frame.columns if c != geometry_name]
    columns = [column_values(frame[c], raw_json=c in _RAW_JSON_COLUMNS) for c in names]
    n = len(frame)
    geometries: list[Any] = (
        geometry_values(np.asarray(frame.geometry.array, dtype=object))
        if geometry_name is not None
        else [None] * n
    )
    ids = frame.index.to_numpy().tolist()
    rows = zip(*columns, strict=True) if columns else ((),) * n
    return [
        {
            "type": "Feature",
            "id": fid,
            "geometry": geom,
            "properties": dict(zip(names, row, strict=True)),
        }
        for fid, geom, row in zip(ids, geometries, rows, strict=True)
    ]


def feature_collection_bytes(frame: pd.DataFrame, members: Mapping[str, Any]) -> bytes:
    """A whole ``FeatureCollection`` as bytes.

    Parameters
    ----------
    frame : pandas.DataFrame or geopandas.GeoDataFrame
        Rows to write, indexed by ``fid`` (the feature ``id``), geometry in EPSG:4326.
    members : mapping
        Further top-level members (``numberMatched``, ``links``, ``timeStamp``...), written
        after ``type`` and before ``features``.
    """
    body = {"type": "FeatureCollection", **members, "features": features(frame)}
    return orjson.dumps(body, option=_OPTIONS)


def feature_bytes(frame: pd.DataFrame, members: Mapping[str, Any]) -> bytes:
    """The single ``Feature`` of a one-row frame as bytes, with extra members (``links``)."""
    (feature,) = features(frame)
    return orjson.dumps({**feature, **members}, option=_OPTIONS)


def frame_csv_bytes(
    frame: pd.DataFrame, *, point_layer: bool, columns: Sequence[str] | None = None
) -> bytes:
    """A frame as formula-safe CSV (UTF-8, CRLF line ends, RFC 4180).

    The first column is ``fid``; the geometry becomes ``lon`` / ``lat`` for point layers and
    a ``wkt`` column otherwise (as :meth:`GeoPackageStore.export` writes CSV). Text cells
    starting with ``= + - @ TAB CR`` are prefixed with ``'``
    (:func:`geo_service.storage.values.csv_safe`).
    """
    geometry_name = frame.geometry.name if hasattr(frame, "geometry") else None
    table = pd.DataFrame(frame.drop(columns=geometry_name) if geometry_name else frame)
    if columns is not None:
        table = table[[c for c in columns if c in table.columns]]
    table = table.reset_index()
    if geometry_name is not None:
        geoms = np.asarray(frame.geometry.array, dtype=object)
        if point_layer:
            table["lon"] = shapely.get_x(geoms)
            table["lat"] = shapely.get_y(geoms)
        else:
            table["wkt"] = pd.array(shapely.to_wkt(geoms, rounding_precision=-1), dtype="str")
    for name in table.columns:
        if pd.api.types.is_datetime64_any_dtype(table[name].dtype):
            table[name] = pd.array(_dates(table[name].to_numpy()), dtype="str")
        table[name] = csv_safe(table[name])
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, lineterminator="\r\n")
    return buffer.getvalue().encode("utf-8")
