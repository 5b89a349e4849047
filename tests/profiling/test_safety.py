"""Staging, sniffing, zip extraction, CRS parsing and the GDAL environment.

Every input is built in code in ``tmp_path``; expectations are worked out by hand.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import stat
import warnings
import zipfile
from dataclasses import FrozenInstanceError
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from affine import Affine

from profiling import _gdal_env
from profiling.errors import InputTooLarge, MissingCRS, UnsafeInput, UnsupportedFormat
from profiling.ingest.safety import (
    FORMATS,
    Limits,
    StagedFile,
    check_extension,
    detect_text_encoding,
    parse_user_crs,
    safe_extract_zip,
    sanitize_name,
    sniff,
    stage_upload,
)

POINTS = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"name": "tap"},
            "geometry": {"type": "Point", "coordinates": [36.78, -1.31]},
        }
    ],
}


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def make_gpkg(path: Path) -> Path:
    frame = gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(36.78, -1.31)], crs=4326)
    pyogrio.write_dataframe(frame, path, layer="points")
    return path


def make_shapefile_zip(tmp_path: Path) -> Path:
    folder = tmp_path / "shp"
    folder.mkdir()
    frame = gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(36.78, -1.31)], crs=4326)
    pyogrio.write_dataframe(frame, folder / "taps.shp")
    members = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
    return make_zip(tmp_path / "taps.zip", members)


def make_tiff(path: Path, **options: object) -> Path:
    profile = {
        "driver": "GTiff",
        "width": 2,
        "height": 2,
        "count": 1,
        "dtype": "uint8",
        "crs": "EPSG:32737",
        "transform": Affine(2, 0, 252048, 0, -2, 9855356),
    }
    profile.update(options)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.ones((1, 2, 2), dtype="uint8"))
    return path


KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>skip</name>
<Point><coordinates>35.0,-15.8,0</coordinates></Point></Placemark></Document></kml>
"""


# ----------------------------------------------------------------------------- staging


def test_stage_upload_bytes_hashes_and_uses_a_generated_name(tmp_path: Path) -> None:
    job = tmp_path / "job"
    data = b"id,name\n1,tap\n"
    staged = stage_upload(data, job, original_name="../../etc/taps.csv", max_bytes=1000)
    assert isinstance(staged, StagedFile)
    assert staged.path.parent == job
    assert staged.path.name.startswith("upload-") and staged.path.suffix == ".bin"
    assert staged.sha256 == hashlib.sha256(data).hexdigest()
    assert staged.size == len(data) == 14
    assert staged.original_name == "taps.csv"
    assert staged.path.read_bytes() == data
    assert stat.S_IMODE(staged.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(job.stat().st_mode) == 0o700


def test_stage_upload_streams_file_objects_and_paths(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # over three 1 MiB chunks
    source = write(tmp_path / "in.bin", data)
    from_stream = stage_upload(io.BytesIO(data), tmp_path / "a", max_bytes=len(data))
    from_path = stage_upload(source, tmp_path / "b", max_bytes=len(data))
    expected = hashlib.sha256(data).hexdigest()
    assert from_stream.sha256 == from_path.sha256 == expected
    assert from_stream.size == from_path.size == len(data)
    assert from_stream.original_name is None


def test_stage_upload_stops_past_the_limit_and_leaves_nothing(tmp_path: Path) -> None:
    job = tmp_path / "job"
    with pytest.raises(InputTooLarge, match="limit"):
        stage_upload(io.BytesIO(b"x" * 2_000_001), job, max_bytes=2_000_000)
    with pytest.raises(InputTooLarge):
        stage_upload(write(tmp_path / "big", b"x" * 11), job, max_bytes=10)
    assert list(job.iterdir()) == []


def test_stage_upload_refuses_empty_content(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFormat, match="empty"):
        stage_upload(b"", tmp_path / "job", max_bytes=10)
    assert list((tmp_path / "job").iterdir()) == []


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("/vsicurl/http://example.com/x.geojson", "x.geojson"),
        ("..\\..\\windows\\evil.csv", "evil.csv"),
        ("taps\x00\x1b[31m.csv", "taps[31m.csv"),
        ("..", None),
        ("", None),
        (None, None),
        ("  Kianda é.kml ", "Kianda é.kml"),
    ],
)
def test_sanitize_name(given: str | None, kept: str | None) -> None:
    assert sanitize_name(given) == kept


def test_sanitize_name_caps_length_and_keeps_extension() -> None:
    name = sanitize_name("a" * 400 + ".geojson")
    assert name is not None
    assert len(name) == 255 and name.endswith(".geojson")


# ----------------------------------------------------------------------------- sniffing


def test_sniff_detects_every_format_from_content(tmp_path: Path) -> None:
    workbook = make_zip(
        tmp_path / "w.bin",
        {"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"},
    )
    odk = make_zip(tmp_path / "o.bin", {"submissions.csv": b"a,b\n1,2\n", "media/x.jpg": b"j"})
    kmz = make_zip(tmp_path / "k.bin", {"doc.kml": KML.encode()})
    found = {
        "csv": sniff(write(tmp_path / "c.bin", "id;nom\n1;Kisenso\n")),
        "xlsx": sniff(workbook),
        "odk_zip": sniff(odk),
        "shapefile_zip": sniff(make_shapefile_zip(tmp_path)),
        "geojson": sniff(write(tmp_path / "g.bin", json.dumps(POINTS))),
        "gpkg": sniff(make_gpkg(tmp_path / "p.gpkg")),
        "kml": sniff(write(tmp_path / "k.kml", KML)),
        "kmz": sniff(kmz),
        "geotiff": sniff(make_tiff(tmp_path / "t.tif")),
    }
    assert found == {fmt: fmt for fmt in FORMATS}


def test_sniff_bigtiff_and_bom_geojson(tmp_path: Path) -> None:
    assert sniff(make_tiff(tmp_path / "big.tif", BIGTIFF="YES")) == "geotiff"
    assert (tmp_path / "big.tif").read_bytes()[:4] == b"II+\x00"
    bom = write(tmp_path / "bom.json", "\ufeff  \n" + json.dumps(POINTS))
    assert sniff(bom) == "geojson"


def test_sniff_geojson_whose_first_type_is_the_crs(tmp_path: Path) -> None:
    doc = {"crs": {"type": "name", "properties": {"name": "EPSG:4326"}}, **POINTS}
    assert sniff(write(tmp_path / "x", json.dumps(doc))) == "geojson"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x1f\x8b\x08\x00rest", "gzip"),
        (b"%PDF-1.7\n", "PDF"),
        (b'[{"type": "Feature"}]', "JSON array"),
        (b'{"type": "Topology", "objects": {}}', "not GeoJSON"),
        (b'<?xml version="1.0"?><gml:FeatureCollection xmlns:gml="x"/>', "FeatureCollection"),
        ("\ufeffid,name\n".encode("utf-16"), "UTF-16"),
        (bytes(range(256)) * 4, "binary"),
        (b"   \n\n  ", "blank"),
    ],
)
def test_sniff_refuses_unknown_content(tmp_path: Path, content: bytes, message: str) -> None:
    with pytest.raises(UnsupportedFormat, match=message):
        sniff(write(tmp_path / "x.csv", content))


def test_sniff_refuses_sqlite_that_is_not_a_geopackage(tmp_path: Path) -> None:
    path = tmp_path / "plain.gpkg"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE t (a)")
    con.close()
    with pytest.raises(UnsupportedFormat, match="not a GeoPackage"):
        sniff(path)


def test_sniff_zip_without_known_members(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "x.zip", {"readme.txt": b"hello", "photo.jpg": b"j"})
    with pytest.raises(UnsupportedFormat, match=r"no \.shp, \.kml or \.csv"):
        sniff(path)


def test_sniff_zip_with_too_many_members(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "x.zip", {f"{i}.csv": b"a\n" for i in range(5)})
    with pytest.raises(InputTooLarge, match="5 members"):
        sniff(path, limits=Limits(zip_max_members=4))


@pytest.mark.parametrize(
    ("name", "fmt", "warns"),
    [
        ("points.geojson", "geojson", False),
        ("POINTS.JSON", "geojson", False),
        ("points.csv", "geojson", True),
        ("taps.zip", "shapefile_zip", False),
        ("hazard.tiff", "geotiff", False),
        (None, "csv", False),
    ],
)
def test_check_extension(name: str | None, fmt: str, warns: bool) -> None:
    message = check_extension(name, fmt)  # type: ignore[arg-type]
    assert (message is not None) is warns
    if warns:
        assert message == (
            "the file is named 'points.csv' but holds GeoJSON; it is read as GeoJSON"
        )


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        ("nom,quartier\nCité,Kisenso\n".encode(), "utf-8"),
        ("\ufeffnom\nCité\n".encode(), "utf-8-sig"),
        ("prix\n5 €\n".encode("cp1252"), "cp1252"),
        (b"nom\nA\x81B\n", "latin-1"),  # 0x81 is undefined in cp1252
    ],
)
def test_detect_text_encoding(tmp_path: Path, content: bytes, encoding: str) -> None:
    assert detect_text_encoding(write(tmp_path / "t.csv", content)) == encoding


def test_detect_text_encoding_reads_past_the_first_chunk(tmp_path: Path) -> None:
    content = b"a,b\n" + b"1,2\n" * 400_000 + "é\n".encode("cp1252")  # > 1 MiB of ASCII first
    assert detect_text_encoding(write(tmp_path / "t.csv", content)) == "cp1252"


# ----------------------------------------------------------------------------- zip


def test_safe_extract_zip_extracts_into_dest(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "a.zip",
        {"data/": b"", "data/taps.csv": b"a\n1\n", "legacy\\win.csv": b"b\n2\n"},
    )
    out = safe_extract_zip(path, tmp_path / "out")
    assert out == [tmp_path / "out" / "data" / "taps.csv", tmp_path / "out" / "legacy" / "win.csv"]
    assert out[0].read_bytes() == b"a\n1\n"
    assert stat.S_IMODE(out[0].stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("C:/windows/x.csv", "absolute"),
        ("c:x.csv", "absolute"),
        ("..\\x.csv", r"'\.\.'"),
        ("a/../../x.csv", r"'\.\.'"),
        ("a" * 256, "longer than 255"),
        ("a\x07b.csv", "control"),
    ],
)
def test_safe_extract_zip_refuses_hostile_names(tmp_path: Path, name: str, message: str) -> None:
    path = make_zip(tmp_path / "a.zip", {name: b"x"})
    with pytest.raises(UnsafeInput, match=message):
        safe_extract_zip(path, tmp_path / "out")
    assert not any((tmp_path / "out").rglob("*.csv"))


def test_safe_extract_zip_refuses_duplicates_case_insensitively(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", {"Taps.csv": b"1", "taps.CSV": b"2"})
    with pytest.raises(UnsafeInput, match="used twice"):
        safe_extract_zip(path, tmp_path / "out")
    path = tmp_path / "b.zip"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Duplicate name", UserWarning)  # the point of the test
        make_zip(path, {"x.csv": b"1"})
        with zipfile.ZipFile(path, "a") as zf:
            zf.writestr("x.csv", b"2")
    with pytest.raises(UnsafeInput, match="used twice"):
        safe_extract_zip(path, tmp_path / "out2")


def test_safe_extract_zip_refuses_special_files_and_passwords(tmp_path: Path) -> None:
    info = zipfile.ZipInfo("fifo")
    info.external_attr = (stat.S_IFIFO | 0o644) << 16
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr(info, b"")
    with pytest.raises(UnsafeInput, match="special file"):
        safe_extract_zip(tmp_path / "a.zip", tmp_path / "out")
    raw = bytearray(make_zip(tmp_path / "b.zip", {"secret.csv": b"a,b\n"}).read_bytes())
    central = raw.find(b"PK\x01\x02")
    raw[6] |= 0x1  # general purpose flag, bit 0 "encrypted": local header ...
    raw[central + 8] |= 0x1  # ... and central directory
    (tmp_path / "b.zip").write_bytes(bytes(raw))
    with pytest.raises(UnsupportedFormat, match="password"):
        safe_extract_zip(tmp_path / "b.zip", tmp_path / "out2")


def test_safe_extract_zip_member_and_byte_limits(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", {f"{i}.csv": os.urandom(1000) for i in range(3)})
    with pytest.raises(InputTooLarge, match="3 members"):
        safe_extract_zip(path, tmp_path / "o1", max_members=2)
    with pytest.raises(InputTooLarge, match=r"declares 2\.9 KiB"):
        safe_extract_zip(path, tmp_path / "o2", max_total_bytes=2999)
    assert len(safe_extract_zip(path, tmp_path / "o3", max_total_bytes=3000)) == 3


def test_safe_extract_zip_nested_zips_up_to_the_depth(tmp_path: Path) -> None:
    inner = make_zip(tmp_path / "inner.zip", {"taps.csv": b"a\n1\n"})
    outer = make_zip(tmp_path / "outer.zip", {"inner.zip": inner.read_bytes()})
    out = safe_extract_zip(outer, tmp_path / "out", max_depth=1)
    assert out == [tmp_path / "out" / "inner.zip.d" / "taps.csv"]
    assert not (tmp_path / "out" / "inner.zip").exists()
    with pytest.raises(UnsafeInput, match="deeper than 0"):
        safe_extract_zip(outer, tmp_path / "out0", max_depth=0)
    deepest = make_zip(tmp_path / "deepest.zip", {"outer.zip": outer.read_bytes()})
    with pytest.raises(UnsafeInput, match="deeper than 1"):
        safe_extract_zip(deepest, tmp_path / "out1", max_depth=1)


def test_safe_extract_zip_counts_bytes_actually_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Headers can lie: a member yielding more bytes than declared is still stopped."""
    path = make_zip(tmp_path / "a.zip", {"small.csv": b"a\n"})
    real_open = zipfile.ZipFile.open

    def lying_open(self: zipfile.ZipFile, *args: object, **kwargs: object) -> io.BytesIO:
        real_open(self, *args, **kwargs).close()
        return io.BytesIO(b"0" * 10_000_000)  # declared 2 bytes, yields 10 MB

    monkeypatch.setattr(zipfile.ZipFile, "open", lying_open)
    with pytest.raises(InputTooLarge, match="expands to more than"):
        safe_extract_zip(path, tmp_path / "out", max_total_bytes=1_000_000)
    written = sum(p.stat().st_size for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written <= 1_000_000 + 1024 * 1024  # at most one chunk past the budget


# ----------------------------------------------------------------------------- CRS, limits


@pytest.mark.parametrize(("given", "epsg"), [(4326, 4326), ("4326", 4326), ("epsg:32737", 32737)])
def test_parse_user_crs_accepts_authority_codes(given: str | int, epsg: int) -> None:
    assert parse_user_crs(given).to_epsg() == epsg


@pytest.mark.parametrize(
    "given", ["/etc/passwd", "+proj=longlat +init=/etc/passwd", "EPSG:999999", "WGS84 please"]
)
def test_parse_user_crs_refuses_everything_else(given: str) -> None:
    with pytest.raises(MissingCRS, match="EPSG:4326"):
        parse_user_crs(given)


def test_limits_are_frozen_with_documented_defaults() -> None:
    limits = Limits()
    assert limits.max_upload_bytes == 200 * 1024 * 1024
    assert limits.max_features == 2_000_000
    assert limits.max_vertices_per_feature == 100_000
    assert limits.zip_max_ratio == 100
    assert limits.max_raster_cells == 400_000_000
    with pytest.raises(FrozenInstanceError):
        limits.max_features = 1  # type: ignore[misc]


# ----------------------------------------------------------------------------- GDAL env


def test_gdal_environment_is_hardened() -> None:
    assert "OGR_VRT" in os.environ["GDAL_SKIP"].split()
    assert os.environ["PROJ_NETWORK"] == "OFF"
    assert os.environ["GDAL_DISABLE_READDIR_ON_OPEN"] == "EMPTY_DIR"
    assert os.environ["OGR_GEOJSON_MAX_OBJ_SIZE"] == "200"
    _gdal_env.assert_gdal_safe()
    drivers = pyogrio.list_drivers()
    assert "GeoJSON" in drivers and "GPKG" in drivers
    assert not {"OGR_VRT", "GDALG", "WFS", "GPSBabel"} & set(drivers)
    with rasterio.Env() as env:
        assert "GTiff" in env.drivers()
        assert "VRT" not in env.drivers()


def test_gdal_skip_is_appended_not_replaced() -> None:
    tokens = _gdal_env.merged_skip("netCDF,HDF5 OGR_VRT").split()
    assert tokens[:3] == ["netCDF", "HDF5", "OGR_VRT"]
    assert tokens.count("OGR_VRT") == 1
    assert set(_gdal_env.SKIPPED_DRIVERS) <= set(tokens)
    before = os.environ["GDAL_SKIP"]
    _gdal_env.apply()  # idempotent: nothing changes, nothing re-registered
    assert os.environ["GDAL_SKIP"] == before


def test_assert_gdal_safe_fails_closed_when_a_setting_is_undone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROJ_NETWORK", "ON")
    with pytest.raises(RuntimeError, match="PROJ_NETWORK"):
        _gdal_env.assert_gdal_safe()
