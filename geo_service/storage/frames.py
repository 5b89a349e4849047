"""What every backend does before it opens a transaction: check and convert upload frames.

An upload's canonical frames are checked against the layer registry and turned into column
lists of plain Python values (:mod:`.values`), geometries checked (EPSG:4326, the layer's
geometry type, lon/lat range) and single parts promoted to multi-parts for line and polygon
layers. All of it runs *before* the write transaction, so a frame that does not fit raises
:class:`~geo_service.storage.base.StoreSchemaError` with the store untouched, whatever the
backend (GeoPackage or PostGIS).

The same module holds the other backend-agnostic rules: which names a layer may use, the
provenance columns every layer table carries, which columns a read may return (personal fields
only on request), and the checks of bbox and settlement-set filters.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import shapely

from geo_service.storage.base import StoreSchemaError, UploadWrite
from geo_service.storage.values import SQL_TYPES, ValueProblem, attributes_to_sql, to_sql

if TYPE_CHECKING:
    from profiling.schema import Field, LayerSchema

__all__ = [
    "GEOMETRY_COLUMN",
    "GEOMETRY_KINDS",
    "PROVENANCE_TYPES",
    "SRS_ID",
    "Prepared",
    "check_bbox",
    "check_registry",
    "fid_list",
    "json_texts",
    "layer_schema",
    "prepare_upload",
    "provenance_columns",
    "select_columns",
    "settlement_ids",
]

SRS_ID = 4326
GEOMETRY_COLUMN = "geom"
GEOMETRY_KINDS = ("Point", "LineString", "Polygon", "Any")
"""Geometry types a layer schema may declare. Line and polygon layers are stored as MULTI*:
sources mix both (shapefiles, QGIS digitising), a geometry column holds one type, and
exploding would split a settlement in rows."""

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
# accepted shapely type ids, and the id promoted to its multi-part type
_GEOMETRY_TYPE_IDS = {"Point": (0,), "LineString": (1, 5), "Polygon": (3, 6)}
_PROMOTE = {
    "LineString": (1, shapely.multilinestrings, "MULTILINESTRING EMPTY"),
    "Polygon": (3, shapely.multipolygons, "MULTIPOLYGON EMPTY"),
}
_SHAPELY_TYPE_NAMES = (
    "Point",
    "LineString",
    "LinearRing",
    "Polygon",
    "MultiPoint",
    "MultiLineString",
    "MultiPolygon",
    "GeometryCollection",
)
_RESERVED_FIELDS = frozenset(
    {"fid", GEOMETRY_COLUMN, "geometry", "upload_id", "source_sha256", "source_row", "attributes"}
)
# provenance columns a frame may carry; missing values are filled from the upload
_FRAME_PROVENANCE = ("settlement_id", "round", "source_sha256", "source_row", "attributes")
PROVENANCE_TYPES = {
    "upload_id": "int",
    "settlement_id": "str",
    "round": "str",
    "source_sha256": "str",
    "source_row": "int",
    "attributes": "str",
}
"""The provenance columns of every layer table (unless the schema has a field of that name)."""


def check_registry(
    registry: Mapping[str, LayerSchema],
    *,
    reserved_tables: Collection[str],
    prefixes: tuple[str, ...],
) -> dict[str, LayerSchema]:
    """The layer registry, checked: names usable as SQL identifiers, no reserved name or type.

    Parameters
    ----------
    registry : mapping of str to LayerSchema
    reserved_tables : collection of str
        The backend's own table names (``uploads``, ``raw_files``...).
    prefixes : tuple of str
        Table name prefixes the backend reserves (``gpkg_``, ``rtree_``...).

    Raises
    ------
    StoreSchemaError
        The first layer that does not fit.
    """
    for name, layer in registry.items():
        if name != layer.name:
            raise StoreSchemaError(f"layer registered as {name!r} is named {layer.name!r}")
        bad = [n for n in (layer.name, *layer.names) if not _IDENTIFIER.match(n)]
        if bad:
            raise StoreSchemaError(
                f"layer {layer.name!r}: names not usable as SQL identifiers: {bad}"
            )
        if layer.name in reserved_tables or layer.name.startswith(prefixes):
            raise StoreSchemaError(f"layer name {layer.name!r} is reserved by the store")
        reserved = sorted(_RESERVED_FIELDS.intersection(layer.names))
        if reserved:
            raise StoreSchemaError(
                f"layer {layer.name!r}: field names reserved by the store: {reserved}"
            )
        unknown = sorted({f.dtype for f in layer.fields} - set(SQL_TYPES))
        if unknown:
            raise StoreSchemaError(f"layer {layer.name!r}: unknown field types {unknown}")
        if layer.geometry is not None and layer.geometry not in GEOMETRY_KINDS:
            raise StoreSchemaError(
                f"layer {layer.name!r}: unknown geometry type {layer.geometry!r}"
            )
    return dict(registry)


def provenance_columns(layer: LayerSchema) -> list[str]:
    """The provenance columns the layer's table carries beside its fields, in table order."""
    names = set(layer.names)
    return [c for c in PROVENANCE_TYPES if c not in names]


@dataclass(slots=True)
class Prepared:
    """One frame converted to column lists, ready to insert (built before the transaction)."""

    schema: LayerSchema
    rows: int
    columns: list[str]  # insert order, without fid / geom / upload_id
    values: list[list[Any]]
    constants: dict[str, Any]  # columns with one value for every row (absent from the frame)
    geometries: np.ndarray | None  # shapely geometries (EPSG:4326, 2D, multi-parts promoted)
    bounds: np.ndarray | None  # (rows, 4) minx, miny, maxx, maxy; NaN for null / empty
    pairs: set[tuple[str, str]]  # distinct (settlement_id, round)


def prepare_upload(layers: Mapping[str, LayerSchema], upload: UploadWrite) -> list[Prepared]:
    """Every frame of ``upload`` checked and converted; empty frames are left out.

    Raises
    ------
    StoreSchemaError
        Naming every problem found (unknown layer or column, value of the wrong type, geometry
        of the wrong type or outside lon/lat range).
    """
    problems: list[str] = []
    prepared: list[Prepared] = []
    for layer, frame in upload.frames.items():
        try:
            p = _prepare(layer_schema(layers, layer), frame, upload, problems)
        except StoreSchemaError as exc:
            problems.append(str(exc))
            continue
        if p.rows:
            prepared.append(p)
    if problems:
        raise StoreSchemaError(
            f"upload {upload.original_name!r} does not fit the store: " + "; ".join(problems)
        )
    return prepared


def layer_schema(layers: Mapping[str, LayerSchema], layer: str) -> LayerSchema:
    """The schema of ``layer``; :class:`StoreSchemaError` naming the known layers otherwise."""
    try:
        return layers[layer]
    except KeyError:
        raise StoreSchemaError(f"unknown layer {layer!r}; layers are {sorted(layers)}") from None


def _prepare(
    schema: LayerSchema, frame: pd.DataFrame, upload: UploadWrite, problems: list[str]
) -> Prepared:
    layer = schema.name
    if not isinstance(frame, pd.DataFrame):
        raise StoreSchemaError(f"{layer}: expected a DataFrame, got {type(frame).__name__}")
    if frame.columns.has_duplicates:
        dupes = sorted(set(frame.columns[frame.columns.duplicated()].astype(str)))
        raise StoreSchemaError(f"{layer}: duplicate columns {dupes}")
    geom_col = None
    if isinstance(frame, gpd.GeoDataFrame) and frame.active_geometry_name in frame.columns:
        geom_col = frame.active_geometry_name
        if schema.geometry is None:
            raise StoreSchemaError(
                f"{layer}: the layer has no geometry but the frame has {geom_col!r}"
            )
    allowed = set(schema.names).union(_FRAME_PROVENANCE)
    unknown = sorted(str(c) for c in frame.columns if c != geom_col and c not in allowed)
    if unknown:
        raise StoreSchemaError(
            f"{layer}: unknown columns {unknown} (neither schema fields nor provenance; "
            "unmapped source columns belong in 'attributes')"
        )
    n = len(frame)
    columns: list[str] = []
    values: list[list[Any]] = []
    constants: dict[str, Any] = {}
    fills = {
        "settlement_id": upload.settlement_id,
        "round": upload.round,
        "source_sha256": upload.sha256.lower(),
    }
    fields: list[tuple[str, str]] = [(f.name, f.dtype) for f in schema.fields]
    fields += [(c, PROVENANCE_TYPES[c]) for c in provenance_columns(schema) if c != "upload_id"]
    for name, dtype in fields:
        if name not in frame.columns:
            constants[name] = fills.get(name)
            continue
        try:
            col = (
                attributes_to_sql(frame[name])
                if name == "attributes"
                else to_sql(frame[name], dtype)
            )
        except ValueProblem as exc:
            problems.append(f"{layer}.{name}: {exc}")
            continue
        fill = fills.get(name)
        if fill is not None:
            col = [fill if v is None else v for v in col]
        columns.append(name)
        values.append(col)

    geometries = bounds = None
    if schema.geometry is not None and geom_col is not None:
        geometries, bounds = _geometries(layer, schema, frame, problems)
    elif schema.geometry is not None and schema.geometry_required and n:
        problems.append(f"{layer}: the layer needs geometries but the frame has none")

    by_name = dict(zip(columns, values, strict=True))
    pairs: set[tuple[str, str]] = set()
    if n:
        both = pd.DataFrame(
            {
                c: by_name[c] if c in by_name else [constants.get(c)] * n
                for c in ("settlement_id", "round")
            },
            dtype=object,
        ).drop_duplicates()
        pairs = {(a, b) for a, b in both.itertuples(index=False) if a and b}
    return Prepared(schema, n, columns, values, constants, geometries, bounds, pairs)


def _geometries(
    layer: str, schema: LayerSchema, frame: gpd.GeoDataFrame, problems: list[str]
) -> tuple[np.ndarray | None, np.ndarray | None]:
    crs = frame.crs
    if crs is None or not (crs.to_epsg() == SRS_ID or crs.equals("OGC:CRS84")):
        problems.append(f"{layer}: geometries must be in EPSG:4326, the frame has {crs}")
        return None, None
    geoms = frame.geometry.to_numpy()
    kind = schema.geometry or "Any"
    wanted = _GEOMETRY_TYPE_IDS.get(kind)
    if wanted is not None:
        ids = shapely.get_type_id(geoms)
        bad = ~np.isin(ids, (*wanted, -1))
        if bad.any():
            found = sorted({_SHAPELY_TYPE_NAMES[i] for i in np.unique(ids[bad])})
            problems.append(
                f"{layer}: {int(bad.sum())} geometries are {found}, the layer holds "
                f"{kind} geometries (first at position {int(np.flatnonzero(bad)[0])})"
            )
            return None, None
        if kind in _PROMOTE:
            single, to_multi, empty = _PROMOTE[kind]
            geoms = geoms.copy()
            parts = ids == single
            nonempty = parts & ~shapely.is_empty(geoms)
            geoms[nonempty] = to_multi(geoms[nonempty], indices=np.arange(nonempty.sum()))
            geoms[parts & ~nonempty] = shapely.from_wkt(empty)
    if shapely.has_z(geoms).any():
        geoms = shapely.force_2d(geoms)
    bounds = shapely.bounds(geoms)
    with np.errstate(invalid="ignore"):
        outside = (bounds[:, 0] < -180) | (bounds[:, 2] > 180)
        outside |= (bounds[:, 1] < -90) | (bounds[:, 3] > 90)
    if outside.any():
        problems.append(
            f"{layer}: {int(outside.sum())} geometries outside lon/lat range (first at "
            f"position {int(np.flatnonzero(outside)[0])}); reproject to EPSG:4326"
        )
        return None, None
    return geoms, bounds


def select_columns(
    schema: LayerSchema, columns: Sequence[str] | None, *, include_personal: bool
) -> list[tuple[str, str]]:
    """(name, field type) of the columns a read returns, in order.

    Raises
    ------
    StoreSchemaError
        An unknown column, or a personal field asked for without ``include_personal``.
    """
    fields: list[Field] = list(schema.fields)
    available = [(f.name, f.dtype) for f in fields if include_personal or not f.personal]
    available += [(c, PROVENANCE_TYPES[c]) for c in provenance_columns(schema)]
    if columns is None:
        return available
    personal = {f.name for f in fields if f.personal}
    known = dict(available)
    wanted = [c for c in columns if c not in ("geometry", GEOMETRY_COLUMN, "fid")]
    hidden = sorted(set(wanted) & personal - set(known))
    if hidden:
        raise StoreSchemaError(
            f"{schema.name}: {hidden} are personal fields; pass include_personal=True"
        )
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise StoreSchemaError(f"{schema.name}: unknown columns {unknown}")
    return [(c, known[c]) for c in dict.fromkeys(wanted)]


def settlement_ids(values: Collection[str], name: str) -> list[str]:
    """A settlement-set filter as a list of strings; :class:`StoreSchemaError` otherwise."""
    if isinstance(values, str):
        raise StoreSchemaError(f"{name} must be a collection of settlement ids, not a string")
    texts = list(values)
    if not all(isinstance(v, str) for v in texts):
        raise StoreSchemaError(f"{name} must hold strings, got {sorted(map(repr, texts))}")
    return texts


def json_texts(values: Collection[str], name: str) -> str:
    """A settlement-set filter as one JSON array (to bind as one parameter)."""
    return orjson.dumps(settlement_ids(values, name)).decode()


def fid_list(fids: Collection[int]) -> list[int]:
    """Feature ids as Python ints; :class:`StoreSchemaError` for anything else."""
    try:
        return [int(v) for v in fids]
    except (TypeError, ValueError):
        raise StoreSchemaError(f"fids must be integers, got {fids!r}") from None


def check_bbox(bbox: Sequence[float]) -> tuple[float, float, float, float]:
    """A finite lon/lat box (minx, miny, maxx, maxy); :class:`StoreSchemaError` otherwise."""
    try:
        minx, miny, maxx, maxy = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise StoreSchemaError(f"bbox must be (minx, miny, maxx, maxy), got {bbox!r}") from None
    if not all(np.isfinite([minx, miny, maxx, maxy])) or minx > maxx or miny > maxy:
        raise StoreSchemaError(
            f"bbox must be finite with minx <= maxx and miny <= maxy, got {bbox!r} "
            "(boxes across the antimeridian are not supported)"
        )
    return minx, miny, maxx, maxy
