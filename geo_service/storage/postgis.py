"""The PostGIS store: the same interface as the embedded GeoPackage, for country scale.

Set ``GEO_SERVICE_DATABASE_URL=postgresql://user:password@host:5432/dbname`` and the service,
the CLI and the jobs use :class:`PostGISStore` instead of the GeoPackage file
(:func:`geo_service.storage.open_store`). Everything the web layer sees is unchanged: the same
frames, the same upload records, the same errors.

Schema and migrations
    The store lives in one PostgreSQL schema (``geo_service`` by default, so it can share a
    database). Its bookkeeping tables (``uploads``, ``raw_files``, ``rounds``, ``rasters``,
    ``layer_extents``, ``store_meta``) are created and upgraded by **Alembic** migrations
    (:mod:`geo_service.storage.migrations`), run when the store is opened, under an advisory
    lock so that several processes starting at once migrate once. Layer tables follow the
    layer registry (:mod:`profiling.schema`) as in the GeoPackage: created on the first upload
    of a layer and widened with ``ALTER TABLE ... ADD COLUMN`` when a schema gains a field,
    inside the upload's transaction (PostgreSQL DDL is transactional, so a failed upload also
    leaves no new table behind).

Layer tables
    ``fid`` (identity), ``geom geometry(<type>, 4326)`` with a **GiST index** (lines and
    polygons as ``MULTI*``, single parts promoted, exactly as the GeoPackage), the schema's
    fields as ``text`` / ``bigint`` / ``double precision`` / ``boolean`` / ``date``, and the
    provenance columns (``upload_id`` referencing ``uploads``, ``settlement_id``, ``round``,
    ``source_sha256``, ``source_row``, ``attributes`` as ``json``, which keeps the text as sent)
    with B-tree indexes on settlement, round and upload.

Transactions
    One upload is one transaction. Writers take a transaction-level advisory lock on the
    store's schema first, so uploads are serialised like the GeoPackage's single writer (the
    idempotency check then sees every committed upload) while readers never wait: each read
    runs in a ``REPEATABLE READ, READ ONLY`` transaction, one snapshot for all its queries.
    A writer that waits longer than ``busy_timeout_ms`` for the lock gets
    :class:`~geo_service.storage.base.StoreBusy`; a server that cannot be reached is
    :class:`~geo_service.storage.base.StoreUnavailable`. A killed client's transaction is
    rolled back by the server.

Speed
    Rows go in with one ``COPY ... FROM STDIN (FORMAT csv)`` per chunk, the CSV written by
    Arrow's C++ writer from typed Arrow arrays (geometries as hex EWKB from
    ``shapely.to_wkb``; every string quoted and nulls left as empty unquoted fields, which is
    PostgreSQL's CSV NULL), never a Python loop over rows. Bounding-box reads use the GiST index
    (``geom && envelope``) and ``ST_Intersects`` for the exact test in SQL; geometries come back
    as WKB and are decoded by ``shapely.from_wkb`` in one call.

Known limits
    Text values cannot hold the NUL character in PostgreSQL: it is stored as U+FFFD (the raw
    file keeps the original bytes). Raw files are kept as ``bytea`` (under 1 GB each).

References
----------
PostGIS 3 manual, "Spatial Indexes" (GiST) and ``ST_Intersects``; PostgreSQL 15 manual,
``COPY`` ("CSV Format") and "Advisory Locks"; Alembic tutorial, "Running Migrations
Programmatically".
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import shapely
from psycopg import errors as pg_errors
from psycopg import sql

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
    StoreUnavailable,
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
    layer_schema,
    prepare_upload,
    provenance_columns,
    select_columns,
    settlement_ids,
)
from geo_service.storage.migrations import migrate
from geo_service.storage.records import (
    RASTER_COLUMNS,
    UPLOAD_COLUMNS,
    now,
    raster_info,
    raster_row,
    report_json,
    upload_info,
)
from geo_service.storage.values import from_sql

if TYPE_CHECKING:
    from profiling.schema import LayerSchema

__all__ = ["CHUNK_ROWS", "PostGISStore", "redact_url"]

CHUNK_ROWS = 50_000
_INTERNAL_TABLES = (
    "store_meta",
    "raw_files",
    "uploads",
    "rounds",
    "rasters",
    "layer_extents",
    "alembic_version",
    "spatial_ref_sys",
    "geometry_columns",
    "geography_columns",
)
_PG_TYPES = {
    "str": "text",
    "codes": "text",
    "int": "bigint",
    "float": "double precision",
    "bool": "boolean",
    "date": "date",
}
_GEOMETRY_TYPES = {
    "Point": "Point",
    "LineString": "MultiLineString",
    "Polygon": "MultiPolygon",
    "Any": "Geometry",
}
_NUMBER_KINDS = {"int": pa.int64(), "float": pa.float64(), "bool": pa.int8()}
_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="needed")


def redact_url(url: str) -> str:
    """The database URL without its password (for logs, reprs and cache keys).

    Examples
    --------
    >>> redact_url("postgresql://geo:s3cret@db.example.org:5432/cities")
    'postgresql://geo:***@db.example.org:5432/cities'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _ident(*names: str) -> sql.Composable:
    return sql.Identifier(*names)


class PostGISStore:
    """A store of uploads and canonical layers in a PostgreSQL / PostGIS database.

    Parameters
    ----------
    url : str
        ``postgresql://user:password@host:port/dbname`` (libpq URL; ``?sslmode=...`` and other
        libpq parameters are passed on).
    schema : str
        PostgreSQL schema holding the store's tables (created if missing).
    busy_timeout_ms : int
        How long a writer waits for another writer before :class:`StoreBusy` is raised.
    layers : mapping of str to LayerSchema, optional
        The canonical layer registry; ``profiling.schema.LAYERS`` by default.

    Notes
    -----
    Each thread gets its own connection; a forked child opens its own. The PostGIS extension
    must exist in the database or be creatable by the connecting role (a superuser or the
    database owner on PostgreSQL 13+ with ``CREATE EXTENSION postgis`` allowed).
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str = "geo_service",
        busy_timeout_ms: int = 30_000,
        layers: Mapping[str, LayerSchema] | None = None,
    ) -> None:
        if not url.startswith(("postgresql://", "postgres://")):
            raise StoreError(
                f"not a PostgreSQL URL: {redact_url(url)!r} (expected postgresql://...)"
            )
        self.url = url
        self.schema = schema
        self.busy_timeout_ms = int(busy_timeout_ms)
        registry = _default_layers() if layers is None else layers
        self._layers = check_registry(registry, reserved_tables=_INTERNAL_TABLES, prefixes=("pg_",))
        self._lock = threading.Lock()
        self._local = threading.local()
        self._connections: list[psycopg.Connection[Any]] = []
        self._pid = os.getpid()
        self._closed = False
        self._lock_key = int.from_bytes(
            hashlib.sha256(f"geo_service:{schema}".encode()).digest()[:8], "big", signed=True
        )
        try:
            self._search_path = self._prepare_database()
            migrate(self.url, schema=schema, search_path=self._search_path)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ connection management
    def __enter__(self) -> PostGISStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PostGISStore({redact_url(self.url)!r}, schema={self.schema!r})"

    @property
    def location(self) -> str:
        """Where the data lives, without secrets (cache keys, logs)."""
        return f"{redact_url(self.url)}#{self.schema}"

    @property
    def layers(self) -> Mapping[str, LayerSchema]:
        """The layer registry this store writes and reads."""
        return self._layers

    def close(self) -> None:
        """Close every connection this store opened (in any thread)."""
        with self._lock:
            for con in self._connections:
                with contextlib.suppress(psycopg.Error):
                    con.close()
            self._connections.clear()
            self._closed = True
        self._local = threading.local()

    def _connect(self, search_path: str | None = None) -> psycopg.Connection[Any]:
        options = f"-c lock_timeout={self.busy_timeout_ms:d}"
        if search_path is not None:
            options += f" -c search_path={search_path}"
        try:
            return psycopg.connect(
                self.url, autocommit=True, options=options, application_name="geo_service"
            )
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"cannot reach {redact_url(self.url)}: {exc}") from exc

    def _connection(self) -> psycopg.Connection[Any]:
        if self._closed:
            raise StoreError(f"{self!r} is closed")
        if self._pid != os.getpid():  # forked: never reuse the parent's connections
            with self._lock:
                self._connections = []
                self._local = threading.local()
                self._pid = os.getpid()
        con = getattr(self._local, "con", None)
        if con is None or con.closed:
            con = self._connect(self._search_path)
            self._local.con = con
            with self._lock:
                self._connections.append(con)
        return con

    def _translate(self, exc: psycopg.Error) -> StoreError:
        if isinstance(exc, pg_errors.LockNotAvailable | pg_errors.DeadlockDetected):
            return StoreBusy(
                f"{self.location} is busy: another writer held it for more than "
                f"{self.busy_timeout_ms / 1000:g} s ({exc})"
            )
        if isinstance(exc, psycopg.OperationalError):
            return StoreUnavailable(f"{self.location}: {exc}")
        return StoreError(f"{self.location}: {exc}")

    @contextlib.contextmanager
    def _write(self) -> Iterator[psycopg.Cursor[Any]]:
        """A transaction holding the store's write lock; rolled back on any exception."""
        con = self._connection()
        try:
            with con.transaction(), con.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
                yield cur
        except psycopg.Error as exc:
            raise self._translate(exc) from exc

    @contextlib.contextmanager
    def _read(self) -> Iterator[psycopg.Cursor[Any]]:
        """A read-only transaction: several queries see one snapshot (reentrant)."""
        con = self._connection()
        if con.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            with con.cursor() as cur:  # e.g. called from a progress callback inside a write
                yield cur
            return
        try:
            with con.transaction(), con.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield cur
        except psycopg.Error as exc:
            raise self._translate(exc) from exc

    # ------------------------------------------------------------------------------ creation
    def _prepare_database(self) -> str:
        """Check the server has PostGIS (create the extension if allowed); the search path."""
        con = self._connect()
        try:
            with con.cursor() as cur:
                cur.execute(
                    "SELECT extnamespace::regnamespace::text FROM pg_extension "
                    "WHERE extname = 'postgis'"
                )
                row = cur.fetchone()
                if row is None:
                    try:
                        cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
                    except psycopg.Error as exc:
                        raise StoreError(
                            f"{redact_url(self.url)} has no PostGIS extension and this role "
                            f"cannot create it ({exc.sqlstate}: {exc}); run "
                            "'CREATE EXTENSION postgis' as a superuser first"
                        ) from exc
                    cur.execute(
                        "SELECT extnamespace::regnamespace::text FROM pg_extension "
                        "WHERE extname = 'postgis'"
                    )
                    row = cur.fetchone()
                assert row is not None
                postgis_schema = str(row[0])
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"cannot use {redact_url(self.url)}: {exc}") from exc
        finally:
            con.close()
        names = dict.fromkeys([self.schema, postgis_schema])
        return ",".join(sql.Identifier(n).as_string(None) for n in names)

    def _table_columns(self, cur: psycopg.Cursor[Any], table: str) -> dict[str, str]:
        """Column name -> SQL type of a layer table ({} when it does not exist yet)."""
        cur.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum",
            (sql.Identifier(self.schema, table).as_string(None),),
        )
        return dict(cur.fetchall())

    def _ensure_table(self, cur: psycopg.Cursor[Any], schema: LayerSchema) -> None:
        """Create the layer table (GiST and B-tree indexes) or add the schema's new fields."""
        t = _ident(schema.name)
        existing = self._table_columns(cur, schema.name)
        if existing:
            for f in schema.fields:
                declared = existing.get(f.name)
                if declared is None:
                    cur.execute(
                        sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                            t, _ident(f.name), sql.SQL(_PG_TYPES[f.dtype])
                        )
                    )
                elif declared != _PG_TYPES[f.dtype]:
                    raise StoreSchemaError(
                        f"{schema.name}.{f.name} is stored as {declared} but the schema says "
                        f"{f.dtype} ({_PG_TYPES[f.dtype]}); migrate the store first"
                    )
            return
        cols = [sql.SQL("fid bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")]
        if schema.geometry is not None:
            kind = _GEOMETRY_TYPES[schema.geometry]
            cols.append(sql.SQL(f"geom geometry({kind}, {SRS_ID:d})"))
        cols += [
            sql.SQL("{} {}").format(_ident(f.name), sql.SQL(_PG_TYPES[f.dtype]))
            for f in schema.fields
        ]
        for c in provenance_columns(schema):
            if c == "upload_id":
                cols.append(sql.SQL("upload_id bigint NOT NULL REFERENCES uploads(upload_id)"))
            elif c == "attributes":
                cols.append(sql.SQL("attributes json"))
            else:
                cols.append(
                    sql.SQL("{} {}").format(_ident(c), sql.SQL(_PG_TYPES[PROVENANCE_TYPES[c]]))
                )
        cur.execute(sql.SQL("CREATE TABLE {} ({})").format(t, sql.SQL(", ").join(cols)))
        for c in ("settlement_id", "round", "upload_id"):
            cur.execute(
                sql.SQL("CREATE INDEX {} ON {} ({})").format(
                    _ident(f"idx_{schema.name}_{c}"), t, _ident(c)
                )
            )
        if schema.geometry is not None:
            cur.execute(
                sql.SQL("CREATE INDEX {} ON {} USING GIST (geom)").format(
                    _ident(f"gist_{schema.name}_geom"), t
                )
            )
        cur.execute(
            "INSERT INTO layer_extents (layer, description, last_change) VALUES (%s, %s, %s)",
            (schema.name, schema.description, now()),
        )

    # -------------------------------------------------------------------------------- writing
    def write_upload(
        self, upload: UploadWrite, *, progress: Progress | None = None
    ) -> UploadResult:
        """Store one upload (raw bytes, upload record, raster, frames) in one transaction.

        The same contract as :meth:`GeoPackageStore.write_upload
        <geo_service.storage.gpkg.GeoPackageStore.write_upload>`: frames are checked before the
        transaction (:class:`StoreSchemaError`, store untouched), the same upload key is a
        no-op (``duplicate=True``), a round stored with another date is a
        :class:`StoreConflict`, and any exception (including one raised by ``progress``) rolls
        everything back.
        """
        key = upload.upload_key
        existing = self.find_upload(key)
        if existing is not None:
            return self._duplicate(existing)
        prepared = prepare_upload(self._layers, upload)
        raster = raster_row(upload.raster, upload) if upload.raster else None
        data = _read_raw(upload)
        with self._write() as cur:
            cur.execute("SELECT upload_id FROM uploads WHERE upload_key = %s", (key,))
            row = cur.fetchone()
            if row is None:
                return self._insert_upload(cur, upload, data, prepared, raster, progress)
        # another writer stored the same upload while we were preparing ours
        return self._duplicate(self.get_upload(row[0]))

    def _insert_upload(
        self,
        cur: psycopg.Cursor[Any],
        upload: UploadWrite,
        data: bytes,
        prepared: list[Prepared],
        raster: dict[str, Any] | None,
        progress: Progress | None,
    ) -> UploadResult:
        """Everything of one upload, inside the caller's write transaction."""
        total = sum(p.rows for p in prepared)
        self._check_round_dates(cur, upload)
        sha = upload.sha256.lower()
        cur.execute(
            "INSERT INTO raw_files (sha256, size, data) VALUES (%s, %s, %s) "
            "ON CONFLICT (sha256) DO NOTHING",
            (sha, upload.size, data),
        )
        cur.execute(
            "INSERT INTO uploads (upload_key, sha256, original_name, format, layer, "
            'source_layer, settlement_id, round, mapping_id, created_at, "rows", '
            "report_json, status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
            "'stored') RETURNING upload_id",
            (
                upload.upload_key,
                sha,
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
        )
        upload_id = int(_one(cur)[0])
        raster_id = None
        if raster is not None:
            cur.execute(
                sql.SQL(
                    "INSERT INTO rasters ({}, upload_id, sha256) VALUES ({}) RETURNING raster_id"
                ).format(
                    sql.SQL(", ").join(map(_ident, raster)),
                    sql.SQL(", ").join(sql.Placeholder() * (len(raster) + 2)),
                ),
                (*raster.values(), upload_id, sha),
            )
            raster_id = int(_one(cur)[0])
        if progress is not None:
            progress(0, total)
        done = 0
        layer_rows: dict[str, int] = {}
        for p in prepared:
            done = self._insert_frame(cur, p, upload_id, done, total, progress)
            layer_rows[p.schema.name] = layer_rows.get(p.schema.name, 0) + p.rows
        pairs = set().union(*(p.pairs for p in prepared))
        if upload.settlement_id and upload.round:
            pairs.add((upload.settlement_id, upload.round))
        self._store_rounds(cur, pairs, upload)
        return UploadResult(
            upload_id=upload_id,
            upload_key=upload.upload_key,
            duplicate=False,
            rows=total,
            layer_rows=layer_rows,
            raster_id=raster_id,
        )

    def _duplicate(self, info: UploadInfo) -> UploadResult:
        layer_rows: dict[str, int] = {}
        with self._read() as cur:
            for name in self._layers:
                if self._table_columns(cur, name):
                    cur.execute(
                        sql.SQL("SELECT count(*) FROM {} WHERE upload_id = %s").format(
                            _ident(name)
                        ),
                        (info.upload_id,),
                    )
                    n = int(_one(cur)[0])
                    if n:
                        layer_rows[name] = n
            cur.execute(
                "SELECT min(raster_id) FROM rasters WHERE upload_id = %s", (info.upload_id,)
            )
            raster = _one(cur)[0]
        return UploadResult(
            upload_id=info.upload_id,
            upload_key=info.upload_key,
            duplicate=True,
            rows=info.rows,
            layer_rows=layer_rows,
            raster_id=raster,
        )

    def _check_round_dates(self, cur: psycopg.Cursor[Any], upload: UploadWrite) -> None:
        if not (upload.settlement_id and upload.round and upload.round_date):
            return
        cur.execute(
            "SELECT date::text FROM rounds WHERE settlement_id = %s AND round = %s",
            (upload.settlement_id, upload.round),
        )
        row = cur.fetchone()
        if row is not None and row[0] is not None and row[0] != upload.round_date:
            raise StoreConflict(
                f"round {upload.round!r} of {upload.settlement_id!r} is stored with date "
                f"{row[0]}, the upload says {upload.round_date}"
            )

    @staticmethod
    def _store_rounds(
        cur: psycopg.Cursor[Any], pairs: set[tuple[str, str]], upload: UploadWrite
    ) -> None:
        def dated(s: str, r: str) -> bool:
            # as the GeoPackage: the upload's date holds for its settlement, or for every
            # settlement of its rows when it names none
            return r == upload.round and upload.settlement_id in (None, s)

        cur.executemany(
            "INSERT INTO rounds (settlement_id, round, date, label) VALUES (%s, %s, %s, %s) "
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

    def _insert_frame(
        self,
        cur: psycopg.Cursor[Any],
        p: Prepared,
        upload_id: int,
        done: int,
        total: int,
        progress: Progress | None,
    ) -> int:
        self._ensure_table(cur, p.schema)
        kinds = {f.name: f.dtype for f in p.schema.fields} | PROVENANCE_TYPES
        names: list[str] = []
        arrays: list[pa.Array] = []
        if p.schema.geometry is not None:
            names.append(GEOMETRY_COLUMN)
            arrays.append(_ewkb_hex(p.geometries, p.rows))
        for name, values in zip(p.columns, p.values, strict=True):
            names.append(name)
            arrays.append(_arrow_column(values, kinds[name]))
        for name, value in {"upload_id": upload_id, **p.constants}.items():
            names.append(name)
            arrays.append(_arrow_column([value] * p.rows, kinds[name]))
        table = pa.Table.from_arrays(arrays, names=names)
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
            _ident(p.schema.name), sql.SQL(", ").join(map(_ident, names))
        )
        with cur.copy(copy_sql) as copy:
            for start in range(0, p.rows, CHUNK_ROWS):
                stop = min(start + CHUNK_ROWS, p.rows)
                copy.write(_csv_bytes(table.slice(start, stop - start)))
                done += stop - start
                if progress is not None:
                    progress(done, total)
        if p.schema.geometry is not None and p.bounds is not None:
            self._widen_extent(cur, p.schema.name, p.bounds)
        cur.execute(
            "UPDATE layer_extents SET last_change = %s WHERE layer = %s", (now(), p.schema.name)
        )
        return done

    @staticmethod
    def _widen_extent(cur: psycopg.Cursor[Any], layer: str, bounds: np.ndarray) -> None:
        ok = ~np.isnan(bounds).any(axis=1)
        if not ok.any():
            return
        b = bounds[ok]
        cur.execute(
            "UPDATE layer_extents SET min_x = least(min_x, %(a)s), min_y = least(min_y, %(b)s), "
            "max_x = greatest(max_x, %(c)s), max_y = greatest(max_y, %(d)s) WHERE layer = %(t)s",
            {
                "a": float(b[:, 0].min()),
                "b": float(b[:, 1].min()),
                "c": float(b[:, 2].max()),
                "d": float(b[:, 3].max()),
                "t": layer,
            },
        )

    # -------------------------------------------------------------------------------- reading
    def _get_upload(
        self, cur: psycopg.Cursor[Any], upload_id: int, *, with_report: bool
    ) -> UploadInfo:
        cur.execute(
            f"SELECT {UPLOAD_COLUMNS}, {'u.report_json' if with_report else 'NULL'} "
            "FROM uploads u LEFT JOIN raw_files f ON f.sha256 = u.sha256 "
            "WHERE u.upload_id = %s",
            (upload_id,),
        )
        row = cur.fetchone()
        if row is None:
            raise StoreNotFound(f"no upload {upload_id}")
        return upload_info(row)

    def find_upload(self, upload_key: str) -> UploadInfo | None:
        """The upload stored under ``upload_key`` (see :func:`make_upload_key`), or None."""
        with self._read() as cur:
            cur.execute("SELECT upload_id FROM uploads WHERE upload_key = %s", (upload_key,))
            row = cur.fetchone()
            return None if row is None else self._get_upload(cur, row[0], with_report=False)

    def get_upload(self, upload_id: int) -> UploadInfo:
        """One upload with its validation report. Raises :class:`StoreNotFound`."""
        with self._read() as cur:
            return self._get_upload(cur, int(upload_id), with_report=True)

    def uploads(self) -> list[UploadInfo]:
        """Every upload, oldest first (reports left out: see :meth:`get_upload`)."""
        return self._uploads("", ())

    def uploads_by_sha256(self, sha256: str) -> list[UploadInfo]:
        """The uploads of one file (by its SHA-256), oldest first."""
        return self._uploads("WHERE u.sha256 = %s", (sha256.lower(),))

    def _uploads(self, where: str, params: tuple[Any, ...]) -> list[UploadInfo]:
        with self._read() as cur:
            cur.execute(
                f"SELECT {UPLOAD_COLUMNS}, NULL FROM uploads u "
                f"LEFT JOIN raw_files f ON f.sha256 = u.sha256 {where} ORDER BY u.upload_id",
                params,
            )
            rows = cur.fetchall()
        return [upload_info(r) for r in rows]

    def data_version(self) -> tuple[int, int]:
        """(number of uploads, latest upload id): changes whenever data is stored."""
        with self._read() as cur:
            cur.execute("SELECT count(*), coalesce(max(upload_id), 0) FROM uploads")
            count, latest = _one(cur)
        return int(count), int(latest)

    def rounds(self, settlement: str | None = None) -> list[RoundInfo]:
        """Enumeration rounds, by settlement then round."""
        query = "SELECT settlement_id, round, date::text, label FROM rounds"
        params: tuple[Any, ...] = ()
        if settlement is not None:
            query += " WHERE settlement_id = %s"
            params = (settlement,)
        with self._read() as cur:
            cur.execute(query + " ORDER BY settlement_id, round", params)
            return [RoundInfo(*r) for r in cur.fetchall()]

    def list_layers(self) -> list[LayerInfo]:
        """Every canonical layer with its row count, lon/lat extent, settlements and rounds."""
        out = []
        with self._read() as cur:
            for name, schema in self._layers.items():
                if not self._table_columns(cur, name):
                    out.append(LayerInfo(name, schema.geometry, 0, None, (), ()))
                    continue
                t = _ident(name)
                cur.execute(sql.SQL("SELECT count(*) FROM {}").format(t))
                rows = int(_one(cur)[0])
                cur.execute(
                    "SELECT min_x, min_y, max_x, max_y FROM layer_extents WHERE layer = %s",
                    (name,),
                )
                box = cur.fetchone()
                bbox = tuple(box) if box and None not in box else None
                found = []
                for col in ("settlement_id", "round"):
                    cur.execute(
                        sql.SQL(
                            "SELECT DISTINCT {c} FROM {t} WHERE {c} IS NOT NULL ORDER BY 1"
                        ).format(c=_ident(col), t=t)
                    )
                    found.append(tuple(r[0] for r in cur.fetchall()))
                out.append(LayerInfo(name, schema.geometry, rows, bbox, found[0], found[1]))  # type: ignore[arg-type]
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

        The parameters and the result are those of :meth:`GeoPackageStore.read_layer
        <geo_service.storage.gpkg.GeoPackageStore.read_layer>`; here every filter, the exact
        bbox test (``ST_Intersects``, candidates from the GiST index) and the paging run in SQL.
        """
        schema = layer_schema(self._layers, layer)
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
        with_geometry = spatial and geometry
        rows: list[tuple[Any, ...]] = []
        with self._read() as cur:
            stored = self._table_columns(cur, layer)
            present = [(n, d) for n, d in selected if n in stored]
            if stored:
                exprs = [sql.SQL("fid")]
                if with_geometry:
                    exprs.append(sql.SQL("ST_AsBinary(geom)"))
                exprs += [_read_expr(n, d) for n, d in present]
                query = sql.SQL("SELECT {} FROM {}").format(
                    sql.SQL(", ").join(exprs), _ident(layer)
                )
                if where:
                    query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where)
                query += sql.SQL(" ORDER BY fid")
                if limit is not None:
                    query += sql.SQL(" LIMIT {}").format(sql.Literal(max(int(limit), 0)))
                if offset:
                    query += sql.SQL(" OFFSET {}").format(sql.Literal(max(int(offset), 0)))
                cur.execute(query, params)
                rows = cur.fetchall()
        names = ["fid"] + ([GEOMETRY_COLUMN] if with_geometry else []) + [n for n, _ in present]
        table = np.empty((len(rows), len(names)), dtype=object)
        if rows:
            table[:] = rows
        by_name = {n: table[:, j] for j, n in enumerate(names)}
        index = pd.Index(by_name["fid"].astype(np.int64), name="fid")
        missing = np.full(len(index), None, dtype=object)
        frame = pd.DataFrame(
            {n: from_sql(by_name.get(n, missing), d) for n, d in selected}, index=index
        )
        if not with_geometry:
            return frame
        geoms = shapely.from_wkb(by_name[GEOMETRY_COLUMN])
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
        """How many rows :meth:`read_layer` with the same filters returns (without paging)."""
        schema = layer_schema(self._layers, layer)
        where, params = self._where(
            layer,
            spatial=schema.geometry is not None,
            settlement=settlement,
            round=round,
            bbox=bbox,
            upload_id=upload_id,
            settlements_in=settlements_in,
            settlements_not_in=settlements_not_in,
            fids=fids,
        )
        with self._read() as cur:
            if not self._table_columns(cur, layer):
                return 0
            query = sql.SQL("SELECT count(*) FROM {}").format(_ident(layer))
            if where:
                query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where)
            cur.execute(query, params)
            return int(_one(cur)[0])

    @staticmethod
    def _where(
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
    ) -> tuple[list[sql.Composable], list[Any]]:
        """SQL conditions (joined by ``AND``) and their bound parameters for the filters."""
        where: list[sql.Composable] = []
        params: list[Any] = []
        for col, value in (
            ("settlement_id", settlement),
            ("round", round),
            ("upload_id", upload_id),
        ):
            if value is not None:
                where.append(sql.SQL("{} = %s").format(_ident(col)))
                params.append(value)
        if settlements_in is not None:
            where.append(sql.SQL("settlement_id = ANY(%s)"))
            params.append(settlement_ids(settlements_in, "settlements_in"))
        if settlements_not_in is not None and len(settlements_not_in):
            where.append(sql.SQL("(settlement_id IS NULL OR NOT settlement_id = ANY(%s))"))
            params.append(settlement_ids(settlements_not_in, "settlements_not_in"))
        if fids is not None:
            where.append(sql.SQL("fid = ANY(%s::bigint[])"))
            params.append(fid_list(fids))
        if bbox is not None:
            if not spatial:
                raise StoreSchemaError(f"layer {layer!r} has no geometry to filter by bbox")
            box = check_bbox(bbox)
            envelope = f"ST_MakeEnvelope(%s, %s, %s, %s, {SRS_ID:d})"
            where.append(sql.SQL(f"geom && {envelope} AND ST_Intersects(geom, {envelope})"))
            params += [*box, *box]
        return where, params

    def read_raw(self, sha256: str) -> bytes:
        """The raw bytes of an upload. Raises :class:`StoreNotFound`."""
        with self._read() as cur:
            cur.execute("SELECT data FROM raw_files WHERE sha256 = %s", (sha256.lower(),))
            row = cur.fetchone()
        if row is None:
            raise StoreNotFound(f"no raw file with sha256 {sha256}")
        return bytes(row[0])

    def rasters(self, settlement: str | None = None) -> list[RasterInfo]:
        """Stored rasters (metadata only), oldest first."""
        query = f"SELECT {RASTER_COLUMNS} FROM rasters r"
        params: tuple[Any, ...] = ()
        if settlement is not None:
            query += " WHERE r.settlement_id = %s"
            params = (settlement,)
        with self._read() as cur:
            cur.execute(query + " ORDER BY r.raster_id", params)
            return [raster_info(r) for r in cur.fetchall()]

    def read_raster(self, raster_id: int) -> tuple[RasterInfo, bytes]:
        """A raster's metadata and its GeoTIFF bytes. Raises :class:`StoreNotFound`."""
        with self._read() as cur:
            cur.execute(
                f"SELECT {RASTER_COLUMNS}, f.data FROM rasters r "
                "JOIN raw_files f ON f.sha256 = r.sha256 WHERE r.raster_id = %s",
                (int(raster_id),),
            )
            row = cur.fetchone()
        if row is None:
            raise StoreNotFound(f"no raster {raster_id}")
        return raster_info(row[:-1]), bytes(row[-1])

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
        """Write a layer (filtered like :meth:`read_layer`) to a file; see
        :func:`geo_service.storage.export.write_frame` for the formats."""
        target = Path(path)
        if target.exists():
            if not overwrite:
                raise FileExistsError(target)
            target.unlink()
        frame = self.read_layer(layer, **filters)
        points = layer_schema(self._layers, layer).geometry == "Point"
        return write_frame(
            frame, target, layer=layer, fmt=fmt, points=points, csv_geometry=csv_geometry
        )

    # ---------------------------------------------------------------------------- bookkeeping
    def counts(self) -> dict[str, int]:
        """Row count of every table in the store's schema."""
        with self._read() as cur:
            return self._counts(cur)

    def _counts(self, cur: psycopg.Cursor[Any]) -> dict[str, int]:
        cur.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename",
            (self.schema,),
        )
        names = [r[0] for r in cur.fetchall()]
        out = {}
        for name in names:
            cur.execute(sql.SQL("SELECT count(*) FROM {}").format(_ident(self.schema, name)))
            out[name] = int(_one(cur)[0])
        return out

    def snapshot(self) -> StoreSnapshot:
        """Row counts and the last upload id, read in one snapshot (cheap; for tests)."""
        with self._read() as cur:
            counts = self._counts(cur)
            cur.execute("SELECT coalesce(max(upload_id), 0) FROM uploads")
            top = int(_one(cur)[0])
        return StoreSnapshot(counts=counts, max_upload_id=top)


def _default_layers() -> Mapping[str, LayerSchema]:
    from profiling import schema  # noqa: PLC0415 - the registry is filled at import of profiling

    return schema.LAYERS


def _one(cur: psycopg.Cursor[Any]) -> tuple[Any, ...]:
    row = cur.fetchone()
    if row is None:  # pragma: no cover - aggregates always return a row
        raise StoreError("the database returned no row")
    return tuple(row)


def _read_raw(upload: UploadWrite) -> bytes:
    """The staged raw file, checked against the upload's size and SHA-256."""
    raw = Path(upload.raw_path)
    if not raw.is_file():
        raise StoreSchemaError(f"raw file {raw} does not exist")
    data = raw.read_bytes()
    if len(data) != upload.size:
        raise StoreSchemaError(f"raw file {raw} has {len(data)} bytes, not {upload.size}")
    digest = hashlib.sha256(data).hexdigest()
    if digest != upload.sha256.lower():
        raise StoreSchemaError(f"raw file {raw} has sha256 {digest}, not {upload.sha256.lower()}")
    return data


def _read_expr(name: str, dtype: str) -> sql.Composable:
    """The SELECT expression of a column, in the form :func:`from_sql` reads."""
    if dtype == "date" or name == "attributes":
        return sql.SQL("{}::text").format(_ident(name))
    return _ident(name)


def _arrow_column(values: Sequence[Any], dtype: str) -> pa.Array:
    """One column as an Arrow array for the CSV ``COPY`` (None stays null).

    Booleans arrive as 0/1 and dates as ISO text (:func:`.values.to_sql`); PostgreSQL reads
    both. Text cannot hold NUL in PostgreSQL: it becomes U+FFFD.
    """
    if dtype in _NUMBER_KINDS:
        return pa.array(values, type=_NUMBER_KINDS[dtype])
    text = pa.array(values, type=pa.string())
    return pc.replace_substring(text, "\x00", "\ufffd")


def _ewkb_hex(geometries: np.ndarray | None, rows: int) -> pa.Array:
    """Hex EWKB (SRID 4326) of each geometry, null for a missing one."""
    if geometries is None:
        return pa.nulls(rows, type=pa.string())
    hexes = shapely.to_wkb(shapely.set_srid(geometries, SRS_ID), hex=True, include_srid=True)
    return pa.array(hexes, type=pa.string(), from_pandas=True)


def _csv_bytes(table: pa.Table) -> bytes:
    """``COPY ... (FORMAT csv)`` rows: every string quoted, nulls as unquoted empty fields
    (PostgreSQL's CSV NULL), so an empty text stays an empty text."""
    out = io.BytesIO()
    pacsv.write_csv(table, out, _CSV_OPTIONS)
    return out.getvalue()
