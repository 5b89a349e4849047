"""From one staged upload to canonical frames and one validation report.

The steps, each in its own module:

1. :func:`profiling.ingest.safety.sniff` detects the format from the content;
2. a reader turns the bytes into raw frames (:mod:`~profiling.ingest.kobo`,
   :mod:`~profiling.ingest.odk`, :mod:`~profiling.ingest.vector`) or raster metadata
   (:mod:`~profiling.ingest.raster`);
3. the declared mapping (given, or inferred from the columns and *said*) maps source names and
   values onto a canonical layer (:mod:`~profiling.ingest.mapping`);
4. :func:`profiling.validate.validate_layer` collects every remaining problem.

Nothing here writes to a store: the caller decides what to do with the report.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from profiling.errors import ProfilingError, ValidationFailed
from profiling.ingest.kobo import FormExport, read_kobo_csv, read_kobo_xlsx
from profiling.ingest.mapping import FormMapping, apply_mapping, bundled_mappings, load_mapping
from profiling.ingest.odk import read_odk_zip
from profiling.ingest.raster import RasterRead, inspect_raster
from profiling.ingest.safety import Limits, StagedFile, check_extension, sniff
from profiling.ingest.vector import read_vector
from profiling.report import ERROR, WARNING, Report
from profiling.schema import LAYERS, PROVENANCE_FIELDS, RASTER_KINDS, layer_schema
from profiling.validate import ValidationOptions, validate_layer

__all__ = ["IngestOptions", "Ingested", "read_upload", "resolve_mapping", "set_aside_invalid_rows"]

FORM_FORMATS = frozenset({"csv", "xlsx", "odk_zip"})
RASTER_FORMATS = frozenset({"geotiff"})
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class IngestOptions:
    """What the user said about an upload; everything left ``None`` is inferred and said.

    Attributes
    ----------
    layer : str or None
        Canonical layer, or a raster kind (``flood_depth``...) for a GeoTIFF.
    mapping : FormMapping, path, or bundled mapping id, or None
        The declared mapping of source names to canonical ones.
    settlement : str or None
        Settlement id given to rows that carry none.
    round : str or None
        Enumeration round (ISO date) of the upload.
    source_layer : str or None
        Layer or sheet inside a multi-layer file.
    crs : str or None
        CRS to assume for a file that has none (a Shapefile without ``.prj``).
    """

    layer: str | None = None
    mapping: FormMapping | Path | str | None = None
    settlement: str | None = None
    round: str | None = None
    source_layer: str | None = None
    crs: str | None = None
    limits: Limits = field(default_factory=Limits)
    validation: ValidationOptions = field(default_factory=ValidationOptions)


@dataclass
class Ingested:
    """The outcome of reading, mapping and validating one upload."""

    staged: StagedFile
    format: str
    layer: str
    source_layer: str
    mapping_id: str | None
    frames: dict[str, pd.DataFrame]
    report: Report
    raster: RasterRead | None = None
    notes: list[str] = field(default_factory=list)
    aliases: dict[str, frozenset[str]] = field(default_factory=dict)
    """For each frame, the layer names its problems may carry (canonical and source)."""

    @property
    def rows(self) -> int:
        """Rows of the main layer."""
        frame = self.frames.get(self.layer)
        return 0 if frame is None else len(frame)


def resolve_mapping(mapping: FormMapping | Path | str | None) -> FormMapping | None:
    """A mapping object from an object, a file path or a bundled mapping id."""
    if mapping is None or isinstance(mapping, FormMapping):
        return mapping
    bundled = bundled_mappings()
    if isinstance(mapping, str) and mapping in bundled:
        return bundled[mapping]
    path = Path(mapping)
    if not path.is_file():
        known = ", ".join(sorted(bundled))
        raise ProfilingError(f"mapping {mapping!r} is neither a file nor a bundled id ({known})")
    return load_mapping(path)


_COMPATIBLE_SOURCES = {
    "kobo": frozenset({"kobo", "odk", "table"}),
    "odk": frozenset({"odk", "kobo"}),
    "vector": frozenset({"vector"}),
}


def _infer_mapping(columns: list[str], *, layer: str | None, source: str) -> FormMapping | None:
    """The bundled mapping whose source columns best match ``columns`` (≥ 60 % of them).

    Only mappings written for this kind of source are candidates (a form export is never
    read with a Shapefile's mapping).
    """
    present = {c.replace("-", "/") for c in columns} | set(columns)
    best: tuple[float, FormMapping] | None = None
    for candidate in bundled_mappings().values():
        if layer is not None and candidate.layer != layer:
            continue
        if candidate.source not in _COMPATIBLE_SOURCES[source]:
            continue
        wanted = set(candidate.source_columns)
        if not wanted:
            continue
        score = len(wanted & present) / len(wanted)
        if score >= 0.6 and (best is None or score > best[0]):
            best = (score, candidate)
    return None if best is None else best[1]


def _canonical_identity(columns: list[str], *, layer: str | None) -> str | None:
    """A layer whose field names are exactly the columns' names (an export of our own data).

    Every column must be a field or a provenance column of the layer, and the layer's required
    fields must all be present.
    """
    provenance = {f.name for f in PROVENANCE_FIELDS}
    candidates = [layer] if layer else list(LAYERS)
    for name in candidates:
        schema = layer_schema(name)
        known = set(schema.names) | provenance
        if columns and set(columns) <= known and set(schema.required) <= set(columns):
            return name
    return None


def _choose_mapping(
    options: IngestOptions, columns: list[str], *, source: str, notes: list[str]
) -> FormMapping:
    mapping = resolve_mapping(options.mapping)
    if mapping is not None:
        if options.layer and mapping.layer != options.layer:
            raise ProfilingError(
                f"mapping {mapping.id!r} maps onto layer {mapping.layer!r}, not {options.layer!r}"
            )
        return mapping
    identity = _canonical_identity(columns, layer=options.layer)
    if identity is not None:
        notes.append(f"columns already carry canonical names of layer {identity!r}")
        return FormMapping.identity(identity, columns)
    mapping = _infer_mapping(columns, layer=options.layer, source=source)
    if mapping is not None:
        notes.append(
            f"mapping {mapping.id!r} inferred from the column names "
            f"(layer {mapping.layer!r}); pass --mapping to choose another"
        )
        return mapping
    raise ProfilingError(
        "no mapping given and none of the bundled mappings matches these columns; "
        "write a mapping file (see `geo-service mappings`) and pass --mapping"
    )


def _single_points(frame: pd.DataFrame, layer: str, report: Report) -> pd.DataFrame:
    """Turn one-part MultiPoints into Points for a Point layer (mWater exports MultiPoint).

    A MultiPoint with several parts cannot stand for one service point or household: it is an
    error on its row (``multipoint``).
    """
    if not isinstance(frame, gpd.GeoDataFrame) or layer_schema(layer).geometry != "Point":
        return frame
    geoms = frame.geometry.array
    multi = np.asarray(shapely.get_type_id(geoms) == 4)
    if not multi.any():
        return frame
    parts = shapely.get_num_geometries(geoms)
    single = multi & (parts == 1)
    fixed = np.asarray(geoms, dtype=object).copy()
    fixed[single] = shapely.get_geometry(fixed[single], 0)
    for row in frame.loc[multi & (parts > 1), "source_row"]:
        report.add(
            layer,
            int(row),
            "geometry",
            "multipoint",
            ERROR,
            "a MultiPoint of several points where one point is expected",
        )
    return frame.set_geometry(gpd.GeoSeries(fixed, index=frame.index, crs=frame.crs))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _raster_kind(raster: RasterRead, stated: str | None, notes: list[str]) -> str:
    """The raster kind: as stated, else guessed from the values, else ``raster`` (unknown).

    A uint16 raster whose values are years (1900-2100) reads as ``built_up_epoch``
    (GHSL-style); anything else needs ``--layer`` to be stored.
    """
    if stated is not None:
        if stated not in RASTER_KINDS:
            raise ProfilingError(
                f"{stated!r} is not a raster kind; use one of {', '.join(sorted(RASTER_KINDS))}"
            )
        return stated
    low, high = raster.value_range or (None, None)
    positive_years = low is not None and high is not None and 1900 <= high <= 2100
    if raster.dtype in {"uint16", "int16", "int32"} and positive_years:
        notes.append("raster kind 'built_up_epoch' inferred from its year values")
        return "built_up_epoch"
    notes.append(
        "raster kind unknown: checked as a generic raster; to store it give --layer "
        + "|".join(sorted(RASTER_KINDS))
    )
    return "raster"


def _read_raster(
    staged: StagedFile, options: IngestOptions, report: Report, notes: list[str]
) -> Ingested:
    raster = inspect_raster(staged.path, crs=options.crs, limits=options.limits)
    report.extend(raster.report)
    _name_source(report, staged)
    report.facts.update({"width": raster.width, "height": raster.height, "crs": raster.crs})
    return Ingested(
        staged=staged,
        format="geotiff",
        layer=_raster_kind(raster, options.layer, notes),
        source_layer=_slug(Path(staged.original_name or "raster").stem) or "raster",
        mapping_id=None,
        frames={},
        report=report,
        raster=raster,
        notes=notes,
    )


def read_upload(
    staged: StagedFile,
    work_dir: Path,
    options: IngestOptions,
    *,
    settlements: gpd.GeoDataFrame | None = None,
    progress: Progress | None = None,
) -> Ingested:
    """Read, map and validate one staged upload.

    Parameters
    ----------
    staged : StagedFile
        The upload, already copied into a private job folder.
    work_dir : Path
        A private scratch folder (zip members are extracted here).
    options : IngestOptions
        What the user stated; the rest is inferred and said in ``notes``.
    settlements : GeoDataFrame, optional
        Settlement boundaries (``settlement_id``, geometry, EPSG:4326) for the
        point-in-settlement check.
    progress : callable, optional
        ``progress(done, total)`` called between steps.

    Returns
    -------
    Ingested
        Canonical frames per layer and the full report; the caller stores them only when
        ``report.has_errors`` is false.
    """
    step = progress or (lambda _done, _total: None)
    report, notes = Report(), list[str]()
    fmt = sniff(staged.path)
    report.facts.update({"format": fmt, "sha256": staged.sha256, "bytes": staged.size})
    mismatch = check_extension(staged.original_name, fmt)
    if mismatch:
        report.add("file", None, None, "extension_mismatch", WARNING, mismatch)
    step(1, 4)

    if fmt in RASTER_FORMATS:
        return _read_raster(staged, options, report, notes)

    repeats: dict[str, pd.DataFrame] | None = {}
    group_separator = "/"
    if fmt in FORM_FORMATS:
        export: FormExport
        if fmt == "csv":
            export = read_kobo_csv(staged.path, max_rows=options.limits.max_features)
        elif fmt == "xlsx":
            export = read_kobo_xlsx(staged.path, max_rows=options.limits.max_features)
        else:
            export = read_odk_zip(staged.path, work_dir, max_rows=options.limits.max_features)
        report.extend(export.report)
        raw: pd.DataFrame = export.main
        repeats = export.repeats if fmt != "csv" else None
        group_separator = export.group_separator
        source_layer = options.source_layer or "submissions"
        source = "odk" if fmt == "odk_zip" else "kobo"
    else:
        vector = read_vector(
            staged.path,
            fmt,
            layer=options.source_layer,
            crs=options.crs,
            limits=options.limits,
        )
        report.extend(vector.report)
        raw = vector.frame
        source_layer = vector.source_layer
        source = "vector"
        if len(vector.layers) > 1:
            notes.append(f"read layer {source_layer!r} of {', '.join(vector.layers)}")
    step(2, 4)

    columns = [c for c in raw.columns if c not in {"geometry", "source_row"}]
    mapping = _choose_mapping(options, columns, source=source, notes=notes)
    schema = layer_schema(mapping.layer)
    mapped = apply_mapping(
        raw,
        mapping,
        schema,
        source_layer=source_layer,
        group_separator=group_separator,
        repeats=repeats,
    )
    report.extend(mapped.report)
    frames = {name: _single_points(f, name, report) for name, f in mapped.frames.items()}
    if options.settlement is not None:
        for name, frame in frames.items():
            if "settlement_id" in layer_schema(name).names:
                if "settlement_id" not in frame.columns:
                    frame["settlement_id"] = options.settlement
                else:
                    frame["settlement_id"] = frame["settlement_id"].fillna(options.settlement)
    step(3, 4)

    for name, frame in frames.items():
        repaired, found = validate_layer(
            frame,
            layer_schema(name),
            settlements=settlements if name != "settlements" else None,
            options=options.validation,
        )
        frames[name] = repaired
        report.extend(found)
    step(4, 4)
    report.facts["rows"] = {name: len(frame) for name, frame in frames.items()}
    _name_source(report, staged)
    aliases = {mapping.layer: frozenset({mapping.layer, source_layer})}
    for lm in mapping.repeats.values():
        aliases[lm.layer] = frozenset({lm.layer, lm.name, lm.sheet or lm.name})
    return Ingested(
        staged=staged,
        format=fmt,
        layer=mapping.layer,
        source_layer=source_layer,
        mapping_id=mapping.id,
        frames=frames,
        report=report,
        notes=notes,
        aliases=aliases,
    )


def _name_source(report: Report, staged: StagedFile) -> None:
    """Say the user's file name, not the staged one, in every problem of the report."""
    staged_name = staged.path.name
    shown = Path(staged.original_name or "upload").name or "upload"
    report.problems = [
        dataclasses.replace(
            p,
            layer=p.layer.replace(staged_name, shown),
            message=p.message.replace(staged_name, shown),
        )
        if staged_name in p.layer or staged_name in p.message
        else p
        for p in report.problems
    ]
    report.invalid_rows = {k.replace(staged_name, shown): v for k, v in report.invalid_rows.items()}


def set_aside_invalid_rows(ingested: Ingested) -> dict[str, int]:
    """Remove the rows that have an error, so the rest of the upload can be stored.

    Rows of a repeat (members) whose parent submission is set aside go with it. The report is
    unchanged and still lists every problem; the raw file keeps every row.

    Returns
    -------
    dict of str to int
        Rows set aside per layer.

    Raises
    ------
    ValidationFailed
        When an error concerns the whole file or a column (nothing can be kept), or when no
        row of the main layer is left.
    """
    report = ingested.report
    if report.has_file_errors:
        raise ValidationFailed(report, f"{report.summary()}; file-level errors: nothing stored")
    aside: dict[str, int] = {}
    dropped_main: set[int] = set()
    for name in [ingested.layer, *[n for n in ingested.frames if n != ingested.layer]]:
        frame = ingested.frames[name]
        bad: set[int] = set()
        for alias in ingested.aliases.get(name, frozenset({name})):
            bad |= report.invalid_rows.get(alias, set())
        drop = frame["source_row"].isin(bad).to_numpy()
        if name != ingested.layer and "_parent_row" in frame.columns and dropped_main:
            orphans = frame["_parent_row"].isin(dropped_main).fillna(False)
            drop = drop | orphans.to_numpy(dtype=bool)
        if name == ingested.layer:
            dropped_main = {int(r) for r in frame.loc[drop, "source_row"]}
        aside[name] = int(drop.sum())
        ingested.frames[name] = frame.loc[~drop].reset_index(drop=True)
    if ingested.rows == 0:
        raise ValidationFailed(report, f"{report.summary()}; no valid row left: nothing stored")
    report.facts["rows_set_aside"] = aside
    return aside
