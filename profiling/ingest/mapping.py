"""Declared mappings: source columns and values → a canonical layer, never by guessing.

A mapping is one small TOML (or YAML) file per form. It names, for each source column, the
canonical field it fills, and for coded fields the canonical code of each source value. What
the file does not declare is *reported*, never guessed: a source column the mapping does not
name is kept, per row, in the JSON text column ``attributes`` (and reported once, ``info``);
a source value a complete value map does not list is an ``error`` on its row.

The file
--------
.. code-block:: toml

    [form]
    id = "nairobi_wash_2021"        # stable id, stored with each upload
    layer = "households"            # canonical layer (profiling.schema.LAYERS)
    title = "Nairobi WASH survey 2021"
    source = "kobo"                 # kobo | odk | vector | table
    drop = ["Enum_Name"]            # source columns dropped on purpose (personal data...)

    [geometry]                      # optional; one of:
    latitude = "_gps_latitude"      #   latitude + longitude (+ precision) columns
    longitude = "_gps_longitude"
    precision = "_gps_precision"    #   → gps_accuracy_m (accuracy_field = ... to change)
    # geopoint = "gps"              #   one "lat lon alt acc" column (accuracy = 4th part)
    # geoshape = "boundary"         #   "lat lon alt acc;..." → Polygon
    # geotrace = "path"             #   "lat lon alt acc;..." → LineString

    [columns]                       # source column (group path with '/') -> canonical field
    "_uuid" = ["household_id", "submission_uuid"]   # one column may fill several fields
    "grp/Sex_HH" = "head_sex"
    "water_private" = "water_source"  # several columns may fill one field: the first
    "water_public" = "water_source"   # non-missing value, in the order written, wins

    [values.head_sex]               # canonical field -> {source value -> canonical value}
    M = "male"
    F = "female"
    NA = ""                         # "" = a known "missing" answer (no problem reported)

    [multiple]                      # canonical `codes` field <- select_multiple question
    assets = "HHITEMS"              # "a b c" column, or HHITEMS/<choice> 0/1 columns

    [constants]
    settlement_id = "mathare_mabatini"

    [templates]                     # str fields built from source columns and the row
    structure_id = "KIA-{source_row}"   # number ({name} = a source column or source_row)

    [skip]                          # rows left out on purpose, reported (info) with a count
    watsan = ["recyling", "urban_agriculture"]

    [transform]                     # float fields: value * scale + offset, after parsing
    water_trip_min = { scale = 60.0 }

    [repeats.members]               # a repeat sheet / file -> another canonical layer
    sheet = "members"               # Kobo sheet name or ODK repeat name (default: the key)
    layer = "members"
    inherit = ["household_id"]      # fields copied from the submission's mapped row
    [repeats.members.columns]
    "members/sex" = "sex"
    [repeats.members.values.sex]
    m = "male"

Rules applied by :func:`apply_mapping`
-------------------------------------
- A source column matches when its name equals the declared one, or equals it with ``/``
  replaced by the export's group separator (ODK Central joins groups with ``-``). Names are
  never matched by similarity, and a Kobo *labels* export cannot be mapped (labels change with
  the form language): export "XML values and headers".
- Values are stripped of surrounding spaces; empty text is missing.
- A value map is **complete** for ``str`` and ``codes`` fields (a value it does not list is an
  ``unmapped_value`` error) and **partial** for ``int``, ``float``, ``bool`` and ``date``
  fields (it overrides sentinels such as ``"999" = ""`` or ``"111" = "10"``; other values are
  parsed). A problem repeated on more than 20 rows with the same value is reported once with
  its count and first rows.
- Parsing by field type, failures reported (``bad_type``, or ``bad_number`` for a decimal
  comma such as ``1,5``) and set missing: ``int`` (whole numbers, ``3.0`` accepted), ``float``,
  ``bool`` (yes/no, oui/non, ndiyo/ndio/hapana, true/false, y/n, 1/0, case-insensitive),
  ``date`` (ISO ``2021-06-01`` or a timestamp such as Kobo's
  ``2021-06-01T10:22:33.000+03:00``: the date as written, no time-zone shift), ``codes``
  (space-separated, each mapped, duplicates dropped). ``NA``, ``N/A``, ``null``, ``none``,
  ``nan`` in a number, boolean or date field are read as missing with a warning (``na_token``).
- Output types: ``str``/``codes`` → pandas ``str``, ``int`` → ``Int64``, ``float`` →
  ``float64``, ``bool`` → ``boolean``, ``date`` → ``datetime64[ns]`` (midnight).
- Every field of the layer is present in the output (missing when unmapped), followed by
  ``source_row``, ``_parent_row`` (repeats), ``attributes``, and ``geometry`` (EPSG:4326) when
  the mapping declares one or the input is a GeoDataFrame.

Everything is column-wise: values are factorised, each *distinct* value is mapped and parsed
once, and only the rows with a problem are visited. A million rows map in seconds.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from profiling.errors import MissingCRS, ProfilingError
from profiling.ingest.geotext import parse_geopoint, parse_geoshape, parse_geotrace
from profiling.ingest.kobo import PARENT_ROW, SOURCE_ROW, _cell_text, report_rows
from profiling.report import ERROR, INFO, WARNING, Report
from profiling.schema import LAYERS, Field, LayerSchema

__all__ = [
    "BOOL_FALSE",
    "BOOL_TRUE",
    "SOURCES",
    "FormMapping",
    "GeometrySpec",
    "LayerMapping",
    "MappedLayer",
    "Transform",
    "apply_mapping",
    "apply_mapping_to_vector",
    "bundled_mappings",
    "load_mapping",
]

SOURCES = frozenset({"kobo", "odk", "vector", "table"})
"""Kinds of source a mapping is written for."""

BOOL_TRUE = frozenset({"yes", "y", "oui", "o", "ndiyo", "ndio", "true", "t", "1", "1.0", "vrai"})
"""Texts read as true (lower-cased): English, French, Swahili, 1."""
BOOL_FALSE = frozenset({"no", "n", "non", "hapana", "false", "f", "0", "0.0", "faux"})
"""Texts read as false (lower-cased)."""

NA_TOKENS = frozenset({"na", "n/a", "nan", "null", "none", "#n/a"})
"""Texts read as missing (with a warning) in number, boolean and date fields."""

ATTRIBUTES = "attributes"
WGS84 = "EPSG:4326"

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_DECIMAL_COMMA_RE = re.compile(
    r"^[+-]?(\d+,\d+|\d{1,3}(\.\d{3})+(,\d+)?|\d{1,3}(,\d{3})+(\.\d+)?)$"
)
_MAX_CHOICE_BITS = 60

# Sections a table mapping has, in the main [form] file and in each [repeats.<name>].
_LAYER_KEYS = frozenset(
    {"geometry", "columns", "values", "multiple", "constants", "templates", "skip", "transform"}
)
_TOP_KEYS = _LAYER_KEYS | {"form", "repeats"}
_FORM_KEYS = frozenset({"id", "layer", "title", "source", "drop", "description"})
_REPEAT_KEYS = _LAYER_KEYS | {"sheet", "layer", "drop", "inherit"}
_TEMPLATE_RE = re.compile(r"\{([^{}]+)\}")
_GEOMETRY_KEYS = frozenset(
    {"latitude", "longitude", "precision", "geopoint", "geoshape", "geotrace", "accuracy_field"}
)
_GEOMETRY_TYPES = {
    "latlon": "Point",
    "geopoint": "Point",
    "geoshape": "Polygon",
    "geotrace": "LineString",
}


# -- The mapping objects ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transform:
    """``value * scale + offset``, applied to a float field after parsing."""

    scale: float = 1.0
    offset: float = 0.0


@dataclass(frozen=True, slots=True)
class GeometrySpec:
    """Where a layer's geometry comes from.

    Attributes
    ----------
    kind : {"latlon", "geopoint", "geoshape", "geotrace"}
        Two numeric columns, or one ODK/Kobo geometry text column.
    latitude, longitude : str or None
        Columns of a ``latlon`` geometry.
    column : str or None
        The text column of a ``geopoint`` / ``geoshape`` / ``geotrace``.
    precision : str or None
        Column with the GPS accuracy (m) of a ``latlon`` point.
    accuracy_field : str or None
        Canonical field that receives the accuracy (``gps_accuracy_m`` by default, when the
        layer has it).
    """

    kind: Literal["latlon", "geopoint", "geoshape", "geotrace"]
    latitude: str | None = None
    longitude: str | None = None
    column: str | None = None
    precision: str | None = None
    accuracy_field: str | None = "gps_accuracy_m"

    @property
    def source_columns(self) -> tuple[str, ...]:
        """Source columns the geometry reads."""
        names = (self.latitude, self.longitude, self.column, self.precision)
        return tuple(n for n in names if n)

    @property
    def geometry_type(self) -> str:
        """``Point``, ``Polygon`` or ``LineString``."""
        return _GEOMETRY_TYPES[self.kind]


@dataclass(frozen=True)
class LayerMapping:
    """How one source table (main sheet or one repeat) maps onto one canonical layer.

    Attributes
    ----------
    name : str
        ``"form"`` for the main table, else the repeat's key in the file.
    layer : str
        Canonical layer.
    sheet : str or None
        Sheet / repeat name the table is read from (repeats only).
    columns : tuple of (source, field)
        In declared order (the order in which several sources of one field are tried).
    values : mapping of field to mapping of source value to canonical value or None
        ``None`` marks a known "missing" answer.
    multiple : mapping of field to source question
        ``codes`` fields built from a select_multiple question.
    constants : mapping of field to text
        Values given to every row.
    templates : mapping of field to template
        ``str`` fields built from ``{column}`` / ``{source_row}`` placeholders.
    skip : mapping of source column to values
        Rows whose value in that column is listed are left out (and counted in the report).
    transform : mapping of field to Transform
    geometry : GeometrySpec or None
    drop : tuple of str
        Source columns dropped on purpose (not kept in ``attributes``).
    inherit : tuple of str
        Fields copied from the parent submission's mapped row (repeats only).
    """

    name: str
    layer: str
    sheet: str | None = None
    columns: tuple[tuple[str, str], ...] = ()
    values: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)
    multiple: Mapping[str, str] = field(default_factory=dict)
    constants: Mapping[str, str] = field(default_factory=dict)
    templates: Mapping[str, str] = field(default_factory=dict)
    skip: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    transform: Mapping[str, Transform] = field(default_factory=dict)
    geometry: GeometrySpec | None = None
    drop: tuple[str, ...] = ()
    inherit: tuple[str, ...] = ()

    @property
    def source_columns(self) -> tuple[str, ...]:
        """Every source column the mapping reads (columns, questions, geometry), unique."""
        names = [s for s, _ in self.columns] + list(self.multiple.values())
        names += [n for t in self.templates.values() for n in _TEMPLATE_RE.findall(t)]
        names = [n for n in names if n != SOURCE_ROW]
        if self.geometry is not None:
            names += list(self.geometry.source_columns)
        return tuple(dict.fromkeys(names))

    @property
    def fields(self) -> tuple[str, ...]:
        """Canonical fields the mapping fills."""
        names = [f for _, f in self.columns] + list(self.multiple) + list(self.constants)
        names += list(self.templates)
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class FormMapping:
    """A declared mapping of one form (or file kind): the main table and its repeats.

    Attributes
    ----------
    id : str
        Stable id stored with each upload.
    title : str
    source : {"kobo", "odk", "vector", "table"}
    main : LayerMapping
    repeats : mapping of str to LayerMapping
    origin : str
        Where it was read from (file path or ``"<text>"``), for messages.
    """

    id: str
    title: str
    source: str
    main: LayerMapping
    repeats: Mapping[str, LayerMapping] = field(default_factory=dict)
    origin: str = "<text>"

    @property
    def layer(self) -> str:
        """Canonical layer of the main table."""
        return self.main.layer

    @property
    def source_columns(self) -> tuple[str, ...]:
        """Source columns of the main table the mapping reads."""
        return self.main.source_columns

    @classmethod
    def identity(cls, layer: str, columns: Sequence[str]) -> FormMapping:
        """A mapping for columns that already carry canonical names of ``layer``.

        Parameters
        ----------
        layer : str
            Canonical layer.
        columns : sequence of str
            The source columns; those named like a field of the layer map onto it, the others
            go to ``attributes``.
        """
        schema = LAYERS[layer]
        names = set(schema.names)
        mapped = tuple((c, c) for c in columns if c in names)
        main = LayerMapping(name="form", layer=layer, columns=mapped)
        return cls(
            id=f"identity_{layer}", title=f"Canonical {layer} columns", source="table", main=main
        )


@dataclass
class MappedLayer:
    """The result of :func:`apply_mapping`.

    Attributes
    ----------
    frame : pandas.DataFrame or geopandas.GeoDataFrame
        The main canonical layer.
    frames : dict of str to DataFrame
        Every canonical layer produced (the main one first, then one per mapped repeat).
    report : Report
        Problems found while mapping.
    layer : str
        Name of the main canonical layer.
    """

    frame: pd.DataFrame
    frames: dict[str, pd.DataFrame]
    report: Report
    layer: str


# -- Loading and checking a mapping file ------------------------------------------------------


class _Locator:
    """Finds the line of a section / key / value in the mapping text, for error messages."""

    def __init__(self, text: str, origin: str, yaml_syntax: bool) -> None:
        self.lines = text.splitlines()
        self.origin = origin
        self.yaml = yaml_syntax

    @staticmethod
    def _norm_path(header: str) -> tuple[str, ...]:
        parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([^.\s]+)', header)
        return tuple(next(p for p in m if p) if any(m) else "" for m in parts)

    def _section_start(self, section: Sequence[str]) -> tuple[int, int]:
        """(first line index, end index) of a section; (0, len) when not found."""
        n = len(self.lines)
        if not section:
            return 0, n
        if not self.yaml:
            for i, text in enumerate(self.lines):
                m = re.match(r"^\s*\[([^\[\]]+)\]\s*(#.*)?$", text)
                if m and self._norm_path(m.group(1)) == tuple(section):
                    end = next(
                        (j for j in range(i + 1, n) if re.match(r"^\s*\[", self.lines[j])), n
                    )
                    return i, end
            # inline / dotted: fall back to the key of the last component in its parent
            if len(section) > 1:
                start, end = self._section_start(section[:-1])
                found = self._find_key(section[-1], start, end)
                if found is not None:
                    return found, end
            return 0, n
        start = 0
        for comp in section:
            at = self._find_key(comp, start, n)
            if at is None:
                return 0, n
            start = at
        return start, n

    def _find_key(self, key: str, start: int, end: int) -> int | None:
        pattern = re.compile(
            r"^\s*(-\s*)?("
            + re.escape(key)
            + r'|"'
            + re.escape(key)
            + r'"|\''
            + re.escape(key)
            + r"')\s*[=:]"
        )
        header = re.compile(r"^\s*\[+\s*[\"']?" + re.escape(key) + r"[\"']?\s*[.\]]")
        for i in range(start, end):
            if pattern.match(self.lines[i]) or (start == 0 and header.match(self.lines[i])):
                return i
        return None

    def line(
        self, section: Sequence[str], key: str | None = None, value: str | None = None
    ) -> int | None:
        """1-based line of ``key`` (or of ``value``) inside ``section``, else of the section."""
        start, end = self._section_start(section)
        if key is not None:
            found = self._find_key(key, start, end)
            if found is not None:
                return found + 1
        if value is not None:
            for i in range(start, end):
                if (
                    f'"{value}"' in self.lines[i]
                    or f"'{value}'" in self.lines[i]
                    or (
                        self.yaml
                        and re.search(r"[:\-]\s*" + re.escape(value) + r"\s*$", self.lines[i])
                    )
                ):
                    return i + 1
        if section and start < len(self.lines):
            return start + 1
        return None

    def error(
        self,
        message: str,
        section: Sequence[str] = (),
        key: str | None = None,
        value: str | None = None,
    ) -> ProfilingError:
        """A ProfilingError naming the file, the line and the section."""
        line = self.line(section, key, value)
        where = self.origin + (f", line {line}" if line else "")
        table = f" [{'.'.join(section)}]" if section else ""
        return ProfilingError(f"mapping {where}{table}: {message}")


def _suggest(name: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


def _text_key(key: object, loc: _Locator, section: Sequence[str]) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        raise loc.error(
            f"the key {key!r} was read as a boolean: quote value-map keys in YAML "
            "('yes': ..., 'no': ...)",
            section,
        )
    if isinstance(key, int | float):
        return _cell_text(key) or ""
    raise loc.error(f"key {key!r} must be text", section)


def _target_text(value: object, loc: _Locator, section: Sequence[str], key: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return _cell_text(value)
    raise loc.error(
        f"{key!r} must map to text, a number or a boolean, not {value!r}", section, key=key
    )


def _table(data: object, loc: _Locator, section: Sequence[str]) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise loc.error("must be a table of key = value pairs", section)
    return data


def _check_keys(
    data: Mapping[str, Any], allowed: frozenset[str], loc: _Locator, section: Sequence[str]
) -> None:
    for key in data:
        if key not in allowed:
            raise loc.error(
                f"unknown key {key!r}{_suggest(str(key), sorted(allowed))}; "
                f"expected one of {', '.join(sorted(allowed))}",
                section,
                key=str(key),
            )


def _field(
    schema: LayerSchema,
    name: str,
    loc: _Locator,
    section: Sequence[str],
    key: str | None = None,
    value: str | None = None,
) -> Field:
    try:
        return schema.field(name)
    except KeyError:
        raise loc.error(
            f"{name!r} is not a field of layer {schema.name!r}{_suggest(name, schema.names)}",
            section,
            key=key,
            value=value,
        ) from None


def _parse_geometry(
    data: Mapping[str, Any], schema: LayerSchema, loc: _Locator, section: tuple[str, ...]
) -> GeometrySpec:
    _check_keys(data, _GEOMETRY_KEYS, loc, section)
    for key, value in data.items():
        if not isinstance(value, str) or not value:
            raise loc.error(f"{key!r} must name a column (text)", section, key=key)
    kinds = [k for k in ("geopoint", "geoshape", "geotrace") if k in data]
    latlon = "latitude" in data or "longitude" in data
    if len(kinds) + bool(latlon) != 1:
        raise loc.error(
            "declare exactly one of latitude + longitude, geopoint, geoshape or geotrace",
            section,
        )
    accuracy = data.get("accuracy_field", "gps_accuracy_m")
    if "accuracy_field" in data:
        _field(schema, accuracy, loc, section, key="accuracy_field")
    elif accuracy not in schema.names:
        accuracy = None
    if latlon:
        if not ("latitude" in data and "longitude" in data):
            raise loc.error("latitude and longitude go together", section)
        spec = GeometrySpec(
            "latlon",
            latitude=data["latitude"],
            longitude=data["longitude"],
            precision=data.get("precision"),
            accuracy_field=accuracy,
        )
    else:
        if "precision" in data:
            raise loc.error(
                "precision goes with latitude + longitude (a geopoint carries its own accuracy)",
                section,
                key="precision",
            )
        kind = kinds[0]
        spec = GeometrySpec(kind, column=data[kind], accuracy_field=accuracy)  # type: ignore[arg-type]
    if schema.geometry is None:
        raise loc.error(f"layer {schema.name!r} has no geometry", section)
    if schema.geometry not in ("Any", spec.geometry_type):
        raise loc.error(
            f"a {spec.kind} gives {spec.geometry_type} geometries but layer {schema.name!r} "
            f"holds {schema.geometry}",
            section,
        )
    return spec


def _parse_layer(
    name: str,
    data: Mapping[str, Any],
    schema: LayerSchema,
    loc: _Locator,
    prefix: tuple[str, ...],
    *,
    sheet: str | None = None,
    drop: Sequence[str] = (),
    inherit: Sequence[str] = (),
) -> LayerMapping:
    columns: list[tuple[str, str]] = []
    sec = (*prefix, "columns")
    for source, target in _table(data.get("columns"), loc, sec).items():
        targets = target if isinstance(target, list) else [target]
        if not targets or not all(isinstance(t, str) and t for t in targets):
            raise loc.error(
                f"{source!r} must map to a field name or a list of them", sec, key=source
            )
        for t in targets:
            _field(schema, t, loc, sec, key=source)
            columns.append((str(source), t))
    mapped = {f for _, f in columns}

    multiple: dict[str, str] = {}
    sec = (*prefix, "multiple")
    for target, question in _table(data.get("multiple"), loc, sec).items():
        f = _field(schema, target, loc, sec, key=target)
        if f.dtype != "codes":
            raise loc.error(
                f"{target!r} is a {f.dtype} field; [multiple] fills 'codes' fields", sec, key=target
            )
        if target in mapped:
            raise loc.error(f"{target!r} is filled by [columns] too", sec, key=target)
        if not isinstance(question, str) or not question:
            raise loc.error(f"{target!r} must name a select_multiple question", sec, key=target)
        multiple[target] = question
    mapped |= set(multiple)

    constants: dict[str, str] = {}
    sec = (*prefix, "constants")
    for target, value in _table(data.get("constants"), loc, sec).items():
        f = _field(schema, target, loc, sec, key=target)
        if target in mapped:
            raise loc.error(f"{target!r} is filled by [columns] too", sec, key=target)
        text = _target_text(value, loc, sec, target)
        if text is None:
            raise loc.error(f"constant {target!r} is empty", sec, key=target)
        _check_target(f, text, loc, sec, target)
        constants[target] = text

    templates: dict[str, str] = {}
    sec = (*prefix, "templates")
    for target, value in _table(data.get("templates"), loc, sec).items():
        f = _field(schema, target, loc, sec, key=target)
        if f.dtype != "str" or f.codes is not None:
            raise loc.error(
                f"{target!r} is not a free-text field; templates fill those", sec, key=target
            )
        if target in mapped or target in constants:
            raise loc.error(
                f"{target!r} is filled by [columns] or [constants] too", sec, key=target
            )
        if not isinstance(value, str) or not _TEMPLATE_RE.search(value):
            raise loc.error(
                f"template of {target!r} needs at least one {{column}}", sec, key=target
            )
        templates[target] = value
    mapped |= set(templates)

    skip: dict[str, tuple[str, ...]] = {}
    sec = (*prefix, "skip")
    for source, listed in _table(data.get("skip"), loc, sec).items():
        skip[str(source)] = tuple(v.strip() for v in _str_list(listed, loc, sec, str(source)))

    values: dict[str, Mapping[str, str | None]] = {}
    sec = (*prefix, "values")
    for target, table in _table(data.get("values"), loc, sec).items():
        sub = (*sec, target)
        f = _field(schema, target, loc, sec, key=target)
        if target not in mapped or target in constants:
            raise loc.error(f"values are declared for {target!r}, which no column fills", sub)
        vmap: dict[str, str | None] = {}
        for key, value in _table(table, loc, sub).items():
            k = _text_key(key, loc, sub).strip()
            text = _target_text(value, loc, sub, str(key))
            if text is not None:
                _check_target(f, text, loc, sub, str(key))
            vmap[k] = text
        values[target] = MappingProxyType(vmap)

    transform: dict[str, Transform] = {}
    sec = (*prefix, "transform")
    for target, raw_spec in _table(data.get("transform"), loc, sec).items():
        f = _field(schema, target, loc, sec, key=target)
        if f.dtype != "float":
            raise loc.error(
                f"{target!r} is a {f.dtype} field; transforms apply to float fields",
                sec,
                key=target,
            )
        spec = _table(raw_spec, loc, (*sec, target))
        _check_keys(spec, frozenset({"scale", "offset"}), loc, (*sec, target))
        for k, v in spec.items():
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise loc.error(f"{k} of {target!r} must be a number", sec, key=target)
        transform[target] = Transform(float(spec.get("scale", 1.0)), float(spec.get("offset", 0.0)))

    geometry = None
    if data.get("geometry") is not None:
        sec = (*prefix, "geometry")
        geometry = _parse_geometry(_table(data["geometry"], loc, sec), schema, loc, sec)
        if geometry.accuracy_field in mapped:
            geometry = GeometrySpec(
                geometry.kind,
                geometry.latitude,
                geometry.longitude,
                geometry.column,
                geometry.precision,
                None,
            )

    drops = tuple(drop)
    clash = set(drops) & {s for s, _ in columns}
    if clash:
        raise loc.error(f"{sorted(clash)} both dropped and mapped", prefix, key="drop")
    return LayerMapping(
        name=name,
        layer=schema.name,
        sheet=sheet,
        columns=tuple(columns),
        values=MappingProxyType(values),
        multiple=MappingProxyType(multiple),
        constants=MappingProxyType(constants),
        templates=MappingProxyType(templates),
        skip=MappingProxyType(skip),
        transform=MappingProxyType(transform),
        geometry=geometry,
        drop=drops,
        inherit=tuple(inherit),
    )


def _check_target(f: Field, text: str, loc: _Locator, section: Sequence[str], key: str) -> None:
    """A canonical value declared in the file must be valid for its field."""
    if f.dtype in {"str", "codes"}:
        tokens = text.split() if f.dtype == "codes" else [text]
        for token in tokens:
            if f.codes is not None and token not in f.codes:
                raise loc.error(
                    f"{key!r} maps to {token!r}, not a code of {f.name!r}"
                    f"{_suggest(token, sorted(f.codes))}; codes: {', '.join(sorted(f.codes))}",
                    section,
                    key=key,
                )
        return
    _, bad, _ = _parse_uniques([text], f.dtype)
    if bad[0]:
        raise loc.error(
            f"{key!r} maps to {text!r}, which is not a valid {f.dtype}", section, key=key
        )


def _str_list(value: object, loc: _Locator, section: Sequence[str], key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise loc.error(f"{key!r} must be a list of names", section, key=key)
    return list(value)


def _parse_mapping(data: object, loc: _Locator, layers: Mapping[str, LayerSchema]) -> FormMapping:
    if not isinstance(data, dict):
        raise loc.error("the mapping must be a table of sections ([form], [columns]...)")
    _check_keys(data, _TOP_KEYS, loc, ())
    form = _table(data.get("form"), loc, ("form",))
    if not form:
        raise loc.error("a [form] section with id and layer is required")
    _check_keys(form, _FORM_KEYS, loc, ("form",))
    form_id = form.get("id")
    if not isinstance(form_id, str) or not _ID_RE.match(form_id):
        raise loc.error("id must be 1-100 letters, digits, '_', '.', '-'", ("form",), key="id")
    layer = form.get("layer")
    if not isinstance(layer, str) or layer not in layers:
        raise loc.error(
            f"unknown layer {layer!r}{_suggest(str(layer), list(layers))}; "
            f"known layers: {', '.join(layers)}",
            ("form",),
            key="layer",
        )
    source = form.get("source", "kobo")
    if source not in SOURCES:
        raise loc.error(
            f"source must be one of {', '.join(sorted(SOURCES))}", ("form",), key="source"
        )
    title = form.get("title", form_id)
    if not isinstance(title, str):
        raise loc.error("title must be text", ("form",), key="title")
    main = _parse_layer(
        "form",
        data,
        layers[layer],
        loc,
        (),
        drop=_str_list(form.get("drop"), loc, ("form",), "drop"),
    )
    repeats: dict[str, LayerMapping] = {}
    for rname, raw_rdata in _table(data.get("repeats"), loc, ("repeats",)).items():
        sec = ("repeats", rname)
        rdata = _table(raw_rdata, loc, sec)
        _check_keys(rdata, _REPEAT_KEYS, loc, sec)
        rlayer = rdata.get("layer")
        if not isinstance(rlayer, str) or rlayer not in layers:
            raise loc.error(
                f"unknown layer {rlayer!r}{_suggest(str(rlayer), list(layers))}; "
                f"known layers: {', '.join(layers)}",
                sec,
                key="layer",
            )
        if rlayer == layer or any(r.layer == rlayer for r in repeats.values()):
            raise loc.error(
                f"layer {rlayer!r} is already filled by another table", sec, key="layer"
            )
        child = layers[rlayer]
        parent = layers[layer]
        if "inherit" in rdata:
            inherit = _str_list(rdata["inherit"], loc, sec, "inherit")
        else:
            inherit = [
                f for f in (parent.key, "settlement_id") if f in child.names and f in parent.names
            ]
        for f in inherit:
            _field(child, f, loc, sec, key="inherit", value=f)
            _field(parent, f, loc, sec, key="inherit", value=f)
        sheet = rdata.get("sheet", rname)
        if not isinstance(sheet, str) or not sheet:
            raise loc.error("sheet must name a sheet or repeat", sec, key="sheet")
        repeats[rname] = _parse_layer(
            rname,
            rdata,
            child,
            loc,
            sec,
            sheet=sheet,
            drop=_str_list(rdata.get("drop"), loc, sec, "drop"),
            inherit=inherit,
        )
    return FormMapping(
        id=form_id,
        title=title,
        source=source,
        main=main,
        repeats=MappingProxyType(repeats),
        origin=loc.origin,
    )


def load_mapping(
    source: Path | str,
    *,
    layers: Mapping[str, LayerSchema] | None = None,
    syntax: Literal["toml", "yaml"] | None = None,
) -> FormMapping:
    """Read and check a mapping file (TOML, or YAML for ``.yml`` / ``.yaml``).

    Parameters
    ----------
    source : Path or str
        A path to the file, or the mapping text itself (any ``str`` holding a newline).
    layers : mapping of str to LayerSchema, optional
        Canonical layers to check against (``profiling.schema.LAYERS`` by default).
    syntax : {"toml", "yaml"}, optional
        Forced syntax; by default from the file suffix, TOML for text.

    Returns
    -------
    FormMapping

    Raises
    ------
    ProfilingError
        Unreadable syntax, unknown section, layer, field or code, naming the line.

    Examples
    --------
    >>> m = load_mapping('''
    ... [form]
    ... id = "demo"
    ... layer = "households"
    ... [columns]
    ... "_uuid" = "household_id"
    ... ''')
    >>> m.layer, m.source_columns
    ('households', ('_uuid',))
    """
    layers = LAYERS if layers is None else layers
    if isinstance(source, Path) or "\n" not in source:
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise ProfilingError(f"cannot read mapping {path}: {exc.strerror}") from None
        origin = str(path)
        if syntax is None:
            syntax = "yaml" if path.suffix.lower() in {".yml", ".yaml"} else "toml"
    else:
        text, origin = source, "<text>"
        syntax = syntax or "toml"
    loc = _Locator(text, origin, syntax == "yaml")
    try:
        data = yaml.safe_load(text) if syntax == "yaml" else tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfilingError(f"mapping {origin}: invalid TOML: {exc}") from None
    except yaml.YAMLError as exc:
        raise ProfilingError(f"mapping {origin}: invalid YAML: {exc}") from None
    return _parse_mapping(data, loc, layers)


@functools.cache
def _bundled() -> tuple[FormMapping, ...]:
    folder = resources.files("profiling") / "mappings"
    out = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".toml", ".yml", ".yaml")):
            syntax: Literal["toml", "yaml"] = "toml" if entry.name.endswith(".toml") else "yaml"
            text = entry.read_text(encoding="utf-8")
            if "\n" not in text:
                text += "\n"
            mapping = load_mapping(text, syntax=syntax)
            out.append(dataclasses.replace(mapping, origin=f"profiling/mappings/{entry.name}"))
    return tuple(out)


def bundled_mappings() -> dict[str, FormMapping]:
    """The mappings shipped in ``profiling/mappings/*.toml``, by form id."""
    return {m.id: m for m in _bundled()}


# -- Parsing values ---------------------------------------------------------------------------
#
# Everything below works on whole columns as Arrow string arrays (trimmed, empty → null) with
# Arrow compute kernels; Python only sees distinct values of small code lists and the values of
# rows that have a problem.

_STR = pa.large_string()
_NUMBER_RE = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?$"
_TRUE_SET = pa.array(sorted(BOOL_TRUE), _STR)
_FALSE_SET = pa.array(sorted(BOOL_FALSE), _STR)
_NA_SET = pa.array(sorted(NA_TOKENS), _STR)


def _s(text: str) -> pa.Scalar:
    return pa.scalar(text, _STR)


def _scalar_text(value: object) -> str | None:
    """One cell of any type as text (``None`` when missing)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, np.generic):
        if isinstance(value, np.datetime64 | np.timedelta64) and np.isnat(value):
            return None
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return _cell_text(value)


def _arrow_text(series: pd.Series | Sequence[object]) -> pa.Array:
    """Values as one Arrow ``large_string`` array: stripped, empty text → null.

    Non-text values (numbers from a vector file or a spreadsheet) are written as
    :func:`~profiling.ingest.kobo` writes cells: ``2.0`` → ``"2"``.
    """
    if isinstance(series, pd.Series) and isinstance(series.dtype, pd.StringDtype):
        arr = pa.array(series.array)
    else:
        values = series.to_numpy(dtype=object) if isinstance(series, pd.Series) else series
        arr = pa.array([_scalar_text(v) for v in values], _STR)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != _STR:
        arr = arr.cast(_STR)
    trimmed = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, _STR), trimmed)


def _np(mask: pa.Array) -> np.ndarray:
    """A boolean Arrow array as numpy, null → False."""
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


@dataclass
class _Parsed:
    """Text parsed as one field type."""

    values: pa.Array  # typed, null where missing or bad
    bad: np.ndarray  # a value that could not be read
    comma: np.ndarray  # ... because of a decimal comma / thousands separator
    na_token: np.ndarray  # "NA", "null"... read as missing


def _parse(arr: pa.Array, dtype: str) -> _Parsed:
    """Parse stripped text (``_arrow_text``) as a field ``dtype``."""
    n = len(arr)
    none = np.zeros(n, dtype=bool)
    if dtype in {"str", "codes"}:
        return _Parsed(arr, none, none, none)
    present = _np(arr.is_valid())
    lower = pc.utf8_lower(arr)
    na_token = _np(pc.is_in(lower, value_set=_NA_SET))
    usable = present & ~na_token
    if dtype in {"int", "float"}:
        ok = _np(pc.match_substring_regex(arr, _NUMBER_RE))
        numbers = pc.cast(pc.if_else(pa.array(ok), arr, pa.scalar(None, _STR)), pa.float64())
        values = np.array(numbers.to_numpy(zero_copy_only=False), dtype=float)
        with np.errstate(invalid="ignore"):
            wrong = ~np.isfinite(values) & ok
            if dtype == "int":
                wrong |= np.isfinite(values) & (
                    (np.floor(values) != values) | (np.abs(values) > 2**53)
                )
        ok &= ~wrong
        values[~ok] = np.nan
        bad = usable & ~ok
        comma = bad & _np(pc.match_substring_regex(arr, _DECIMAL_COMMA_RE.pattern))
        return _Parsed(pa.array(values, from_pandas=True), bad, comma, na_token)
    if dtype == "bool":
        true = _np(pc.is_in(lower, value_set=_TRUE_SET))
        false = _np(pc.is_in(lower, value_set=_FALSE_SET))
        known = true | false
        return _Parsed(pa.array(true, mask=~known), usable & ~known, none, na_token)
    if dtype == "date":
        # The date part is parsed once per distinct day (timestamps share few days).
        prefix = pc.utf8_slice_codeunits(arr, 0, 10)
        after = pc.utf8_slice_codeunits(arr, 10, 11)
        tail_ok = _np(pc.is_in(after, value_set=pa.array(["", "T", " "], _STR)))
        encoded = pc.dictionary_encode(prefix)
        days = encoded.dictionary
        shaped = pc.match_substring_regex(days, r"^\d{4}-\d{2}-\d{2}$")
        stamps = pc.strptime(
            pc.if_else(shaped, days, pa.scalar(None, _STR)),
            format="%Y-%m-%d",
            unit="s",
            error_is_null=True,
        )
        # strptime rolls 2021-02-30 over to 2021-03-02: keep only days that read back equal
        same = pc.fill_null(pc.equal(pc.strftime(stamps, format="%Y-%m-%d"), days), False)
        stamps = pc.if_else(same, stamps, pa.scalar(None, stamps.type))
        values = pc.take(stamps, encoded.indices)
        values = pc.if_else(pa.array(tail_ok), values, pa.scalar(None, values.type))
        return _Parsed(values, usable & _np(values.is_null()), none, na_token)
    raise ValueError(f"unknown field type {dtype!r}")


def _parse_uniques(
    texts: Sequence[str | None], dtype: str
) -> tuple[list[object], np.ndarray, np.ndarray]:
    """Parse a few texts (mapping targets, constants): ``(values, bad, na_token)``."""
    parsed = _parse(_arrow_text(list(texts)), dtype)
    return parsed.values.to_pylist(), parsed.bad, parsed.na_token


def _to_pandas(values: pa.Array, dtype: str) -> pd.api.extensions.ExtensionArray:
    """Typed Arrow values → the pandas array stored for a field type."""
    if dtype in {"str", "codes"}:
        return pd.array(values, dtype="str")
    if dtype == "float":
        return pd.array(
            np.asarray(values.to_numpy(zero_copy_only=False), dtype=float), dtype="float64"
        )
    if dtype == "int":
        floats = np.asarray(values.to_numpy(zero_copy_only=False), dtype=float)
        mask = np.isnan(floats)
        return pd.arrays.IntegerArray(np.where(mask, 0, floats).astype(np.int64), mask)
    if dtype == "bool":
        mask = _np(values.is_null())
        data = _np(values)
        return pd.arrays.BooleanArray(data, mask)
    if dtype == "date":
        stamps = np.asarray(values.to_numpy(zero_copy_only=False), dtype="datetime64[s]")
        return pd.array(stamps.astype("datetime64[ns]"), dtype="datetime64[ns]")
    raise ValueError(f"unknown field type {dtype!r}")


def _empty(f: Field, n: int) -> pd.api.extensions.ExtensionArray:
    """An all-missing column of field ``f``'s type."""
    if f.dtype in {"str", "codes"}:
        return pd.array(pa.nulls(n, _STR), dtype="str")
    if f.dtype == "float":
        return pd.array(np.full(n, np.nan), dtype="float64")
    if f.dtype == "int":
        return pd.arrays.IntegerArray(np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool))
    if f.dtype == "bool":
        return pd.arrays.BooleanArray(np.zeros(n, dtype=bool), np.ones(n, dtype=bool))
    return pd.array(np.full(n, np.datetime64("NaT", "ns")), dtype="datetime64[ns]")


def _constant(f: Field, text: str, n: int) -> pd.api.extensions.ExtensionArray:
    """Field ``f`` set to ``text`` on every row."""
    parsed = _parse(_arrow_text([text]), f.dtype).values
    return _to_pandas(pc.take(parsed, pa.array(np.zeros(n, dtype=np.int64))), f.dtype)


def _rule_message(rule: str, f: Field) -> str:
    if rule == "bad_number":
        return (
            f"{{value!r}} is not a number for {f.name!r}: write decimals with a point and "
            "no thousands separator (1.5, 1500)"
        )
    if rule == "na_token":
        return f"{{value!r}} read as missing in {f.name!r}"
    expected = {
        "int": "a whole number",
        "float": "a number",
        "bool": "yes/no (oui/non, ndiyo/hapana, true/false, 1/0)",
        "date": "a date (YYYY-MM-DD)",
    }.get(f.dtype, f.dtype)
    return f"{{value!r}} is not {expected}; {f.name!r} left missing"


@dataclass
class _Ctx:
    report: Report
    layer: str
    rows: np.ndarray  # source_row per position


def _report_mask(
    ctx: _Ctx,
    mask: np.ndarray,
    text: pa.Array | None,
    *,
    column: str | None,
    rule: str,
    severity: str,
    message: str,
) -> None:
    """Report the rows in ``mask``, grouped by their text (only those rows are visited)."""
    if not mask.any():
        return
    values = text.filter(pa.array(mask)).to_pylist() if text is not None else None
    report_rows(
        ctx.report,
        layer=ctx.layer,
        column=column,
        rule=rule,
        severity=severity,
        rows=ctx.rows[mask],
        values=values,
        message=message,
    )


def _apply_value_map(
    ctx: _Ctx, arr: pa.Array, f: Field, vmap: Mapping[str, str | None], column: str
) -> pa.Array:
    """Map text through a value map; a complete map reports (and blanks) what it lacks."""
    keys = pa.array(list(vmap), _STR)
    targets = pa.array(list(vmap.values()), _STR)
    index = pc.index_in(arr, value_set=keys)
    matched = index.is_valid()
    mapped = pc.take(targets, index)
    if f.dtype in {"str", "codes"}:
        unmapped = _np(pc.and_(arr.is_valid(), pc.invert(matched)))
        _report_mask(
            ctx,
            unmapped,
            arr,
            column=column,
            rule="unmapped_value",
            severity=ERROR,
            message=f"{{value!r}} is not in the value map of {f.name!r}; left missing",
        )
        return mapped
    return pc.if_else(matched, mapped, arr)


def _map_choices(
    ctx: _Ctx, arr: pa.Array, f: Field, vmap: Mapping[str, str | None] | None, column: str
) -> pa.Array:
    """Space-separated choices: each mapped, duplicates dropped; unmapped choices reported."""
    encoded = pc.dictionary_encode(arr)
    distinct = encoded.dictionary.to_pylist()
    indices = encoded.indices
    out: list[str | None] = []
    bad: dict[str, list[int]] = {}
    for i, text in enumerate(distinct):
        tokens: list[str] = []
        for token in text.split():
            if vmap is None:
                tokens.append(token)
            elif token in vmap:
                tokens.extend((vmap[token] or "").split())
            else:
                bad.setdefault(token, []).append(i)
        out.append(" ".join(dict.fromkeys(tokens)) or None)
    codes = np.asarray(pc.fill_null(indices, -1).to_numpy(zero_copy_only=False))
    for token, which in bad.items():
        flagged = np.zeros(len(distinct) + 1, dtype=bool)
        flagged[which] = True
        mask = flagged[codes]
        _report_mask(
            ctx,
            mask,
            pa.array([token] * len(mask), _STR) if mask.any() else None,  # aligned to rows
            column=column,
            rule="unmapped_value",
            severity=ERROR,
            message=f"choice {{value!r}} is not in the value map of {f.name!r}; dropped",
        )
    return pc.take(pa.array(out, _STR), indices)


def _convert(
    ctx: _Ctx, series: pd.Series, f: Field, vmap: Mapping[str, str | None] | None, column: str
) -> pd.api.extensions.ExtensionArray:
    """One source column → typed values of field ``f`` (problems reported)."""
    arr = _arrow_text(series)
    if f.dtype == "codes":
        return _to_pandas(_map_choices(ctx, arr, f, vmap, column), "codes")
    if vmap is not None:
        arr = _apply_value_map(ctx, arr, f, vmap, column)
    parsed = _parse(arr, f.dtype)
    for rule, severity, mask in (
        ("bad_number", ERROR, parsed.comma),
        ("bad_type", ERROR, parsed.bad & ~parsed.comma),
        ("na_token", WARNING, parsed.na_token),
    ):
        _report_mask(
            ctx,
            mask,
            arr,
            column=column,
            rule=rule,
            severity=severity,
            message=_rule_message(rule, f),
        )
    return _to_pandas(parsed.values, f.dtype)


# -- select_multiple --------------------------------------------------------------------------


_ONE = pa.array(["1", "1.0", "true", "yes"], _STR)
_ZERO = pa.array(["0", "0.0", "false", "no"], _STR)


def _choice_columns(
    question: str, columns: Sequence[str], group_separator: str
) -> list[tuple[str, str]]:
    """``(column, choice)`` of the 0/1 columns of a select_multiple question."""
    stems = {question, question.replace("/", group_separator)}
    prefixes = {s + "/" for s in stems} | {s + group_separator for s in stems}
    out = []
    for col in columns:
        for p in prefixes:
            if col.startswith(p) and len(col) > len(p) and "/" not in col[len(p) :]:
                out.append((col, col[len(p) :]))
                break
    return out


def _multiple_from_choices(
    ctx: _Ctx,
    raw: pd.DataFrame,
    choices: list[tuple[str, str]],
    f: Field,
    vmap: Mapping[str, str | None] | None,
) -> pd.api.extensions.ExtensionArray:
    """Build ``"a b"`` codes from ``question/choice`` 0/1 columns via bit masks per row."""
    n = len(raw)
    answered = np.zeros(n, dtype=bool)
    parts: list[pa.Array] = []
    for start in range(0, len(choices), _MAX_CHOICE_BITS):
        chunk = choices[start : start + _MAX_CHOICE_BITS]
        key = np.zeros(n, dtype=np.int64)
        tokens: list[str] = []
        for bit, (col, choice) in enumerate(chunk):
            arr = _arrow_text(raw[col])
            lower = pc.utf8_lower(arr)
            one = _np(pc.is_in(lower, value_set=_ONE))
            zero = _np(pc.is_in(lower, value_set=_ZERO))
            present = _np(arr.is_valid())
            _report_mask(
                ctx,
                present & ~one & ~zero,
                arr,
                column=col,
                rule="bad_type",
                severity=ERROR,
                message="{value!r} is not 1 or 0 in a select_multiple choice column",
            )
            answered |= present
            mapped: str | None = choice
            if vmap is not None:
                if choice in vmap:
                    mapped = vmap[choice]
                else:
                    mapped = None
                    _report_mask(
                        ctx,
                        one,
                        None,
                        column=col,
                        rule="unmapped_value",
                        severity=ERROR,
                        message=f"choice {choice!r} is not in the value map of {f.name!r}; dropped",
                    )
            tokens.append(mapped or "")
            key |= one.astype(np.int64) << bit
        codes, uniques = pd.factorize(key)
        strings = [
            " ".join(tokens[b] for b in range(len(chunk)) if (int(k) >> b) & 1 and tokens[b])
            for k in uniques
        ]
        parts.append(pc.take(pa.array(strings, _STR), pa.array(codes)))
    joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, _s(" "))
    encoded = pc.dictionary_encode(joined)
    cleaned = [" ".join(dict.fromkeys(t.split())) or None for t in encoded.dictionary.to_pylist()]
    values = pc.take(pa.array(cleaned, _STR), encoded.indices)
    values = pc.if_else(pa.array(answered), values, pa.scalar(None, _STR))
    return _to_pandas(values, "codes")


# -- Geometry ---------------------------------------------------------------------------------


def _geometry(
    ctx: _Ctx, raw: pd.DataFrame, spec: GeometrySpec, resolve: Any
) -> tuple[gpd.GeoSeries, np.ndarray | None]:
    """The geometry column and, when known, the GPS accuracy per row."""
    n = len(raw)
    accuracy: np.ndarray | None = None
    if spec.kind == "latlon":
        lat_col, lon_col = resolve(spec.latitude), resolve(spec.longitude)
        lat_f = Field(spec.latitude or "latitude", "float", "")
        lon_f = Field(spec.longitude or "longitude", "float", "")
        lat = (
            np.asarray(_convert(ctx, raw[lat_col], lat_f, None, lat_col), dtype=float)
            if lat_col
            else np.full(n, np.nan)
        )
        lon = (
            np.asarray(_convert(ctx, raw[lon_col], lon_f, None, lon_col), dtype=float)
            if lon_col
            else np.full(n, np.nan)
        )
        with np.errstate(invalid="ignore"):
            out_of_range = (np.abs(lat) > 90) | (np.abs(lon) > 180)
        if out_of_range.any():
            swapped = out_of_range & (np.abs(lon) <= 90) & (np.abs(lat) <= 180)
            hint = " (latitude and longitude swapped?)" if swapped.any() else ""
            report_rows(
                ctx.report,
                layer=ctx.layer,
                column=lat_col,
                rule="bad_coordinate",
                severity=ERROR,
                rows=ctx.rows[out_of_range],
                values=None,
                message=f"latitude/longitude outside ±90°/±180°{hint}; no geometry",
            )
            lat[out_of_range] = np.nan
            lon[out_of_range] = np.nan
        prec_col = resolve(spec.precision) if spec.precision else None
        if prec_col:
            accuracy = np.asarray(
                _convert(ctx, raw[prec_col], Field(prec_col, "float", ""), None, prec_col),
                dtype=float,
            )
        geoms = _points(lon, lat)
    elif spec.kind == "geopoint":
        col = resolve(spec.column)
        text = raw[col] if col else pd.Series([None] * n, dtype="str")
        lon, lat, _, accuracy = parse_geopoint(text)
        bad = text.notna().to_numpy() & np.isnan(lat)
        blank = text.astype("str").str.strip().eq("").to_numpy()
        bad &= ~blank
        report_rows(
            ctx.report,
            layer=ctx.layer,
            column=col,
            rule="bad_coordinate",
            severity=ERROR,
            rows=ctx.rows[bad],
            values=text[bad].to_numpy(),
            message="{value!r} is not a geopoint 'lat lon alt acc' within ±90°/±180°; no geometry",
        )
        geoms = _points(lon, lat)
    else:
        col = resolve(spec.column)
        text = raw[col] if col else pd.Series([None] * n, dtype="str")
        parser = parse_geoshape if spec.kind == "geoshape" else parse_geotrace
        series = parser(text.reset_index(drop=True))
        bad = text.notna().to_numpy() & series.isna().to_numpy()
        bad &= ~text.astype("str").str.strip().eq("").to_numpy()
        minimum = "three" if spec.kind == "geoshape" else "two"
        report_rows(
            ctx.report,
            layer=ctx.layer,
            column=col,
            rule="bad_geometry",
            severity=ERROR,
            rows=ctx.rows[bad],
            values=None,
            message=f"not a {spec.kind} 'lat lon alt acc;...' with at least {minimum} "
            "valid vertices; no geometry",
        )
        return gpd.GeoSeries(series.to_numpy(), crs=WGS84), accuracy
    return geoms, accuracy


def _points(lon: np.ndarray, lat: np.ndarray) -> gpd.GeoSeries:
    ok = np.isfinite(lon) & np.isfinite(lat)
    geoms = np.full(len(lon), None, dtype=object)
    if ok.any():
        geoms[ok] = gpd.points_from_xy(lon[ok], lat[ok])
    return gpd.GeoSeries(geoms, crs=WGS84)


def _null_island(ctx: _Ctx, geoms: gpd.GeoSeries, column: str | None) -> gpd.GeoSeries:
    """Points at exactly (0, 0) are failed GPS fixes: reported and dropped."""
    present = ~(geoms.isna() | geoms.is_empty).to_numpy()
    if not present.any():
        return geoms
    is_point = (geoms.geom_type == "Point").to_numpy() & present
    zero = np.zeros(len(geoms), dtype=bool)
    if is_point.any():
        pts = geoms[is_point]
        zero[is_point] = ((pts.x == 0) & (pts.y == 0)).to_numpy()
    if zero.any():
        report_rows(
            ctx.report,
            layer=ctx.layer,
            column=column,
            rule="null_island",
            severity=WARNING,
            rows=ctx.rows[zero],
            values=None,
            message="the point is at latitude 0, longitude 0 (a failed GPS fix); no geometry",
        )
        geoms = geoms.copy()
        geoms[zero] = None
    return geoms


# -- attributes -------------------------------------------------------------------------------

_CONTROL_RE = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"


def _json_escaped(arr: pa.Array) -> pa.Array:
    """Text escaped for the inside of a JSON string literal; null stays null."""
    special = _np(pc.match_substring_regex(arr, r'["\\\x00-\x1f]'))
    if not special.any():
        return arr
    esc = arr
    for char, escaped in (
        ("\\", "\\\\"),
        ('"', '\\"'),
        ("\n", "\\n"),
        ("\r", "\\r"),
        ("\t", "\\t"),
    ):
        esc = pc.replace_substring(esc, char, escaped)
    rare = special & _np(pc.match_substring_regex(arr, _CONTROL_RE))
    if rare.any():  # other control characters: let json escape them (rare, row by row)
        fixed = esc.to_pylist()
        for i in np.flatnonzero(rare):
            fixed[i] = json.dumps(arr[int(i)].as_py(), ensure_ascii=False)[1:-1]
        esc = pa.array(fixed, _STR)
    return esc


def _attributes(raw: pd.DataFrame, columns: Sequence[str]) -> pd.api.extensions.ExtensionArray:
    """Per row, a JSON object of the non-missing values of ``columns`` (missing when none).

    Values are kept as the text read (not stripped): nothing the mapping did not use is lost.
    """
    n = len(raw)
    pieces: list[pa.Array] = []
    for col in columns:
        series = raw[col]
        if isinstance(series.dtype, pd.StringDtype):
            arr = pa.array(series.array)
            arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
            arr = arr.cast(_STR)
        else:
            arr = pa.array([_scalar_text(v) for v in series.to_numpy(dtype=object)], _STR)
        if arr.null_count == n:
            continue
        key = "," + json.dumps(str(col), ensure_ascii=False) + ':"'
        piece = pc.binary_join_element_wise(_s(key), _json_escaped(arr), _s('"'), _s(""))
        pieces.append(pc.fill_null(piece, _s("")))
    if not pieces:
        return pd.array(pa.nulls(n, _STR), dtype="str")
    # Every piece starts with "," and is "" where missing: join, then drop the first comma.
    # (Arrow's null_handling="skip" join is avoided: pyarrow 26 drops all-null rows.)
    body = pieces[0] if len(pieces) == 1 else pc.binary_join_element_wise(*pieces, _s(""))
    inner = pc.utf8_slice_codeunits(body, 1)
    text = pc.binary_join_element_wise(_s("{"), inner, _s("}"), _s(""))
    text = pc.if_else(pc.equal(body, ""), pa.scalar(None, _STR), text)
    return pd.array(text, dtype="str")


# -- Applying a mapping -----------------------------------------------------------------------


def _resolver(columns: Sequence[str], group_separator: str) -> Any:
    present = set(columns)

    def resolve(name: str | None) -> str | None:
        if not name:
            return None
        if name in present:
            return name
        if group_separator != "/":
            translated = name.replace("/", group_separator)
            if translated in present:
                return translated
        return None

    return resolve


def _map_table(
    raw: pd.DataFrame,
    lm: LayerMapping,
    schema: LayerSchema,
    *,
    source_layer: str,
    group_separator: str,
    report: Report,
    mapping_id: str,
) -> pd.DataFrame:
    raw = raw.reset_index(drop=True)
    if lm.skip:
        raw = _skip_rows(
            raw,
            lm,
            source_layer=source_layer,
            group_separator=group_separator,
            report=report,
            mapping_id=mapping_id,
        )
    n = len(raw)
    geo_name = raw.geometry.name if isinstance(raw, gpd.GeoDataFrame) else None
    if SOURCE_ROW in raw.columns:
        rows = raw[SOURCE_ROW].to_numpy(dtype=np.int64)
    else:
        rows = np.arange(1, n + 1, dtype=np.int64)
    internal = {SOURCE_ROW, PARENT_ROW, geo_name}
    columns = [c for c in raw.columns if c not in internal]
    resolve = _resolver(columns, group_separator)
    ctx = _Ctx(report, source_layer, rows)

    wanted = lm.source_columns
    found = {s: resolve(s) for s in wanted}
    # A select_multiple question may be present only as its question/choice 0/1 columns.
    split = {
        q
        for q in lm.multiple.values()
        if found[q] is None and _choice_columns(q, columns, group_separator)
    }
    if wanted and not any(found.values()) and not split:
        shown = ", ".join(repr(c) for c in wanted[:5])
        have = ", ".join(repr(c) for c in columns[:8])
        raise ProfilingError(
            f"none of the {len(wanted)} source columns of mapping {mapping_id!r} "
            f"({shown}{'...' if len(wanted) > 5 else ''}) is in {source_layer!r}, whose "
            f"columns are {have}{'...' if len(columns) > 8 else ''}. Columns are matched by "
            f"exact name (group paths joined with '/' or the export's {group_separator!r}); "
            "a Kobo 'labels' export cannot be mapped by name: export again with "
            "'XML values and headers'"
        )
    for source, col in found.items():
        if col is None and source not in split:
            report.add(
                source_layer,
                None,
                source,
                "missing_column",
                WARNING,
                f"mapping {mapping_id!r} reads column {source!r}, which this file "
                "does not have; its field(s) stay missing",
            )
    consumed: set[str] = {c for c in found.values() if c}

    out: dict[str, object] = {}
    by_field: dict[str, list[str]] = {}
    for source, target in lm.columns:
        by_field.setdefault(target, []).append(source)
    for target, sources in by_field.items():
        f = schema.field(target)
        result: pd.Series | None = None
        for source in sources:
            col = found[source]
            if col is None:
                continue
            values = pd.Series(_convert(ctx, raw[col], f, lm.values.get(target), col))
            result = values if result is None else result.fillna(values)
        if result is not None:
            out[target] = result.array

    for target, question in lm.multiple.items():
        f = schema.field(target)
        col = found[question]
        choices = _choice_columns(question, columns, group_separator)
        consumed |= {c for c, _ in choices}
        if col is not None:
            out[target] = _convert(ctx, raw[col], f, lm.values.get(target), col)
        elif choices:
            out[target] = _multiple_from_choices(ctx, raw, choices, f, lm.values.get(target))

    for target, text in lm.constants.items():
        out[target] = _constant(schema.field(target), text, n)

    for target, template in lm.templates.items():
        out[target] = _fill_template(template, raw, rows, resolve)

    for target, tr in lm.transform.items():
        if target in out:
            out[target] = pd.array(
                np.asarray(out[target], dtype=float) * tr.scale + tr.offset, dtype="float64"
            )

    geometry: gpd.GeoSeries | None = None
    if lm.geometry is not None:
        geometry, accuracy = _geometry(ctx, raw, lm.geometry, resolve)
        geometry = _null_island(ctx, geometry, found.get(lm.geometry.source_columns[0]))
        acc_field = lm.geometry.accuracy_field
        if accuracy is not None and acc_field and acc_field in schema.names:
            out[acc_field] = pd.array(accuracy, dtype="float64")
    elif geo_name is not None:
        geometry = _vector_geometry(raw)

    drops = {resolve(d) or d for d in lm.drop}
    for d in lm.drop:
        col = resolve(d)
        if col is not None:
            report.add(
                source_layer,
                None,
                col,
                "dropped_column",
                INFO,
                f"column {col!r} is dropped by mapping {mapping_id!r}",
            )
    leftover = [c for c in columns if c not in consumed and c not in drops]
    for col in leftover:
        report.add(
            source_layer,
            None,
            col,
            "unmapped_column",
            INFO,
            f"column {col!r} is not mapped by {mapping_id!r}; its values are kept in 'attributes'",
        )

    data: dict[str, object] = {
        f.name: out[f.name] if f.name in out else _empty(f, n) for f in schema.fields
    }
    data[SOURCE_ROW] = rows
    if PARENT_ROW in raw.columns:
        data[PARENT_ROW] = raw[PARENT_ROW].astype("Int64").array
    data[ATTRIBUTES] = _attributes(raw, leftover)
    frame = pd.DataFrame(data, index=pd.RangeIndex(n))
    if geometry is not None:
        return gpd.GeoDataFrame(frame, geometry=geometry.to_numpy(), crs=WGS84)
    return frame


def _skip_rows(
    raw: pd.DataFrame,
    lm: LayerMapping,
    *,
    source_layer: str,
    group_separator: str,
    report: Report,
    mapping_id: str,
) -> pd.DataFrame:
    """Leave out the rows the mapping's ``[skip]`` lists, one info line per (column, value)."""
    resolve = _resolver(list(raw.columns), group_separator)
    keep = np.ones(len(raw), dtype=bool)
    for source, listed in lm.skip.items():
        col = resolve(source)
        if col is None:
            continue
        text = raw[col].astype("string").str.strip()
        for value in listed:
            hit = (text == value).fillna(False).to_numpy(dtype=bool) & keep
            if hit.any():
                report.add(
                    source_layer,
                    None,
                    col,
                    "skipped_rows",
                    INFO,
                    f"{int(hit.sum()):,} row(s) with {col} = {value!r} left out by mapping "
                    f"{mapping_id!r} (the raw file keeps them)",
                )
            keep &= ~hit
    return raw.loc[keep].reset_index(drop=True)


def _fill_template(
    template: str, raw: pd.DataFrame, rows: np.ndarray, resolve: Any
) -> pd.api.extensions.ExtensionArray:
    """Build a text field from ``{column}`` and ``{source_row}`` placeholders, vectorised."""
    parts = _TEMPLATE_RE.split(template)
    result = pd.Series([""] * len(raw), dtype="string")
    for i, part in enumerate(parts):
        if i % 2 == 0:
            result = result + part
            continue
        if part == SOURCE_ROW:
            piece = pd.Series(rows.astype(str), dtype="string")
        else:
            col = resolve(part)
            if col is None:
                raise ProfilingError(f"template {template!r} names column {part!r}, not in file")
            piece = raw[col].astype("string").str.strip().fillna("")
            piece = piece.str.replace(r"\.0$", "", regex=True)
        result = result + piece.reset_index(drop=True)
    return result.astype(str).array


def _vector_geometry(raw: gpd.GeoDataFrame) -> gpd.GeoSeries:
    geoms = raw.geometry.reset_index(drop=True)
    if geoms.crs is None:
        if geoms.notna().any():
            raise MissingCRS(
                "the layer has no coordinate reference system; state it (e.g. EPSG:4326)"
            )
        return gpd.GeoSeries(geoms.to_numpy(), crs=WGS84)
    if not geoms.crs.equals(WGS84):
        geoms = geoms.to_crs(WGS84)
    return geoms


def _inherit(child: pd.DataFrame, parent: pd.DataFrame, fields: Sequence[str]) -> None:
    if PARENT_ROW not in child.columns or not fields:
        return
    index = pd.Index(parent[SOURCE_ROW].to_numpy())
    pos = index.get_indexer(child[PARENT_ROW].fillna(-1).astype(np.int64).to_numpy())
    found = pos >= 0
    for name in fields:
        source = parent[name]
        taken = source.take(np.where(found, pos, 0)).reset_index(drop=True)
        taken = taken.where(pd.Series(found))
        child[name] = child[name].fillna(taken.astype(child[name].dtype))


def _find_repeat(sheet: str, repeats: Mapping[str, pd.DataFrame]) -> str | None:
    if sheet in repeats:
        return sheet
    for name in repeats:
        if len(name) == 31 and sheet.startswith(name):
            return name
    low = sheet.lower()
    matches = [n for n in repeats if n.lower() == low]
    return matches[0] if len(matches) == 1 else None


def apply_mapping(
    raw: pd.DataFrame,
    mapping: FormMapping | LayerMapping,
    schema: LayerSchema | None = None,
    *,
    source_layer: str = "submissions",
    group_separator: str = "/",
    repeats: Mapping[str, pd.DataFrame] | None = None,
    layers: Mapping[str, LayerSchema] | None = None,
) -> MappedLayer:
    """Map a raw table (and its repeats) onto canonical layers.

    Parameters
    ----------
    raw : pandas.DataFrame or geopandas.GeoDataFrame
        Source rows, values as read (text from :mod:`~profiling.ingest.kobo` /
        :mod:`~profiling.ingest.odk`, any dtype from a vector file), optionally with
        ``source_row`` (1-based row numbers used in problems; positions + 1 otherwise).
    mapping : FormMapping or LayerMapping
        The declared mapping (:func:`load_mapping`).
    schema : LayerSchema, optional
        The canonical layer of the main table (looked up from the mapping by default).
    source_layer : str
        Name of the source table used in problems (``submissions``, a sheet, a file name).
    group_separator : str
        The export's group separator; a declared ``a/b`` also matches ``a<sep>b``.
    repeats : mapping of str to DataFrame, optional
        Repeat tables by sheet / repeat name (``FormExport.repeats``), each with
        ``_parent_row``; those named by the mapping's ``[repeats.*]`` are mapped too.
        ``None`` says the export format cannot hold repeats (a CSV), ``{}`` that it could
        but has none.
    layers : mapping of str to LayerSchema, optional
        Where repeat layers are looked up (``profiling.schema.LAYERS`` by default).

    Returns
    -------
    MappedLayer
        ``frame`` (the main layer), ``frames`` (every layer produced) and the ``report``.

    Raises
    ------
    ProfilingError
        None of the mapped columns is in the table (wrong file, or a Kobo labels export).
    MissingCRS
        A GeoDataFrame with geometries but no CRS.

    Examples
    --------
    >>> m = load_mapping('''
    ... [form]
    ... id = "demo"
    ... layer = "households"
    ... [columns]
    ... "_uuid" = "household_id"
    ... "grp/size" = "household_size"
    ... "grp/sex" = "head_sex"
    ... [values.head_sex]
    ... M = "male"
    ... F = "female"
    ... ''')
    >>> raw = pd.DataFrame({"_uuid": ["a", "b"], "grp-size": ["4", "x"],
    ...                     "grp-sex": ["F", "?"], "note": ["hi", None]})
    >>> out = apply_mapping(raw, m, source_layer="demo", group_separator="-")
    >>> out.frame[["household_id", "household_size", "head_sex", "attributes"]].values.tolist()
    [['a', 4, 'female', '{"note":"hi"}'], ['b', <NA>, nan, nan]]
    >>> sorted(p.rule for p in out.report)
    ['bad_type', 'unmapped_column', 'unmapped_value']
    """
    layers = LAYERS if layers is None else layers
    form = mapping if isinstance(mapping, FormMapping) else None
    main = mapping.main if isinstance(mapping, FormMapping) else mapping
    mapping_id = form.id if form is not None else main.name
    if schema is None:
        schema = layers[main.layer]
    elif schema.name != main.layer:
        raise ProfilingError(
            f"mapping {mapping_id!r} maps onto layer {main.layer!r}, not {schema.name!r}"
        )
    report = Report()
    frame = _map_table(
        raw,
        main,
        schema,
        source_layer=source_layer,
        group_separator=group_separator,
        report=report,
        mapping_id=mapping_id,
    )
    frames: dict[str, pd.DataFrame] = {schema.name: frame}
    can_repeat = repeats is not None
    repeats = repeats or {}
    used: set[str] = set()
    if form is not None:
        for lm in form.repeats.values():
            name = _find_repeat(lm.sheet or lm.name, repeats)
            if name is None and not can_repeat:
                report.add(
                    source_layer,
                    None,
                    None,
                    "no_repeats_in_format",
                    INFO,
                    f"this export format cannot hold repeat groups: {lm.layer!r} rows of "
                    f"repeat {lm.sheet or lm.name!r} come with an XLSX or ODK export",
                )
                continue
            if name is None:
                report.add(
                    source_layer,
                    None,
                    None,
                    "missing_repeat",
                    WARNING,
                    f"mapping {mapping_id!r} maps repeat {lm.sheet!r} onto "
                    f"{lm.layer!r}, but the export has no such sheet / repeat "
                    f"(it has: {', '.join(repeats) or 'none'})",
                )
                continue
            used.add(name)
            child = _map_table(
                repeats[name],
                lm,
                layers[lm.layer],
                source_layer=name,
                group_separator=group_separator,
                report=report,
                mapping_id=mapping_id,
            )
            _inherit(child, frame, lm.inherit)
            frames[lm.layer] = child
    for name, table in repeats.items():
        if name not in used:
            report.add(
                name,
                None,
                None,
                "unmapped_repeat",
                WARNING,
                f"repeat {name!r} ({len(table)} rows) is not mapped by "
                f"{mapping_id!r}; its rows are not imported",
            )
    report.facts.setdefault("mapping", mapping_id)
    return MappedLayer(frame=frame, frames=frames, report=report, layer=schema.name)


def apply_mapping_to_vector(
    gdf: gpd.GeoDataFrame,
    mapping: FormMapping | LayerMapping,
    schema: LayerSchema | None = None,
    *,
    source_layer: str,
) -> MappedLayer:
    """Map a GeoDataFrame read from GeoJSON / Shapefile / GeoPackage onto a canonical layer.

    The geometry is kept (reprojected to EPSG:4326); attribute columns are mapped exactly as
    :func:`apply_mapping` maps form columns (numbers in the attributes are matched against
    value maps as text: ``2`` and ``2.0`` both read ``"2"``).

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Features with a CRS.
    mapping : FormMapping or LayerMapping
    schema : LayerSchema, optional
    source_layer : str
        Layer name used in problems.

    Returns
    -------
    MappedLayer
    """
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise TypeError("apply_mapping_to_vector expects a GeoDataFrame")
    return apply_mapping(gdf, mapping, schema, source_layer=source_layer)
