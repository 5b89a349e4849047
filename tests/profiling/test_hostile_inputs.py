"""Hostile uploads, at reader level: every case names the exact error class or report rule.

Nothing here needs the network: each file is built in ``tmp_path``. Cases that could leak
local files (XXE, VRT, GDALG, a CRS naming a file) plant a canary secret and check that it
never shows up in an exception, a report, a frame or what GDAL prints.
"""

from __future__ import annotations

import io
import json
import sqlite3
import stat
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pyogrio.errors
import pytest
import shapely

from profiling import _gdal_env
from profiling.errors import InputTooLarge, MissingCRS, UnsafeInput, UnsupportedFormat
from profiling.ingest.safety import (
    StagedFile,
    check_extension,
    detect_text_encoding,
    safe_extract_zip,
    sniff,
    stage_upload,
)
from profiling.ingest.vector import read_vector

SECRET = "CANARY-7f3e9b1c-do-not-leak"
PASSWD = Path("/etc/passwd")


def stage(tmp_path: Path, data: bytes | Path, name: str = "upload.bin") -> StagedFile:
    return stage_upload(data, tmp_path / "job", original_name=name, max_bytes=60_000_000)


def geojson(*geometries: dict | None) -> bytes:
    features = [{"type": "Feature", "properties": {}, "geometry": g} for g in geometries]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def plant_canary(tmp_path: Path) -> Path:
    canary = tmp_path / "secret" / "canary.csv"
    canary.parent.mkdir()
    canary.write_text(f"id,secret,WKT\n1,{SECRET},POINT (1 2)\n")
    return canary


def shapefile_members(tmp_path: Path, *, prj: bool = True) -> dict[str, bytes]:
    folder = tmp_path / "shp"
    folder.mkdir(exist_ok=True)
    frame = gpd.GeoDataFrame({"a": [1, 2]}, geometry=gpd.points_from_xy([36.7, 36.8], [-1.3, -1.3]))
    pyogrio.write_dataframe(frame.set_crs(4326), folder / "taps.shp")
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if prj or p.suffix != ".prj"}


def zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def everything_said(capfd: pytest.CaptureFixture[str], *texts: object) -> str:
    out, err = capfd.readouterr()
    return "\n".join([out, err, *map(str, texts)])


@pytest.fixture
def gdal_never_called(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any pyogrio entry point is reached."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("GDAL was handed a file it must never see")

    for name in ("read_info", "list_layers", "read_dataframe", "read_arrow"):
        monkeypatch.setattr(pyogrio, name, refuse)


# ----------------------------------------------------------------------------- basics


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFormat, match="empty"):
        stage(tmp_path, b"")
    empty = tmp_path / "empty.geojson"
    empty.write_bytes(b"")
    with pytest.raises(UnsupportedFormat, match="empty"):
        sniff(empty)
    with pytest.raises(UnsupportedFormat, match="empty"):
        read_vector(empty, "geojson")


def test_geojson_named_csv_is_read_as_geojson(tmp_path: Path) -> None:
    staged = stage(tmp_path, geojson({"type": "Point", "coordinates": [36.78, -1.31]}), "taps.csv")
    fmt = sniff(staged.path)
    assert fmt == "geojson"
    assert check_extension(staged.original_name, fmt) == (
        "the file is named 'taps.csv' but holds GeoJSON; it is read as GeoJSON"
    )
    assert len(read_vector(staged.path, fmt).frame) == 1


def test_non_utf8_text(tmp_path: Path) -> None:
    latin = stage(tmp_path, "nom;quartier\nCité;Kisenso\nNgaliema;Kinshasa\n".encode("latin-1"))
    assert sniff(latin.path) == "csv"
    assert detect_text_encoding(latin.path) == "cp1252"
    binary = stage(tmp_path, bytes(range(1, 256)) * 64)
    with pytest.raises(UnsupportedFormat, match="binary"):
        sniff(binary.path)
    utf16 = stage(tmp_path, "id,nom\n1,Cité\n".encode("utf-16"))
    with pytest.raises(UnsupportedFormat, match="UTF-16"):
        sniff(utf16.path)


def test_non_utf8_geojson_is_refused_not_smuggled(tmp_path: Path) -> None:
    doc = geojson({"type": "Point", "coordinates": [1, 2]}).replace(
        b'"properties": {}', '"properties": {"nom": "Cité"}'.encode("latin-1")
    )
    staged = stage(tmp_path, doc)
    with pytest.raises(UnsupportedFormat, match=r"column 'nom' holds text .* not valid UTF-8"):
        read_vector(staged.path, "geojson")


# ----------------------------------------------------------------------------- archives


def test_truncated_zip(tmp_path: Path) -> None:
    whole = zip_bytes(shapefile_members(tmp_path))
    staged = stage(tmp_path, whole[: len(whole) // 2])
    with pytest.raises(UnsupportedFormat, match="truncated or corrupt"):
        sniff(staged.path)
    with pytest.raises(UnsupportedFormat, match="truncated or corrupt"):
        safe_extract_zip(staged.path, tmp_path / "out")
    with pytest.raises(UnsupportedFormat, match="truncated or corrupt"):
        read_vector(staged.path, "shapefile_zip")


def test_zip_with_corrupt_member_data(tmp_path: Path) -> None:
    raw = bytearray(zip_bytes({"taps.csv": b"id,name\n" * 1000}))
    raw[40:60] = b"\xff" * 20  # inside the deflated data of the only member
    staged = stage(tmp_path, bytes(raw))
    with pytest.raises(UnsupportedFormat, match=r"truncated or corrupt at member 'taps\.csv'"):
        safe_extract_zip(staged.path, tmp_path / "out")


@pytest.mark.parametrize(
    ("member", "message"),
    [("../x.shp", r"escaping the folder with '\.\.'"), ("/tmp/x.shp", "absolute path")],
)
def test_zip_path_escape(tmp_path: Path, member: str, message: str) -> None:
    members = {**shapefile_members(tmp_path), member: b"pwned"}
    staged = stage(tmp_path, zip_bytes(members))
    with pytest.raises(UnsafeInput, match=message):
        safe_extract_zip(staged.path, tmp_path / "job" / "out")
    with pytest.raises(UnsafeInput, match=message):
        read_vector(staged.path, "shapefile_zip")
    assert not (tmp_path / "job" / "x.shp").exists()
    assert not Path("/tmp/x.shp").exists()


def test_zip_bomb(tmp_path: Path) -> None:
    members = {**shapefile_members(tmp_path), "padding.bin": bytes(50 * 1024 * 1024)}
    staged = stage(tmp_path, zip_bytes(members))
    assert staged.size < 500_000  # 50 MB of zeros deflate to ~50 KB: ratio ~1000
    started = time.perf_counter()
    with pytest.raises(InputTooLarge, match=r"100 × the archive"):
        safe_extract_zip(staged.path, tmp_path / "out")
    with pytest.raises(InputTooLarge, match=r"100 × the archive"):
        read_vector(staged.path, "shapefile_zip")
    assert time.perf_counter() - started < 2
    assert not any(p.is_file() for p in (tmp_path / "out").rglob("*"))


def test_zip_with_symlink_member(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("taps.dbf")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in shapefile_members(tmp_path).items():
            if name != "taps.dbf":
                zf.writestr(name, data)
        zf.writestr(link, "/etc/passwd")
    staged = stage(tmp_path, path)
    with pytest.raises(UnsafeInput, match=r"symbolic link: 'taps\.dbf'"):
        read_vector(staged.path, "shapefile_zip")


def test_shapefile_zip_without_prj(tmp_path: Path) -> None:
    staged = stage(tmp_path, zip_bytes(shapefile_members(tmp_path, prj=False)))
    with pytest.raises(MissingCRS, match=r"taps\.shp has no \.prj; state the CRS with --crs"):
        read_vector(staged.path, "shapefile_zip")
    read = read_vector(staged.path, "shapefile_zip", crs=4326)
    assert len(read.frame) == 2
    assert read.report.by_rule() == {("info", "crs_stated"): 1}


# ----------------------------------------------------------------------------- KML


def test_kml_external_entity(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], gdal_never_called: None
) -> None:
    passwd = PASSWD.read_text().splitlines()[0] if PASSWD.exists() else "root:x:0:0"
    xxe = (
        '<?xml version="1.0"?>\n<!DOCTYPE kml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>&xxe;</name>'
        "<Point><coordinates>1,2</coordinates></Point></Placemark></Document></kml>"
    )
    external_dtd = xxe.replace(
        '<!DOCTYPE kml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE kml SYSTEM "file:///etc/passwd">',
    ).replace("&xxe;", "x")
    said = []
    for doc in (xxe, external_dtd):
        staged = stage(tmp_path, doc.encode(), "x.kml")
        with pytest.raises(UnsafeInput) as by_sniff:
            sniff(staged.path)
        with pytest.raises(UnsafeInput) as by_reader:
            read_vector(staged.path, "kml")
        said += [by_sniff.value, by_reader.value]
        # Inside a KMZ only member names are sniffed: defusedxml must catch it.
        kmz = stage(tmp_path, zip_bytes({"doc.kml": doc.encode()}), "x.kmz")
        assert sniff(kmz.path) == "kmz"
        with pytest.raises(UnsafeInput, match="DTD, entities or external references") as in_kmz:
            read_vector(kmz.path, "kmz")
        said.append(in_kmz.value)
    assert passwd not in everything_said(capfd, *said)


def test_kml_network_link(tmp_path: Path, gdal_never_called: None) -> None:
    doc = (
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Document><NetworkLink><name>more</name>'
        "<Link><href>http://example.com/more.kml</href></Link></NetworkLink></Document></kml>"
    )
    staged = stage(tmp_path, doc.encode(), "x.kml")
    assert sniff(staged.path) == "kml"
    with pytest.raises(UnsafeInput, match="NetworkLink"):
        read_vector(staged.path, "kml")


# ----------------------------------------------------------------------------- GDAL paths


def test_vsicurl_name_is_never_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = "/vsicurl/http://example.com/x.geojson"
    staged = stage(tmp_path, geojson({"type": "Point", "coordinates": [36.78, -1.31]}), name)
    assert staged.original_name == "x.geojson"
    assert staged.path.parent == tmp_path / "job"
    assert staged.path.name.startswith("upload-") and staged.path.suffix == ".bin"
    seen: list[str] = []

    def spy(real: Callable[..., object]) -> Callable[..., object]:
        def wrapper(path: object, *args: object, **kwargs: object) -> object:
            seen.append(str(path))
            return real(path, *args, **kwargs)

        return wrapper

    for entry in ("read_info", "list_layers", "read_dataframe"):
        monkeypatch.setattr(pyogrio, entry, spy(getattr(pyogrio, entry)))
    read = read_vector(staged.path, "geojson")
    assert read.frame.geometry.iloc[0].equals(shapely.Point(36.78, -1.31))
    assert seen, "the spy saw no GDAL call"
    job = str(tmp_path / "job") + "/"
    assert all(p.startswith(job) and "/vsi" not in p and "example" not in p for p in seen)


def test_vrt_disguised_as_geojson_never_reads_the_canary(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    canary = plant_canary(tmp_path)
    vrt = (
        f'<OGRVRTDataSource><OGRVRTLayer name="loot"><SrcDataSource>{canary}</SrcDataSource>'
        "</OGRVRTLayer></OGRVRTDataSource>"
    )
    staged = stage(tmp_path, vrt.encode(), "taps.geojson")
    said: list[object] = []
    with pytest.raises(UnsafeInput, match="VRT") as by_sniff:
        sniff(staged.path)
    with pytest.raises(UnsafeInput, match="VRT") as by_reader:
        read_vector(staged.path, "geojson")
    said += [by_sniff.value, by_reader.value]
    # Second layer: even handed straight to GDAL, the VRT driver is gone.
    _gdal_env.assert_gdal_safe()
    with pytest.raises(pyogrio.errors.DataSourceError) as by_gdal:
        pyogrio.read_dataframe(staged.path)
    said.append(by_gdal.value)
    # Third: the same XML posing as the .shp of a zipped Shapefile.
    members = {"taps.shp": vrt.encode(), "taps.shx": b"", "taps.dbf": b"", "taps.prj": b""}
    zipped = stage(tmp_path, zip_bytes(members), "taps.zip")
    with pytest.raises(UnsupportedFormat, match="GDAL could not read it") as in_zip:
        read_vector(zipped.path, "shapefile_zip")
    said.append(in_zip.value)
    assert SECRET not in everything_said(capfd, *said)


def test_gdalg_pipeline_never_runs(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    canary = plant_canary(tmp_path)
    alg = {"type": "gdal_streamed_alg", "command_line": f"gdal vector pipeline read {canary}"}
    staged = stage(tmp_path, json.dumps(alg).encode(), "x.geojson")
    with pytest.raises(UnsafeInput, match="GDALG") as by_sniff:
        read_vector(staged.path, "geojson")
    with pytest.raises(pyogrio.errors.DataSourceError) as by_gdal:
        pyogrio.read_dataframe(staged.path)
    assert SECRET not in everything_said(capfd, by_sniff.value, by_gdal.value)


def test_geojson_crs_naming_a_local_file_is_not_followed(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    wkt = tmp_path / "crs.wkt"
    wkt.write_text(
        f'GEOGCS["{SECRET}",DATUM["d",SPHEROID["s",6378137,298.257]],PRIMEM["G",0],'
        'UNIT["degree",0.0174532925199433]]'
    )
    doc = json.loads(geojson({"type": "Point", "coordinates": [36.78, -1.31]}))
    doc["crs"] = {"type": "name", "properties": {"name": str(wkt)}}
    staged = stage(tmp_path, json.dumps(doc).encode())
    read = read_vector(staged.path, "geojson")
    assert read.source_crs == "EPSG:4326"
    assert SECRET not in everything_said(capfd, read.report.to_text(), read.frame.crs.to_wkt())


def test_user_crs_naming_a_file_is_refused(tmp_path: Path) -> None:
    staged = stage(tmp_path, zip_bytes(shapefile_members(tmp_path, prj=False)))
    with pytest.raises(MissingCRS, match="not understood"):
        read_vector(staged.path, "shapefile_zip", crs="/etc/passwd")


def test_sqlite_and_mbtiles_named_gpkg(tmp_path: Path) -> None:
    mbtiles = tmp_path / "tiles.gpkg"
    with sqlite3.connect(mbtiles) as con:
        con.execute("PRAGMA application_id = 0x4D504258")  # 'MPBX'
        con.execute("CREATE TABLE metadata (name text, value text)")
        con.execute("CREATE TABLE tiles (zoom_level int, tile_column int, tile_row int)")
    con.close()
    plain = tmp_path / "plain.gpkg"
    with sqlite3.connect(plain) as con:
        con.execute("CREATE TABLE households (id int, name text)")
    con.close()
    for path, message in ((mbtiles, "MBTiles"), (plain, "not a GeoPackage")):
        staged = stage(tmp_path, path, path.name)
        with pytest.raises(UnsupportedFormat, match=message):
            sniff(staged.path)
        with pytest.raises(UnsupportedFormat, match=message):
            read_vector(staged.path, "gpkg")


def test_deeply_nested_geojson(tmp_path: Path) -> None:
    depth = 200_000
    nested = "[" * depth + "]" * depth
    doc = '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},'
    doc += f' "geometry": {{"type": "Point", "coordinates": {nested}}}}}]}}'
    staged = stage(tmp_path, doc.encode())
    assert sniff(staged.path) == "geojson"  # the sniffer never parses the whole document
    started = time.perf_counter()
    with pytest.raises(UnsupportedFormat, match="Too many nested objects"):
        read_vector(staged.path, "geojson")
    assert time.perf_counter() - started < 2


# ----------------------------------------------------------------------------- geometry


def test_nan_and_infinite_coordinates(tmp_path: Path) -> None:
    doc = (
        geojson(
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], ["NaN", 1], [0, 0]]]},
            {"type": "Point", "coordinates": ["Infinity", 1]},
        )
        .replace(b'"NaN"', b"NaN")
        .replace(b'"Infinity"', b"Infinity")
    )
    read = read_vector(stage(tmp_path, doc).path, "geojson")
    assert [(p.row, p.rule, p.severity) for p in read.report] == [
        (2, "non_finite_coordinates", "error"),
        (3, "non_finite_coordinates", "error"),
    ]
    assert read.frame.geometry.isna().tolist() == [False, True, True]


def test_million_vertex_polygon_is_a_fast_row_error(tmp_path: Path) -> None:
    angles = np.linspace(0, 2 * np.pi, 1_000_000, endpoint=False)
    ring = np.column_stack([36.78 + 0.01 * np.cos(angles), -1.31 + 0.01 * np.sin(angles)])
    huge = shapely.Polygon(ring)
    frame = gpd.GeoDataFrame(
        {"name": ["plot", "estate"]}, geometry=[shapely.box(36.7, -1.4, 36.8, -1.3), huge], crs=4326
    )
    path = tmp_path / "estate.gpkg"
    pyogrio.write_dataframe(frame, path)
    staged = stage(tmp_path, path, "estate.gpkg")
    started = time.perf_counter()
    read = read_vector(staged.path, "gpkg")
    elapsed = time.perf_counter() - started
    assert elapsed < 5, f"{elapsed:.1f} s"
    assert [(p.row, p.rule, p.severity) for p in read.report] == [(2, "too_many_vertices", "error")]
    assert next(iter(read.report)).message.startswith("1,000,001 vertices")
    assert read.frame.geometry.iloc[1] is None
    assert read.frame["name"].tolist() == ["plot", "estate"]
