"""Validate a canonical layer: collect every problem, repair what can safely be repaired.

:func:`validate_layer` runs every rule family on a frame produced by the readers and the
mapping step (canonical column names, types already coerced, ``source_row`` = 1-based row of
the source file) and returns the frame with repaired geometries plus a
:class:`~profiling.report.Report`. It never stops at the first problem (osmnx ``_validate``
style); :func:`raise_if_errors` turns a report with errors into
:class:`~profiling.errors.ValidationFailed`.

Rules (stable ids) and their default severity
---------------------------------------------
=========================  =========  ===================================================
rule                       severity   meaning
=========================  =========  ===================================================
required                   error      required field missing as a column or empty in a row
unknown_code               error      value (or one code of a ``codes`` list) not allowed
out_of_range               warning    number outside the field's plausible range
null_geometry              error [1]  missing / empty geometry
invalid_geometry           warning    invalid geometry repaired (error when not repairable)
too_many_vertices          error      more vertices than ``max_vertices``; not touched
wrong_geometry_type        error      e.g. a polygon in a Point layer
coordinates_out_of_range   error      lon outside [-180, 180] or lat outside [-90, 90]
latlon_swapped             warning    lat/lon look swapped (error with settlement evidence)
null_island                error      a point at (0, 0)
gps_precision              warning    ``gps_accuracy_m`` worse than the threshold
unknown_settlement         error      ``settlement_id`` not among the settlements given
outside_settlement         warning    point beyond its settlement's polygon + tolerance [2]
duplicate_uuid             error      ``submission_uuid`` seen in an earlier row
duplicate_key              error      layer key (``household_id``...) seen in an earlier row
duplicate_record           warning    identical to an earlier row in every field + geometry
inconsistent_counts        error [3]  contradictory answers (parts exceeding their whole...)
orphan_member              error      member whose household is not among the households
=========================  =========  ===================================================

[1] warning when the layer's geometry is optional. [2] configurable.
[3] error for a part exceeding its whole (working taps > taps, members > household size),
warning for answers that are merely implausible together; all warnings when
``strict_counts=False``.

Rows are always the ``source_row`` of the frame (1-based data row of the uploaded file), so a
user can find them in their spreadsheet; file-level problems have ``row=None``. Columns are
canonical field names, ``geometry`` for geometry problems.

References
----------
.. [JMP2018] WHO/UNICEF JMP, *Core questions on drinking water, sanitation and hygiene for
   household surveys: 2018 update* (sharing of sanitation facilities, S3; time to collect
   water including queuing, W2).
.. [UNH2018] UN-Habitat, *SDG indicator 11.1.1 metadata*: households and their members are the
   units of the slum household deprivations, so member counts must add up.
.. [OGC] OGC 06-103r4 Simple Features validity; see :mod:`profiling.geometry_repair`.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from profiling.errors import ValidationFailed
from profiling.geometry_repair import (
    RepairMethod,
    RepairStatus,
    non_finite_mask,
    repair_geometries,
)
from profiling.report import ERROR, WARNING, Problem, Report, Severity
from profiling.schema import Field, LayerSchema

__all__ = [
    "RULES",
    "ValidationOptions",
    "check_codes",
    "check_consistency",
    "check_coordinates",
    "check_duplicates",
    "check_geometry",
    "check_gps_precision",
    "check_members",
    "check_ranges",
    "check_required",
    "check_settlement_membership",
    "raise_if_errors",
    "validate_layer",
]

RULES: tuple[str, ...] = (
    "required",
    "unknown_code",
    "out_of_range",
    "null_geometry",
    "invalid_geometry",
    "too_many_vertices",
    "wrong_geometry_type",
    "coordinates_out_of_range",
    "latlon_swapped",
    "null_island",
    "gps_precision",
    "unknown_settlement",
    "outside_settlement",
    "duplicate_uuid",
    "duplicate_key",
    "duplicate_record",
    "inconsistent_counts",
    "orphan_member",
)
"""Every rule id :func:`validate_layer` may report."""

GEOMETRY = "geometry"
"""Column name used in problems about the geometry."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidationOptions:
    """Thresholds and switches of :func:`validate_layer` (immutable).

    Attributes
    ----------
    max_vertices : int, default 50,000
        Vertices (coordinates) per feature above which the feature is refused
        (``too_many_vertices``) and neither checked nor repaired.
    max_crossing_pairs : int, default 20,000
        Budget of potentially crossing segment pairs for repairing one invalid feature
        (:func:`profiling.geometry_repair.estimate_crossing_pairs`); ~0.5 s of GEOS time.
    repair_method : {"structure", "linework"}, default "structure"
        GEOS make-valid method (``structure`` needs GEOS ≥ 3.10, else ``linework`` is used).
    max_gps_accuracy_m : float, default 20.0
        GPS accuracy (metres, as reported by the device: the radius of ~68 % confidence)
        above which a point is flagged ``gps_precision``. 20 m is about the width of a block
        of shacks: worse cannot place a household in the right structure.
    settlement_tolerance_m : float, default 10.0
        Distance (metres, computed in the UTM zone of the settlements) a point may lie outside
        its settlement polygon before it is flagged ``outside_settlement``.
    outside_settlement_severity : {"warning", "error"}, default "warning"
        Severity of ``outside_settlement``.
    null_island_tolerance_deg : float, default 1e-6
        A point within this many degrees (~0.1 m) of (0, 0) is ``null_island``.
    min_head_age : int, default 12
        Household head younger than this (years) is ``inconsistent_counts`` (warning):
        child-headed households exist, but under 12 is almost always a keying error.
    strict_counts : bool, default True
        Report a count part exceeding its whole (working taps > taps) as an error; when
        False every ``inconsistent_counts`` is a warning.
    aggregate_after : int, default 20
        The same offending value in the same column reported for more rows than this
        (``unknown_code``, ``unknown_settlement``, ``orphan_member``) becomes one problem
        with the count and the first rows, so a 1M-row report stays readable.
    rows_listed : int, default 10
        Rows listed in an aggregated problem.
    households_ids : frozenset of str or None
        Household ids known for a ``members`` layer; members of other households are
        ``orphan_member``. ``None`` skips the check (the keys of ``household_sizes`` are
        used when given).
    household_sizes : mapping of str to int or None
        ``household_size`` by household id, to check that a household does not list more
        members than its size.
    """

    max_vertices: int = 50_000
    max_crossing_pairs: int = 20_000
    repair_method: RepairMethod = "structure"
    max_gps_accuracy_m: float = 20.0
    settlement_tolerance_m: float = 10.0
    outside_settlement_severity: Severity = WARNING
    null_island_tolerance_deg: float = 1e-6
    min_head_age: int = 12
    strict_counts: bool = True
    aggregate_after: int = 20
    rows_listed: int = 10
    households_ids: frozenset[str] | None = None
    household_sizes: Mapping[str, int] | None = None


_DEFAULT_OPTIONS = ValidationOptions()


# -- Small helpers -----------------------------------------------------------------------------


def _rows(frame: pd.DataFrame) -> np.ndarray:
    """1-based source rows: ``source_row``, falling back to the frame position + 1."""
    position = np.arange(1, len(frame) + 1, dtype=np.int64)
    if "source_row" not in frame.columns:
        return position
    rows = pd.to_numeric(frame["source_row"], errors="coerce").to_numpy(
        dtype=float, na_value=np.nan
    )
    return np.where(np.isnan(rows), position, rows).astype(np.int64)


def _fmt(value: object) -> str:
    """A value for a message: integers without ``.0``, strings quoted."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else f"{float(value):g}"
    return str(value)


def _metres(distance: float) -> str:
    """A distance for a message: ``55.7 m``, ``1,234 m``."""
    return f"{distance:.1f} m" if distance < 100 else f"{distance:,.0f} m"


def _blank(series: pd.Series) -> np.ndarray:
    """True where a value is missing: null, NaN/NA, or a string of only whitespace."""
    missing = series.isna().to_numpy(dtype=bool, copy=True)
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        text = series.astype("string").str.strip()
        missing |= text.eq("").fillna(False).to_numpy(dtype=bool)
    return missing


def _numbers(series: pd.Series) -> np.ndarray:
    """Float array with NaN for missing or non-numeric values (robust to object columns)."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    if not pd.api.types.is_numeric_dtype(series.dtype):
        series = pd.to_numeric(series, errors="coerce")
    return series.astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def _flags(series: pd.Series) -> np.ndarray:
    """Object array of True / False / None from a boolean-ish column."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("boolean").to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload]
    out = np.full(len(series), None, dtype=object)
    values = series.to_numpy(dtype=object)
    present = ~series.isna().to_numpy(dtype=bool)
    for i in np.flatnonzero(present):
        value = values[i]
        if isinstance(value, (bool, np.bool_)):
            out[i] = bool(value)
        elif isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0"}:
            out[i] = value.strip().lower() in {"true", "1"}
        elif isinstance(value, (int, float, np.integer, np.floating)) and value in (0, 1):
            out[i] = bool(value)
    return out


def _text(series: pd.Series) -> np.ndarray:
    """Object array of ``str`` values, ``None`` where blank (vectorised via pandas strings)."""
    text = series.astype("string")
    values = text.to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload]
    blank = text.str.strip().eq("").fillna(False).to_numpy(dtype=bool)
    if blank.any():
        values = values.copy()
        values[blank] = None
    return values


def _group_positions(keys: np.ndarray) -> list[np.ndarray]:
    """Positions of equal integer ``keys`` (factorised codes ≥ 0), one array per key."""
    if len(keys) == 0:
        return []
    order = np.argsort(keys, kind="stable")
    bounds = np.flatnonzero(np.diff(keys[order])) + 1
    return np.split(order, bounds)


def _grouped(
    layer: str,
    column: str,
    rule: str,
    severity: Severity,
    rows: np.ndarray,
    values: Sequence[object],
    describe: Callable[[object], str],
    options: ValidationOptions,
) -> list[Problem]:
    """One problem per offending row, or one per value when a value repeats a lot.

    ``rows[i]`` offends with ``values[i]``. When a value offends in more than
    ``options.aggregate_after`` rows, it is reported once, at its first row, with the count
    and the first ``options.rows_listed`` rows.
    """
    problems: list[Problem] = []
    if len(rows) == 0:
        return problems
    codes, uniques = pd.factorize(pd.Series(list(values), dtype=object), sort=False)
    for group in _group_positions(codes):
        value = uniques[codes[group[0]]]
        group_rows = np.sort(rows[group])
        text = describe(value)
        if len(group_rows) > options.aggregate_after:
            listed = ", ".join(str(r) for r in group_rows[: options.rows_listed])
            if len(group_rows) > options.rows_listed:
                listed += ", ..."
            problems.append(
                Problem(
                    layer,
                    int(group_rows[0]),
                    column,
                    rule,
                    severity,
                    f"{text} — in {len(group_rows):,} rows (first rows: {listed})",
                    row_count=len(group_rows),
                    rows=tuple(int(r) for r in group_rows),
                )
            )
        else:
            problems.extend(
                Problem(layer, int(r), column, rule, severity, text) for r in group_rows
            )
    return problems


def _geometry_array(frame: pd.DataFrame) -> np.ndarray | None:
    """The active geometry as an object array, or ``None`` when the frame has none."""
    if not isinstance(frame, gpd.GeoDataFrame):
        return None
    try:
        geometry = frame.geometry
    except AttributeError:  # a GeoDataFrame whose active geometry column is absent
        return None
    return np.asarray(geometry.array, dtype=object)


def _check_crs(frame: pd.DataFrame) -> None:
    if isinstance(frame, gpd.GeoDataFrame) and frame.crs is not None:
        crs = frame.crs
        if crs.to_epsg() != 4326 and crs != pyproj.CRS("OGC:CRS84"):
            raise ValueError(
                f"validate_layer expects lon/lat EPSG:4326 geometries, got {crs.to_string()}; "
                "reproject with frame.to_crs(4326) first"
            )


# -- Attribute rules ---------------------------------------------------------------------------


def check_required(
    frame: pd.DataFrame, schema: LayerSchema, *, options: ValidationOptions = _DEFAULT_OPTIONS
) -> list[Problem]:
    """Rule ``required`` (error): every required field is a column with a value in each row.

    A required field missing as a column gives one file-level problem (``row=None``);
    otherwise each row whose value is null, NaN or blank text gives one problem, or, beyond
    ``options.aggregate_after`` rows, one problem standing for them all (with the remedy).
    """
    rows = _rows(frame)
    problems: list[Problem] = []
    for name in schema.required:
        if name not in frame.columns:
            problems.append(
                Problem(
                    schema.name,
                    None,
                    name,
                    "required",
                    ERROR,
                    f"required field {name!r} is missing: map a source column onto it",
                )
            )
            continue
        missing = np.asarray(_blank(frame[name]), dtype=bool)
        empty_rows = rows[missing]
        if len(empty_rows) > options.aggregate_after:
            hint = (
                "give it with --settlement or map a source column onto it"
                if name == "settlement_id"
                else "map a source column onto it or give it in [constants]"
            )
            listed = ", ".join(str(r) for r in empty_rows[: options.rows_listed])
            problems.append(
                Problem(
                    schema.name,
                    int(empty_rows[0]),
                    name,
                    "required",
                    ERROR,
                    f"{name} is required but empty in {len(empty_rows):,} of {len(rows):,} "
                    f"rows (first rows: {listed}): {hint}",
                    row_count=len(empty_rows),
                    rows=tuple(int(r) for r in empty_rows),
                )
            )
            continue
        problems.extend(
            Problem(schema.name, int(r), name, "required", ERROR, f"{name} is required but empty")
            for r in empty_rows
        )
    return problems


def _not_a_code(field: Field, value: object) -> str:
    return f"{value!r} is not a code of {field.name} ({_allowed(field)})"


def _allowed(field: Field) -> str:
    codes = sorted(field.codes or ())
    shown = ", ".join(codes[:15]) + (", ..." if len(codes) > 15 else "")
    return f"allowed: {shown}"


def check_codes(
    frame: pd.DataFrame, schema: LayerSchema, *, options: ValidationOptions = _DEFAULT_OPTIONS
) -> list[Problem]:
    """Rule ``unknown_code`` (error): coded values must belong to the field's code list.

    For a ``codes`` (select_multiple) field each space-separated code is checked on its own;
    a row with two unknown codes gives two problems. Work is done once per distinct value,
    and the same unknown code repeated in more than ``options.aggregate_after`` rows is
    reported once with its count.
    """
    rows = _rows(frame)
    problems: list[Problem] = []
    for field in schema.fields:
        if field.codes is None or field.name not in frame.columns:
            continue
        text = _text(frame[field.name])
        present = np.flatnonzero(text != None)  # noqa: E711  (elementwise on object array)
        if len(present) == 0:
            continue
        codes, uniques = pd.factorize(pd.Series(text[present], dtype=object))
        bad_tokens: list[list[str]] = []
        for value in uniques:
            tokens = value.split() if field.dtype == "codes" else [value]
            bad_tokens.append([t for t in tokens if t not in field.codes])
        offending_rows: list[int] = []
        offending_values: list[str] = []
        for group in _group_positions(codes):
            tokens = bad_tokens[codes[group[0]]]
            for token in tokens:
                offending_rows.extend(rows[present[group]].tolist())
                offending_values.extend([token] * len(group))
        problems.extend(
            _grouped(
                schema.name,
                field.name,
                "unknown_code",
                ERROR,
                np.asarray(offending_rows, dtype=np.int64),
                offending_values,
                functools.partial(_not_a_code, field),
                options,
            )
        )
    return problems


def check_ranges(frame: pd.DataFrame, schema: LayerSchema) -> list[Problem]:
    """Rule ``out_of_range`` (warning): numbers outside ``Field.minimum`` / ``Field.maximum``.

    Bounds are inclusive and in the field's unit (e.g. ``household_size`` 1-40 people,
    ``water_trip_min`` 0-1440 minutes). Missing values are not checked (see ``required``).
    """
    rows = _rows(frame)
    problems: list[Problem] = []
    for field in schema.fields:
        if field.dtype not in ("int", "float") or field.name not in frame.columns:
            continue
        if field.minimum is None and field.maximum is None:
            continue
        values = _numbers(frame[field.name])
        with np.errstate(invalid="ignore"):
            for bound, op, word in (
                (field.minimum, operator.lt, "below the minimum"),
                (field.maximum, operator.gt, "above the maximum"),
            ):
                if bound is None:
                    continue
                bad = np.flatnonzero(op(values, bound))
                problems.extend(
                    Problem(
                        schema.name,
                        int(rows[i]),
                        field.name,
                        "out_of_range",
                        WARNING,
                        f"{field.name} = {_fmt(values[i])} is {word} {_fmt(bound)}",
                    )
                    for i in bad
                )
    return problems


# -- Geometry rules ----------------------------------------------------------------------------

_FAMILIES: dict[str, tuple[int, ...]] = {
    "Point": (0, 4),
    "LineString": (1, 2, 5),
    "Polygon": (3, 6),
}


def check_geometry(
    frame: pd.DataFrame,
    schema: LayerSchema,
    *,
    options: ValidationOptions = _DEFAULT_OPTIONS,
) -> tuple[np.ndarray | None, list[Problem]]:
    """Rules ``null_geometry``, ``invalid_geometry``, ``too_many_vertices``,
    ``wrong_geometry_type``; repairs invalid geometries within the budgets.

    * ``null_geometry``: missing or empty geometry (error when ``schema.geometry_required``,
      else warning); a geometry layer without a geometry column is one file-level problem.
    * ``wrong_geometry_type`` (error): not of the layer's family; Multi* of the family is
      fine, a GeometryCollection is not, ``Any`` accepts everything.
    * ``too_many_vertices`` (error): more than ``options.max_vertices``; untouched.
    * ``invalid_geometry``: OGC-invalid geometry repaired with :func:`shapely.make_valid`
      (warning saying what was repaired and how much the area changed); an error when it
      cannot be repaired (NaN coordinates, too complex, collapses to nothing).

    Returns
    -------
    geometries : numpy.ndarray or None
        The geometries with repairs applied (``None`` when the frame has no geometry).
    problems : list of Problem
    """
    if schema.geometry is None:
        return _geometry_array(frame), []
    geoms = _geometry_array(frame)
    null_severity = ERROR if schema.geometry_required else WARNING
    if geoms is None:
        if not schema.geometry_required:
            return None, []
        return None, [
            Problem(
                schema.name,
                None,
                GEOMETRY,
                "null_geometry",
                ERROR,
                f"layer {schema.name!r} needs {schema.geometry} geometries but has none",
            )
        ]
    rows = _rows(frame)
    result = repair_geometries(
        geoms,
        max_vertices=options.max_vertices,
        max_crossing_pairs=options.max_crossing_pairs,
        method=options.repair_method,
    )
    by_position: list[tuple[int, Problem]] = []

    def add(i: int | np.integer, rule: str, severity: Severity, message: str) -> None:
        by_position.append(
            (int(i), Problem(schema.name, int(rows[i]), GEOMETRY, rule, severity, message))
        )

    for i in np.flatnonzero(result.mask(RepairStatus.NULL)):
        add(i, "null_geometry", null_severity, "geometry is missing or empty")
    if schema.geometry != "Any":
        family = _FAMILIES[schema.geometry]
        present = ~result.mask(RepairStatus.NULL)
        type_ids = shapely.get_type_id(geoms)
        for i in np.flatnonzero(present & ~np.isin(type_ids, family)):
            add(
                i,
                "wrong_geometry_type",
                ERROR,
                f"{geoms[i].geom_type} in a {schema.geometry} layer "
                f"(expected {schema.geometry} or Multi{schema.geometry})",
            )
    for status, rule, severity in (
        (RepairStatus.NON_FINITE, "invalid_geometry", ERROR),
        (RepairStatus.TOO_MANY_VERTICES, "too_many_vertices", ERROR),
        (RepairStatus.TOO_COMPLEX, "invalid_geometry", ERROR),
        (RepairStatus.COLLAPSED, "invalid_geometry", ERROR),
        (RepairStatus.REPAIRED, "invalid_geometry", WARNING),
    ):
        for i in np.flatnonzero(result.mask(status)):
            add(i, rule, severity, str(result.message[i]))
    by_position.sort(key=lambda item: item[0])
    return result.geometry, [p for _, p in by_position]


def _usable(geoms: np.ndarray) -> np.ndarray:
    """Present, non-empty geometries with finite coordinates."""
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    with np.errstate(invalid="ignore"):
        return present & ~non_finite_mask(geoms)


def _anchor_xy(geoms: np.ndarray, usable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x, y of each point, or of a point on the surface of other geometries (NaN if unusable).

    :func:`shapely.point_on_surface` is guaranteed to lie inside a polygon, unlike its
    centroid (an L-shaped or ring-shaped footprint has its centroid outside).
    """
    x = np.full(len(geoms), np.nan)
    y = np.full(len(geoms), np.nan)
    type_ids = shapely.get_type_id(geoms)
    is_point = usable & (type_ids == 0)
    x[is_point] = shapely.get_x(geoms[is_point])
    y[is_point] = shapely.get_y(geoms[is_point])
    other = usable & ~is_point
    if other.any():
        anchors = shapely.point_on_surface(geoms[other])
        x[other] = shapely.get_x(anchors)
        y[other] = shapely.get_y(anchors)
    return x, y


def _in_range_mask(
    geoms: np.ndarray, usable: np.ndarray, options: ValidationOptions
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(out-of-range mask, null-island mask, bounds array) for usable geometries."""
    bounds = np.full((len(geoms), 4), np.nan)
    bounds[usable] = shapely.bounds(geoms[usable])
    with np.errstate(invalid="ignore"):
        out = usable & (
            (bounds[:, 0] < -180)
            | (bounds[:, 2] > 180)
            | (bounds[:, 1] < -90)
            | (bounds[:, 3] > 90)
        )
        tol = options.null_island_tolerance_deg
        is_point = usable & (shapely.get_type_id(geoms) == 0)
        null_island = (
            is_point & (np.abs(bounds[:, 0]) <= tol) & (np.abs(bounds[:, 1]) <= tol) & ~out
        )
    return out, null_island, bounds


def check_coordinates(
    frame: pd.DataFrame,
    schema: LayerSchema,
    *,
    geometries: np.ndarray | None = None,
    options: ValidationOptions = _DEFAULT_OPTIONS,
) -> list[Problem]:
    """Rules ``coordinates_out_of_range``, ``null_island`` and ``latlon_swapped`` (no
    settlements needed).

    * ``coordinates_out_of_range`` (error): a coordinate with lon outside [-180, 180] or lat
      outside [-90, 90] (from the geometry's bounds); values in the thousands usually mean
      projected metres declared as EPSG:4326.
    * ``latlon_swapped`` (warning, in addition): a point whose |lat| > 90 while |lon| ≤ 90,
      i.e. latitude and longitude given in the wrong order. With settlements,
      :func:`check_settlement_membership` detects swaps inside the valid range.
    * ``null_island`` (error): a point within ``null_island_tolerance_deg`` of (0, 0), the
      usual result of a GPS fix that was never taken.
    """
    geoms = _geometry_array(frame) if geometries is None else geometries
    if schema.geometry is None or geoms is None:
        return []
    rows = _rows(frame)
    usable = _usable(geoms)
    out, null_island, bounds = _in_range_mask(geoms, usable, options)
    is_point = shapely.get_type_id(geoms) == 0
    problems: list[Problem] = []
    for i in np.flatnonzero(out | null_island):
        row = int(rows[i])
        if null_island[i]:
            problems.append(
                Problem(
                    schema.name,
                    row,
                    GEOMETRY,
                    "null_island",
                    ERROR,
                    "point at (0, 0) ('null island'): the GPS position was probably not taken",
                )
            )
            continue
        minx, miny, maxx, maxy = bounds[i]
        where = (
            f"point ({_fmt(minx)}, {_fmt(miny)})"
            if is_point[i]
            else f"bounds ({_fmt(minx)}, {_fmt(miny)}, {_fmt(maxx)}, {_fmt(maxy)})"
        )
        hint = ""
        if max(abs(minx), abs(maxx), abs(miny), abs(maxy)) > 1000:
            hint = "; values like these are projected metres, not degrees: check the CRS"
        problems.append(
            Problem(
                schema.name,
                row,
                GEOMETRY,
                "coordinates_out_of_range",
                ERROR,
                f"{where} outside lon [-180, 180] / lat [-90, 90]{hint}",
            )
        )
        if is_point[i] and abs(miny) > 90 and abs(minx) <= 90:
            problems.append(
                Problem(
                    schema.name,
                    row,
                    GEOMETRY,
                    "latlon_swapped",
                    WARNING,
                    f"latitude {_fmt(miny)} is impossible but longitude {_fmt(minx)} would be a "
                    "valid latitude: latitude and longitude look swapped",
                )
            )
    return problems


def check_gps_precision(
    frame: pd.DataFrame, schema: LayerSchema, *, options: ValidationOptions = _DEFAULT_OPTIONS
) -> list[Problem]:
    """Rule ``gps_precision`` (warning): ``gps_accuracy_m`` > ``options.max_gps_accuracy_m``.

    The accuracy is the one the device reports (Kobo / ODK ``_gps_precision``, metres).
    """
    if "gps_accuracy_m" not in frame.columns:
        return []
    rows = _rows(frame)
    accuracy = _numbers(frame["gps_accuracy_m"])
    limit = options.max_gps_accuracy_m
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(accuracy > limit)
    return [
        Problem(
            schema.name,
            int(rows[i]),
            "gps_accuracy_m",
            "gps_precision",
            WARNING,
            f"GPS accuracy {_fmt(accuracy[i])} m is worse than {_fmt(limit)} m",
        )
        for i in bad
    ]


def _prepare_settlements(settlements: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """Settlement polygons in EPSG:4326 indexed by ``settlement_id`` (one per id, valid)."""
    if "settlement_id" not in settlements.columns:
        raise ValueError("settlements must have a 'settlement_id' column")
    s = settlements[["settlement_id", settlements.geometry.name]]
    s = s[s.geometry.notna() & ~s.geometry.is_empty & s["settlement_id"].notna()]
    if s.crs is not None and s.crs.to_epsg() != 4326:
        s = s.to_crs(4326)
    geoms = repair_geometries(np.asarray(s.geometry.array, dtype=object)).geometry
    ids = s["settlement_id"].astype(str).to_numpy()
    series = pd.Series(geoms, index=ids)
    if series.index.has_duplicates:
        series = series.groupby(level=0, sort=False).agg(lambda g: shapely.union_all(g.to_numpy()))
    out = gpd.GeoSeries(series.to_numpy(), index=series.index, crs=4326)
    shapely.prepare(out.array)
    return out


def check_settlement_membership(
    frame: pd.DataFrame,
    schema: LayerSchema,
    *,
    settlements: gpd.GeoDataFrame,
    geometries: np.ndarray | None = None,
    options: ValidationOptions = _DEFAULT_OPTIONS,
) -> list[Problem]:
    """Rules ``unknown_settlement``, ``outside_settlement`` and ``latlon_swapped`` (error).

    Each row with a ``settlement_id`` is matched to that settlement's polygon (rows of one
    id in ``settlements`` are unioned).

    * ``unknown_settlement`` (error): the id is not among ``settlements``.
    * The row's anchor (the point, or :func:`shapely.point_on_surface` of other geometries)
      is tested against its own polygon in one vectorised
      :func:`shapely.intersects_xy` call on prepared polygons (boundary counts as inside).
    * ``latlon_swapped`` (error): the anchor lies in no settlement but the swapped (lat, lon)
      point falls inside one (found with an :class:`shapely.STRtree` query).
    * ``outside_settlement`` (``options.outside_settlement_severity``): the anchor lies
      farther than ``options.settlement_tolerance_m`` from its settlement polygon, distance
      computed in the UTM zone estimated from the settlements.

    Rows without geometry, with out-of-range coordinates or at (0, 0) are left to the other
    geometry rules.
    """
    geoms = _geometry_array(frame) if geometries is None else geometries
    if (
        settlements is None
        or schema.geometry is None
        or schema.name == "settlements"
        or "settlement_id" not in schema.names
        or "settlement_id" not in frame.columns
    ):
        return []
    rows = _rows(frame)
    polygons = _prepare_settlements(settlements)
    ids = _text(frame["settlement_id"])
    has_id = ids != None  # noqa: E711
    position = np.full(len(frame), -1, dtype=np.int64)
    position[has_id] = polygons.index.get_indexer(ids[has_id].astype(str))
    problems = _grouped(
        schema.name,
        "settlement_id",
        "unknown_settlement",
        ERROR,
        rows[has_id & (position < 0)],
        ids[has_id & (position < 0)].tolist(),
        lambda v: f"settlement_id {v!r} is not among the {len(polygons)} settlements given",
        options,
    )
    if geoms is None:
        return problems
    usable = _usable(geoms)
    out_of_range, null_island, _ = _in_range_mask(geoms, usable, options)
    check = usable & ~out_of_range & ~null_island & (position >= 0)
    x, y = _anchor_xy(geoms, check)
    poly_array = np.asarray(polygons.array, dtype=object)
    inside = np.zeros(len(frame), dtype=bool)
    idx = np.flatnonzero(check)
    inside[idx] = shapely.intersects_xy(poly_array[position[idx]], x[idx], y[idx])
    outside = np.flatnonzero(check & ~inside)
    if len(outside) == 0:
        return problems

    tree = shapely.STRtree(poly_array)
    anchors = shapely.points(x[outside], y[outside])
    hit_point, hit_poly = tree.query(anchors, predicate="intersects")
    other = np.full(len(outside), -1, dtype=np.int64)
    other[hit_point[::-1]] = hit_poly[::-1]  # first hit per point
    nowhere = other < 0
    swapped_in = np.full(len(outside), -1, dtype=np.int64)
    candidates = np.flatnonzero(nowhere & (np.abs(x[outside]) <= 90))
    if len(candidates):
        swapped = shapely.points(y[outside][candidates], x[outside][candidates])
        s_point, s_poly = tree.query(swapped, predicate="intersects")
        swapped_in[candidates[s_point[::-1]]] = s_poly[::-1]

    names = polygons.index.to_numpy()
    metric_crs = polygons.estimate_utm_crs()
    to_metric = pyproj.Transformer.from_crs(4326, metric_crs, always_xy=True)
    mx, my = to_metric.transform(x[outside], y[outside])
    own = position[outside]
    metric_polygons = np.asarray(polygons.to_crs(metric_crs).array, dtype=object)
    distance = shapely.distance(metric_polygons[own], shapely.points(mx, my))
    for k, i in enumerate(outside):
        row = int(rows[i])
        if swapped_in[k] >= 0:
            problems.append(
                Problem(
                    schema.name,
                    row,
                    GEOMETRY,
                    "latlon_swapped",
                    ERROR,
                    f"({_fmt(x[i])}, {_fmt(y[i])}) lies in no settlement but "
                    f"({_fmt(y[i])}, {_fmt(x[i])}) falls inside settlement "
                    f"{names[swapped_in[k]]!r}: latitude and longitude look swapped",
                )
            )
            continue
        if distance[k] <= options.settlement_tolerance_m:
            continue
        elsewhere = f", inside settlement {names[other[k]]!r} instead" if other[k] >= 0 else ""
        problems.append(
            Problem(
                schema.name,
                row,
                GEOMETRY,
                "outside_settlement",
                options.outside_settlement_severity,
                f"lies {_metres(distance[k])} outside settlement {names[own[k]]!r}{elsewhere} "
                f"(tolerance {_fmt(options.settlement_tolerance_m)} m)",
            )
        )
    return problems


# -- Duplicates --------------------------------------------------------------------------------


def _first_rows(keys: pd.Series, rows: np.ndarray) -> np.ndarray:
    """For every position, the source row of the first position with the same key."""
    grouped = pd.Series(rows).groupby(keys.to_numpy(), sort=False)
    return grouped.transform("first").to_numpy()


def check_duplicates(
    frame: pd.DataFrame, schema: LayerSchema, *, geometries: np.ndarray | None = None
) -> list[Problem]:
    """Rules ``duplicate_uuid``, ``duplicate_key`` (errors) and ``duplicate_record`` (warning).

    * ``duplicate_uuid``: a ``submission_uuid`` already seen in an earlier row (a form
      submitted twice, or a file uploaded twice in one batch).
    * ``duplicate_key``: the layer key (``schema.key``) already seen; not repeated for a row
      whose key *is* its duplicated uuid.
    * ``duplicate_record``: the row equals an earlier row in every canonical field present and
      in its geometry (``source_row`` and ``attributes`` ignored). Rows are compared through a
      64-bit hash of their values and WKB (collision odds ~1e-8 for 1M rows); only rows
      whose uuid and key are missing or repeated can be identical, so only they are hashed.

    The later row is reported, naming the first one.
    """
    rows = _rows(frame)
    problems: list[Problem] = []
    uuid_dup = np.zeros(len(frame), dtype=bool)
    uuid_text = None
    # Rows with a unique uuid or key cannot equal another row: hash only the others.
    candidates = np.ones(len(frame), dtype=bool)
    for column, rule in (("submission_uuid", "duplicate_uuid"), (schema.key, "duplicate_key")):
        if column not in frame.columns or (rule == "duplicate_key" and column == "submission_uuid"):
            continue
        text = pd.Series(_text(frame[column]), index=frame.index, dtype=object)
        present = text.notna().to_numpy()
        dup = present & text.duplicated(keep="first").to_numpy()
        candidates &= ~present | text.duplicated(keep=False).to_numpy()
        if rule == "duplicate_uuid":
            uuid_dup, uuid_text = dup, text
        elif uuid_text is not None:
            dup &= ~(uuid_dup & (text == uuid_text).to_numpy(dtype=bool))
        if not dup.any():
            continue
        first = _first_rows(text[present], rows[present])
        first_of = np.zeros(len(frame), dtype=np.int64)
        first_of[present] = first
        problems.extend(
            Problem(
                schema.name,
                int(rows[i]),
                column,
                rule,
                ERROR,
                f"{column} {text.iloc[i]!r} already used in row {first_of[i]}",
            )
            for i in np.flatnonzero(dup)
        )

    columns = [c for c in schema.names if c in frame.columns]
    positions = np.flatnonzero(candidates)
    data = frame[columns].iloc[positions].reset_index(drop=True)
    geoms = _geometry_array(frame) if geometries is None else geometries
    if schema.geometry is not None and geoms is not None:
        data["__geometry__"] = shapely.to_wkb(geoms[positions])
    if data.shape[1] == 0 or len(data) < 2:
        return problems
    hashes = pd.Series(pd.util.hash_pandas_object(data, index=False).to_numpy())
    dup = hashes.duplicated(keep="first").to_numpy()
    if dup.any():
        first = _first_rows(hashes, rows[positions])
        problems.extend(
            Problem(
                schema.name,
                int(rows[positions[k]]),
                None,
                "duplicate_record",
                WARNING,
                f"row {rows[positions[k]]} is identical to row {first[k]} in every field and "
                "geometry",
            )
            for k in np.flatnonzero(dup)
        )
    return problems


# -- Contradictions ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Contradiction:
    """``sum(parts) <op> whole`` flags a row; ``impossible`` rules are errors when strict."""

    parts: tuple[str, ...]
    op: Literal[">", "<", "!="]
    whole: str | None  # a field, or None to compare with ``constant``
    impossible: bool
    why: str
    constant: float | None = None
    when_false: str | None = None  # only rows where this boolean field is False


_OPS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    ">": operator.gt,
    "<": operator.lt,
    "!=": operator.ne,
}
_OP_WORDS = {">": "exceeds", "<": "is less than", "!=": "differs from"}

_SUBSET = "a part cannot exceed its whole"
_UNIT_TALLY = "the tally may count every unit of the structure, not only its households"

_CONTRADICTIONS: dict[str, tuple[_Contradiction, ...]] = {
    "households": (
        _Contradiction(("females", "males"), ">", "household_size", True, _SUBSET),
        _Contradiction(
            ("adults", "children"),
            "!=",
            "household_size",
            False,
            "adults and children should add up to the household size",
        ),
        _Contradiction(
            ("toilet_users",), ">", "household_size", True, "users are household members"
        ),
        _Contradiction(
            ("toilet_sharing_households",),
            ">",
            None,
            False,
            "the facility is said not to be shared (JMP S3)",
            constant=1,
            when_false="toilet_shared",
        ),
        _Contradiction(
            ("water_queue_min",),
            ">",
            "water_trip_min",
            False,
            "the round trip includes queuing (JMP W2)",
        ),
    ),
    "structures": (
        # Structure tallies are a warning: enumerators often count every unit of the
        # structure (shops, services, empty rooms), not only households (Kianda 2012 does).
        _Contradiction(("owner_households",), ">", "households", False, _UNIT_TALLY),
        _Contradiction(("households_water",), ">", "households", False, _UNIT_TALLY),
        _Contradiction(("households_toilet",), ">", "households", False, _UNIT_TALLY),
        _Contradiction(("households_electricity",), ">", "households", False, _UNIT_TALLY),
        _Contradiction(
            ("population",), "<", "households", False, "each household has at least one person"
        ),
    ),
    "service_points": (
        _Contradiction(("taps_working",), ">", "taps_total", True, _SUBSET),
        _Contradiction(("seats_working",), ">", "seats_total", True, _SUBSET),
    ),
    "settlements": (
        _Contradiction(("taps_working",), ">", "taps_total", True, _SUBSET),
        _Contradiction(("toilet_seats_working",), ">", "toilet_seats_total", True, _SUBSET),
        _Contradiction(
            ("population",), "<", "households", False, "each household has at least one person"
        ),
    ),
}


def _contradiction_rules(
    schema: LayerSchema, options: ValidationOptions
) -> tuple[_Contradiction, ...]:
    rules = _CONTRADICTIONS.get(schema.name, ())
    if schema.name == "households":
        rules = (
            *rules,
            _Contradiction(
                ("head_age",),
                "<",
                None,
                False,
                "a household head this young is most often a keying error",
                constant=options.min_head_age,
            ),
        )
    return rules


def check_consistency(
    frame: pd.DataFrame, schema: LayerSchema, *, options: ValidationOptions = _DEFAULT_OPTIONS
) -> list[Problem]:
    """Rule ``inconsistent_counts``: answers of one row that contradict each other.

    Checked only when every value involved is present. Per layer:

    * households: females + males > household_size (error); adults + children ≠
      household_size (warning); toilet_users > household_size (error); toilet_shared is
      False but toilet_sharing_households > 1 (warning, JMP S3); water_queue_min >
      water_trip_min (warning: the JMP W2 round trip includes queuing); head_age <
      ``options.min_head_age`` (warning).
    * structures: owner_households / households_water / households_toilet /
      households_electricity > households, population < households (warnings: structure
      tallies often count every unit, not only households).
    * service_points: taps_working > taps_total, seats_working > seats_total (error).
    * settlements: taps_working > taps_total, toilet_seats_working > toilet_seats_total
      (error); population < households (warning).

    "error" means error when ``options.strict_counts`` (the default), else warning. The
    problem's column is the first field of the left-hand side.
    """
    rows = _rows(frame)
    problems: list[Problem] = []
    for rule in _contradiction_rules(schema, options):
        needed = [*rule.parts, *([rule.whole] if rule.whole else [])]
        needed += [rule.when_false] if rule.when_false else []
        if any(c not in frame.columns for c in needed):
            continue
        parts = [_numbers(frame[p]) for p in rule.parts]
        lhs = np.sum(parts, axis=0)
        rhs = _numbers(frame[rule.whole]) if rule.whole else np.full(len(frame), rule.constant)
        with np.errstate(invalid="ignore"):
            bad = _OPS[rule.op](lhs, rhs) & ~np.isnan(lhs) & ~np.isnan(rhs)
        if rule.when_false:
            bad &= _flags(frame[rule.when_false]) == False  # noqa: E712  (object array)
        severity = ERROR if rule.impossible and options.strict_counts else WARNING
        for i in np.flatnonzero(bad):
            left = " + ".join(f"{p} ({_fmt(v[i])})" for p, v in zip(rule.parts, parts, strict=True))
            if len(rule.parts) > 1:
                left += f" = {_fmt(lhs[i])}"
            right = f"{rule.whole} ({_fmt(rhs[i])})" if rule.whole else _fmt(rhs[i])
            prefix = f"{rule.when_false} is False but " if rule.when_false else ""
            problems.append(
                Problem(
                    schema.name,
                    int(rows[i]),
                    rule.parts[0],
                    "inconsistent_counts",
                    severity,
                    f"{prefix}{left} {_OP_WORDS[rule.op]} {right}: {rule.why}",
                )
            )
    return problems


def check_members(
    frame: pd.DataFrame, schema: LayerSchema, *, options: ValidationOptions = _DEFAULT_OPTIONS
) -> list[Problem]:
    """Members layer: rules ``orphan_member`` (error) and ``inconsistent_counts``.

    * ``orphan_member``: ``household_id`` not in ``options.households_ids`` (or the keys of
      ``options.household_sizes``); repeated ids are aggregated like ``unknown_code``.
    * ``inconsistent_counts``: a household lists more members than its ``household_size``
      (``options.household_sizes``), reported once per household at its first member row
      (error when ``options.strict_counts``).
    """
    if schema.parent != "households" or "household_id" not in frame.columns:
        return []
    rows = _rows(frame)
    ids = _text(frame["household_id"])
    present = ids != None  # noqa: E711
    known = options.households_ids
    if known is None and options.household_sizes is not None:
        known = frozenset(options.household_sizes)
    problems: list[Problem] = []
    if known is not None:
        orphan = present & ~pd.Series(ids, dtype=object).isin(known).to_numpy()
        problems += _grouped(
            schema.name,
            "household_id",
            "orphan_member",
            ERROR,
            rows[orphan],
            ids[orphan].tolist(),
            lambda v: f"household_id {v!r} is not among the households",
            options,
        )
    if options.household_sizes:
        members = pd.DataFrame({"id": ids[present], "row": rows[present]})
        per_household = members.groupby("id", sort=False)["row"].agg(["size", "min"])
        size = per_household.index.map(options.household_sizes).to_numpy(
            dtype=float, na_value=np.nan
        )
        severity = ERROR if options.strict_counts else WARNING
        with np.errstate(invalid="ignore"):
            over = per_household["size"].to_numpy() > size
        for k in np.flatnonzero(over):
            household = per_household.index[int(k)]
            problems.append(
                Problem(
                    schema.name,
                    int(per_household["min"].iloc[k]),
                    "household_id",
                    "inconsistent_counts",
                    severity,
                    f"{per_household['size'].iloc[k]} members listed for household "
                    f"{household!r} but its household_size is {_fmt(size[k])}",
                )
            )
    return problems


# -- Entry points ------------------------------------------------------------------------------


def _row_key(problem: Problem) -> int:
    return -1 if problem.row is None else problem.row


def validate_layer(
    frame: pd.DataFrame,
    schema: LayerSchema,
    *,
    settlements: gpd.GeoDataFrame | None = None,
    options: ValidationOptions = _DEFAULT_OPTIONS,
) -> tuple[pd.DataFrame, Report]:
    """Validate a canonical layer against its schema; collect every problem.

    Parameters
    ----------
    frame : pandas.DataFrame or geopandas.GeoDataFrame
        Canonical columns (a subset of ``schema.names``), ``source_row`` (1-based row of the
        source file) and ``attributes`` (ignored); geometries in EPSG:4326 lon/lat.
    schema : LayerSchema
        The layer (:data:`profiling.schema.LAYERS`).
    settlements : geopandas.GeoDataFrame, optional
        ``settlement_id`` + polygon geometry (any CRS; reprojected to EPSG:4326) to check
        that records lie in the settlement they name.
    options : ValidationOptions
        Thresholds; see :class:`ValidationOptions`.

    Returns
    -------
    frame : DataFrame or GeoDataFrame
        A copy of ``frame`` whose invalid geometries are replaced by their repair (the input
        is never modified).
    report : Report
        Every problem, ordered by source row (file-level problems first), and the facts
        ``<layer>.rows`` and ``<layer>.geometries_repaired``.

    Raises
    ------
    ValueError
        When the frame's CRS is set and is not lon/lat WGS 84.

    Examples
    --------
    >>> import pandas as pd
    >>> from profiling.schema import layer_schema
    >>> frame = pd.DataFrame({"member_id": ["m1", None], "household_id": ["h1", "h1"],
    ...                       "settlement_id": ["s1", "s1"], "age": [34, 150],
    ...                       "source_row": [2, 3]})
    >>> _, report = validate_layer(frame, layer_schema("members"))
    >>> [(p.row, p.column, p.rule, p.severity) for p in report]
    [(3, 'member_id', 'required', 'error'), (3, 'age', 'out_of_range', 'warning')]
    """
    _check_crs(frame)
    problems: list[Problem] = []
    problems += check_required(frame, schema, options=options)
    problems += check_codes(frame, schema, options=options)
    problems += check_ranges(frame, schema)
    geometries, geometry_problems = check_geometry(frame, schema, options=options)
    problems += geometry_problems
    if schema.geometry is not None and geometries is not None:
        problems += check_coordinates(frame, schema, geometries=geometries, options=options)
        if settlements is not None:
            problems += check_settlement_membership(
                frame, schema, settlements=settlements, geometries=geometries, options=options
            )
    problems += check_gps_precision(frame, schema, options=options)
    problems += check_duplicates(frame, schema, geometries=geometries)
    problems += check_consistency(frame, schema, options=options)
    problems += check_members(frame, schema, options=options)
    problems.sort(key=_row_key)

    out = frame.copy()
    repaired = 0
    if isinstance(frame, gpd.GeoDataFrame) and geometries is not None and schema.geometry:
        original = _geometry_array(frame)
        assert original is not None
        changed = np.fromiter(
            (a is not b for a, b in zip(original, geometries, strict=True)),
            dtype=np.bool_,
            count=len(original),
        )
        repaired = int(changed.sum())
        if repaired:
            out[frame.geometry.name] = gpd.GeoSeries(geometries, index=frame.index, crs=frame.crs)
    report = Report(problems=problems)
    report.facts[f"{schema.name}.rows"] = len(frame)
    report.facts[f"{schema.name}.geometries_repaired"] = repaired
    return out, report


def raise_if_errors(report: Report, *, message: str | None = None) -> Report:
    """Raise :class:`~profiling.errors.ValidationFailed` when ``report`` has errors.

    Returns the report unchanged otherwise, so it can be chained.
    """
    if report.has_errors:
        raise ValidationFailed(report, message)
    return report
