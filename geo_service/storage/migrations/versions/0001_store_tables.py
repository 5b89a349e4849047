"""The store's bookkeeping tables: uploads, raw files, rounds, rasters, layer extents.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TABLES = (
    "CREATE TABLE store_meta (key text PRIMARY KEY, value text NOT NULL)",
    "CREATE TABLE raw_files (sha256 text PRIMARY KEY, size bigint NOT NULL, data bytea NOT NULL)",
    """CREATE TABLE uploads (
        upload_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        upload_key text NOT NULL UNIQUE,
        sha256 text NOT NULL REFERENCES raw_files(sha256),
        original_name text NOT NULL, format text NOT NULL, layer text NOT NULL,
        source_layer text, settlement_id text, round text, mapping_id text,
        created_at text NOT NULL, "rows" bigint NOT NULL, report_json text,
        status text NOT NULL)""",
    """CREATE TABLE rounds (
        round_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        settlement_id text NOT NULL, round text NOT NULL, date date, label text,
        UNIQUE (settlement_id, round))""",
    """CREATE TABLE rasters (
        raster_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        upload_id bigint NOT NULL REFERENCES uploads(upload_id),
        kind text NOT NULL, name text NOT NULL, settlement_id text, crs_wkt text,
        epsg integer, nodata double precision, dtype text, width integer, height integer,
        minx double precision, miny double precision, maxx double precision,
        maxy double precision, lon_min double precision, lat_min double precision,
        lon_max double precision, lat_max double precision,
        sha256 text NOT NULL REFERENCES raw_files(sha256), meta_json text)""",
    """CREATE TABLE layer_extents (
        layer text PRIMARY KEY, description text, last_change text NOT NULL,
        min_x double precision, min_y double precision, max_x double precision,
        max_y double precision)""",
    "CREATE INDEX idx_uploads_sha256 ON uploads (sha256)",
    "CREATE INDEX idx_rasters_upload_id ON rasters (upload_id)",
    "INSERT INTO store_meta VALUES ('format', 'geo_service.postgis'), ('format_version', '1')",
)


def upgrade() -> None:
    for statement in _TABLES:
        op.execute(statement)


def downgrade() -> None:
    for table in ("layer_extents", "rasters", "rounds", "uploads", "raw_files", "store_meta"):
        op.execute(f"DROP TABLE {table}")
