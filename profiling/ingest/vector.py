"""Read vector uploads (GeoJSON, GeoPackage, zipped Shapefile, KML, KMZ) safely.

:func:`read_vector` takes a *staged* file (see :func:`profiling.ingest.safety.stage_upload`)
and its sniffed format, and returns one layer as a GeoDataFrame in EPSG:4326 with a 1-based
``source_row`` column, plus a :class:`~profiling.report.Report` of what was wrong with the
features. Before GDAL sees anything:

- the content is sniffed again and must match the stated format (a VRT disguised as
  ``.geojson`` is refused here even if a caller trusted the extension);
- KML is parsed with :mod:`defusedxml` (no DTD, entities or external references) and any
  ``NetworkLink`` is refused;
- archives are unpacked with :func:`~profiling.ingest.safety.safe_extract_zip` into a private
  temporary folder next to the staged file, removed afterwards;
- GDAL only ever receives paths built here; after opening, the driver must be on an
  allowlist for the format.

Feature checks are vectorised (:func:`shapely.get_num_coordinates`,
:func:`shapely.get_coordinates`): a feature with too many vertices or NaN / infinite
coordinates is a row error and its geometry is dropped *before* reprojection, so nothing slow
ever sees it.
"""

from __future__ import annotations

import re
import tempfile
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from xml.etree.ElementTree import ParseError

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow
import pyogrio
import pyogrio.errors
import pyproj
import shapely
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from profiling import _gdal_env
from profiling.errors import InputTooLarge, MissingCRS, UnsafeInput, UnsupportedFormat
from profiling.ingest.safety import (
    Format,
    Limits,
    link_or_copy,
    parse_user_crs,
    safe_extract_zip,
    sniff,
)
from profiling.report import ERROR, INFO, WARNING, Report

__all__ = ["ALLOWED_DRIVERS", "VECTOR_FORMATS", "VectorRead", "read_vector"]

VECTOR_FORMATS: frozenset[str] = frozenset({"geojson", "gpkg", "shapefile_zip", "kml", "kmz"})

ALLOWED_DRIVERS: dict[str, frozenset[str]] = {
    "geojson": frozenset({"GeoJSON"}),
    "gpkg": frozenset({"GPKG"}),
    "shapefile_zip": frozenset({"ESRI Shapefile"}),
    "kml": frozenset({"KML", "LIBKML"}),
    "kmz": frozenset({"KML", "LIBKML"}),
}
"""GDAL drivers accepted for each format, checked after opening (``read_info``)."""

_SUFFIX = {"geojson": ".geojson", "gpkg": ".gpkg", "kml": ".kml"}
_FAMILY = {0: "point", 4: "point", 1: "line", 2: "line", 5: "line", 3: "polygon", 6: "polygon"}
_TYPE_NAMES = np.array(
    [
        "Point",
        "LineString",
        "LinearRing",
        "Polygon",
        "MultiPoint",
        "MultiLineString",
        "MultiPolygon",
        "GeometryCollection",
    ]
)
_WGS84 = pyproj.CRS.from_epsg(4326)
_LIST_LAYERS = 12
_GDAL_ERRORS = (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError)


@dataclass(frozen=True)
class VectorRead:
    """One vector layer read from an upload.

    Attributes
    ----------
    frame : geopandas.GeoDataFrame
        The features in EPSG:4326 (lon/lat), original attribute columns untouched, plus an
        ``int64`` column ``source_row``: the 1-based position of the feature in the source
        layer. Geometries with row errors (too many vertices, NaN coordinates) are ``None``.
    source_layer : str
        The layer read (Shapefile: the ``.shp`` name without extension).
    layers : list of str
        Every layer the file offers.
    source_crs : str or None
        CRS the source coordinates were interpreted in (``"EPSG:32618"``, or WKT when it has
        no code): the file's own, else the one stated with ``crs=``.
    driver : str
        GDAL driver that read the file.
    report : Report
        Problems found while reading, rows 1-based (``source_row``).
    """

    frame: gpd.GeoDataFrame
    source_layer: str
    layers: list[str]
    source_crs: str | None
    driver: str
    report: Report = field(default_factory=Report)


# ----------------------------------------------------------------------------- helpers


def _clean(message: str, work: Path | None) -> str:
    """One line of GDAL text, with our private paths removed and its length capped."""
    text = str(message)
    if work is not None:
        text = text.replace(str(work), "<upload>")
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= 300 else text[:299] + "…"


@contextmanager
def _gdal_messages(report: Report, layer: str, work: Path | None) -> Iterator[None]:
    """Turn GDAL warnings into report lines instead of stray Python warnings.

    pyogrio relays GDAL ``CE_Warning`` messages as :class:`RuntimeWarning`; they become
    ``gdal_warning`` lines (counted when repeated). shapely's "invalid value encountered"
    warning for NaN coordinates is dropped because :func:`_check_geometries` reports those
    rows precisely. Anything else is re-emitted unchanged. (``catch_warnings`` is
    process-global: a warning raised by another thread meanwhile is relayed too.)
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    seen: Counter[str] = Counter()
    for item in caught:
        parts = Path(item.filename).parts
        if issubclass(item.category, RuntimeWarning) and "pyogrio" in parts:
            seen[_clean(str(item.message), work)] += 1
        elif (
            issubclass(item.category, RuntimeWarning)
            and "shapely" in parts
            and "invalid value encountered" in str(item.message)
        ):
            continue
        else:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    for message, count in seen.items():
        suffix = f" (×{count})" if count > 1 else ""
        report.add(layer, None, None, "gdal_warning", WARNING, f"GDAL: {message}{suffix}")


def _unreadable(label: str, exc: Exception, work: Path | None) -> UnsupportedFormat:
    return UnsupportedFormat(f"{label}: GDAL could not read it ({_clean(str(exc), work)})")


def _check_kml(path: Path, label: str) -> None:
    """Parse KML with defusedxml; refuse DTDs, entities, external references, NetworkLink.

    Raises
    ------
    UnsafeInput
        DTD / entity / external reference, or a ``NetworkLink`` (GDAL would fetch it).
    UnsupportedFormat
        Not well-formed XML, or a root element other than ``kml``.
    """
    try:
        events = iterparse(
            str(path),
            events=("start", "end"),
            forbid_dtd=True,
            forbid_entities=True,
            forbid_external=True,
        )
        first = True
        for event, elem in events:
            local = elem.tag.rsplit("}", 1)[-1]
            if event == "start":
                if first and local.lower() != "kml":
                    raise UnsupportedFormat(f"{label}: the XML root is <{local[:40]}>, not <kml>")
                first = False
                if local.startswith("NetworkLink"):
                    raise UnsafeInput(
                        f"{label}: KML NetworkLink elements are refused (they fetch other "
                        "files or URLs)"
                    )
            else:
                elem.clear()
    except DefusedXmlException as exc:
        raise UnsafeInput(
            f"{label}: the KML declares a DTD, entities or external references "
            f"({type(exc).__name__}); refused"
        ) from None
    except ParseError as exc:
        raise UnsupportedFormat(f"{label}: the KML is not well-formed XML ({exc})") from None


def _crs_text(crs: pyproj.CRS) -> str:
    code = crs.to_authority(min_confidence=70)
    return f"{code[0]}:{code[1]}" if code else crs.to_wkt()


def _describe_layers(counts: dict[str, int]) -> str:
    names = [f"{name} ({n})" if n >= 0 else name for name, n in counts.items()]
    shown = ", ".join(names[:_LIST_LAYERS])
    more = len(names) - _LIST_LAYERS
    return shown + (f" and {more} more" if more > 0 else "")


# ----------------------------------------------------------------------------- layers


def _choose_layer(
    target: Path, kind: str, layer: str | None, limits: Limits, work: Path
) -> tuple[str, list[str]]:
    """Pick the layer of a GeoPackage / KML: the one asked, or the only non-empty one."""
    try:
        listed = pyogrio.list_layers(target)
    except _GDAL_ERRORS as exc:
        raise _unreadable(kind, exc, work) from None
    names = [str(name) for name, _ in listed]
    if len(names) > limits.max_layers:
        raise InputTooLarge(
            f"{kind} has {len(names)} layers, over the limit of {limits.max_layers}"
        )
    if not names:
        raise UnsupportedFormat(f"{kind} holds no layer")
    if layer is not None:
        if layer not in names:
            raise UnsupportedFormat(
                f"{kind} has no layer {layer!r}; its layers are "
                f"{_describe_layers(dict.fromkeys(names, -1))}"
            )
        return layer, names
    spatial = [str(name) for name, geom in listed if geom is not None]
    if len(spatial) == 1:
        return spatial[0], names
    counts = {}
    for name in spatial:
        try:
            counts[name] = int(
                pyogrio.read_info(target, layer=name, force_feature_count=True)["features"]
            )
        except _GDAL_ERRORS:
            counts[name] = -1
    non_empty = [name for name, n in counts.items() if n != 0]
    if len(non_empty) == 1:
        return non_empty[0], names
    if not non_empty:
        raise UnsupportedFormat(f"{kind} holds no features in any layer")
    raise UnsupportedFormat(
        f"{kind} has layers {_describe_layers({n: counts[n] for n in non_empty})}; "
        "choose one with --layer"
    )


def _shapefile_from_zip(
    path: Path, work: Path, layer: str | None, crs_stated: bool, limits: Limits
) -> tuple[Path, str, list[str]]:
    files = safe_extract_zip(
        path,
        work / "zip",
        max_ratio=limits.zip_max_ratio,
        max_total_bytes=limits.zip_max_total_bytes,
        max_members=limits.zip_max_members,
        max_depth=limits.zip_max_depth,
    )
    root = work / "zip"
    relative = {f: PurePosixPath(f.relative_to(root).as_posix()) for f in files}
    shps = [
        f
        for f, rel in relative.items()
        if rel.suffix.lower() == ".shp"
        and "__MACOSX" not in rel.parts
        and not rel.name.startswith("._")
    ]
    if not shps:
        raise UnsupportedFormat("the zip archive holds no .shp file")
    names = {f: relative[f].with_suffix("").as_posix() for f in shps}
    stems = [relative[f].stem for f in shps]
    labels = {f: relative[f].stem if stems.count(relative[f].stem) == 1 else names[f] for f in shps}
    layers = [labels[f] for f in shps]
    if layer is None:
        if len(shps) > 1:
            raise UnsupportedFormat(
                f"the zip archive holds several Shapefiles ({', '.join(layers[:_LIST_LAYERS])}); "
                "choose one with --layer"
            )
        shp = shps[0]
    else:
        matches = [f for f in shps if layer in (labels[f], names[f], relative[f].as_posix())]
        if len(matches) != 1:
            raise UnsupportedFormat(
                f"the zip archive has no Shapefile {layer!r}; it holds {', '.join(layers)}"
            )
        shp = matches[0]
    siblings = {p.name.lower() for p in shp.parent.iterdir()}
    stem = shp.stem.lower()
    for ext in (".shx", ".dbf"):
        if stem + ext not in siblings:
            raise UnsupportedFormat(f"{relative[shp].name} comes without its {ext} file")
    if stem + ".prj" not in siblings and not crs_stated:
        raise MissingCRS(
            f"{relative[shp].name} has no .prj; state the CRS with --crs EPSG:xxxx "
            "(EPSG:4326 for longitude/latitude)"
        )
    return shp, labels[shp], layers


def _kml_from_kmz(path: Path, work: Path, limits: Limits) -> Path:
    files = safe_extract_zip(
        path,
        work / "kmz",
        max_ratio=limits.zip_max_ratio,
        max_total_bytes=limits.zip_max_total_bytes,
        max_members=limits.zip_max_members,
        max_depth=0,
    )
    root = work / "kmz"
    kmls = [f for f in files if f.suffix.lower() == ".kml"]
    top = [f for f in kmls if f.parent == root]
    doc = [f for f in top if f.name.lower() == "doc.kml"]
    if doc:
        return doc[0]
    if len(top) == 1:
        return top[0]
    if len(kmls) == 1:
        return kmls[0]
    raise UnsupportedFormat(
        "the KMZ holds several .kml files and no doc.kml: "
        + ", ".join(f.relative_to(root).as_posix() for f in kmls[:_LIST_LAYERS])
    )


# ----------------------------------------------------------------------------- checks

_NOT_UTF8 = (
    "not valid UTF-8; save the file as UTF-8 (GeoJSON must be UTF-8; a Shapefile's .cpg "
    "must name its real encoding)"
)


def _check_text(frame: gpd.GeoDataFrame, label: str) -> None:
    """Refuse Arrow-backed text columns holding invalid UTF-8.

    GDAL passes the bytes of a mis-declared encoding through; Arrow stores them unchecked
    and the frame then fails later, far from here (on display or comparison).
    """
    for name in frame.columns:
        column = frame[name]
        if name == frame.geometry.name or not pd.api.types.is_string_dtype(column.dtype):
            continue
        try:
            pyarrow.array(column.array).validate(full=True)
        except pyarrow.ArrowInvalid as exc:
            where = re.search(r"string index (\d+)", str(exc))
            row = f" (first at row {int(where.group(1)) + 1})" if where else ""
            raise UnsupportedFormat(
                f"{label}: column {str(name)[:60]!r} holds text{row} that is {_NOT_UTF8}"
            ) from None
        except (TypeError, pyarrow.ArrowException):
            continue  # plain Python strings: valid by construction


def _check_geometries(
    frame: gpd.GeoDataFrame,
    rows: np.ndarray,
    unparsed: np.ndarray,
    layer: str,
    limits: Limits,
    report: Report,
) -> None:
    """Vectorised per-feature checks; drops the geometries of rows with errors (in place).

    Order matters: over-long geometries are dropped first, so that only bounded work
    (``force_2d``, coordinate checks) ever touches the rest.
    """
    geoms = frame.geometry.array.to_numpy()
    counts = shapely.get_num_coordinates(geoms)
    too_many = counts > limits.max_vertices_per_feature
    for i in np.flatnonzero(too_many):
        report.add(
            layer,
            int(rows[i]),
            "geometry",
            "too_many_vertices",
            ERROR,
            f"{int(counts[i]):,} vertices, over the limit of "
            f"{limits.max_vertices_per_feature:,}; geometry dropped",
        )
    geoms = np.where(too_many, None, geoms)
    total = int(counts[~too_many].sum())
    if total > limits.max_total_vertices:
        raise InputTooLarge(
            f"layer {layer!r} has {total:,} vertices, over the limit of "
            f"{limits.max_total_vertices:,}"
        )
    if shapely.has_z(geoms).any():
        geoms = shapely.force_2d(geoms)
        report.add(layer, None, "geometry", "z_dropped", INFO, "Z coordinates were dropped")
    coords, index = shapely.get_coordinates(geoms, include_z=False, return_index=True)
    bad_rows = np.unique(index[~np.isfinite(coords).all(axis=1)])
    for i in bad_rows:
        report.add(
            layer,
            int(rows[i]),
            "geometry",
            "non_finite_coordinates",
            ERROR,
            "coordinates include NaN or infinity; geometry dropped",
        )
    geoms[bad_rows] = None
    errored = too_many.copy()
    errored[bad_rows] = True
    errored[unparsed] = True
    missing = shapely.is_missing(geoms) & ~errored
    for i in np.flatnonzero(missing):
        report.add(layer, int(rows[i]), "geometry", "empty_geometry", WARNING, "no geometry")
    empty = shapely.is_empty(geoms) & ~missing & ~errored
    for i in np.flatnonzero(empty):
        report.add(layer, int(rows[i]), "geometry", "empty_geometry", WARNING, "empty geometry")
    type_ids = shapely.get_type_id(geoms)
    present = type_ids[type_ids >= 0]
    families = {_FAMILY.get(int(t), "collection") for t in np.unique(present)}
    if len(families) > 1:
        names = Counter(_TYPE_NAMES[present].tolist())
        listed = ", ".join(f"{name}: {n}" for name, n in sorted(names.items()))
        report.add(
            layer,
            None,
            "geometry",
            "mixed_geometry_types",
            WARNING,
            f"the layer mixes geometry types ({listed})",
        )
    frame[frame.geometry.name] = gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs)


def _unparsed_rows(
    target: Path, layer: str, frame: gpd.GeoDataFrame, max_features: int
) -> np.ndarray:
    """Positions where GDAL returned a geometry that shapely could not parse."""
    missing = np.flatnonzero(shapely.is_missing(frame.geometry.array.to_numpy()))
    if missing.size == 0:
        return missing
    _, _, wkb, _ = pyogrio.raw.read(target, layer=layer, columns=[], max_features=max_features)
    return missing[np.array([wkb[i] is not None for i in missing], dtype=bool)]


def _reproject(
    frame: gpd.GeoDataFrame, src: pyproj.CRS, rows: np.ndarray, layer: str, report: Report
) -> gpd.GeoDataFrame:
    if src.equals(_WGS84, ignore_axis_order=True):
        frame = frame.set_crs(_WGS84, allow_override=True)
    else:
        frame = frame.set_crs(src, allow_override=True).to_crs(_WGS84)
    geoms = frame.geometry.array.to_numpy()
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    failed = np.unique(index[~np.isfinite(coords).all(axis=1)])
    for i in failed:
        report.add(
            layer,
            int(rows[i]),
            "geometry",
            "reprojection_failed",
            ERROR,
            f"coordinates cannot be transformed from {_crs_text(src)} to EPSG:4326; "
            "geometry dropped",
        )
    if failed.size:
        geoms = geoms.copy()
        geoms[failed] = None
        frame[frame.geometry.name] = gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs)
    bounds = shapely.bounds(geoms)
    with np.errstate(invalid="ignore"):
        west, south, east, north = bounds.T
        outside = (west < -180) | (east > 180) | (south < -90) | (north > 90)
    for i in np.flatnonzero(outside):
        report.add(
            layer,
            int(rows[i]),
            "geometry",
            "coordinates_out_of_range",
            ERROR,
            f"longitude/latitude outside ±180/±90 after reading as {_crs_text(src)}; "
            "is the CRS right?",
        )
    return frame


# ----------------------------------------------------------------------------- reading


def _read_layer(
    target: Path,
    fmt: str,
    layer: str,
    label: str,
    *,
    stated: pyproj.CRS | None,
    limits: Limits,
    work: Path,
    report: Report,
) -> tuple[gpd.GeoDataFrame, str, str | None]:
    with _gdal_messages(report, layer, work):
        try:
            info = pyogrio.read_info(target, layer=layer)
        except _GDAL_ERRORS as exc:
            raise _unreadable(label, exc, work) from None
    driver = str(info["driver"])
    if driver not in ALLOWED_DRIVERS[fmt]:
        raise UnsupportedFormat(f"{label}: opened by GDAL driver {driver!r}, not accepted here")
    if info["geometry_type"] is None:
        raise UnsupportedFormat(f"{label}: layer {layer!r} has no geometry column")
    if int(info["features"]) > limits.max_features:
        raise InputTooLarge(
            f"{label}: layer {layer!r} has {int(info['features']):,} features, over the "
            f"limit of {limits.max_features:,}"
        )
    if len(info["fields"]) > limits.max_columns:
        raise InputTooLarge(
            f"{label}: layer {layer!r} has {len(info['fields'])} columns, over the limit of "
            f"{limits.max_columns}"
        )
    declared = info["crs"]
    if declared is None and stated is None:
        raise MissingCRS(f"{label}: layer {layer!r} has no CRS; state the CRS with --crs EPSG:xxxx")
    if declared is not None:
        src = pyproj.CRS.from_user_input(declared)
        if stated is not None and not src.equals(stated, ignore_axis_order=True):
            report.add(
                layer,
                None,
                None,
                "crs_ignored",
                WARNING,
                f"the file declares {_crs_text(src)}; the stated {_crs_text(stated)} is ignored",
            )
    else:
        assert stated is not None
        src = stated
        report.add(
            layer,
            None,
            None,
            "crs_stated",
            INFO,
            f"the file has no CRS; coordinates read as {_crs_text(stated)} as stated",
        )
    with _gdal_messages(report, layer, work):
        try:
            frame = pyogrio.read_dataframe(
                target,
                layer=layer,
                use_arrow=True,
                on_invalid="ignore",
                max_features=limits.max_features + 1,
            )
            unparsed = _unparsed_rows(target, layer, frame, limits.max_features + 1)
        except _GDAL_ERRORS as exc:
            raise _unreadable(label, exc, work) from None
        except (pyarrow.ArrowException, UnicodeDecodeError):
            raise UnsupportedFormat(f"{label}: text attributes are {_NOT_UTF8}") from None
    if not isinstance(frame, gpd.GeoDataFrame):
        raise UnsupportedFormat(f"{label}: layer {layer!r} has no geometry column")
    _check_text(frame, label)
    if len(frame) > limits.max_features:
        raise InputTooLarge(
            f"{label}: layer {layer!r} has more than {limits.max_features:,} features"
        )
    rows = np.arange(1, len(frame) + 1, dtype=np.int64)
    for i in unparsed:
        report.add(
            layer,
            int(rows[i]),
            "geometry",
            "unreadable_geometry",
            ERROR,
            "the geometry could not be decoded (e.g. an unclosed or too short ring)",
        )
    _check_geometries(frame, rows, unparsed, layer, limits, report)
    frame = frame.reset_index(drop=True)
    if "source_row" in frame.columns:
        frame = frame.rename(columns={"source_row": "source_row_original"})
        report.add(
            layer,
            None,
            "source_row",
            "column_renamed",
            WARNING,
            "the source column 'source_row' is kept as 'source_row_original'",
        )
    frame["source_row"] = rows
    frame = _reproject(frame, src, rows, layer, report)
    return frame, driver, _crs_text(src)


def read_vector(
    path: Path,
    fmt: Format,
    *,
    layer: str | None = None,
    crs: str | int | None = None,
    limits: Limits = Limits(),  # noqa: B008  (frozen dataclass: an immutable default)
) -> VectorRead:
    """Read one layer of a staged vector upload into EPSG:4326, with a problem report.

    Parameters
    ----------
    path : Path
        A staged file (:func:`~profiling.ingest.safety.stage_upload`); never a user string.
    fmt : {"geojson", "gpkg", "shapefile_zip", "kml", "kmz"}
        The format :func:`~profiling.ingest.safety.sniff` detected; checked again here.
    layer : str, optional
        Layer to read (GeoPackage table, KML folder, Shapefile name in a zip). Without it,
        the only layer -- or the only non-empty one -- is read.
    crs : str or int, optional
        CRS of coordinates when the file has none (``4326``, ``"EPSG:32737"``); ignored with
        a warning when the file declares another.
    limits : Limits
        Size limits (features, vertices, archive expansion).

    Returns
    -------
    VectorRead
        The frame (EPSG:4326, ``source_row`` 1-based), layer names, source CRS, driver and
        report. Report rules: ``too_many_vertices``, ``non_finite_coordinates``,
        ``unreadable_geometry``, ``reprojection_failed``, ``coordinates_out_of_range``
        (errors, per row; the first three drop the geometry), ``empty_geometry`` (warning,
        per row), ``mixed_geometry_types``, ``gdal_warning``, ``crs_ignored`` (warnings),
        ``crs_stated``, ``z_dropped`` (info).

    Raises
    ------
    UnsafeInput
        VRT/GDALG content, XML entities, KML NetworkLink, hostile archive members.
    UnsupportedFormat
        Content not matching ``fmt``, unreadable data, several layers and none chosen
        (the message lists them), a driver outside :data:`ALLOWED_DRIVERS`.
    MissingCRS
        No CRS in the file (e.g. a Shapefile without ``.prj``) and none stated.
    InputTooLarge
        A limit of ``limits`` is exceeded.

    Examples
    --------
    >>> import json, tempfile
    >>> from profiling.ingest.safety import stage_upload
    >>> doc = {"type": "FeatureCollection", "features": [{"type": "Feature",
    ...        "properties": {"name": "tap 1"},
    ...        "geometry": {"type": "Point", "coordinates": [36.78, -1.31]}}]}
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     staged = stage_upload(json.dumps(doc).encode(), Path(tmp), max_bytes=10_000)
    ...     read = read_vector(staged.path, "geojson")
    >>> read.frame[["name", "source_row"]].to_dict("records")
    [{'name': 'tap 1', 'source_row': 1}]
    """
    _gdal_env.assert_gdal_safe(check_rasterio=False)
    path = Path(path)
    if fmt not in VECTOR_FORMATS:
        raise UnsupportedFormat(f"{fmt!r} is not a vector format")
    actual = sniff(path, limits=limits)
    if actual != fmt:
        raise UnsupportedFormat(f"the content is {actual}, not {fmt}")
    stated = parse_user_crs(crs) if crs is not None else None
    report = Report()
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".read-") as tmp:
        work = Path(tmp)
        kind = {"gpkg": "GeoPackage", "kml": "KML", "kmz": "KMZ", "geojson": "GeoJSON"}
        if fmt == "shapefile_zip":
            target, chosen, layers = _shapefile_from_zip(
                path, work, layer, stated is not None, limits
            )
            label = f"{chosen}.shp"
        else:
            if fmt == "kmz":
                kml = _kml_from_kmz(path, work, limits)
                _check_kml(kml, "KMZ")
                target = link_or_copy(kml, work / "data.kml")
            else:
                if fmt == "kml":
                    _check_kml(path, "KML")
                target = link_or_copy(path, work / f"data{_SUFFIX[fmt]}")
            label = kind[fmt]
            if fmt == "geojson":
                with _gdal_messages(report, "GeoJSON", work):
                    try:
                        listed = pyogrio.list_layers(target)
                    except _GDAL_ERRORS as exc:
                        raise _unreadable(label, exc, work) from None
                layers = [str(name) for name, _ in listed]
                if not layers:
                    raise UnsupportedFormat("GeoJSON: GDAL found no layer")
                chosen = layers[0]
            else:
                with _gdal_messages(report, label, work):
                    chosen, layers = _choose_layer(target, label, layer, limits, work)
        frame, driver, source_crs = _read_layer(
            target, fmt, chosen, label, stated=stated, limits=limits, work=work, report=report
        )
    report.facts.update(
        {
            "source_layer": chosen,
            "driver": driver,
            "source_crs": source_crs,
            "source_features": len(frame),
        }
    )
    return VectorRead(frame, chosen, layers, source_crs, driver, report)
