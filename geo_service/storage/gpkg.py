"""The embedded store: one GeoPackage file written with the stdlib ``sqlite3`` module.

The file is a valid GeoPackage 1.4 (OGC 12-128r18 and its 1.4.0 revision): QGIS, GDAL and
pyogrio open every canonical layer as an ordinary vector layer (members as an attribute table),
while the service keeps its own bookkeeping (``uploads``, ``raw_files``, ``rasters``,
``store_meta``) in internal tables that are not registered in ``gpkg_contents``. The small
``rounds`` table *is* registered, as an attribute table: it is harmless to show, and GDAL lists
unregistered tables as layers unless ``gpkg_contents`` has an ``attributes`` entry (its
``LIST_ALL_TABLES=AUTO`` rule), so registering it keeps raw uploads out of QGIS's layer list.

Transactions
    Writing is ours, not GDAL's, so that **one upload is one transaction**: every write runs
    inside ``BEGIN IMMEDIATE`` ... ``COMMIT`` and is rolled back on any exception (including
    ``KeyboardInterrupt``). A process killed mid-upload leaves nothing behind: SQLite's
    write-ahead log (``journal_mode=WAL``) simply drops the uncommitted frames when the file is
    next opened, and ``synchronous=FULL`` makes an acknowledged upload survive a power cut.
    ``BEGIN IMMEDIATE`` takes the write lock up front, so two writers serialise (the second
    waits up to ``busy_timeout_ms``) instead of failing half-way with "database is locked";
    after the timeout :class:`~geo_service.storage.base.StoreBusy` is raised. Readers never
    wait for writers in WAL mode.

Layout
    One table per canonical layer, named like the layer and created on first write from its
    :class:`profiling.schema.LayerSchema` (OGC 12-128r18 clause 2.1.6 "Vector Features User
    Data Tables"; clause 2.4 "Attributes" for layers without geometry). Column types follow
    GeoPackage data types (``TEXT``, ``INTEGER``, ``REAL``, ``BOOLEAN``, ``DATE``); the geometry
    column ``geom`` holds GeoPackage binary blobs (:mod:`.geometry_blob`) in EPSG:4326; line
    and polygon layers are declared ``MULTILINESTRING`` / ``MULTIPOLYGON`` and single parts
    are promoted, because sources mix both and a column holds one type (Req 32). Fields
    added to a schema later are added with ``ALTER TABLE ... ADD COLUMN`` on the next write.
    Every layer table also carries the provenance columns ``fid``, ``upload_id``,
    ``settlement_id``, ``round``, ``source_sha256``, ``source_row`` and ``attributes`` (JSON of
    the source columns the mapping did not map, so nothing the user sent is lost).

Spatial index
    Each feature table has the GeoPackage RTree (``rtree_<t>_geom``, extension
    ``gpkg_rtree_index``, OGC 12-128r18 Annex F.3) **with the standard triggers** exactly as GDAL
    writes them for GeoPackage 1.4 (insert, update2/4/5/6/7, delete). The triggers call
    ``ST_IsEmpty`` and ``ST_MinX``... which GDAL (hence QGIS) provides itself and which this
    module registers as Python functions on its own connections, so edits made in QGIS, with
    ``ogr2ogr`` or through this store all keep the index right; no SpatiaLite is needed, and a
    plain ``sqlite3`` shell that lacks the functions fails loudly instead of silently leaving
    a stale index. For bulk uploads the insert trigger would cost five Python calls per row,
    so :meth:`GeoPackageStore.write_upload` drops it, fills the RTree itself from vectorised
    ``shapely.bounds`` and re-creates it, all inside the upload's transaction (the spec notes
    that dropping and re-creating index machinery around bulk updates is the fast path). An
    upload that is large next to the index repacks the whole tree by writing the rtree shadow
    tables (:mod:`.rtree_bulk`, as GDAL does); a small one goes through the rtree module.

Speed
    Values are converted column by column with pandas / NumPy, columns holding one value for
    the whole upload (upload id, settlement, round, file hash) become SQL literals, and rows
    are bound many per ``INSERT`` statement (:func:`.sqlite_util.insert_rows`). About 4.5 s
    for a million points with seven fields on a laptop-class core, commit included.

Known limits
    One SQLite file: a single writer at a time (fine for one city, see DESIGN "Scale"); a raw
    file must be under SQLite's 1 GB blob limit; Z / M coordinates are not kept (canonical
    layers are 2D lon/lat).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import shapely

from geo_service.storage import geometry_blob, rtree_bulk
from geo_service.storage.base import (
    BBox,
    ExportFormat,
    LayerInfo,
    Progress,
    RasterInfo,
    RoundInfo,
    StoreBusy,
    StoreConflict,
    StoreError,
    StoreNotFound,
    StoreSchemaError,
    StoreSnapshot,
    UploadInfo,
    UploadResult,
    UploadWrite,
)
from geo_service.storage.export import write_frame
from geo_service.storage.frames import (
    GEOMETRY_COLUMN,
    PROVENANCE_TYPES,
    SRS_ID,
    Prepared,
    check_bbox,
    check_registry,
    fid_list,
    json_texts,
    layer_schema,
    prepare_upload,
    provenance_columns,
    select_columns,
)
from geo_service.storage.records import (
    RASTER_COLUMNS,
    UPLOAD_COLUMNS,
    now,
    raster_info,
    raster_row,
    report_json,
    upload_info,
)
from geo_service.storage.sqlite_util import insert_rows
from geo_service.storage.values import (
    SQL_TYPES,
    from_sql,
)

if TYPE_CHECKING:
    from profiling.schema import LayerSchema

__all__ = ["APPLICATION_ID", "CHUNK_ROWS", "USER_VERSION", "GeoPackageStore"]

APPLICATION_ID = 0x47504B47  # "GPKG", OGC 12-128r18 Req 2
USER_VERSION = 10400  # GeoPackage 1.4.0
CHUNK_ROWS = 50_000
FORMAT_NAME = "geo_service.gpkg"
FORMAT_VERSION = "1"
RTREE_DEFINITION = "http://www.geopackage.org/spec120/#extension_rtree"

_INTERNAL_TABLES = ("store_meta", "raw_files", "uploads", "rounds", "rasters")
# Schema geometry -> GeoPackage geometry_type_name. Line and polygon layers are declared MULTI*
# and single parts are promoted on write: sources mix both (shapefiles, QGIS digitising), a
# GeoPackage column holds one type (Req 32), and exploding would split a settlement in rows.
_GEOMETRY_TYPES = {
    "Point": "POINT",
    "LineString": "MULTILINESTRING",
    "Polygon": "MULTIPOLYGON",
    "Any": "GEOMETRY",
}
_WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,'
    'AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,'
    'AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],'
    'AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]'
)

# OGC 12-128r18 clause 1.1.2 (gpkg_spatial_ref_sys), 1.1.3 (gpkg_contents),
# 2.1.5 (gpkg_geometry_columns), 2.3.2 (gpkg_extensions): the DDL of Annex C.
_CORE_DDL = (
    """CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL,
    srs_id INTEGER NOT NULL PRIMARY KEY, organization TEXT NOT NULL,
    organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT)""",
    """CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY,
    data_type TEXT NOT NULL, identifier TEXT UNIQUE, description TEXT DEFAULT '',
    last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
    CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id))""",
    """CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
    geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL,
    m TINYINT NOT NULL, CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
    CONSTRAINT uk_gc_table_name UNIQUE (table_name),
    CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
    CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id))""",
    """CREATE TABLE gpkg_extensions (table_name TEXT, column_name TEXT,
    extension_name TEXT NOT NULL, definition TEXT NOT NULL, scope TEXT NOT NULL,
    CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name))""",
)
_INTERNAL_DDL = (
    "CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE raw_files (sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL,
    data BLOB NOT NULL)""",
    """CREATE TABLE uploads (upload_id INTEGER PRIMARY KEY AUTOINCREMENT,
    upload_key TEXT NOT NULL UNIQUE, sha256 TEXT NOT NULL REFERENCES raw_files(sha256),
    original_name TEXT NOT NULL, format TEXT NOT NULL, layer TEXT NOT NULL,
    source_layer TEXT, settlement_id TEXT, round TEXT, mapping_id TEXT,
    created_at TEXT NOT NULL, "rows" INTEGER NOT NULL, report_json TEXT,
    status TEXT NOT NULL)""",
    """CREATE TABLE rounds (round_id INTEGER PRIMARY KEY AUTOINCREMENT,
    settlement_id TEXT NOT NULL, round TEXT NOT NULL, date DATE, label TEXT,
    UNIQUE (settlement_id, round))""",
    """CREATE TABLE rasters (raster_id INTEGER PRIMARY KEY AUTOINCREMENT,
    upload_id INTEGER NOT NULL REFERENCES uploads(upload_id), kind TEXT NOT NULL,
    name TEXT NOT NULL, settlement_id TEXT, crs_wkt TEXT, epsg INTEGER, nodata REAL,
    dtype TEXT, width INTEGER, height INTEGER, minx REAL, miny REAL, maxx REAL, maxy REAL,
    lon_min REAL, lat_min REAL, lon_max REAL, lat_max REAL,
    sha256 TEXT NOT NULL REFERENCES raw_files(sha256), meta_json TEXT)""",
    "CREATE INDEX idx_uploads_sha256 ON uploads(sha256)",
    "CREATE INDEX idx_rasters_upload_id ON rasters(upload_id)",
)


def _q(name: str) -> str:
    """Quote an SQL identifier (names are also checked against ``_IDENTIFIER``)."""
    return '"' + name.replace('"', '""') + '"'


def _rtree_name(table: str) -> str:
    return f"rtree_{table}_{GEOMETRY_COLUMN}"


def _rtree_triggers(table: str) -> dict[str, str]:
    """The spatial index triggers of GeoPackage 1.4 (OGC 12-128r18 Annex F.3), as GDAL writes."""
    t, c, i, r = _q(table), _q(GEOMETRY_COLUMN), _q("fid"), _q(_rtree_name(table))
    rt = _rtree_name(table)
    new_ok = f"(NEW.{c} NOTNULL AND NOT ST_IsEmpty(NEW.{c}))"
    new_void = f"(NEW.{c} ISNULL OR ST_IsEmpty(NEW.{c}))"
    values = f"NEW.{i},ST_MinX(NEW.{c}), ST_MaxX(NEW.{c}),ST_MinY(NEW.{c}), ST_MaxY(NEW.{c})"
    return {
        f"{rt}_insert": (
            f"CREATE TRIGGER {_q(rt + '_insert')} AFTER INSERT ON {t} "
            f"WHEN (new.{c} NOT NULL AND NOT ST_IsEmpty(NEW.{c})) "
            f"BEGIN INSERT OR REPLACE INTO {r} VALUES ({values}); END"
        ),
        f"{rt}_update6": (
            f"CREATE TRIGGER {_q(rt + '_update6')} AFTER UPDATE OF {c} ON {t} "
            f"WHEN OLD.{i} = NEW.{i} AND {new_ok} AND "
            f"(OLD.{c} NOTNULL AND NOT ST_IsEmpty(OLD.{c})) "
            f"BEGIN UPDATE {r} SET minx = ST_MinX(NEW.{c}), maxx = ST_MaxX(NEW.{c}),"
            f"miny = ST_MinY(NEW.{c}), maxy = ST_MaxY(NEW.{c}) WHERE id = NEW.{i};END"
        ),
        f"{rt}_update7": (
            f"CREATE TRIGGER {_q(rt + '_update7')} AFTER UPDATE OF {c} ON {t} "
            f"WHEN OLD.{i} = NEW.{i} AND {new_ok} AND "
            f"(OLD.{c} ISNULL OR ST_IsEmpty(OLD.{c})) "
            f"BEGIN INSERT INTO {r} VALUES ({values}); END"
        ),
        f"{rt}_update2": (
            f"CREATE TRIGGER {_q(rt + '_update2')} AFTER UPDATE OF {c} ON {t} "
            f"WHEN OLD.{i} = NEW.{i} AND {new_void} "
            f"BEGIN DELETE FROM {r} WHERE id = OLD.{i}; END"
        ),
        f"{rt}_update5": (
            f"CREATE TRIGGER {_q(rt + '_update5')} AFTER UPDATE ON {t} "
            f"WHEN OLD.{i} != NEW.{i} AND {new_ok} "
            f"BEGIN DELETE FROM {r} WHERE id = OLD.{i}; "
            f"INSERT OR REPLACE INTO {r} VALUES ({values}); END"
        ),
        f"{rt}_update4": (
            f"CREATE TRIGGER {_q(rt + '_update4')} AFTER UPDATE ON {t} "
            f"WHEN OLD.{i} != NEW.{i} AND {new_void} "
            f"BEGIN DELETE FROM {r} WHERE id IN (OLD.{i}, NEW.{i}); END"
        ),
        f"{rt}_delete": (
            f"CREATE TRIGGER {_q(rt + '_delete')} AFTER DELETE ON {t} "
            f"WHEN old.{c} NOT NULL BEGIN DELETE FROM {r} WHERE id = OLD.{i}; END"
        ),
    }


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


def _default_layers() -> Mapping[str, LayerSchema]:
    from profiling import schema  # noqa: PLC0415 - the registry is filled at import of profiling

    return schema.LAYERS


class GeoPackageStore:
    """A single-file GeoPackage store of uploads and canonical layers.

    Parameters
    ----------
    path : Path
        The ``.gpkg`` file; created (with its parent directory) on first open.
    busy_timeout_ms : int
        How long a writer waits for another writer before :class:`StoreBusy` is raised.
    layers : mapping of str to LayerSchema, optional
        The canonical layer registry; ``profiling.schema.LAYERS`` by default.

    Notes
    -----
    A store object may be shared between threads: each thread gets its own SQLite connection
    (WAL lets readers run beside the one writer). Connections are never carried across
    ``fork``; a child process opens its own.

    Examples
    --------
    >>> with GeoPackageStore(tmp_path / "city.gpkg", layers=layers) as store:  # doctest: +SKIP
    ...     store.write_upload(upload)
    ...     gdf = store.read_layer("households", settlement="kibera", bbox=(36.7, -1.3, 36.8, -1.2))
    """

    def __init__(
        self,
        path: Path | str,
        *,
        busy_timeout_ms: int = 30_000,
        layers: Mapping[str, LayerSchema] | None = None,
    ) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = int(busy_timeout_ms)
        registry = _default_layers() if layers is None else layers
        self._layers = check_registry(
            registry, reserved_tables=_INTERNAL_TABLES, prefixes=("gpkg_", "rtree_", "sqlite_")
        )
        self._lock = threading.Lock()
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._pid = os.getpid()
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._initialise()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ connection management
    def __enter__(self) -> GeoPackageStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GeoPackageStore({str(self.path)!r})"

    def close(self) -> None:
        """Close every connection this store opened (in any thread)."""
        with self._lock:
            for con in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    con.close()
            self._connections.clear()
            self._closed = True
        self._local = threading.local()

    @property
    def location(self) -> str:
        """The store file's absolute path (cache keys, logs)."""
        return str(self.path.resolve())

    @property
    def layers(self) -> Mapping[str, LayerSchema]:
        """The layer registry this store writes and reads."""
        return self._layers

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout_ms / 1000,
            isolation_level=None,  # we issue BEGIN / COMMIT ourselves
            check_same_thread=False,  # one connection per thread, closed from any by close()
        )
        try:
            con.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms:d}")
            con.execute("PRAGMA foreign_keys = ON")
            con.execute("PRAGMA synchronous = FULL")
            con.execute("PRAGMA cache_size = -65536")  # 64 MiB page cache
            con.execute("PRAGMA journal_size_limit = 67108864")  # truncate the WAL to 64 MiB
            for name, fn in (
                ("ST_IsEmpty", geometry_blob.st_is_empty),
                ("ST_MinX", geometry_blob.st_minx),
                ("ST_MaxX", geometry_blob.st_maxx),
                ("ST_MinY", geometry_blob.st_miny),
                ("ST_MaxY", geometry_blob.st_maxy),
            ):
                con.create_function(name, 1, fn, deterministic=True)
        except sqlite3.Error as exc:
            con.close()
            raise self._translate(exc) from exc
        return con

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"{self!r} is closed")
        if self._pid != os.getpid():  # forked: never reuse the parent's connections
            with self._lock:
                self._connections = []
                self._local = threading.local()
                self._pid = os.getpid()
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._connect()
            self._local.con = con
            with self._lock:
                self._connections.append(con)
        return con

    def _translate(self, exc: sqlite3.Error) -> Exception:
        if _is_busy(exc):
            return StoreBusy(
                f"{self.path} is busy: another writer held it for more than "
                f"{self.busy_timeout_ms / 1000:g} s ({exc})"
            )
        return StoreError(f"{self.path}: {exc}")

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; ``ROLLBACK`` on any exception."""
        con = self._connection()
        try:
            con.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        try:
            yield con
            con.execute("COMMIT")
        except BaseException as exc:
            if con.in_transaction:
                con.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._translate(exc) from exc
            raise

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: several queries see one snapshot (reentrant)."""
        con = self._connection()
        if con.in_transaction:  # e.g. called from a progress callback inside a write
            yield con
            return
        try:
            con.execute("BEGIN")
            try:
                yield con
            finally:
                if con.in_transaction:
                    con.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc

    # ------------------------------------------------------------------------------ creation
    def _initialise(self) -> None:
        with self._read() as con:  # the usual case: never wait for a writer to open
            exists = self._check(con)
        if not exists:
            # Created in rollback-journal mode so that the header (application_id,
            # user_version) lands in the file itself: GDAL reads those bytes from the file
            # before SQLite opens it, and in WAL mode they would sit in the -wal file.
            with self._write() as con:
                if not self._check(con):  # unless another process just created it
                    self._create(con)
        con = self._connection()
        try:
            mode = con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        if str(mode).lower() != "wal":
            raise StoreError(f"{self.path}: cannot use write-ahead logging (journal_mode={mode})")

    def _check(self, con: sqlite3.Connection) -> bool:
        """True for a store this code reads, False for an empty database; else raise."""
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            return False
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        if app_id != APPLICATION_ID or "gpkg_contents" not in tables:
            raise StoreError(f"{self.path} is an SQLite file but not a GeoPackage")
        if "store_meta" not in tables:
            raise StoreError(f"{self.path} is a GeoPackage but not a geo_service store")
        meta = dict(con.execute("SELECT key, value FROM store_meta").fetchall())
        if meta.get("format_version") != FORMAT_VERSION:
            raise StoreError(
                f"{self.path}: store format {meta.get('format_version')!r}, "
                f"this code reads {FORMAT_VERSION!r}"
            )
        return True

    def _create(self, con: sqlite3.Connection) -> None:
        con.execute(f"PRAGMA application_id = {APPLICATION_ID:d}")
        con.execute(f"PRAGMA user_version = {USER_VERSION:d}")
        for ddl in (*_CORE_DDL, *_INTERNAL_DDL):
            con.execute(ddl)
        con.executemany(
            "INSERT INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    "Undefined Cartesian SRS",
                    -1,
                    "NONE",
                    -1,
                    "undefined",
                    "undefined Cartesian coordinate reference system",
                ),
                (
                    "Undefined geographic SRS",
                    0,
                    "NONE",
                    0,
                    "undefined",
                    "undefined geographic coordinate reference system",
                ),
                (
                    "WGS 84 geodetic",
                    SRS_ID,
                    "EPSG",
                    SRS_ID,
                    _WGS84_WKT,
                    "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid",
                ),
            ],
        )
        con.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, "
            "last_change, srs_id) VALUES ('rounds', 'attributes', 'rounds', ?, ?, 0)",
            ("Enumeration rounds: dated snapshots of each settlement", now()),
        )
        con.executemany(
            "INSERT INTO store_meta VALUES (?, ?)",
            [("format", FORMAT_NAME), ("format_version", FORMAT_VERSION), ("created_at", now())],
        )

    def _schema(self, layer: str) -> LayerSchema:
        return layer_schema(self._layers, layer)

    @staticmethod
    def _table_columns(con: sqlite3.Connection, table: str) -> dict[str, str]:
        return {r[1]: r[2] for r in con.execute(f"PRAGMA table_info({_q(table)})")}

    def _ensure_table(self, con: sqlite3.Connection, schema: LayerSchema) -> None:
        """Create the layer table (and its registration, indexes, RTree), or add new fields."""
        t = schema.name
        existing = self._table_columns(con, t)
        if existing:
            for f in schema.fields:
                declared = existing.get(f.name)
                if declared is None:
                    con.execute(f"ALTER TABLE {_q(t)} ADD COLUMN {_q(f.name)} {SQL_TYPES[f.dtype]}")
                elif declared != SQL_TYPES[f.dtype]:
                    raise StoreSchemaError(
                        f"{t}.{f.name} is stored as {declared} but the schema says "
                        f"{f.dtype} ({SQL_TYPES[f.dtype]}); migrate the store first"
                    )
            return
        spatial = schema.geometry is not None
        cols = ['"fid" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL']
        if spatial:
            cols.append(f"{_q(GEOMETRY_COLUMN)} {_GEOMETRY_TYPES[schema.geometry]}")
        cols += [f"{_q(f.name)} {SQL_TYPES[f.dtype]}" for f in schema.fields]
        for c in provenance_columns(schema):
            if c == "upload_id":
                cols.append('"upload_id" INTEGER NOT NULL REFERENCES uploads(upload_id)')
            else:
                cols.append(f"{_q(c)} {SQL_TYPES[PROVENANCE_TYPES[c]]}")
        con.execute(f"CREATE TABLE {_q(t)} ({', '.join(cols)})")
        for c in ("settlement_id", "round", "upload_id"):
            con.execute(f"CREATE INDEX {_q(f'idx_{t}_{c}')} ON {_q(t)} ({_q(c)})")
        con.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, "
            "last_change, srs_id) VALUES (?, ?, ?, ?, ?, ?)",
            (
                t,
                "features" if spatial else "attributes",
                t,
                schema.description,
                now(),
                SRS_ID if spatial else 0,
            ),
        )
        if spatial:
            con.execute(
                "INSERT INTO gpkg_geometry_columns VALUES (?, ?, ?, ?, 0, 0)",
                (t, GEOMETRY_COLUMN, _GEOMETRY_TYPES[schema.geometry], SRS_ID),
            )
            con.execute(
                f"CREATE VIRTUAL TABLE {_q(_rtree_name(t))} USING rtree(id, minx, maxx, miny, maxy)"
            )
            con.execute(
                "INSERT INTO gpkg_extensions VALUES (?, ?, 'gpkg_rtree_index', ?, 'write-only')",
                (t, GEOMETRY_COLUMN, RTREE_DEFINITION),
            )
            for sql in _rtree_triggers(t).values():
                con.execute(sql)

    # -------------------------------------------------------------------------------- writing
    def write_upload(
        self, upload: UploadWrite, *, progress: Progress | None = None
    ) -> UploadResult:
        """Store one upload (raw bytes, upload record, raster, frames) in one transaction.

        Frames are checked and converted *before* the transaction starts, so a frame with an
        unknown column or a value of the wrong type raises :class:`StoreSchemaError` with the
        store untouched. Inside ``BEGIN IMMEDIATE`` the rows go in with ``executemany`` in
        chunks of :data:`CHUNK_ROWS`; any exception (including one raised by ``progress``)
        rolls everything back.

        Parameters
        ----------
        upload : UploadWrite
        progress : callable, optional
            ``progress(done_rows, total_rows)`` after every chunk.

        Returns
        -------
        UploadResult
            ``duplicate=True`` (and nothing written) when the upload key is already stored.

        Raises
        ------
        StoreSchemaError
            Unknown layer or column, value of the wrong type, geometry of the wrong type or
            outside lon/lat range, raw file missing or not matching ``size`` / ``sha256``.
        StoreConflict
            The round is already stored with another date.
        StoreBusy
            Another writer held the lock for longer than ``busy_timeout_ms``.
        """
        key = upload.upload_key
        existing = self.find_upload(key)
        if existing is not None:
            return self._duplicate(existing)
        prepared = prepare_upload(self._layers, upload)
        # encoded before the transaction: the write lock is held for the inserts only
        blobs = [_encode(p.geometries) for p in prepared]
        raster = raster_row(upload.raster, upload) if upload.raster else None
        raw = Path(upload.raw_path)
        if not raw.is_file():
            raise StoreSchemaError(f"raw file {raw} does not exist")
        if raw.stat().st_size != upload.size:
            raise StoreSchemaError(
                f"raw file {raw} has {raw.stat().st_size} bytes, not {upload.size}"
            )
        with self._write() as con:
            row = con.execute(
                "SELECT upload_id FROM uploads WHERE upload_key = ?", (key,)
            ).fetchone()
            if row is None:
                return self._insert_upload(con, upload, prepared, blobs, raster, progress)
        # another writer stored the same upload while we were preparing ours
        return self._duplicate(self.get_upload(row[0]))

    def _insert_upload(
        self,
        con: sqlite3.Connection,
        upload: UploadWrite,
        prepared: list[Prepared],
        blobs: list[list[bytes | None] | None],
        raster: dict[str, Any] | None,
        progress: Progress | None,
    ) -> UploadResult:
        """Everything of one upload, inside the caller's write transaction."""
        total = sum(p.rows for p in prepared)
        self._check_round_dates(con, upload)
        self._store_raw(con, upload)
        upload_id = con.execute(
            "INSERT INTO uploads (upload_key, sha256, original_name, format, layer, "
            'source_layer, settlement_id, round, mapping_id, created_at, "rows", '
            "report_json, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'stored')",
            (
                upload.upload_key,
                upload.sha256.lower(),
                upload.original_name,
                upload.format,
                upload.layer,
                upload.source_layer,
                upload.settlement_id,
                upload.round,
                upload.mapping_id,
                now(),
                total,
                report_json(upload.report),
            ),
        ).lastrowid
        raster_id = None
        if raster is not None:
            raster_id = con.execute(
                f"INSERT INTO rasters ({', '.join(raster)}, upload_id, sha256) "
                f"VALUES ({', '.join('?' * (len(raster) + 2))})",
                (*raster.values(), upload_id, upload.sha256.lower()),
            ).lastrowid
        if progress is not None:
            progress(0, total)
        done = 0
        layer_rows: dict[str, int] = {}
        for p, geometry_blobs in zip(prepared, blobs, strict=True):
            done = self._insert_frame(con, p, geometry_blobs, int(upload_id), done, total, progress)
            layer_rows[p.schema.name] = layer_rows.get(p.schema.name, 0) + p.rows
        pairs = set().union(*(p.pairs for p in prepared))
        if upload.settlement_id and upload.round:
            pairs.add((upload.settlement_id, upload.round))
        self._store_rounds(con, pairs, upload)
        return UploadResult(
            upload_id=int(upload_id),
            upload_key=upload.upload_key,
            duplicate=False,
            rows=total,
            layer_rows=layer_rows,
            raster_id=raster_id,
        )

    def _duplicate(self, info: UploadInfo) -> UploadResult:
        layer_rows: dict[str, int] = {}
        with self._read() as con:
            for name in self._layers:
                if self._table_columns(con, name):
                    n = con.execute(
                        f"SELECT count(*) FROM {_q(name)} WHERE upload_id = ?", (info.upload_id,)
                    ).fetchone()[0]
                    if n:
                        layer_rows[name] = n
            raster = con.execute(
                "SELECT min(raster_id) FROM rasters WHERE upload_id = ?", (info.upload_id,)
            ).fetchone()[0]
        return UploadResult(
            upload_id=info.upload_id,
            upload_key=info.upload_key,
            duplicate=True,
            rows=info.rows,
            layer_rows=layer_rows,
            raster_id=raster,
        )

    def _check_round_dates(self, con: sqlite3.Connection, upload: UploadWrite) -> None:
        if not (upload.settlement_id and upload.round and upload.round_date):
            return
        row = con.execute(
            "SELECT date FROM rounds WHERE settlement_id = ? AND round = ?",
            (upload.settlement_id, upload.round),
        ).fetchone()
        if row is not None and row[0] is not None and row[0] != upload.round_date:
            raise StoreConflict(
                f"round {upload.round!r} of {upload.settlement_id!r} is stored with date "
                f"{row[0]}, the upload says {upload.round_date}"
            )

    @staticmethod
    def _store_rounds(
        con: sqlite3.Connection, pairs: set[tuple[str, str]], upload: UploadWrite
    ) -> None:
        def dated(s: str, r: str) -> bool:
            # The upload's round date holds for its settlement, or for every settlement of
            # its rows when the upload names none (one enumeration of several settlements).
            return r == upload.round and upload.settlement_id in (None, s)

        con.executemany(
            "INSERT INTO rounds (settlement_id, round, date, label) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (settlement_id, round) DO UPDATE SET "
            "date = coalesce(rounds.date, excluded.date), "
            "label = coalesce(rounds.label, excluded.label)",
            [
                (
                    s,
                    r,
                    *((upload.round_date, upload.round_label) if dated(s, r) else (None, None)),
                )
                for s, r in sorted(pairs)
            ],
        )

    def _store_raw(self, con: sqlite3.Connection, upload: UploadWrite) -> None:
        """Copy the raw bytes once (by sha256), streamed through the blob API and re-hashed."""
        sha = upload.sha256.lower()
        cur = con.execute(
            "INSERT OR IGNORE INTO raw_files (sha256, size, data) VALUES (?, ?, zeroblob(?))",
            (sha, upload.size, upload.size),
        )
        if cur.rowcount != 1:
            return  # the same bytes are already kept
        digest = hashlib.sha256()
        with (
            Path(upload.raw_path).open("rb") as src,
            con.blobopen("raw_files", "data", cur.lastrowid) as blob,
        ):
            while chunk := src.read(1 << 20):
                if blob.tell() + len(chunk) > upload.size:
                    raise StoreSchemaError(f"raw file {upload.raw_path} grew while being stored")
                blob.write(chunk)
                digest.update(chunk)
        if digest.hexdigest() != sha:
            raise StoreSchemaError(
                f"raw file {upload.raw_path} has sha256 {digest.hexdigest()}, not {sha}"
            )

    def _insert_frame(
        self,
        con: sqlite3.Connection,
        p: Prepared,
        blobs: list[bytes | None] | None,
        upload_id: int,
        done: int,
        total: int,
        progress: Progress | None,
    ) -> int:
        t = p.schema.name
        self._ensure_table(con, p.schema)
        spatial = p.schema.geometry is not None
        seq = con.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (t,)).fetchone()
        top = con.execute(f'SELECT max("fid") FROM {_q(t)}').fetchone()[0]
        first = max(seq[0] if seq else 0, top or 0) + 1
        fids = list(range(first, first + p.rows))

        names = ["fid"] + ([GEOMETRY_COLUMN] if spatial else []) + p.columns
        columns: list[Sequence[Any]] = [fids]
        if spatial:
            columns.append(blobs if blobs is not None else [None] * p.rows)
        columns += p.values
        # one value for all rows (upload id, settlement, round, hash...): SQL literals, not
        # parameters bound a million times
        literals = {"upload_id": int(upload_id), **p.constants}
        head = f"INSERT INTO {_q(t)} ({', '.join(map(_q, [*names, *literals]))}) VALUES"
        group = f"({', '.join(['?'] * len(names) + [_literal(v) for v in literals.values()])})"
        triggers = _rtree_triggers(t) if spatial else {}
        insert_trigger = f"{_rtree_name(t)}_insert"
        if spatial:
            con.execute(f"DROP TRIGGER IF EXISTS {_q(insert_trigger)}")
        for start in range(0, p.rows, CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, p.rows)
            insert_rows(con, head, [c[start:stop] for c in columns], row=group)
            done += stop - start
            if progress is not None:
                progress(done, total)
        if spatial:
            if p.bounds is not None:
                self._index(con, t, np.asarray(fids, dtype=np.int64), p.bounds)
            con.execute(triggers[insert_trigger])
        con.execute("UPDATE gpkg_contents SET last_change = ? WHERE table_name = ?", (now(), t))
        return done

    @staticmethod
    def _index(con: sqlite3.Connection, table: str, fids: np.ndarray, bounds: np.ndarray) -> None:
        """Fill the RTree for new rows and widen the extent in ``gpkg_contents``."""
        ok = ~np.isnan(bounds).any(axis=1)
        if not ok.any():
            return
        b = bounds[ok]
        name = _rtree_name(table)
        stored = con.execute(f"SELECT count(*) FROM {_q(name + '_rowid')}").fetchone()[0]
        if 4 * len(b) >= stored:  # (re)pack the whole tree: much faster than row inserts
            ids, boxes = rtree_bulk.entries(con, name)
            new = np.column_stack(
                [
                    rtree_bulk.float32_down(b[:, 0]),
                    rtree_bulk.float32_up(b[:, 2]),
                    rtree_bulk.float32_down(b[:, 1]),
                    rtree_bulk.float32_up(b[:, 3]),
                ]
            )
            rtree_bulk.bulk_load(
                con, name, np.concatenate([ids, fids[ok]]), np.concatenate([boxes, new])
            )
        else:  # a few rows into a big tree: let the rtree module insert them
            xy = [b[:, k].tolist() for k in (0, 2, 1, 3)]  # minx, maxx, miny, maxy
            rows = zip(fids[ok].tolist(), *xy, strict=True)
            con.executemany(f"INSERT INTO {_q(name)} VALUES (?, ?, ?, ?, ?)", rows)
        con.execute(
            "UPDATE gpkg_contents SET min_x = min(coalesce(min_x, :a), :a), "
            "min_y = min(coalesce(min_y, :b), :b), max_x = max(coalesce(max_x, :c), :c), "
            "max_y = max(coalesce(max_y, :d), :d) WHERE table_name = :t",
            {
                "a": float(b[:, 0].min()),
                "b": float(b[:, 1].min()),
                "c": float(b[:, 2].max()),
                "d": float(b[:, 3].max()),
                "t": table,
            },
        )

    # -------------------------------------------------------------------------------- reading
    def _get_upload(
        self, con: sqlite3.Connection, upload_id: int, *, with_report: bool
    ) -> UploadInfo:
        row = con.execute(
            f"SELECT {UPLOAD_COLUMNS}, {'u.report_json' if with_report else 'NULL'} "
            "FROM uploads u LEFT JOIN raw_files f ON f.sha256 = u.sha256 WHERE u.upload_id = ?",
            (upload_id,),
        ).fetchone()
        if row is None:
            raise StoreNotFound(f"no upload {upload_id}")
        return upload_info(row)

    def find_upload(self, upload_key: str) -> UploadInfo | None:
        """The upload stored under ``upload_key`` (see :func:`make_upload_key`), or None."""
        with self._read() as con:
            row = con.execute(
                "SELECT upload_id FROM uploads WHERE upload_key = ?", (upload_key,)
            ).fetchone()
            return None if row is None else self._get_upload(con, row[0], with_report=False)

    def get_upload(self, upload_id: int) -> UploadInfo:
        """One upload with its validation report. Raises :class:`StoreNotFound`."""
        with self._read() as con:
            return self._get_upload(con, int(upload_id), with_report=True)

    def uploads(self) -> list[UploadInfo]:
        """Every upload, oldest first (reports left out: see :meth:`get_upload`)."""
        return self._uploads("", ())

    def uploads_by_sha256(self, sha256: str) -> list[UploadInfo]:
        """The uploads of one file (by its SHA-256), oldest first; uses the sha256 index."""
        return self._uploads("WHERE u.sha256 = ?", (sha256.lower(),))

    def _uploads(self, where: str, params: tuple[Any, ...]) -> list[UploadInfo]:
        with self._read() as con:
            rows = con.execute(
                f"SELECT {UPLOAD_COLUMNS}, NULL FROM uploads u "
                f"LEFT JOIN raw_files f ON f.sha256 = u.sha256 {where} ORDER BY u.upload_id",
                params,
            ).fetchall()
        return [upload_info(r) for r in rows]

    def data_version(self) -> tuple[int, int]:
        """(number of uploads, latest upload id): changes whenever data is stored.

        One indexed query, cheap enough to check on every request of a cache.
        """
        with self._read() as con:
            count, latest = con.execute(
                "SELECT count(*), coalesce(max(upload_id), 0) FROM uploads"
            ).fetchone()
        return int(count), int(latest)

    def rounds(self, settlement: str | None = None) -> list[RoundInfo]:
        """Enumeration rounds, by settlement then round."""
        sql = "SELECT settlement_id, round, date, label FROM rounds"
        params: tuple[Any, ...] = ()
        if settlement is not None:
            sql += " WHERE settlement_id = ?"
            params = (settlement,)
        with self._read() as con:
            rows = con.execute(sql + " ORDER BY settlement_id, round", params).fetchall()
        return [RoundInfo(*r) for r in rows]

    def list_layers(self) -> list[LayerInfo]:
        """Every canonical layer with its row count, lon/lat extent, settlements and rounds."""
        out = []
        with self._read() as con:
            for name, schema in self._layers.items():
                if not self._table_columns(con, name):
                    out.append(LayerInfo(name, schema.geometry, 0, None, (), ()))
                    continue
                rows = con.execute(f"SELECT count(*) FROM {_q(name)}").fetchone()[0]
                box = con.execute(
                    "SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = ?",
                    (name,),
                ).fetchone()
                bbox = tuple(box) if box and None not in box else None
                settlements = tuple(
                    r[0]
                    for r in con.execute(
                        f"SELECT DISTINCT settlement_id FROM {_q(name)} "
                        "WHERE settlement_id IS NOT NULL ORDER BY 1"
                    )
                )
                rounds = tuple(
                    r[0]
                    for r in con.execute(
                        f"SELECT DISTINCT round FROM {_q(name)} WHERE round IS NOT NULL ORDER BY 1"
                    )
                )
                out.append(LayerInfo(name, schema.geometry, rows, bbox, settlements, rounds))
        return out

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
    ) -> pd.DataFrame:
        """Read a layer, filtered, as a GeoDataFrame (EPSG:4326) or a DataFrame (no geometry).

        Parameters
        ----------
        layer : str
        settlement, round : str, optional
            Keep rows of this settlement / enumeration round.
        bbox : (minx, miny, maxx, maxy), optional
            Lon/lat box; candidates come from the RTree, then ``shapely.intersects`` keeps the
            rows whose geometry really intersects the box (RTree boxes are float32, rounded
            outwards).
        columns : sequence of str, optional
            Fields and provenance columns to return (the geometry always comes along unless
            ``geometry=False``).
        include_personal : bool
            Also return fields flagged ``personal`` (names, phones...). Asking for a personal
            field in ``columns`` without it raises :class:`StoreSchemaError`.
        upload_id : int, optional
            Keep rows of one upload.
        limit, offset : int, optional
            Page through rows in ``fid`` order (in SQL, also with ``bbox``: the exact test
            then runs on the candidates' geometries only and the page's columns are read
            afterwards).
        settlements_in : collection of str, optional
            Keep only rows whose ``settlement_id`` is one of these (rows without a
            settlement are dropped; an empty collection keeps nothing).
        settlements_not_in : collection of str, optional
            Drop rows whose ``settlement_id`` is one of these (rows without a settlement are
            kept).
        fids : collection of int, optional
            Keep only these feature ids.
        geometry : bool
            Read and decode the geometry (default). ``False`` returns a plain DataFrame
            without it, which is much cheaper (e.g. for ids and settlements only).

        Returns
        -------
        GeoDataFrame or DataFrame
            Indexed by ``fid``; integers as ``Int64``, booleans as ``boolean``, dates as
            ``datetime64``, text and codes as ``str``, ``attributes`` as JSON text.
        """
        schema = self._schema(layer)
        selected = select_columns(schema, columns, include_personal=include_personal)
        spatial = schema.geometry is not None
        where, params = self._where(
            layer,
            spatial=spatial,
            settlement=settlement,
            round=round,
            bbox=bbox,
            upload_id=upload_id,
            settlements_in=settlements_in,
            settlements_not_in=settlements_not_in,
            fids=fids,
        )
        paged = limit is not None or bool(offset)
        with_geometry = spatial and (geometry or bbox is not None)
        with self._read() as con:
            stored = self._table_columns(con, layer)
            present = [(n, d) for n, d in selected if n in stored]
            names = ["fid"] + ([GEOMETRY_COLUMN] if with_geometry else []) + [n for n, _ in present]
            rows: list[tuple[Any, ...]] = []
            if stored:
                if bbox is not None and paged:
                    # exact bbox test on the candidates' geometries, page by fid, then read
                    # the page's columns only
                    keep = self._bbox_fids(con, layer, where, params, bbox)
                    stop = None if limit is None else offset + max(int(limit), 0)
                    page = keep[offset:stop]
                    where, params = (
                        ['"fid" IN (SELECT value FROM json_each(?))'],
                        [orjson.dumps(page.tolist()).decode()],
                    )
                    bbox, paged = None, False
                sql = f"SELECT {', '.join(map(_q, names))} FROM {_q(layer)}"
                if where:
                    sql += " WHERE " + " AND ".join(where)
                sql += ' ORDER BY "fid"'
                if bbox is None and paged:
                    sql += f" LIMIT {-1 if limit is None else int(limit):d} OFFSET {int(offset):d}"
                rows = con.execute(sql, params).fetchall()
        table = np.empty((len(rows), len(names)), dtype=object)
        if rows:
            table[:] = rows  # one C-level copy; columns are then views
        by_name = {n: table[:, j] for j, n in enumerate(names)}
        index = pd.Index(by_name["fid"].astype(np.int64), name="fid")
        missing = np.full(len(index), None, dtype=object)
        frame = pd.DataFrame(
            {n: from_sql(by_name.get(n, missing), d) for n, d in selected}, index=index
        )
        if not with_geometry:
            return frame
        geoms = geometry_blob.decode(by_name[GEOMETRY_COLUMN])
        if bbox is not None:
            keep_mask = shapely.intersects(geoms, shapely.box(*check_bbox(bbox)))
            frame, geoms = frame[keep_mask], geoms[keep_mask]
        if not geometry:
            return frame
        return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, index=frame.index, crs=SRS_ID))

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
    ) -> int:
        """How many rows :meth:`read_layer` with the same filters returns (without paging).

        ``SELECT count(*)`` in SQL; with ``bbox`` only the RTree candidates' geometries are
        decoded for the exact intersection test.
        """
        schema = self._schema(layer)
        spatial = schema.geometry is not None
        where, params = self._where(
            layer,
            spatial=spatial,
            settlement=settlement,
            round=round,
            bbox=bbox,
            upload_id=upload_id,
            settlements_in=settlements_in,
            settlements_not_in=settlements_not_in,
            fids=fids,
        )
        with self._read() as con:
            if not self._table_columns(con, layer):
                return 0
            if bbox is not None:
                return len(self._bbox_fids(con, layer, where, params, bbox))
            sql = f"SELECT count(*) FROM {_q(layer)}"
            if where:
                sql += " WHERE " + " AND ".join(where)
            return int(con.execute(sql, params).fetchone()[0])

    def _where(
        self,
        layer: str,
        *,
        spatial: bool,
        settlement: str | None,
        round: str | None,
        bbox: BBox | None,
        upload_id: int | None,
        settlements_in: Collection[str] | None,
        settlements_not_in: Collection[str] | None,
        fids: Collection[int] | None,
    ) -> tuple[list[str], list[Any]]:
        """SQL conditions (joined by ``AND``) and their bound parameters for the filters."""
        where: list[str] = []
        params: list[Any] = []
        for col, value in (
            ("settlement_id", settlement),
            ("round", round),
            ("upload_id", upload_id),
        ):
            if value is not None:
                where.append(f"{_q(col)} = ?")
                params.append(value)
        # sets are bound as one JSON array (json_each): any size, no SQL variable limit
        if settlements_in is not None:
            where.append('"settlement_id" IN (SELECT value FROM json_each(?))')
            params.append(json_texts(settlements_in, "settlements_in"))
        if settlements_not_in is not None and len(settlements_not_in):
            where.append(
                '("settlement_id" IS NULL OR "settlement_id" NOT IN '
                "(SELECT value FROM json_each(?)))"
            )
            params.append(json_texts(settlements_not_in, "settlements_not_in"))
        if fids is not None:
            ids = fid_list(fids)
            where.append('"fid" IN (SELECT value FROM json_each(?))')
            params.append(orjson.dumps(ids).decode())
        if bbox is not None:
            if not spatial:
                raise StoreSchemaError(f"layer {layer!r} has no geometry to filter by bbox")
            box = check_bbox(bbox)
            where.append(
                f'"fid" IN (SELECT id FROM {_q(_rtree_name(layer))} '
                "WHERE minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ?)"
            )
            params += [box[2], box[0], box[3], box[1]]
        return where, params

    @staticmethod
    def _bbox_fids(
        con: sqlite3.Connection,
        layer: str,
        where: list[str],
        params: list[Any],
        bbox: BBox,
    ) -> np.ndarray:
        """Sorted fids of the rows matching ``where`` whose geometry intersects ``bbox``."""
        sql = f'SELECT "fid", {_q(GEOMETRY_COLUMN)} FROM {_q(layer)}'
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = con.execute(sql + ' ORDER BY "fid"', params).fetchall()
        if not rows:
            return np.empty(0, dtype=np.int64)
        table = np.empty((len(rows), 2), dtype=object)
        table[:] = rows
        geoms = geometry_blob.decode(table[:, 1])
        keep = shapely.intersects(geoms, shapely.box(*check_bbox(bbox)))
        return table[:, 0][keep].astype(np.int64)

    def read_raw(self, sha256: str) -> bytes:
        """The raw bytes of an upload. Raises :class:`StoreNotFound`."""
        with self._read() as con:
            row = con.execute(
                "SELECT data FROM raw_files WHERE sha256 = ?", (sha256.lower(),)
            ).fetchone()
        if row is None:
            raise StoreNotFound(f"no raw file with sha256 {sha256}")
        return bytes(row[0])

    def rasters(self, settlement: str | None = None) -> list[RasterInfo]:
        """Stored rasters (metadata only), oldest first."""
        sql = f"SELECT {RASTER_COLUMNS} FROM rasters r"
        params: tuple[Any, ...] = ()
        if settlement is not None:
            sql += " WHERE r.settlement_id = ?"
            params = (settlement,)
        with self._read() as con:
            rows = con.execute(sql + " ORDER BY r.raster_id", params).fetchall()
        return [raster_info(r) for r in rows]

    def read_raster(self, raster_id: int) -> tuple[RasterInfo, bytes]:
        """A raster's metadata and its GeoTIFF bytes. Raises :class:`StoreNotFound`."""
        with self._read() as con:
            row = con.execute(
                f"SELECT {RASTER_COLUMNS}, f.data FROM rasters r "
                "JOIN raw_files f ON f.sha256 = r.sha256 WHERE r.raster_id = ?",
                (int(raster_id),),
            ).fetchone()
        if row is None:
            raise StoreNotFound(f"no raster {raster_id}")
        return raster_info(row[:-1]), bytes(row[-1])

    # ------------------------------------------------------------------------------ exporting
    def export(
        self,
        layer: str,
        path: Path | str,
        *,
        fmt: ExportFormat = "gpkg",
        csv_geometry: str | None = None,
        overwrite: bool = False,
        **filters: Any,
    ) -> int:
        """Write a layer (filtered like :meth:`read_layer`) to a file.

        Parameters
        ----------
        layer : str
        path : Path
        fmt : {"gpkg", "geojson", "csv"}
            GeoPackage and GeoJSON (RFC 7946: lon/lat, right-hand polygons) via pyogrio;
            CSV with the geometry as WKT (``wkt`` column) or, for points, ``lon`` / ``lat``.
            Text cells of a CSV that start with ``= + - @ TAB CR`` are prefixed with ``'``
            (OWASP "CSV Injection") so a spreadsheet never runs them as formulas.
        csv_geometry : {"wkt", "lonlat"}, optional
            Default ``lonlat`` for point layers, ``wkt`` otherwise.
        overwrite : bool
            Replace an existing file.
        **filters
            ``settlement``, ``round``, ``bbox``, ``columns``, ``include_personal``...

        Returns
        -------
        int
            Rows written.
        """
        target = Path(path)
        if target.resolve() == self.path.resolve():
            raise StoreError("refusing to export a layer onto the store itself")
        if target.exists():
            if not overwrite:
                raise FileExistsError(target)
            target.unlink()
        frame = self.read_layer(layer, **filters)
        points = self._schema(layer).geometry == "Point"
        return write_frame(
            frame, target, layer=layer, fmt=fmt, points=points, csv_geometry=csv_geometry
        )

    # ---------------------------------------------------------------------------- bookkeeping
    def counts(self) -> dict[str, int]:
        """Row count of every table in the file (layers, RTrees, internal and gpkg tables)."""
        with self._read() as con:
            return self._counts(con)

    @staticmethod
    def _counts(con: sqlite3.Connection) -> dict[str, int]:
        names = [
            r[0]
            for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {n: con.execute(f"SELECT count(*) FROM {_q(n)}").fetchone()[0] for n in names}

    def snapshot(self) -> StoreSnapshot:
        """Row counts and the last upload id, read in one transaction (cheap; for tests)."""
        with self._read() as con:
            counts = self._counts(con)
            top = con.execute("SELECT coalesce(max(upload_id), 0) FROM uploads").fetchone()[0]
        return StoreSnapshot(counts=counts, max_upload_id=int(top))


def _encode(geometries: np.ndarray | None) -> list[bytes | None] | None:
    return None if geometries is None else geometry_blob.encode(geometries, srs_id=SRS_ID)


def _literal(value: Any) -> str:
    """An SQL literal for NULL, an integer or a text without NUL (quotes doubled)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool | int | np.integer):
        return str(int(value))
    if isinstance(value, str) and "\x00" not in value:
        return "'" + value.replace("'", "''") + "'"
    raise StoreSchemaError(f"cannot store {value!r} as a constant column value")
