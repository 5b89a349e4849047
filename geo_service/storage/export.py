"""Writing a layer read from the store to a file: GeoPackage, GeoJSON or formula-safe CSV."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from geo_service.storage.base import ExportFormat, StoreSchemaError
from geo_service.storage.values import csv_safe

__all__ = ["write_frame"]


def write_frame(
    frame: pd.DataFrame,
    target: Path,
    *,
    layer: str,
    fmt: ExportFormat,
    points: bool,
    csv_geometry: str | None = None,
) -> int:
    """Write a frame returned by ``Store.read_layer`` (indexed by ``fid``) to ``target``.

    Parameters
    ----------
    frame : DataFrame or GeoDataFrame
    target : Path
        A file that does not exist yet.
    layer : str
        Layer name inside a GeoPackage.
    fmt : {"gpkg", "geojson", "csv"}
        GeoPackage and GeoJSON (RFC 7946: lon/lat, right-hand polygons) via pyogrio;
        CSV with the geometry as WKT (``wkt`` column) or, for points, ``lon`` / ``lat``.
        Text cells of a CSV that start with ``= + - @ TAB CR`` are prefixed with ``'``
        (OWASP "CSV Injection") so a spreadsheet never runs them as formulas.
    points : bool
        The layer holds points (CSV default ``lonlat``, else ``wkt``).
    csv_geometry : {"wkt", "lonlat"}, optional

    Returns
    -------
    int
        Rows written.
    """
    frame = frame.reset_index()
    for name in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[name].dtype):
            frame[name] = frame[name].dt.strftime("%Y-%m-%d").astype("str")
    spatial = isinstance(frame, gpd.GeoDataFrame)
    if fmt in ("gpkg", "geojson"):
        import pyogrio  # noqa: PLC0415 - only exports need GDAL

        if fmt == "gpkg":
            frame = frame.rename(columns={"fid": "store_fid"})
            pyogrio.write_dataframe(frame, target, layer=layer, driver="GPKG")
        else:
            pyogrio.write_dataframe(
                frame, target, driver="GeoJSON", layer_options={"RFC7946": "YES"}
            )
        return len(frame)
    if fmt != "csv":
        raise StoreSchemaError(f"unknown export format {fmt!r}; use gpkg, geojson or csv")
    table = pd.DataFrame(frame.drop(columns=frame.geometry.name) if spatial else frame)
    if spatial:
        mode = csv_geometry or ("lonlat" if points else "wkt")
        geoms = frame.geometry.to_numpy()
        if mode == "lonlat":
            if not (shapely.get_type_id(geoms[~shapely.is_missing(geoms)]) == 0).all():
                raise StoreSchemaError("csv_geometry='lonlat' needs point geometries")
            table["lon"] = shapely.get_x(geoms)
            table["lat"] = shapely.get_y(geoms)
        elif mode == "wkt":
            table["wkt"] = pd.array(shapely.to_wkt(geoms, rounding_precision=-1), dtype="str")
        else:
            raise StoreSchemaError(f"csv_geometry must be 'wkt' or 'lonlat', not {mode!r}")
    for name in table.columns:
        table[name] = csv_safe(table[name])
    # CRLF line ends (RFC 4180): a cell holding CR or LF is then always quoted
    table.to_csv(target, index=False, encoding="utf-8", lineterminator="\r\n")
    return len(table)
