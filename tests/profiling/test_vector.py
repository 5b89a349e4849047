"""Vector readers: layer choice, CRS handling, per-row checks and the real data.

Small inputs are written in code to ``tmp_path`` and staged like uploads; expected values
are worked out by hand. Real-data checks read ``../shared/realdata`` in place.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from profiling.errors import InputTooLarge, MissingCRS, UnsafeInput, UnsupportedFormat
from profiling.ingest.safety import Limits, StagedFile, sniff, stage_upload
from profiling.ingest.vector import read_vector
from tests.realdata import REALDATA


def feature(geometry: dict | None, **properties: object) -> dict:
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def point(x: float, y: float) -> dict:
    return {"type": "Point", "coordinates": [x, y]}


def geojson(*features: dict, **extra: object) -> bytes:
    return json.dumps({"type": "FeatureCollection", **extra, "features": list(features)}).encode()


def stage(tmp_path: Path, data: bytes | Path, name: str = "upload") -> StagedFile:
    return stage_upload(data, tmp_path / "job", original_name=name, max_bytes=50_000_000)


def gpkg(tmp_path: Path, layers: dict[str, gpd.GeoDataFrame]) -> StagedFile:
    path = tmp_path / "src.gpkg"
    for name, frame in layers.items():
        pyogrio.write_dataframe(frame, path, layer=name, append=path.exists())
    return stage(tmp_path, path)


def points_frame(n: int, crs: int | None = 4326) -> gpd.GeoDataFrame:
    geoms = [shapely.Point(36.78 + i / 1000, -1.31) for i in range(n)]
    return gpd.GeoDataFrame({"tap": [f"t{i}" for i in range(n)]}, geometry=geoms, crs=crs)


def shapefile_zip(tmp_path: Path, frames: dict[str, gpd.GeoDataFrame], drop: str = "") -> Path:
    folder = tmp_path / "shp"
    folder.mkdir(exist_ok=True)
    for name, frame in frames.items():
        pyogrio.write_dataframe(frame, folder / f"{name}.shp")
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.iterdir()):
            if drop and path.suffix == drop:
                continue
            zf.write(path, path.name)
    return archive


KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document>
<Folder><name>Skips</name>
<Placemark><name>A</name><Point><coordinates>35.0,-15.8,0</coordinates></Point></Placemark>
<Placemark><name>B</name><Point><coordinates>35.1,-15.7,0</coordinates></Point></Placemark>
</Folder></Document></kml>
"""


# ----------------------------------------------------------------------------- GeoJSON


def test_geojson_points_keep_attributes_and_get_source_row(tmp_path: Path) -> None:
    staged = stage(
        tmp_path,
        geojson(feature(point(36.78, -1.31), name="tap 1", n=3), feature(point(36.79, -1.3))),
    )
    read = read_vector(staged.path, "geojson")
    frame = read.frame
    assert frame.crs.to_epsg() == 4326
    assert frame["source_row"].tolist() == [1, 2]
    assert frame["source_row"].dtype == np.int64
    assert frame["name"].tolist()[0] == "tap 1"
    assert frame["n"].tolist()[0] == 3
    assert frame.geometry.iloc[0].equals(shapely.Point(36.78, -1.31))
    assert (read.driver, read.source_crs, read.layers) == ("GeoJSON", "EPSG:4326", ["data"])
    assert len(read.report) == 0


def test_geojson_in_utm_is_reprojected_to_lon_lat(tmp_path: Path) -> None:
    # EPSG:32737 (UTM 37S, central meridian 39°E, false easting 500 km, false northing
    # 10,000 km): (500000, 10000000) is lon 39, lat 0 exactly.
    staged = stage(
        tmp_path,
        geojson(
            feature(point(500000, 10000000)),
            crs={"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32737"}},
        ),
    )
    read = read_vector(staged.path, "geojson")
    assert read.source_crs == "EPSG:32737"
    x, y = read.frame.geometry.iloc[0].coords[0]
    assert x == pytest.approx(39.0, abs=1e-9)
    assert y == pytest.approx(0.0, abs=1e-9)


def test_geojson_rows_with_problems(tmp_path: Path) -> None:
    staged = stage(
        tmp_path,
        geojson(
            feature(point(36.78, -1.31)),
            feature(None),
            feature({"type": "Point", "coordinates": []}),
            feature(point(500000, 9800000)),  # UTM numbers in a lon/lat file
            feature({"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}),
            feature({"type": "LineString", "coordinates": [[36.7, -1.3], [36.8, -1.3]]}),
        ),
    )
    read = read_vector(staged.path, "geojson")
    by_row = {(p.row, p.rule, p.severity) for p in read.report if p.row is not None}
    assert by_row == {
        (2, "empty_geometry", "warning"),
        (3, "empty_geometry", "warning"),
        (4, "coordinates_out_of_range", "error"),
        (5, "unreadable_geometry", "error"),
    }
    assert ("warning", "mixed_geometry_types") in read.report.by_rule()
    mixed = next(p for p in read.report if p.rule == "mixed_geometry_types")
    assert mixed.message == "the layer mixes geometry types (LineString: 1, Point: 2)"
    assert read.frame["source_row"].tolist() == [1, 2, 3, 4, 5, 6]


def test_polygon_and_multipolygon_are_not_mixed(tmp_path: Path) -> None:
    square = [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]
    staged = stage(
        tmp_path,
        geojson(
            feature({"type": "Polygon", "coordinates": square}),
            feature({"type": "MultiPolygon", "coordinates": [square]}),
        ),
    )
    assert len(read_vector(staged.path, "geojson").report) == 0


def test_z_is_dropped_and_said(tmp_path: Path) -> None:
    staged = stage(tmp_path, geojson(feature({"type": "Point", "coordinates": [1, 2, 3]})))
    read = read_vector(staged.path, "geojson")
    assert not read.frame.geometry.has_z.any()
    assert read.report.by_rule() == {("info", "z_dropped"): 1}


def test_source_row_column_in_the_source_is_kept(tmp_path: Path) -> None:
    staged = stage(tmp_path, geojson(feature(point(1, 2), source_row="abc")))
    read = read_vector(staged.path, "geojson")
    assert read.frame["source_row_original"].tolist() == ["abc"]
    assert read.frame["source_row"].tolist() == [1]
    assert read.report.by_rule() == {("warning", "column_renamed"): 1}


def test_feature_and_vertex_limits(tmp_path: Path) -> None:
    staged = stage(tmp_path, geojson(*(feature(point(i, 0)) for i in range(3))))
    with pytest.raises(InputTooLarge, match="3 features"):
        read_vector(staged.path, "geojson", limits=Limits(max_features=2))
    with pytest.raises(InputTooLarge, match="3 vertices"):
        read_vector(staged.path, "geojson", limits=Limits(max_total_vertices=2))


def test_format_must_match_content(tmp_path: Path) -> None:
    staged = stage(tmp_path, geojson(feature(point(1, 2))))
    with pytest.raises(UnsupportedFormat, match="the content is geojson, not gpkg"):
        read_vector(staged.path, "gpkg")
    with pytest.raises(UnsupportedFormat, match="not a vector format"):
        read_vector(staged.path, "csv")


def test_reading_leaves_no_scratch_files(tmp_path: Path) -> None:
    staged = stage(tmp_path, shapefile_zip(tmp_path, {"taps": points_frame(2)}))
    read_vector(staged.path, "shapefile_zip")
    assert list(staged.path.parent.iterdir()) == [staged.path]


# ----------------------------------------------------------------------------- GeoPackage


def test_gpkg_reads_the_only_non_empty_layer(tmp_path: Path) -> None:
    staged = gpkg(tmp_path, {"empty": points_frame(0), "taps": points_frame(3)})
    read = read_vector(staged.path, "gpkg")
    assert read.source_layer == "taps"
    assert read.layers == ["empty", "taps"]
    assert read.frame["tap"].tolist() == ["t0", "t1", "t2"]
    assert read.driver == "GPKG"


def test_gpkg_with_several_layers_needs_a_choice(tmp_path: Path) -> None:
    staged = gpkg(tmp_path, {"taps": points_frame(3), "toilets": points_frame(2)})
    with pytest.raises(UnsupportedFormat) as caught:
        read_vector(staged.path, "gpkg")
    assert str(caught.value) == (
        "GeoPackage has layers taps (3), toilets (2); choose one with --layer"
    )
    assert len(read_vector(staged.path, "gpkg", layer="toilets").frame) == 2
    with pytest.raises(UnsupportedFormat, match="no layer 'roads'"):
        read_vector(staged.path, "gpkg", layer="roads")


def test_gpkg_without_crs_needs_one_stated(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(500000, 10000000)], crs=None)
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        staged = gpkg(tmp_path, {"structures": frame})
    with pytest.raises(MissingCRS, match="--crs EPSG:xxxx"):
        read_vector(staged.path, "gpkg")
    read = read_vector(staged.path, "gpkg", crs="EPSG:32737")
    assert read.source_crs == "EPSG:32737"
    assert read.frame.geometry.iloc[0].coords[0] == pytest.approx((39.0, 0.0), abs=1e-9)
    assert read.report.by_rule() == {("info", "crs_stated"): 1}


def test_stated_crs_does_not_override_the_file(tmp_path: Path) -> None:
    staged = gpkg(tmp_path, {"taps": points_frame(1)})
    read = read_vector(staged.path, "gpkg", crs=32737)
    assert read.source_crs == "EPSG:4326"
    assert read.frame.geometry.iloc[0].x == pytest.approx(36.78)
    assert read.report.by_rule() == {("warning", "crs_ignored"): 1}


def test_gpkg_nan_coordinates_are_row_errors(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        # shapely warns when building a ring with NaN: building one is the point here.
        warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
        bad = shapely.Polygon([(0, 0), (1, 0), (np.nan, 1), (0, 0)])
    frame = gpd.GeoDataFrame({"a": [1, 2]}, geometry=[shapely.box(0, 0, 1, 1), bad], crs=4326)
    read = read_vector(gpkg(tmp_path, {"plots": frame}).path, "gpkg")
    assert [(p.row, p.rule, p.severity) for p in read.report] == [
        (2, "non_finite_coordinates", "error")
    ]
    assert read.frame.geometry.iloc[1] is None
    assert read.frame.geometry.iloc[0].equals(shapely.box(0, 0, 1, 1))


# ----------------------------------------------------------------------------- Shapefile zip


def test_shapefile_zip_reads_and_reprojects(tmp_path: Path) -> None:
    frame = points_frame(2).to_crs(32737)
    staged = stage(tmp_path, shapefile_zip(tmp_path, {"taps": frame}))
    assert sniff(staged.path) == "shapefile_zip"
    read = read_vector(staged.path, "shapefile_zip")
    assert (read.source_layer, read.layers, read.driver) == ("taps", ["taps"], "ESRI Shapefile")
    assert read.source_crs == "EPSG:32737"
    assert read.frame.geometry.iloc[1].x == pytest.approx(36.781, abs=1e-9)


def test_shapefile_zip_without_prj(tmp_path: Path) -> None:
    staged = stage(tmp_path, shapefile_zip(tmp_path, {"taps": points_frame(2)}, drop=".prj"))
    with pytest.raises(MissingCRS) as caught:
        read_vector(staged.path, "shapefile_zip")
    assert str(caught.value).startswith("taps.shp has no .prj; state the CRS with --crs")
    read = read_vector(staged.path, "shapefile_zip", crs=4326)
    assert len(read.frame) == 2
    assert read.source_crs == "EPSG:4326"


def test_shapefile_zip_without_dbf(tmp_path: Path) -> None:
    staged = stage(tmp_path, shapefile_zip(tmp_path, {"taps": points_frame(2)}, drop=".dbf"))
    with pytest.raises(UnsupportedFormat, match=r"taps\.shp comes without its \.dbf"):
        read_vector(staged.path, "shapefile_zip")


def test_shapefile_zip_with_several_shapefiles(tmp_path: Path) -> None:
    archive = shapefile_zip(tmp_path, {"taps": points_frame(2), "toilets": points_frame(1)})
    staged = stage(tmp_path, archive)
    with pytest.raises(UnsupportedFormat, match=r"several Shapefiles.*--layer"):
        read_vector(staged.path, "shapefile_zip")
    read = read_vector(staged.path, "shapefile_zip", layer="toilets")
    assert (read.source_layer, len(read.frame)) == ("toilets", 1)
    assert read.layers == ["taps", "toilets"]


def test_shapefile_zip_ignores_macos_resource_forks(tmp_path: Path) -> None:
    archive = shapefile_zip(tmp_path, {"taps": points_frame(2)})
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr("__MACOSX/._taps.shp", b"\x00\x05\x16\x07")
        zf.writestr("._taps.shp", b"\x00\x05\x16\x07")
    read = read_vector(stage(tmp_path, archive).path, "shapefile_zip")
    assert read.layers == ["taps"]


# ----------------------------------------------------------------------------- KML / KMZ


def test_kml_reads_its_single_folder(tmp_path: Path) -> None:
    read = read_vector(stage(tmp_path, KML.encode()).path, "kml")
    assert read.source_layer == "Skips"
    assert read.driver in {"LIBKML", "KML"}
    assert read.frame["Name"].tolist() == ["A", "B"]
    assert read.frame.geometry.iloc[1].equals(shapely.Point(35.1, -15.7))


def test_kmz_reads_doc_kml(tmp_path: Path) -> None:
    archive = tmp_path / "skips.kmz"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("doc.kml", KML)
        zf.writestr("files/icon.png", b"\x89PNG")
    staged = stage(tmp_path, archive)
    assert sniff(staged.path) == "kmz"
    read = read_vector(staged.path, "kmz")
    assert len(read.frame) == 2


def test_kml_with_a_non_kml_root_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "x.kmz"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("doc.kml", "<gpx><wpt/></gpx>")
    with pytest.raises(UnsupportedFormat, match="not <kml>"):
        read_vector(stage(tmp_path, archive).path, "kmz")


def test_kml_network_link_in_kmz_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "x.kmz"
    link = KML.replace(
        "<Document>",
        "<Document><NetworkLink><Link><href>http://example.com/x.kml</href></Link></NetworkLink>",
    )
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("doc.kml", link)
    with pytest.raises(UnsafeInput, match="NetworkLink"):
        read_vector(stage(tmp_path, archive).path, "kmz")


# ----------------------------------------------------------------------------- real data


def realdata(relative: str) -> Path:
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata not present: real-data checks need the shared folder")
    return REALDATA / relative


def zip_sidecars(tmp_path: Path, shp: Path, exts: tuple[str, ...]) -> Path:
    archive = tmp_path / f"{shp.stem}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for ext in exts:
            zf.write(shp.with_suffix(ext), shp.with_suffix(ext).name)
    return archive


@pytest.mark.realdata
def test_real_kianda_structures_without_prj(tmp_path: Path) -> None:
    shp = realdata(
        "kibera_kianda/Shapefiles/Kianda/Population/kianda_structures_and_population_dataset.shp"
    )
    staged = stage(tmp_path, zip_sidecars(tmp_path, shp, (".shp", ".shx", ".dbf")))
    with pytest.raises(MissingCRS, match=r"has no \.prj"):
        read_vector(staged.path, "shapefile_zip")
    read = read_vector(staged.path, "shapefile_zip", crs=4326)
    assert len(read.frame) == 1510
    assert read.frame["source_row"].iloc[-1] == 1510
    assert not read.report.has_errors
    west, south, east, north = read.frame.total_bounds
    assert (round(west, 2), round(south, 2), round(east, 2), round(north, 2)) == (
        36.77,
        -1.31,
        36.78,
        -1.31,
    )


@pytest.mark.realdata
def test_real_kibera_village_boundaries(tmp_path: Path) -> None:
    shp = realdata("kibera_kianda/Shapefiles/boundary-shapefile/Boundary.shp")
    archive = zip_sidecars(tmp_path, shp, (".shp", ".shx", ".dbf", ".prj", ".cpg"))
    read = read_vector(stage(tmp_path, archive).path, "shapefile_zip")
    assert len(read.frame) == 22
    assert read.source_crs == "EPSG:4326"
    assert set(read.frame.geom_type) == {"Polygon"}


@pytest.mark.realdata
def test_real_caphaitien_waterpoints_utm_multipoint(tmp_path: Path) -> None:
    shp = realdata("caphaitien_okap/mwater_waterpoints/waterpoints_clip.shp")
    archive = zip_sidecars(tmp_path, shp, (".shp", ".shx", ".dbf", ".prj"))
    read = read_vector(stage(tmp_path, archive).path, "shapefile_zip")
    assert len(read.frame) == 1849
    assert read.source_crs == "EPSG:32618"
    assert set(read.frame.geom_type) == {"MultiPoint"}
    west, south, east, north = read.frame.total_bounds
    assert -72.35 < west < east < -72.0
    assert 19.55 < south < north < 19.8
    lon, lat = shapely.get_coordinates(read.frame.geometry.array).mean(axis=0)
    assert (lon, lat) == pytest.approx((-72.2, 19.7), abs=0.1)


@pytest.mark.realdata
def test_real_kinshasa_erosions_geojson(tmp_path: Path) -> None:
    read = read_vector(
        stage(tmp_path, realdata("kinshasa_kisenso_erosion/erosions.geojson")).path, "geojson"
    )
    assert len(read.frame) == 58
    assert read.source_layer == "erosions"
    assert not read.report.has_errors


@pytest.mark.realdata
def test_real_blantyre_skips_kml(tmp_path: Path) -> None:
    path = realdata("blantyre_waste_skips/gps_marked_skips_in_blantyre.kml")
    read = read_vector(stage(tmp_path, path).path, "kml")
    assert len(read.frame) == 53
    assert set(read.frame.geom_type) == {"Point"}
    west, _south, _east, north = read.frame.total_bounds
    assert (round(west, 2), round(north, 2)) == (34.98, -15.73)


@pytest.mark.realdata
def test_real_kibera_kml_needs_a_layer(tmp_path: Path) -> None:
    staged = stage(tmp_path, realdata("kibera_kianda/Shapefiles/kibera.kml"))
    with pytest.raises(UnsupportedFormat, match=r"Water \(414\).*choose one with --layer"):
        read_vector(staged.path, "kml")
    read = read_vector(staged.path, "kml", layer="Water")
    assert len(read.frame) == 414
    assert "Water" in read.layers and "Pedestrian" in read.layers
