"""Ingest one file into the store: stage, read, map, validate, then write in one transaction.

Shared by the CLI and (later) the upload jobs of the HTTP API, so both apply the same
protections: the bytes are copied into a private job folder under a generated name (user
text is never a path), the format comes from the content, and nothing is written unless the
whole report is free of errors.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import geopandas as gpd
import pandas as pd

from geo_service.settings import Settings
from geo_service.storage import RasterWrite, UploadInfo, UploadWrite, open_store
from profiling.errors import ProfilingError, ValidationFailed
from profiling.ingest.pipeline import (
    Ingested,
    IngestOptions,
    read_upload,
    set_aside_invalid_rows,
)
from profiling.ingest.safety import Limits, StagedFile, stage_upload
from profiling.report import Report
from profiling.schema import RASTER_KINDS
from profiling.validate import ValidationOptions

__all__ = ["IngestRequest", "IngestResult", "ingest_file", "ingest_staged", "validate_file"]

Progress = Callable[[int, int], None]
_POINT_LAYERS = frozenset({"households", "structures", "service_points"})


@dataclass(frozen=True)
class IngestRequest:
    """What the user asked for (CLI options or API form fields)."""

    layer: str | None = None
    mapping: str | Path | None = None
    settlement: str | None = None
    round: str | None = None
    source_layer: str | None = None
    crs: str | None = None
    original_name: str | None = None
    skip_invalid_rows: bool = False
    """Store the rows without errors and set the others aside (listed in the report);
    by default any error stores nothing."""


@dataclass
class IngestResult:
    """What happened to one file."""

    report: Report
    layer: str
    rows: int = 0
    upload_id: int | None = None
    duplicate: bool = False
    notes: list[str] = field(default_factory=list)


def _options(request: IngestRequest, settings: Settings) -> IngestOptions:
    limits = Limits(
        max_upload_bytes=settings.max_upload_bytes,
        max_features=settings.max_features,
        max_vertices_per_feature=settings.max_vertices,
        zip_max_ratio=settings.zip_max_ratio,
    )
    return IngestOptions(
        layer=request.layer,
        mapping=request.mapping,
        settlement=request.settlement,
        round=request.round,
        source_layer=request.source_layer,
        crs=request.crs,
        limits=limits,
        validation=ValidationOptions(max_gps_accuracy_m=settings.max_gps_accuracy_m),
    )


def _store_exists(settings: Settings) -> bool:
    """False only for an embedded store whose file was never created (nothing to look up)."""
    return settings.database_url is not None or settings.store_path.exists()


def _settlements(
    settings: Settings, layer: str | None, hidden: Collection[str] = ()
) -> gpd.GeoDataFrame | None:
    """Stored settlement boundaries for the point-in-settlement check, if any; ``hidden``
    ones (not visible to the uploader) are left out, so their ids read as unknown."""
    if layer is not None and layer not in _POINT_LAYERS:
        return None
    if not _store_exists(settings):
        return None
    with open_store(settings) as store:
        if not any(i.name == "settlements" and i.rows for i in store.list_layers()):
            return None
        frame = store.read_layer(
            "settlements", columns=["settlement_id"], settlements_not_in=list(hidden)
        )
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    return frame if len(frame) else None


def _stage(path: Path, request: IngestRequest, settings: Settings, job_dir: Path) -> StagedFile:
    return stage_upload(
        path,
        job_dir,
        original_name=request.original_name or path.name,
        max_bytes=settings.max_upload_bytes,
    )


def _read(
    staged: StagedFile,
    request: IngestRequest,
    settings: Settings,
    job_dir: Path,
    progress: Progress | None,
    hidden: Collection[str] = (),
) -> Ingested:
    settlements = _settlements(settings, request.layer, hidden)
    return read_upload(
        staged,
        job_dir / "work",
        _options(request, settings),
        settlements=settlements,
        progress=progress,
    )


def _stored_before(settings: Settings, sha256: str, request: IngestRequest) -> UploadInfo | None:
    """An upload of the same bytes for the same target, found before any parsing.

    The same file for the same layer (when stated), source layer, settlement and round is a
    no-op; a 1,000,000-row export sent twice answers at once instead of being read again.
    """
    if not _store_exists(settings):
        return None
    with open_store(settings) as db:
        for upload in db.uploads_by_sha256(sha256):
            if (
                request.layer in (None, upload.layer)
                and request.source_layer in (None, upload.source_layer)
                and request.settlement == upload.settlement_id
                and request.round == upload.round
            ):
                return upload
    return None


def _iso_date(text: str | None) -> str | None:
    """``text`` when it is an ISO date (a round named by its date), else ``None``."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        return None


def _raster_meta(ingested: Ingested) -> dict[str, object]:
    """The raster facts the store keeps beside the GeoTIFF bytes."""
    r = ingested.raster
    assert r is not None
    return {
        "crs_wkt": r.crs,
        "epsg": r.epsg,
        "nodata": r.nodata,
        "dtype": r.dtype,
        "width": r.width,
        "height": r.height,
        "bounds": r.bounds,
        "bounds_4326": r.bounds_4326,
        "transform": r.transform,
        "count": r.count,
        "value_range": r.value_range,
    }


def _storable(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop reader-internal columns (``_parent_row``) before the frame goes to the store."""
    internal = [c for c in frame.columns if c.startswith("_")]
    return frame.drop(columns=internal) if internal else frame


def _job_dir(settings: Settings) -> Path:
    assert settings.work_dir is not None
    job = settings.work_dir / f"job-{uuid.uuid4().hex}"
    (job / "work").mkdir(parents=True, mode=0o700)
    return job


def validate_file(
    path: Path,
    request: IngestRequest,
    *,
    settings: Settings,
    progress: Progress | None = None,
) -> IngestResult:
    """Read, map and validate ``path``; store nothing."""
    job = _job_dir(settings)
    try:
        ingested = _read(_stage(path, request, settings, job), request, settings, job, progress)
    finally:
        shutil.rmtree(job, ignore_errors=True)
    return IngestResult(
        report=ingested.report, layer=ingested.layer, rows=ingested.rows, notes=ingested.notes
    )


def ingest_file(
    path: Path,
    request: IngestRequest,
    *,
    settings: Settings,
    progress: Progress | None = None,
    before_write: Callable[[Ingested], None] | None = None,
) -> IngestResult:
    """Validate ``path`` and, when it has no errors, store it as one transaction.

    Parameters
    ----------
    path : Path
        The file as received (copied into a private job folder first).
    request : IngestRequest
    settings : Settings, keyword-only
    progress : callable, optional, keyword-only
        ``(done, total)`` callback.
    before_write : callable, optional, keyword-only
        Called with the validated upload just before it is written; raising stops the
        upload with nothing stored (the HTTP service checks settlement ownership here).

    Raises
    ------
    ValidationFailed
        The report has errors; nothing was stored.
    """
    job = _job_dir(settings)
    try:
        staged = _stage(path, request, settings, job)
        return ingest_staged(
            staged, request, settings=settings, job=job, progress=progress,
            before_write=before_write,
        )  # fmt: skip
    finally:
        shutil.rmtree(job, ignore_errors=True)


def ingest_staged(
    staged: StagedFile,
    request: IngestRequest,
    *,
    settings: Settings,
    job: Path,
    progress: Progress | None = None,
    before_write: Callable[[Ingested], None] | None = None,
    hidden_settlements: Collection[str] = (),
) -> IngestResult:
    """:func:`ingest_file` for a file already staged in the private folder ``job``.

    ``hidden_settlements`` are the stored settlements the uploader may not see: validation
    treats their ids as unknown, so a refusal never tells them apart from a typo.
    """
    earlier = _stored_before(settings, staged.sha256, request)
    if earlier is not None:
        return IngestResult(
            report=Report(facts={"sha256": staged.sha256}),
            layer=earlier.layer,
            rows=earlier.rows,
            upload_id=earlier.upload_id,
            duplicate=True,
            notes=[
                f"the same file was stored as upload {earlier.upload_id} on "
                f"{earlier.created_at[:19]} UTC"
            ],
        )
    (job / "work").mkdir(parents=True, exist_ok=True, mode=0o700)
    ingested = _read(staged, request, settings, job, progress, hidden_settlements)
    if ingested.report.has_errors:
        if not request.skip_invalid_rows:
            raise ValidationFailed(ingested.report)
        set_aside_invalid_rows(ingested)
    raster = None
    if ingested.raster is not None:
        if ingested.layer not in RASTER_KINDS:
            raise ProfilingError(
                "a GeoTIFF is stored with its kind: --layer " + "|".join(sorted(RASTER_KINDS))
            )
        raster = RasterWrite(
            kind=ingested.layer, name=ingested.source_layer, meta=_raster_meta(ingested)
        )
    if before_write is not None:
        before_write(ingested)
    upload = UploadWrite(
        raw_path=ingested.staged.path,
        sha256=ingested.staged.sha256,
        size=ingested.staged.size,
        original_name=ingested.staged.original_name,
        format=ingested.format,
        layer=ingested.layer,
        source_layer=ingested.source_layer,
        settlement_id=request.settlement,
        round=request.round,
        round_date=_iso_date(request.round),
        mapping_id=ingested.mapping_id,
        report=ingested.report.to_dict(limit=1000),
        frames={name: _storable(f) for name, f in ingested.frames.items()},
        raster=raster,
    )
    with open_store(settings) as db:
        written = db.write_upload(upload, progress=progress)
    return IngestResult(
        report=ingested.report,
        layer=ingested.layer,
        rows=written.layer_rows.get(ingested.layer, written.rows),
        upload_id=written.upload_id,
        duplicate=written.duplicate,
        notes=ingested.notes,
    )
