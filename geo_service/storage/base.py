"""The storage interface: what an upload writes, what the store answers, and its errors.

Two implementations share this interface (stac-fastapi's injected backend pattern): the
embedded single-file GeoPackage (:class:`geo_service.storage.gpkg.GeoPackageStore`) and
PostGIS (:class:`geo_service.storage.postgis.PostGISStore`). The web layer takes one from
settings (:func:`geo_service.storage.open_store`) and tests run against both.

Every value here is plain data (frozen dataclasses), so results can be logged, compared in tests
and serialised by the routers without touching the database again.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    import pandas as pd

    from profiling.schema import LayerSchema

__all__ = [
    "ExportFormat",
    "LayerInfo",
    "Progress",
    "RasterInfo",
    "RasterWrite",
    "RoundInfo",
    "Store",
    "StoreBusy",
    "StoreConflict",
    "StoreError",
    "StoreNotFound",
    "StoreSchemaError",
    "StoreSnapshot",
    "StoreUnavailable",
    "UploadInfo",
    "UploadResult",
    "UploadWrite",
    "make_upload_key",
]

ExportFormat = Literal["gpkg", "geojson", "csv"]
Progress = Callable[[int, int], None]
"""``progress(done_rows, total_rows)``, called after every chunk written (for a progress bar)."""

BBox = tuple[float, float, float, float]


# --------------------------------------------------------------------------------------- errors
class StoreError(Exception):
    """Base class of every error the store raises on purpose."""


class StoreBusy(StoreError):
    """Another writer held the database lock for longer than the busy timeout."""


class StoreSchemaError(StoreError, ValueError):
    """Data does not fit the layer schema (unknown column, bad value, wrong geometry type...).

    Raised *before* anything is written, so the store is unchanged.
    """


class StoreUnavailable(StoreError):
    """The database server cannot be reached (PostGIS): retry later, the request was fine."""


class StoreConflict(StoreError):
    """The write contradicts what is stored (e.g. a round stored with another date)."""


class StoreNotFound(StoreError, LookupError):
    """No upload, raw file or raster with that id."""


# ------------------------------------------------------------------------------------ writes
def make_upload_key(
    sha256: str,
    layer: str,
    source_layer: str | None = None,
    settlement_id: str | None = None,
    round: str | None = None,
) -> str:
    """The idempotency key of an upload: same file, same target, same round -> same key.

    Examples
    --------
    >>> make_upload_key("AB" * 32, "households", "survey", "kibera", "2024-1")[60:]
    'abab:households:survey:kibera:2024-1'
    """
    parts = (sha256.lower(), layer, source_layer or "", settlement_id or "", round or "")
    return ":".join(parts)


@dataclass(frozen=True, slots=True)
class RasterWrite:
    """A raster stored with an upload (the GeoTIFF bytes are the upload's raw file).

    Attributes
    ----------
    kind : str
        Raster kind (``flood_depth``, ``built_up``...), see ``profiling.schema.RASTER_KINDS``.
    name : str
        Human name shown in listings.
    meta : mapping
        ``crs_wkt``, ``epsg``, ``nodata``, ``dtype``, ``width``, ``height``, ``bounds``
        (minx, miny, maxx, maxy in the native CRS) and ``bounds_4326`` (lon/lat); any other
        key (transform, band count...) is kept as JSON.
    """

    kind: str
    name: str
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UploadWrite:
    """Everything one upload stores, written in one transaction (all of it or nothing).

    Attributes
    ----------
    raw_path : Path
        The staged upload file; its bytes are kept once in ``raw_files`` (by sha256).
    sha256, size : str, int
        Hash (hex) and size in bytes of ``raw_path``, checked while the bytes are copied.
    original_name, format : str
        File name as sent and detected format (``kobo_xlsx``, ``geojson``, ``geotiff``...).
    layer : str
        Canonical target layer of the upload (``households``).
    source_layer : str or None
        Sheet / layer / member file inside the upload.
    settlement_id, round : str or None
        Enumeration settlement and round (a dated snapshot) the data belongs to.
    round_date : str or None
        ISO date of the round, stored in ``rounds`` the first time the round is seen.
    mapping_id : str or None
        Id of the declared column mapping used by the ingester.
    report : mapping
        The validation report (``Report.to_dict()``), stored as JSON.
    frames : mapping of layer name to (Geo)DataFrame
        Canonical frames: schema columns, ``source_row``, ``attributes`` (dict or JSON text of
        the source columns the mapping did not map) and optionally ``settlement_id``,
        ``round``, ``source_sha256`` per row; geometry in EPSG:4326.
    raster : RasterWrite or None
        Set for raster uploads.
    round_label : str or None
        Human label of the round (``"Baseline 2024"``).
    """

    raw_path: Path
    sha256: str
    size: int
    original_name: str
    format: str
    layer: str
    source_layer: str | None = None
    settlement_id: str | None = None
    round: str | None = None
    round_date: str | None = None
    mapping_id: str | None = None
    report: Mapping[str, Any] = field(default_factory=dict)
    frames: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    raster: RasterWrite | None = None
    round_label: str | None = None

    @property
    def upload_key(self) -> str:
        """See :func:`make_upload_key`."""
        return make_upload_key(
            self.sha256, self.layer, self.source_layer, self.settlement_id, self.round
        )


# ----------------------------------------------------------------------------------- answers
@dataclass(frozen=True, slots=True)
class UploadResult:
    """What :meth:`Store.write_upload` did.

    ``duplicate`` is True when the same upload key was already stored: nothing was written and
    ``upload_id`` / ``rows`` describe the stored upload.
    """

    upload_id: int
    upload_key: str
    duplicate: bool
    rows: int
    layer_rows: Mapping[str, int]
    raster_id: int | None = None


@dataclass(frozen=True, slots=True)
class UploadInfo:
    """One row of the ``uploads`` table (``report`` only from :meth:`Store.get_upload`)."""

    upload_id: int
    upload_key: str
    sha256: str
    size: int | None
    original_name: str
    format: str
    layer: str
    source_layer: str | None
    settlement_id: str | None
    round: str | None
    mapping_id: str | None
    created_at: str
    rows: int
    status: str
    report: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class LayerInfo:
    """A canonical layer as stored: row count, lon/lat extent, settlements and rounds."""

    name: str
    geometry: str | None
    rows: int
    bbox: BBox | None
    settlements: tuple[str, ...]
    rounds: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RoundInfo:
    """An enumeration round: a dated snapshot of one settlement."""

    settlement_id: str
    round: str
    date: str | None
    label: str | None


@dataclass(frozen=True, slots=True)
class RasterInfo:
    """Metadata of a stored raster; its bytes come from :meth:`Store.read_raster`."""

    raster_id: int
    upload_id: int
    kind: str
    name: str
    settlement_id: str | None
    crs_wkt: str | None
    epsg: int | None
    nodata: float | None
    dtype: str | None
    width: int | None
    height: int | None
    bounds: BBox | None
    bounds_4326: BBox | None
    sha256: str
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoreSnapshot:
    """Row count per table and the last upload id: equal snapshots mean an unchanged store."""

    counts: Mapping[str, int]
    max_upload_id: int


# --------------------------------------------------------------------------------- interface
@runtime_checkable
class Store(Protocol):
    """What the web layer, the CLI and the jobs need from a store."""

    @property
    def location(self) -> str:
        """Where the data lives, without secrets (a file path or a redacted database URL)."""
        ...

    @property
    def layers(self) -> Mapping[str, LayerSchema]:
        """The layer registry the store writes and reads."""
        ...

    def data_version(self) -> tuple[int, int]:
        """(number of uploads, latest upload id): changes whenever data is stored."""
        ...

    def uploads_by_sha256(self, sha256: str) -> list[UploadInfo]: ...

    def write_upload(
        self, upload: UploadWrite, *, progress: Progress | None = None
    ) -> UploadResult: ...

    def find_upload(self, upload_key: str) -> UploadInfo | None: ...

    def get_upload(self, upload_id: int) -> UploadInfo: ...

    def uploads(self) -> list[UploadInfo]: ...

    def rounds(self, settlement: str | None = None) -> list[RoundInfo]: ...

    def list_layers(self) -> list[LayerInfo]: ...

    def read_layer(
        self,
        layer: str,
        *,
        settlement: str | None = None,
        round: str | None = None,
        bbox: BBox | None = None,
        columns: Sequence[str] | None = None,
        include_personal: bool = False,
        upload_id: int | None = None,
        limit: int | None = None,
        offset: int = 0,
        settlements_in: Collection[str] | None = None,
        settlements_not_in: Collection[str] | None = None,
        fids: Collection[int] | None = None,
        geometry: bool = True,
    ) -> pd.DataFrame: ...

    def count(
        self,
        layer: str,
        *,
        settlement: str | None = None,
        round: str | None = None,
        bbox: BBox | None = None,
        upload_id: int | None = None,
        settlements_in: Collection[str] | None = None,
        settlements_not_in: Collection[str] | None = None,
        fids: Collection[int] | None = None,
    ) -> int: ...

    def read_raw(self, sha256: str) -> bytes: ...

    def rasters(self, settlement: str | None = None) -> list[RasterInfo]: ...

    def read_raster(self, raster_id: int) -> tuple[RasterInfo, bytes]: ...

    def export(
        self, layer: str, path: Path, *, fmt: ExportFormat = "gpkg", **filters: Any
    ) -> int: ...

    def counts(self) -> dict[str, int]: ...

    def snapshot(self) -> StoreSnapshot: ...

    def close(self) -> None: ...

    def __enter__(self) -> Store: ...

    def __exit__(self, *exc: object) -> None: ...
