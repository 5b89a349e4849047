"""The stores: transactions, types, filters, exports, concurrency; GDAL compatibility.

Every test taking the ``store`` (or ``backend``) fixture runs twice: on the embedded
GeoPackage and on PostGIS (a fresh database per test; skipped with the reason when no server
is configured, see :mod:`tests.postgis`). Tests about the GeoPackage file itself (RTree,
triggers, the OGC requirements, GDAL) take ``gpkg_store``.

Inputs are tiny frames built here with answers checked by hand; the schemas are our own small
``LayerSchema`` objects so these tests do not move when the canonical registry grows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from geo_service.storage import (
    GeoPackageStore,
    RasterWrite,
    Store,
    StoreBusy,
    StoreConflict,
    StoreError,
    StoreNotFound,
    StoreSchemaError,
    UploadWrite,
    make_upload_key,
)
from geo_service.storage.geometry_blob import decode, encode, st_is_empty, st_maxy, st_minx
from profiling.schema import Field, LayerSchema

REPO = Path(__file__).resolve().parents[2]

HOUSEHOLDS = LayerSchema(
    name="households",
    description="Enumerated households",
    geometry="Point",
    key="household_id",
    fields=(
        Field("household_id", "str", "Household id", required=True),
        Field("settlement_id", "str", "Settlement"),
        Field("size", "int", "People in the household"),
        Field("income", "float", "Monthly income"),
        Field("has_tap", "bool", "Tap on the plot"),
        Field("visited", "date", "Interview date"),
        Field("toilets", "codes", "Toilet types used"),
        Field("head_name", "str", "Name of the head", personal=True),
    ),
)
MEMBERS = LayerSchema(
    name="members",
    description="Household members",
    geometry=None,
    key="member_id",
    parent="households",
    geometry_required=False,
    fields=(
        Field("member_id", "str", "Member id", required=True),
        Field("household_id", "str", "Household"),
        Field("age", "int", "Age in years"),
        Field("name", "str", "Member name", personal=True),
    ),
)
ZONES = LayerSchema(
    name="hazard_zones",
    description="Flood zones",
    geometry="Polygon",
    key="hazard_id",
    fields=(Field("hazard_id", "str", "Zone id"), Field("depth_m", "float", "Depth")),
)
LAYERS = {s.name: s for s in (HOUSEHOLDS, MEMBERS, ZONES)}


# --------------------------------------------------------------------------------- helpers
def households(n: int = 3, *, x0: float = 36.80, y0: float = -1.30) -> gpd.GeoDataFrame:
    """n households on a 0.01-degree diagonal from (x0, y0); the third has no geometry."""
    base = {
        "household_id": ["h1", "h2", "h3"],
        "size": [3, None, 5],
        "income": [1500.5, np.nan, 0.0],
        "has_tap": [True, None, False],
        "visited": [dt.date(2024, 1, 2), None, dt.date(2024, 3, 4)],
        "toilets": [["pit", "flush"], "shared  pit", None],
        "head_name": ["Achieng", "Baraka", "=cmd()"],
        "source_row": [1, 2, 3],
        "attributes": [{"hh_extra": "x", "n": 1}, {}, None],
    }
    geoms = [shapely.Point(x0, y0), shapely.Point(x0 + 0.01, y0 + 0.01), None]
    frame = gpd.GeoDataFrame(base, geometry=geoms, crs="EPSG:4326")
    if n == 3:
        return frame
    rng = np.random.default_rng(n)
    return gpd.GeoDataFrame(
        {
            "household_id": [f"h{i}" for i in range(n)],
            "size": rng.integers(1, 9, n),
            "source_row": np.arange(1, n + 1),
        },
        geometry=shapely.points(x0 + rng.random(n) * 0.05, y0 + rng.random(n) * 0.05),
        crs="EPSG:4326",
    )


def raw_file(tmp_path: Path, content: bytes) -> tuple[Path, str]:
    path = tmp_path / f"raw-{hashlib.sha256(content).hexdigest()[:12]}.bin"
    path.write_bytes(content)
    return path, hashlib.sha256(content).hexdigest()


def upload(tmp_path: Path, frames: dict, *, content: bytes = b"id,x\n1,2\n", **kw) -> UploadWrite:
    path, sha = raw_file(tmp_path, content)
    options = {
        "original_name": "survey.csv",
        "format": "kobo_csv",
        "layer": "households",
        "settlement_id": "kibera",
        "round": "2024-01",
        "mapping_id": "kobo-v1",
        "report": {"summary": "0 error(s)", "valid": True},
    }
    options.update(kw)
    return UploadWrite(raw_path=path, sha256=sha, size=len(content), frames=frames, **options)


def digest(path: Path) -> str:
    """SHA-256 of a full SQL dump: equal digests mean equal content."""
    con = sqlite3.connect(path)
    try:
        h = hashlib.sha256()
        for line in con.iterdump():
            h.update(line.encode())
        return h.hexdigest()
    finally:
        con.close()


def table_digest(url: str, schema: str = "geo_service") -> str:
    """SHA-256 of every row of every table of a PostGIS store: equal digests, equal content."""
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    h = hashlib.sha256()
    with psycopg.connect(url) as con:
        tables = con.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", (schema,)
        ).fetchall()
        for (name,) in tables:
            query = sql.SQL(
                "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} t"
            ).format(sql.Identifier(schema, name))
            h.update(f"{name}:{con.execute(query).fetchone()[0]}".encode())
    return h.hexdigest()


@dataclass
class Backend:
    """One store location (a GeoPackage file or a PostGIS database) and how to open it."""

    name: str
    target: str  # file path or database URL
    opener: Callable[..., Store]

    def open(self, **kw: Any) -> Store:
        """A store on this location (``layers=LAYERS`` unless given)."""
        kw.setdefault("layers", LAYERS)
        return self.opener(self.target, **kw)

    def digest(self) -> str:
        """A hash of the whole stored content."""
        if self.name == "gpkg":
            return digest(Path(self.target))
        return table_digest(self.target)


def geometry_type(backend: Backend, table: str) -> str | None:
    """The declared geometry type of a layer table; None for an attribute table."""
    if backend.name == "gpkg":
        con = sqlite3.connect(backend.target)
        kind = con.execute(
            "SELECT c.data_type, g.geometry_type_name FROM gpkg_contents c LEFT JOIN "
            "gpkg_geometry_columns g USING (table_name) WHERE c.table_name = ?",
            (table,),
        ).fetchone()
        con.close()
        assert kind[0] == ("attributes" if kind[1] is None else "features")
        return kind[1]
    import psycopg  # noqa: PLC0415

    with psycopg.connect(backend.target) as con:
        assert con.execute("SELECT to_regclass(%s)", (f"geo_service.{table}",)).fetchone()[0]
        row = con.execute(
            "SELECT type, srid FROM geometry_columns WHERE f_table_schema = 'geo_service' "
            "AND f_table_name = %s",
            (table,),
        ).fetchone()
    if row is None:
        return None
    assert row[1] == 4326
    return str(row[0])


@pytest.fixture(params=["gpkg", "postgis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The embedded GeoPackage, then PostGIS."""
    if request.param == "gpkg":
        return Backend("gpkg", str(tmp_path / "city.gpkg"), GeoPackageStore)
    from geo_service.storage.postgis import PostGISStore  # noqa: PLC0415

    return Backend("postgis", request.getfixturevalue("postgis_url"), PostGISStore)


@pytest.fixture
def store(backend: Backend) -> Iterator[Store]:
    with backend.open(busy_timeout_ms=5_000) as s:
        yield s


@pytest.fixture
def gpkg_store(tmp_path: Path) -> Iterator[GeoPackageStore]:
    with GeoPackageStore(tmp_path / "city.gpkg", layers=LAYERS, busy_timeout_ms=5_000) as s:
        yield s


# ------------------------------------------------------------------------------- creation
def test_new_store_is_a_geopackage(gpkg_store: Store) -> None:
    con = sqlite3.connect(gpkg_store.path)
    assert con.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
    assert con.execute("PRAGMA user_version").fetchone()[0] == 10400
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    srs = [r[0] for r in con.execute("SELECT srs_id FROM gpkg_spatial_ref_sys ORDER BY 1")]
    assert srs == [-1, 0, 4326]
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "gpkg_contents",
        "gpkg_geometry_columns",
        "gpkg_extensions",
        "uploads",
        "raw_files",
        "rounds",
        "rasters",
    } <= tables
    registered = {r[0] for r in con.execute("SELECT table_name FROM gpkg_contents")}
    assert registered == {"rounds"}  # internal tables stay out of gpkg_contents
    con.close()


def test_opening_a_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not a GeoPackage"):
        GeoPackageStore(other, layers=LAYERS)


def test_reopening_keeps_data(backend: Backend, tmp_path: Path) -> None:
    with backend.open() as s:
        s.write_upload(upload(tmp_path, {"households": households()}))
    with backend.open() as s:
        assert [i.rows for i in s.list_layers() if i.name == "households"] == [3]


# ------------------------------------------------------------------------ write, read back
def test_upload_reads_back_with_types_and_provenance(store: Store, tmp_path) -> None:
    up = upload(tmp_path, {"households": households()})
    result = store.write_upload(up)
    assert (result.upload_id, result.duplicate, result.rows) == (1, False, 3)
    assert result.layer_rows == {"households": 3}

    got = store.read_layer("households", include_personal=True)
    assert isinstance(got, gpd.GeoDataFrame)
    assert got.crs.to_epsg() == 4326
    assert got.index.name == "fid" and got.index.tolist() == [1, 2, 3]
    assert got["household_id"].tolist() == ["h1", "h2", "h3"]
    # integers, booleans and dates keep their type with a missing value in the middle
    assert str(got["size"].dtype) == "Int64"
    assert got["size"].tolist() == [3, pd.NA, 5]
    assert str(got["has_tap"].dtype) == "boolean"
    assert got["has_tap"].tolist() == [True, pd.NA, False]
    assert got["income"].iloc[0] == 1500.5 and np.isnan(got["income"].iloc[1])
    assert got["income"].iloc[2] == 0.0
    assert pd.api.types.is_datetime64_dtype(got["visited"].dtype)
    assert got["visited"].iloc[0] == pd.Timestamp("2024-01-02")
    assert pd.isna(got["visited"].iloc[1])
    # codes: lists and messy text become space-separated text
    assert got["toilets"].iloc[0] == "pit flush" and got["toilets"].iloc[1] == "shared pit"
    assert pd.isna(got["toilets"].iloc[2])
    # geometry: exact coordinates, None stays None
    sent = households().geometry
    assert got.geometry.iloc[0].equals_exact(shapely.Point(36.80, -1.30), 0)
    assert got.geometry.iloc[1].equals_exact(sent.iloc[1], 0)  # bit for bit
    assert got.geometry.iloc[2] is None
    # provenance: filled from the upload, unmapped source columns kept as JSON
    assert set(got["settlement_id"]) == {"kibera"} and set(got["round"]) == {"2024-01"}
    assert set(got["source_sha256"]) == {up.sha256} and set(got["upload_id"]) == {1}
    assert got["source_row"].tolist() == [1, 2, 3]
    assert json.loads(got["attributes"].iloc[0]) == {"hh_extra": "x", "n": 1}
    assert pd.isna(got["attributes"].iloc[1]) and pd.isna(got["attributes"].iloc[2])

    info = store.get_upload(1)
    assert info.upload_key == make_upload_key(up.sha256, "households", None, "kibera", "2024-01")
    assert (info.original_name, info.format, info.rows, info.status) == (
        "survey.csv",
        "kobo_csv",
        3,
        "stored",
    )
    assert info.report == {"summary": "0 error(s)", "valid": True}
    assert info.created_at.endswith("Z")
    assert store.read_raw(up.sha256) == b"id,x\n1,2\n"
    assert [(r.settlement_id, r.round) for r in store.rounds()] == [("kibera", "2024-01")]


def test_stored_values_are_plain_sqlite_types(gpkg_store: Store, tmp_path) -> None:
    gpkg_store.write_upload(upload(tmp_path, {"households": households()}))
    con = sqlite3.connect(gpkg_store.path)
    row = con.execute(
        "SELECT has_tap, typeof(has_tap), visited, typeof(size), toilets, income "
        "FROM households WHERE fid = 1"
    ).fetchone()
    assert row == (1, "integer", "2024-01-02", "integer", "pit flush", 1500.5)
    assert con.execute("SELECT size, income FROM households WHERE fid = 2").fetchone() == (
        None,
        None,
    )  # NaN -> NULL


def test_non_spatial_layer_is_an_attribute_table(store: Store, backend: Backend, tmp_path) -> None:
    members = pd.DataFrame(
        {
            "member_id": ["m1", "m2"],
            "household_id": ["h1", "h1"],
            "age": [34, 5],
            "name": ["A", "B"],
            "source_row": [1, 2],
        }
    )
    result = store.write_upload(upload(tmp_path, {"households": households(), "members": members}))
    assert result.layer_rows == {"households": 3, "members": 2}
    got = store.read_layer("members")
    assert type(got) is pd.DataFrame
    assert got["member_id"].tolist() == ["m1", "m2"] and "name" not in got
    assert geometry_type(backend, "members") is None


def test_polygon_layer_stores_multipolygons(store: Store, backend: Backend, tmp_path) -> None:
    zones = gpd.GeoDataFrame(
        {"hazard_id": ["z1", "z2"], "depth_m": [0.5, 1.2]},
        geometry=[
            shapely.box(0, 0, 1, 1),
            shapely.MultiPolygon([shapely.box(2, 2, 3, 3), shapely.box(4, 4, 5, 5)]),
        ],
        crs="EPSG:4326",
    )
    store.write_upload(upload(tmp_path, {"hazard_zones": zones}, layer="hazard_zones"))
    got = store.read_layer("hazard_zones")
    assert got.geom_type.tolist() == ["MultiPolygon", "MultiPolygon"]
    assert got.geometry.iloc[0].equals(shapely.box(0, 0, 1, 1))
    assert got.geometry.iloc[1].area == 2.0
    assert geometry_type(backend, "hazard_zones") == "MULTIPOLYGON"


# ----------------------------------------------------------------------- all or nothing
def test_duplicate_upload_is_a_no_op(store: Store, backend: Backend, tmp_path) -> None:
    first = store.write_upload(upload(tmp_path, {"households": households()}))
    before, content = store.snapshot(), backend.digest()
    again = store.write_upload(upload(tmp_path, {"households": households()}))
    assert again.duplicate and again.upload_id == first.upload_id == 1
    assert again.rows == 3 and again.layer_rows == {"households": 3}
    assert store.snapshot() == before and backend.digest() == content
    # the same bytes for another round are another upload (raw bytes kept once)
    other = store.write_upload(upload(tmp_path, {"households": households()}, round="2024-02"))
    assert not other.duplicate and other.upload_id == 2
    assert store.counts()["raw_files"] == 1


@pytest.mark.parametrize(
    ("frame_change", "message"),
    [
        (lambda f: f.assign(phone_number="0712"), r"unknown columns \['phone_number'\]"),
        (lambda f: f.assign(size=["3", "many", "5"]), "households.size: not a number"),
        (lambda f: f.assign(size=[1.5, 2, 3]), "households.size: not an integer"),
        (lambda f: f.assign(has_tap=["yes", "no", None]), "not a boolean"),
        (lambda f: f.assign(visited=["2024-13-45", None, None]), "not an ISO date"),
        (lambda f: f.set_crs(32737, allow_override=True), "must be in EPSG:4326"),
        (lambda f: f.set_geometry([shapely.box(0, 0, 1, 1)] * 3), r"\['Polygon'\]"),
        (
            lambda f: f.set_geometry([shapely.Point(500000, 9800000)] * 3),
            "outside lon/lat range",
        ),
    ],
)
def test_bad_frames_leave_the_store_unchanged(
    store: Store, backend: Backend, tmp_path, frame_change, message
) -> None:
    store.write_upload(upload(tmp_path, {"households": households()}))
    before, content = store.snapshot(), backend.digest()
    bad = frame_change(households())
    with pytest.raises(StoreSchemaError, match=message):
        store.write_upload(upload(tmp_path, {"households": bad}, round="2024-02"))
    assert store.snapshot() == before and backend.digest() == content


def test_failure_mid_transaction_rolls_everything_back(
    store: Store, backend: Backend, tmp_path, monkeypatch
) -> None:
    store.write_upload(upload(tmp_path, {"households": households()}))
    before, content = store.snapshot(), backend.digest()
    monkeypatch.setattr(sys.modules[type(store).__module__], "CHUNK_ROWS", 100)
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        if done >= 300:  # rows, raw bytes, upload record and rounds are already written
            raise RuntimeError("disk on fire")

    big = upload(tmp_path, {"households": households(1000)}, content=b"other", round="r9")
    with pytest.raises(RuntimeError, match="disk on fire"):
        store.write_upload(big, progress=progress)
    assert seen[:4] == [(0, 1000), (100, 1000), (200, 1000), (300, 1000)]
    assert store.snapshot() == before and backend.digest() == content
    # the store is still usable, the insert trigger was restored with the rollback
    assert store.write_upload(big).rows == 1000
    if backend.name != "gpkg":
        return
    con = sqlite3.connect(backend.target)
    triggers = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
    assert "rtree_households_geom_insert" in triggers


def test_raw_file_must_match_its_hash(store: Store, tmp_path) -> None:
    up = upload(tmp_path, {"households": households()})
    up.raw_path.write_bytes(b"id,x\n1,3\n")  # same size, other bytes
    before = store.snapshot()
    with pytest.raises(StoreSchemaError, match="sha256"):
        store.write_upload(up)
    assert store.snapshot() == before


def test_round_date_conflict_is_refused(store: Store, tmp_path) -> None:
    store.write_upload(upload(tmp_path, {"households": households()}, round_date="2024-01-15"))
    before = store.snapshot()
    later = upload(tmp_path, {}, content=b"b", layer="members", round_date="2024-02-01")
    with pytest.raises(StoreConflict, match="2024-01-15"):
        store.write_upload(later)
    assert store.snapshot() == before
    assert store.rounds()[0].date == "2024-01-15"


# ---------------------------------------------------------------------------- filtering
def fill_two_rounds(store: Store, tmp_path: Path) -> Store:
    """kibera/2024-01 at (36.80, -1.30) and (36.81, -1.29); mathare/2024-06 1 degree east."""
    store.write_upload(upload(tmp_path, {"households": households()}))
    store.write_upload(
        upload(
            tmp_path,
            {"households": households(x0=37.80)},
            content=b"mathare",
            settlement_id="mathare",
            round="2024-06",
        )
    )
    return store


@pytest.fixture
def two_rounds(store: Store, tmp_path: Path) -> Store:
    """Two uploads (see :func:`fill_two_rounds`) in each backend."""
    return fill_two_rounds(store, tmp_path)


@pytest.fixture
def gpkg_two_rounds(gpkg_store: GeoPackageStore, tmp_path: Path) -> GeoPackageStore:
    """Two uploads (see :func:`fill_two_rounds`) in a GeoPackage."""
    fill_two_rounds(gpkg_store, tmp_path)
    return gpkg_store


def test_settlement_round_and_bbox_filters(two_rounds: Store) -> None:
    s = two_rounds
    assert s.read_layer("households", settlement="mathare").index.tolist() == [4, 5, 6]
    assert s.read_layer("households", round="2024-01").index.tolist() == [1, 2, 3]
    assert s.read_layer("households", settlement="kibera", round="2024-06").empty
    # the box holds only the first kibera point; the point on its edge is kept
    box = (36.79, -1.31, 36.805, -1.30)
    assert s.read_layer("households", bbox=box).index.tolist() == [1]
    # a box around both settlements, then paged
    wide = (36.0, -2.0, 38.0, 0.0)
    assert s.read_layer("households", bbox=wide).index.tolist() == [1, 2, 4, 5]
    assert s.read_layer("households", bbox=wide, limit=2, offset=1).index.tolist() == [2, 4]
    assert s.read_layer("households", limit=2, offset=4).index.tolist() == [5, 6]
    assert s.read_layer("households", upload_id=2, columns=["size"]).columns.tolist() == [
        "size",
        "geometry",
    ]
    with pytest.raises(StoreSchemaError, match="bbox"):
        s.read_layer("households", bbox=(1, 1, 0, 0))


def test_settlement_set_filters_fids_and_count(store: Store, tmp_path) -> None:
    # kibera 1-3, mathare 4-6, a third upload without settlement 7-9
    store.write_upload(upload(tmp_path, {"households": households()}))
    for content, settlement in ((b"mathare", "mathare"), (b"none", None)):
        store.write_upload(
            upload(
                tmp_path,
                {"households": households(x0=37.80)},
                content=content,
                settlement_id=settlement,
            )
        )
    s = store

    def ids(**kw) -> list[int]:
        return s.read_layer("households", **kw).index.tolist()

    assert ids(settlements_in=["kibera", "mathare"]) == [1, 2, 3, 4, 5, 6]
    assert ids(settlements_in={"mathare", "nowhere"}) == [4, 5, 6]
    assert ids(settlements_in=[]) == []  # NULL settlements are never "in"
    assert ids(settlements_not_in=["kibera"]) == [4, 5, 6, 7, 8, 9]  # NULL kept
    assert ids(settlements_not_in=[]) == list(range(1, 10))
    assert ids(settlements_not_in=["it's", 'q"uote']) == list(range(1, 10))  # bound, not SQL
    assert ids(fids=[9, 2, 42]) == [2, 9]
    assert ids(fids=[2, 9], settlements_not_in=["kibera"]) == [9]
    assert ids(settlements_not_in=["kibera"], limit=2, offset=1) == [5, 6]
    assert ids(settlements_in=["mathare"], settlement="kibera") == []
    # count agrees with read_layer, with and without bbox (the third rows have no geometry)
    wide = (36.0, -2.0, 38.0, 0.0)
    for kw in (
        {},
        {"settlements_in": ["kibera"]},
        {"settlements_in": []},
        {"settlements_not_in": ["kibera"]},
        {"settlements_not_in": ["kibera"], "bbox": wide},
        {"bbox": (36.79, -1.31, 36.805, -1.30)},
        {"fids": [1, 5, 7, 100]},
        {"round": "2024-01", "settlement": "mathare"},
    ):
        assert s.count("households", **kw) == len(ids(**kw)), kw
    # bbox + paging: exact test first, then the page
    assert ids(bbox=wide, settlements_not_in=["kibera"]) == [4, 5, 7, 8]
    assert ids(bbox=wide, settlements_not_in=["kibera"], limit=2, offset=1) == [5, 7]
    assert ids(bbox=wide, limit=0) == []
    # without geometry: a plain DataFrame, same rows
    plain = s.read_layer("households", columns=["settlement_id"], geometry=False, fids=[1, 4])
    assert not isinstance(plain, gpd.GeoDataFrame)
    assert plain.columns.tolist() == ["settlement_id"]
    assert plain["settlement_id"].tolist() == ["kibera", "mathare"]
    boxed = s.read_layer("households", geometry=False, bbox=wide)
    assert "geometry" not in boxed.columns and boxed.index.tolist() == [1, 2, 4, 5, 7, 8]
    assert s.count("members") == 0  # no table yet
    with pytest.raises(StoreSchemaError, match="settlements_in"):
        s.read_layer("households", settlements_in="kibera")
    with pytest.raises(StoreSchemaError, match="bbox"):
        s.count("members", bbox=wide)


def test_bbox_is_exact_for_polygons(store: Store, tmp_path) -> None:
    # an L-shaped zone: its envelope covers the query box, the zone itself does not
    ell = shapely.Polygon([(0, 0), (2, 0), (2, 0.5), (0.5, 0.5), (0.5, 2), (0, 2)])
    zones = gpd.GeoDataFrame(
        {"hazard_id": ["l", "sq"]}, geometry=[ell, shapely.box(3, 3, 4, 4)], crs=4326
    )
    store.write_upload(upload(tmp_path, {"hazard_zones": zones}, layer="hazard_zones"))
    assert store.read_layer("hazard_zones", bbox=(1, 1, 1.5, 1.5)).empty
    assert store.read_layer("hazard_zones", bbox=(0.1, 1, 0.2, 1.5))["hazard_id"].tolist() == ["l"]


def test_list_layers(two_rounds: Store) -> None:
    info = {i.name: i for i in two_rounds.list_layers()}
    hh = info["households"]
    assert (hh.rows, hh.geometry) == (6, "Point")
    assert hh.settlements == ("kibera", "mathare") and hh.rounds == ("2024-01", "2024-06")
    assert hh.bbox == pytest.approx((36.80, -1.30, 37.81, -1.29))
    assert info["members"].rows == 0 and info["members"].bbox is None
    assert [u.upload_id for u in two_rounds.uploads()] == [1, 2]
    assert two_rounds.uploads()[0].report is None  # listings leave reports out
    assert two_rounds.find_upload("nope") is None
    assert two_rounds.find_upload(two_rounds.uploads()[1].upload_key).settlement_id == "mathare"
    with pytest.raises(StoreNotFound):
        two_rounds.get_upload(99)


# ---------------------------------------------------------------------- spatial index
def rtree_ids(path: Path, table: str, box: tuple[float, float, float, float]) -> list[int]:
    con = sqlite3.connect(path)
    minx, miny, maxx, maxy = box
    rows = con.execute(
        f"SELECT id FROM rtree_{table}_geom WHERE minx <= ? AND maxx >= ? AND miny <= ? "
        "AND maxy >= ? ORDER BY id",
        (maxx, minx, maxy, miny),
    ).fetchall()
    con.close()
    return [r[0] for r in rows]


def test_rtree_matches_geometries_bulk_then_incremental(gpkg_store: Store, tmp_path) -> None:
    gpkg_store.write_upload(upload(tmp_path, {"households": households(3000)}))  # bulk packed
    gpkg_store.write_upload(
        upload(tmp_path, {"households": households(50)}, content=b"2", round="b")
    )
    got = gpkg_store.read_layer("households", columns=["household_id"])
    con = sqlite3.connect(gpkg_store.path)
    assert con.execute("SELECT rtreecheck('rtree_households_geom')").fetchone() == ("ok",)
    assert con.execute("SELECT count(*) FROM rtree_households_geom").fetchone() == (3050,)
    box = (36.81, -1.29, 36.83, -1.27)
    inside = got.cx[box[0] : box[2], box[1] : box[3]].index.tolist()
    assert 0 < len(inside) < 3050
    assert rtree_ids(gpkg_store.path, "households", box) == sorted(inside)
    assert gpkg_store.read_layer("households", bbox=box).index.tolist() == sorted(inside)


def test_spec_triggers_keep_the_index_right(gpkg_store: Store, tmp_path) -> None:
    gpkg_store.write_upload(upload(tmp_path, {"households": households()}))
    # an edit through SQL (our connection provides ST_MinX...): move fid 1 far away
    con = gpkg_store._connection()
    moved = encode([shapely.Point(10, 10)])[0]
    con.execute("UPDATE households SET geom = ? WHERE fid = 1", (moved,))
    con.execute("DELETE FROM households WHERE fid = 2")
    assert rtree_ids(gpkg_store.path, "households", (9, 9, 11, 11)) == [1]
    assert rtree_ids(gpkg_store.path, "households", (36, -2, 37, 0)) == []
    # an insert by GDAL (as QGIS would do) goes through GDAL's own ST_ functions
    added = gpd.GeoDataFrame(
        {"household_id": ["g1"], "upload_id": [1]}, geometry=[shapely.Point(20, 20)], crs=4326
    )
    pyogrio.write_dataframe(added, gpkg_store.path, layer="households", append=True)
    assert gpkg_store.read_layer("households", bbox=(19, 19, 21, 21))["household_id"].tolist() == [
        "g1"
    ]


# ------------------------------------------------------------------- GDAL / GeoPackage
def test_gdal_opens_the_store(gpkg_two_rounds: Store, tmp_path) -> None:
    gpkg_two_rounds.write_upload(
        upload(tmp_path, {"members": pd.DataFrame({"member_id": ["m1"]})}, layer="members")
    )
    path = gpkg_two_rounds.path
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # GDAL has nothing to complain about
        layers = dict(pyogrio.list_layers(path).tolist())
        info = pyogrio.read_info(path, layer="households")
        frame = pyogrio.read_dataframe(path, layer="households", fid_as_index=True)
        boxed = pyogrio.read_dataframe(path, layer="households", bbox=(36.0, -2.0, 38.0, 0.0))
    # internal tables (uploads, raw files, rasters) are not layers; rounds is a table
    assert layers == {"households": "Point", "members": None, "rounds": None}
    assert info["driver"] == "GPKG" and info["crs"] == "EPSG:4326"
    assert info["geometry_type"] == "Point" and info["features"] == 6
    assert info["capabilities"]["fast_spatial_filter"]  # GDAL found our RTree
    ours = gpkg_two_rounds.read_layer("households")
    assert frame.index.tolist() == ours.index.tolist()
    assert frame["household_id"].tolist() == ours["household_id"].tolist()
    assert frame.geometry.equals(ours.geometry)
    assert sorted(boxed["household_id"]) == ["h1", "h1", "h2", "h2"]


def test_file_follows_the_geopackage_spec(gpkg_two_rounds: Store) -> None:
    """The checks of GDAL's validate_gpkg.py that apply to us (OGC 12-128r18 requirements)."""
    con = sqlite3.connect(gpkg_two_rounds.path)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    columns = con.execute("PRAGMA table_info(households)").fetchall()
    types = {name: typ for _, name, typ, *_ in columns}
    assert types["geom"] == "POINT" and types["fid"] == "INTEGER"
    allowed = {"BOOLEAN", "INTEGER", "REAL", "TEXT", "DATE", "POINT"}
    assert set(types.values()) <= allowed  # Req 5: GeoPackage data types only
    assert con.execute(
        "SELECT extension_name, scope FROM gpkg_extensions WHERE table_name = 'households'"
    ).fetchall() == [("gpkg_rtree_index", "write-only")]
    triggers = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
    kinds = ("insert", "update2", "update4", "update5", "update6", "update7", "delete")
    expected = {f"rtree_households_geom_{t}" for t in kinds}
    assert expected <= triggers  # Req 75, GeoPackage 1.4 trigger set
    for (blob,) in con.execute("SELECT geom FROM households WHERE geom IS NOT NULL"):
        assert blob[:3] == b"GP\x00" and blob[3] == 0x01  # little-endian, no envelope
        assert int.from_bytes(blob[4:8], "little") == 4326
    last = con.execute("SELECT last_change FROM gpkg_contents").fetchall()
    for (stamp,) in last:
        dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")  # Req 15


def test_geometry_blob_layout_by_hand() -> None:
    point, poly, empty, none = encode(
        [shapely.Point(1.5, -2), shapely.box(0, 1, 2, 3), shapely.Polygon(), None]
    )
    # point: 8-byte header without envelope + 21-byte WKB
    assert point[:8] == b"GP\x00\x01" + (4326).to_bytes(4, "little")
    assert point[8:] == shapely.to_wkb(shapely.Point(1.5, -2), byte_order=1, flavor="iso")
    # polygon: xy envelope [minx, maxx, miny, maxy] after the header, flags 0b0011
    assert poly[3] == 0x03
    assert np.frombuffer(poly[8:40], "<f8").tolist() == [0.0, 2.0, 1.0, 3.0]
    # empty: flag bit 4, no envelope
    assert empty[3] == 0x11 and len(empty) == 8 + 9
    assert none is None
    back = decode([point, poly, empty, none])
    assert back[0].equals(shapely.Point(1.5, -2)) and back[1].equals(shapely.box(0, 1, 2, 3))
    assert back[2].is_empty and back[3] is None
    # the SQL functions of the spatial index triggers
    assert (st_is_empty(point), st_is_empty(empty), st_is_empty(None)) == (0, 1, None)
    assert (st_minx(poly), st_maxy(poly), st_minx(point)) == (0.0, 3.0, 1.5)
    with pytest.raises(ValueError, match="magic"):
        decode([b"XX\x00\x01\xe6\x10\x00\x00"])


def test_decodes_blobs_written_by_gdal(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        geometry=[shapely.box(0, 0, 1, 1), shapely.LineString([(0, 0), (1, 2)])], crs=4326
    )
    pyogrio.write_dataframe(frame, tmp_path / "gdal.gpkg", layer="x")
    con = sqlite3.connect(tmp_path / "gdal.gpkg")
    blobs = [r[0] for r in con.execute("SELECT geom FROM x ORDER BY fid")]
    assert [g.wkt for g in decode(blobs)] == [g.wkt for g in frame.geometry]


# -------------------------------------------------------------------- personal fields
def test_personal_fields_are_hidden_by_default(store: Store, tmp_path) -> None:
    store.write_upload(upload(tmp_path, {"households": households()}))
    assert "head_name" not in store.read_layer("households")
    assert "head_name" in store.read_layer("households", include_personal=True)
    with pytest.raises(StoreSchemaError, match="personal"):
        store.read_layer("households", columns=["head_name"])
    with pytest.raises(StoreSchemaError, match="unknown columns"):
        store.read_layer("households", columns=["nope"])


# ---------------------------------------------------------------------------- exports
def test_csv_export_defuses_formulas(store: Store, tmp_path) -> None:
    frame = households()
    frame["head_name"] = ["=cmd()", "+1", "-2+3"]
    frame["household_id"] = ["@SUM(A1)", "\tx", "\rx"]
    store.write_upload(upload(tmp_path, {"households": frame}))
    out = tmp_path / "hh.csv"
    assert store.export("households", out, fmt="csv", include_personal=True) == 3
    got = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert got["head_name"].tolist() == ["'=cmd()", "'+1", "'-2+3"]
    assert got["household_id"].tolist() == ["'@SUM(A1)", "'\tx", "'\rx"]
    assert got["settlement_id"].tolist() == ["kibera"] * 3  # untouched
    assert got[["lon", "lat"]].iloc[0].tolist() == ["36.8", "-1.3"]
    assert got["lat"].iloc[2] == ""  # no geometry
    with pytest.raises(FileExistsError):
        store.export("households", out, fmt="csv")
    # polygons as WKT; a negative number in a numeric column is not text
    zones = gpd.GeoDataFrame(
        {"hazard_id": ["z"], "depth_m": [-0.5]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4326
    )
    store.write_upload(upload(tmp_path, {"hazard_zones": zones}, layer="hazard_zones"))
    store.export("hazard_zones", tmp_path / "z.csv", fmt="csv")
    z = pd.read_csv(tmp_path / "z.csv", dtype=str)
    assert z["depth_m"].tolist() == ["-0.5"]
    assert shapely.from_wkt(z["wkt"].iloc[0]).equals(shapely.box(0, 0, 1, 1))


def test_geojson_and_gpkg_exports_are_readable(two_rounds: Store, tmp_path) -> None:
    path = tmp_path / "hh.geojson"
    assert two_rounds.export("households", path, fmt="geojson", settlement="kibera") == 3
    doc = json.loads(path.read_text())
    assert "crs" not in doc  # RFC 7946: always lon/lat WGS 84
    assert doc["features"][0]["geometry"] == {"type": "Point", "coordinates": [36.8, -1.3]}
    assert doc["features"][0]["properties"]["visited"] == "2024-01-02"
    assert "head_name" not in doc["features"][0]["properties"]
    back = pyogrio.read_dataframe(path)
    assert back["household_id"].tolist() == ["h1", "h2", "h3"]
    gpkg = tmp_path / "hh.gpkg"
    assert two_rounds.export("households", gpkg, fmt="gpkg", round="2024-06") == 3
    assert pyogrio.read_info(gpkg)["features"] == 3


# ---------------------------------------------------------------------- rasters, schema
def test_raster_round_trip(store: Store, tmp_path) -> None:
    tiff = b"II*\x00fake geotiff bytes"
    meta = {
        "crs_wkt": "WKT",
        "epsg": 32737,
        "nodata": -9999,
        "dtype": "float32",
        "width": 10,
        "height": 20,
        "bounds": (0, 0, 100, 200),
        "bounds_4326": (36.8, -1.3, 36.9, -1.2),
        "band_count": 1,
    }
    result = store.write_upload(
        upload(
            tmp_path,
            {},
            content=tiff,
            layer="flood_depth",
            format="geotiff",
            raster=RasterWrite(kind="flood_depth", name="100-year flood", meta=meta),
        )
    )
    info, data = store.read_raster(result.raster_id)
    assert data == tiff
    assert (info.kind, info.epsg, info.nodata, info.width) == ("flood_depth", 32737, -9999.0, 10)
    assert info.bounds == (0, 0, 100, 200) and info.bounds_4326 == (36.8, -1.3, 36.9, -1.2)
    assert info.extra == {"band_count": 1} and info.settlement_id == "kibera"
    assert [r.raster_id for r in store.rasters(settlement="kibera")] == [result.raster_id]
    with pytest.raises(StoreNotFound):
        store.read_raster(99)


def test_fields_added_to_a_schema_are_added_to_the_table(backend: Backend, tmp_path: Path) -> None:
    with backend.open() as s:
        s.write_upload(upload(tmp_path, {"households": households()}))
    wider = LayerSchema(
        name="households",
        description="",
        geometry="Point",
        key="household_id",
        fields=(*HOUSEHOLDS.fields, Field("tenure", "str", "Tenure")),
    )
    with backend.open(layers={"households": wider}) as s:
        frame = households().assign(tenure=["owner", "tenant", None])
        s.write_upload(upload(tmp_path, {"households": frame}, round="2024-02"))
        got = s.read_layer("households")
    assert got["tenure"].isna().sum() == 4 and got["tenure"].iloc[3] == "owner"


def test_unknown_layer_is_refused(store: Store, backend: Backend, tmp_path) -> None:
    with pytest.raises(StoreSchemaError, match="unknown layer"):
        store.write_upload(upload(tmp_path, {"toilets": pd.DataFrame({"a": [1]})}))
    with pytest.raises(StoreSchemaError, match="reserved"):
        backend.open(layers={"uploads": replace(HOUSEHOLDS, name="uploads")})
    with pytest.raises(StoreSchemaError, match="is named"):
        backend.open(layers={"people": HOUSEHOLDS})


# -------------------------------------------------------------------------- concurrency
WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path[:0] = [{repo!r}, {tests!r}]
    from test_store import LAYERS, households, upload
    from geo_service.storage import GeoPackageStore, PostGISStore
    target, folder, name, start = sys.argv[1], Path(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    frames = {{"households": households(20_000)}}
    up = upload(folder, frames, content=name.encode(), round=name)
    inside = []

    def progress(done, total):  # called inside the transaction; holds the lock a while
        inside.append(time.time())
        time.sleep(0.3)

    opener = PostGISStore if target.startswith("postgresql://") else GeoPackageStore
    with opener(target, layers=LAYERS) as store:
        time.sleep(max(0.0, start - time.time()))
        asked = time.time()
        result = store.write_upload(up, progress=progress)
        done = time.time()
    print(result.upload_id, result.rows, asked, inside[0], done)
    """
)


def test_two_processes_writing_at_once_both_land(backend: Backend, tmp_path: Path) -> None:
    backend.open().close()
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(repo=str(REPO), tests=str(Path(__file__).parent)))
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    start = time.time() + 3.0  # both start writing at the same moment
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), backend.target, str(tmp_path / name), name, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    lines = sorted(o[0].split() for o in outs)
    assert [line[:2] for line in lines] == [["1", "20000"], ["2", "20000"]]
    # (asked, first progress inside the transaction, done) of each writer, by start inside
    first, second = sorted((tuple(map(float, x[2:])) for x in lines), key=lambda t: t[1])
    assert second[1] > first[2] - 0.2  # the second transaction began after the first ended
    with backend.open() as s:
        assert [i.rows for i in s.list_layers() if i.name == "households"] == [40_000]
        assert sorted(s.read_layer("households", columns=["round"])["round"].unique()) == ["a", "b"]


class _Blocker:
    """Another writer holding the store's write lock until :meth:`release`."""

    def __init__(self, store: Store) -> None:
        if isinstance(store, GeoPackageStore):
            self._con: Any = sqlite3.connect(
                store.path, isolation_level=None, check_same_thread=False
            )
            self._con.execute("BEGIN IMMEDIATE")
            self._release = "COMMIT"
        else:
            import psycopg  # noqa: PLC0415

            self._con = psycopg.connect(store.url, autocommit=True)
            self._con.execute("SELECT pg_advisory_lock(%s)", (store._lock_key,))
            self._release = f"SELECT pg_advisory_unlock({store._lock_key:d})"
        self.held = True

    def release(self) -> None:
        if self.held:
            self._con.execute(self._release)
            self.held = False

    def close(self) -> None:
        self.release()
        self._con.close()


def test_writer_waits_then_reports_busy(store: Store, backend: Backend, tmp_path) -> None:
    store.write_upload(upload(tmp_path, {"households": households()}))
    blocker = _Blocker(store)
    try:
        impatient = backend.open(busy_timeout_ms=300)
        assert len(impatient.read_layer("households")) == 3  # readers never wait
        t0 = time.perf_counter()
        with pytest.raises(StoreBusy, match="busy"):
            impatient.write_upload(upload(tmp_path, {"households": households()}, round="x"))
        assert 0.25 < time.perf_counter() - t0 < 5
        # a patient writer gets through once the lock is released
        release = threading.Timer(0.3, blocker.release)
        release.start()
        assert not store.write_upload(
            upload(tmp_path, {"households": households()}, round="y")
        ).duplicate
        release.join()
        impatient.close()
    finally:
        blocker.close()


def test_threads_share_a_store(store: Store, tmp_path) -> None:
    store.write_upload(upload(tmp_path, {"households": households()}))
    results: list[int] = []

    def read() -> None:
        results.append(len(store.read_layer("households")))

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [3, 3, 3, 3]
