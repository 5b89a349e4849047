"""Hazard exposure: hand-computed answers on a 4 × 4 raster, plus real Kianda / Kisenso data.

The raster (EPSG:32737, 10 m cells, top-left corner at (X0, Y0), nodata -9999)::

          col 0    col 1   col 2   col 3
    row 0  0.0      0.1     0.7     1.5
    row 1  0.2      0.4     1.0     2.0
    row 2  nodata   0.6     0.8     3.0
    row 3  0.05     0.05    0.05    0.05
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.io import MemoryFile
from shapely import box

from profiling import hazard
from profiling.crs import GeographicCRSError
from profiling.errors import MissingCRS
from profiling.hazard import (
    HazardClasses,
    distance_to_hazard,
    exposure_table,
    hazardous_location,
    sample_raster,
    share_inside,
    structure_hazard_class,
    zonal_stats,
)
from tests.realdata import real_file

X0, Y0 = 500_000.0, 9_850_000.0
UTM = "EPSG:32737"
NODATA = -9999.0
GRID = np.array(
    [
        [0.0, 0.1, 0.7, 1.5],
        [0.2, 0.4, 1.0, 2.0],
        [NODATA, 0.6, 0.8, 3.0],
        [0.05, 0.05, 0.05, 0.05],
    ],
    dtype="float32",
)


def cell_box(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    """A box in raster-relative metres: x to the right of X0, y *down* from Y0."""
    return box(X0 + x0, Y0 - y1, X0 + x1, Y0 - y0)


@pytest.fixture
def raster_path(tmp_path: Path) -> Path:
    path = tmp_path / "depth.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=4,
        height=4,
        count=1,
        dtype="float32",
        crs=UTM,
        transform=Affine(10.0, 0.0, X0, 0.0, -10.0, Y0),
        nodata=NODATA,
    ) as dst:
        dst.write(GRID, 1)
    return path


@pytest.fixture
def polygons() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"structure_id": ["a", "b", "c", "out"]},
        geometry=[
            cell_box(0, 0, 15, 10),  # cell (0,0) + half of (0,1)
            cell_box(5, 20, 15, 30),  # half nodata (2,0) + half of (2,1)
            cell_box(25, 5, 35, 15),  # a quarter of (0,2), (0,3), (1,2), (1,3)
            cell_box(100, 100, 110, 110),  # off the raster
        ],
        index=[10, 20, 30, 40],
        crs=UTM,
    )


# --- zonal statistics --------------------------------------------------------------------------


def test_zonal_stats_exact_coverage_by_hand(raster_path: Path, polygons: gpd.GeoDataFrame) -> None:
    out = zonal_stats(polygons, raster_path, stats=("mean", "max", "count"), threshold=0.5)
    assert list(out.index) == [10, 20, 30, 40]
    assert list(out.columns) == ["mean", "max", "count", "data_fraction", "fraction_above"]
    a, b, c, off = (out.loc[i] for i in (10, 20, 30, 40))
    # a: (1 × 0.0 + 0.5 × 0.1) / 1.5; nothing ≥ 0.5
    assert a["mean"] == pytest.approx(0.05 / 1.5)
    assert a["max"] == pytest.approx(0.1)
    assert a["count"] == pytest.approx(1.5)
    assert a["data_fraction"] == pytest.approx(1.0)
    assert a["fraction_above"] == pytest.approx(0.0)
    # b: only the half cell 0.6 has data; half the polygon is over nodata
    assert b["mean"] == pytest.approx(0.6)
    assert b["max"] == pytest.approx(0.6)
    assert b["data_fraction"] == pytest.approx(0.5)
    assert b["fraction_above"] == pytest.approx(0.5)
    # c: four quarters (0.7 + 1.5 + 1.0 + 2.0) / 4
    assert c["mean"] == pytest.approx(1.3)
    assert c["max"] == pytest.approx(2.0)
    assert c["fraction_above"] == pytest.approx(1.0)
    # off the raster: no data at all
    assert np.isnan(off["mean"])
    assert np.isnan(off["max"])
    assert off["data_fraction"] == 0.0
    assert off["fraction_above"] == 0.0


def test_zonal_fraction_above_threshold_by_hand(
    raster_path: Path, polygons: gpd.GeoDataFrame
) -> None:
    out = zonal_stats(polygons, raster_path, threshold=1.5)
    # c: cells 1.5 and 2.0 are ≥ 1.5 → two quarters; a threshold equal to a value counts it
    assert out.loc[30, "fraction_above"] == pytest.approx(0.5)
    out = zonal_stats(polygons, raster_path, threshold=0.1)
    # a: the half cell of 0.1 over the 1.5-cell polygon
    assert out.loc[10, "fraction_above"] == pytest.approx(0.5 / 1.5)


def test_zonal_stats_accepts_open_dataset(raster_path: Path, polygons: gpd.GeoDataFrame) -> None:
    with rasterio.open(raster_path) as ds:
        a = zonal_stats(polygons, ds)
        assert not ds.closed  # we never close what the caller opened
    b = zonal_stats(polygons, raster_path)
    pd.testing.assert_frame_equal(a, b)


def test_zonal_stats_polygons_in_degrees_match_projected(
    raster_path: Path, polygons: gpd.GeoDataFrame
) -> None:
    projected = zonal_stats(polygons, raster_path, threshold=1.5)
    geographic = zonal_stats(polygons.to_crs(4326), raster_path, threshold=1.5)
    pd.testing.assert_frame_equal(projected, geographic, atol=1e-6, rtol=1e-6)


def test_zonal_stats_does_not_mutate_and_keeps_index(
    raster_path: Path, polygons: gpd.GeoDataFrame
) -> None:
    before = polygons.copy()
    shuffled = polygons.iloc[[2, 0, 3, 1]]
    out = zonal_stats(shuffled, raster_path)
    pd.testing.assert_frame_equal(polygons, before)
    assert list(out.index) == [30, 10, 40, 20]
    assert out.loc[30, "mean"] == pytest.approx(1.3)


def test_zonal_stats_empty_and_missing_geometries(raster_path: Path) -> None:
    gs = gpd.GeoSeries([None, shapely.Polygon(), cell_box(0, 0, 10, 10)], crs=UTM)
    out = zonal_stats(gs, raster_path)
    assert out["mean"].isna().tolist() == [True, True, False]
    assert zonal_stats(gs.iloc[:0], raster_path).empty


def test_zonal_stats_rejects_unknown_stat_and_missing_crs(raster_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown statistics"):
        zonal_stats(gpd.GeoSeries([cell_box(0, 0, 1, 1)], crs=UTM), raster_path, stats=("p90",))
    with pytest.raises(MissingCRS):
        zonal_stats(gpd.GeoSeries([cell_box(0, 0, 1, 1)]), raster_path)


# --- point sampling ----------------------------------------------------------------------------


def test_sample_raster_points(raster_path: Path) -> None:
    pts = gpd.GeoSeries(
        [
            shapely.Point(X0 + 35, Y0 - 25),  # (2,3) = 3.0
            shapely.Point(X0 + 5, Y0 - 25),  # nodata
            shapely.Point(X0 + 10, Y0 - 5),  # on the edge → the cell to the right (0,1)
            shapely.Point(X0 - 5, Y0 - 5),  # off the raster
            None,
        ],
        index=list("vwxyz"),
        crs=UTM,
    )
    out = sample_raster(pts, raster_path)
    assert out.name == "hazard_value"
    assert list(out.index) == list("vwxyz")
    assert out["v"] == pytest.approx(3.0)
    assert out["x"] == pytest.approx(0.1)
    assert out[["w", "y", "z"]].isna().all()
    # same answer for the points in degrees
    back = sample_raster(pts.to_crs(4326), raster_path)
    pd.testing.assert_series_equal(out, back)


def test_sample_raster_from_memoryfile(raster_path: Path) -> None:
    with MemoryFile(raster_path.read_bytes()) as mem, mem.open() as ds:
        out = sample_raster(gpd.GeoSeries([shapely.Point(X0 + 15, Y0 - 15)], crs=UTM), ds)
    assert out.iloc[0] == pytest.approx(0.4)


# --- classes -----------------------------------------------------------------------------------


def test_flood_depth_class_boundaries() -> None:
    classes = HazardClasses.flood_depth()
    values = pd.Series([0.0, 0.0999, 0.1, 0.6999, 0.7, 1.4999, 1.5, 9.0, np.nan], index=range(9))
    out = classes.classify(values)
    assert out.tolist()[:8] == ["none", "none", "low", "low", "medium", "medium", "high", "high"]
    assert pd.isna(out.iloc[8])
    assert out.cat.ordered
    assert out.name == "hazard_class"


def test_classes_lower_is_worse_and_validation() -> None:
    bands = HazardClasses(
        breaks=(6, 3), labels=("band > 6", "bands 4-6", "bands 1-3"), higher_is_worse=False
    )
    assert bands.classify([1, 3, 4, 6, 7]).tolist() == [
        "bands 1-3",
        "bands 1-3",
        "bands 4-6",
        "bands 4-6",
        "band > 6",
    ]
    with pytest.raises(ValueError, match="ascending"):
        HazardClasses(breaks=(1.0, 0.5), labels=("a", "b", "c"))
    with pytest.raises(ValueError, match="one more label"):
        HazardClasses(breaks=(1.0,), labels=("a",))


def test_structure_takes_highest_class_it_touches(raster_path: Path) -> None:
    structures = gpd.GeoDataFrame(
        geometry=[
            cell_box(0, 0, 15, 10),  # mean 0.033 (none) but touches 0.1 → low
            cell_box(25, 0, 30.01, 10),  # a 0.1 % sliver of the 1.5 m cell → high
            cell_box(0, 30, 40, 40),  # all 0.05 → none
            shapely.Point(X0 + 25, Y0 - 15),  # point in the 1.0 cell → medium
            shapely.Point(X0 + 5, Y0 - 25),  # point on nodata → missing
        ],
        index=[5, 4, 3, 2, 1],
        crs=UTM,
    )
    out = structure_hazard_class(structures, raster_path)
    assert list(out.index) == [5, 4, 3, 2, 1]
    assert out.tolist()[:4] == ["low", "high", "none", "medium"]
    assert pd.isna(out.loc[1])


# --- vector hazards ----------------------------------------------------------------------------


@pytest.fixture
def zones() -> gpd.GeoDataFrame:
    # two overlapping zones whose union is the box (0, 0, 15, 10)
    return gpd.GeoDataFrame(
        {"hazard_id": ["z1", "z2"], "hazard_type": ["flood", "flood"]},
        geometry=[box(X0, Y0, X0 + 10, Y0 + 10), box(X0 + 5, Y0, X0 + 15, Y0 + 10)],
        crs=UTM,
    )


def test_share_inside_counts_overlapping_zones_once(zones: gpd.GeoDataFrame) -> None:
    polys = gpd.GeoSeries(
        [
            box(X0, Y0, X0 + 20, Y0 + 10),  # 150 of 200 m² inside (not 200: overlap once)
            box(X0 + 5, Y0 + 5, X0 + 10, Y0 + 10),  # wholly inside both
            box(X0 + 30, Y0, X0 + 40, Y0 + 10),  # outside
        ],
        index=["p", "q", "r"],
        crs=UTM,
    )
    out = share_inside(polys, zones)
    assert out.name == "hazard_share"
    assert out.tolist() == pytest.approx([0.75, 1.0, 0.0])
    # zones in degrees are reprojected to the polygons' metric CRS
    assert share_inside(polys, zones.to_crs(4326)).tolist() == pytest.approx(
        [0.75, 1.0, 0.0], abs=1e-6
    )


def test_distance_to_hazard(zones: gpd.GeoDataFrame) -> None:
    geoms = gpd.GeoSeries(
        [
            shapely.Point(X0 + 20, Y0 + 5),  # 5 m east of the union
            shapely.Point(X0 + 3, Y0 + 3),  # inside → 0
            box(X0 + 15, Y0 + 20, X0 + 25, Y0 + 30),  # corner (15, 20) to edge y = 10 → 10 m
        ],
        crs=UTM,
    )
    out = distance_to_hazard(geoms, zones)
    assert out.name == "distance_to_hazard_m"
    assert out.tolist() == pytest.approx([5.0, 0.0, 10.0])


def test_vector_hazards_refuse_degrees(zones: gpd.GeoDataFrame) -> None:
    polys = gpd.GeoSeries([box(X0, Y0, X0 + 20, Y0 + 10)], crs=UTM).to_crs(4326)
    with pytest.raises(GeographicCRSError):
        share_inside(polys, zones)
    with pytest.raises(GeographicCRSError):
        distance_to_hazard(polys, zones)


# --- exposure and hazardous location -----------------------------------------------------------


def test_exposure_table_by_settlement() -> None:
    classes = HazardClasses.flood_depth()
    structures = pd.DataFrame(
        {"settlement_id": ["s1", "s1", "s1", "s2", "s2"], "population": [4, 6, None, 3, 5]},
        index=[11, 12, 13, 14, 15],
    )
    cls = classes.classify(pd.Series([2.0, 0.2, 1.6, np.nan, 0.0], index=structures.index))
    table = exposure_table(structures, cls, population_column="population")
    assert table.loc[("s1", "high"), "units"] == 2
    assert table.loc[("s1", "high"), "people"] == 4.0
    assert table.loc[("s1", "high"), "people_missing"] == 1
    assert table.loc[("s1", "low"), "people"] == 6.0
    assert table.loc[("s2", "no data"), "people"] == 3.0
    assert table.loc[("s2", "none"), "units"] == 1
    assert table.loc[("s2", "medium"), "units"] == 0
    assert table["units"].sum() == 5  # each structure counted once
    total = exposure_table(structures, cls, population_column="population", by=None)
    assert total.loc["high", "units"] == 2
    with pytest.raises(ValueError, match="indexed like"):
        exposure_table(structures, cls.reset_index(drop=True))


def test_hazardous_location_rule(zones: gpd.GeoDataFrame) -> None:
    units = gpd.GeoSeries(
        [
            shapely.Point(X0 + 100, Y0 + 100),  # high class, outside zones
            shapely.Point(X0 + 3, Y0 + 3),  # low class, inside a zone
            shapely.Point(X0 + 100, Y0 + 100),  # medium, outside
            shapely.Point(X0 + 100, Y0 + 100),  # no raster data, outside → unknown
            box(X0 + 14, Y0, X0 + 24, Y0 + 10),  # no raster data, 10 % in a zone
        ],
        crs=UTM,
    )
    cls = HazardClasses.flood_depth().classify(
        pd.Series([2.0, 0.2, 1.0, np.nan, np.nan], index=units.index)
    )
    out = hazardous_location(units, classes=cls, hazard_zones=zones)
    assert out.name == "hazardous_location"
    assert out.dtype == "boolean"
    assert out.tolist()[:3] == [True, True, False]
    assert pd.isna(out.iloc[3])
    assert out.iloc[4]
    # medium counts when the minimum class is lowered; min_share excludes small overlaps
    out = hazardous_location(units, classes=cls, min_class="medium", hazard_zones=zones,
                             min_share=0.2)  # fmt: skip
    assert out.tolist()[:3] == [True, True, True]
    assert pd.isna(out.iloc[4])
    assert hazardous_location(units, hazard_zones=zones).tolist() == [
        False,
        True,
        False,
        False,
        True,
    ]


# --- real data ---------------------------------------------------------------------------------

KIANDA_RASTER = "kibera_kianda/derived_kianda_terrain_class_2m.tif"
KIANDA_STRUCTURES = (
    "kibera_kianda/Shapefiles/Kianda/Population/kianda_structures_and_population_dataset.shp"
)
# terrain bands 1 (lowest, most flood-prone) ... 32; a structure takes the lowest band it touches
TERRAIN = HazardClasses(
    breaks=(10, 6, 3),
    labels=("bands 11+", "bands 7-10", "bands 4-6", "bands 1-3"),
    higher_is_worse=False,
)


@pytest.mark.realdata
# rasterstats (the independent peer) and the rasterio helpers it calls still apply Affine with `*`
@pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")
def test_kianda_structures_in_lowest_terrain_bands() -> None:
    raster = real_file(KIANDA_RASTER)
    shp = real_file(KIANDA_STRUCTURES)
    structures = gpd.read_file(shp).set_crs(4326)
    structures["settlement_id"] = "kianda"
    cls = structure_hazard_class(structures, raster, classes=TERRAIN)
    table = exposure_table(structures, cls, population_column="POP")
    print("\nKianda structures by worst terrain band touched (1 = lowest):")
    print(table.to_string())

    # independent check: rasterstats with all_touched=True (every touched cell) on all of them
    rasterstats = pytest.importorskip("rasterstats", reason="rasterstats (bench extra) absent")

    metric = structures.to_crs(32737)
    # strictly every touched cell (min_coverage=0) is what all_touched rasterises
    ours = zonal_stats(metric, raster, stats=("min", "max"), min_coverage=0.0)
    # boundless=False: boundless reads go through GDAL's VRT driver, which profiling disables
    rs = rasterstats.zonal_stats(
        metric, str(raster), stats=["min", "max"], all_touched=True, nodata=-9999, boundless=False
    )
    theirs = pd.DataFrame(rs, index=metric.index).astype(float)
    np.testing.assert_allclose(ours["min"], theirs["min"])
    np.testing.assert_allclose(ours["max"], theirs["max"])
    # the default tolerance (cells covered < 1e-6, i.e. < 4 mm² of a 2 m cell, not touched)
    # changes one structure's lowest band (26 → 27), not its class
    tolerant = zonal_stats(metric, raster, stats=("min",))
    assert (tolerant["min"] != ours["min"]).sum() == 1
    expected = TERRAIN.classify(theirs["min"]).value_counts().reindex(TERRAIN.labels)
    got = table.loc["kianda", "units"].reindex(TERRAIN.labels)
    assert got.tolist() == expected.tolist()
    assert table["units"].sum() == len(structures)
    assert table["people"].sum() == pytest.approx(pd.to_numeric(structures["POP"]).sum())
    # facts checked by both computations
    assert got.loc["bands 1-3"] == 4
    assert table.loc[("kianda", "bands 1-3"), "people"] == 25


KINSHASA_EROSIONS = "kinshasa_kisenso_erosion/erosions.geojson"
KINSHASA_QUARTIERS = "kinshasa_kisenso_erosion/quartiers_kisenso.geojson"


@pytest.mark.realdata
def test_kisenso_quartier_share_in_erosion_zones() -> None:
    erosions = gpd.read_file(real_file(KINSHASA_EROSIONS))
    quartiers = gpd.read_file(real_file(KINSHASA_QUARTIERS))
    metric = quartiers.to_crs(quartiers.estimate_utm_crs())
    share = share_inside(metric, erosions)
    assert len(share) == 17
    assert share.between(0, 1).all()
    # independent check: overlay of the dissolved zones
    zones = erosions.to_crs(metric.crs).geometry.make_valid().union_all()
    expected = metric.geometry.intersection(zones).area / metric.geometry.area
    np.testing.assert_allclose(share, expected, rtol=1e-9, atol=1e-12)
    top = pd.DataFrame({"quartier": metric["name"], "share": share})
    print("\nKisenso quartiers: share of area inside erosion zones (top 5)")
    print(top.sort_values("share", ascending=False).head(5).to_string())


def test_zonal_stats_raster_in_degrees_vectors_in_metres(tmp_path: Path) -> None:
    # the same grid in EPSG:4326 (0.0001° cells near Nairobi); polygons arrive in UTM
    lon0, lat0, d = 36.77, -1.30, 0.0001
    path = tmp_path / "depth_4326.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=4,
        height=4,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=Affine(d, 0.0, lon0, 0.0, -d, lat0),
        nodata=NODATA,
    ) as dst:
        dst.write(GRID, 1)
    a = box(lon0, lat0 - d, lon0 + 1.5 * d, lat0)  # cell (0,0) + half of (0,1)
    c = box(lon0 + 2.5 * d, lat0 - 1.5 * d, lon0 + 3.5 * d, lat0 - 0.5 * d)  # four quarters
    polys = gpd.GeoSeries([a, c], crs=4326).to_crs(UTM)
    out = zonal_stats(polys, path, threshold=1.5)
    assert out["mean"].tolist() == pytest.approx([0.05 / 1.5, 1.3], abs=1e-4)
    assert out["max"].tolist() == pytest.approx([0.1, 2.0])
    assert out["fraction_above"].tolist() == pytest.approx([0.0, 0.5], abs=1e-4)
    assert out["data_fraction"].tolist() == pytest.approx([1.0, 1.0], abs=1e-4)


def test_zonal_stats_windows_and_worker_processes_agree(
    raster_path: Path, polygons: gpd.GeoDataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = zonal_stats(polygons, raster_path, threshold=0.5)
    monkeypatch.setattr(hazard, "_TILE", 1)  # one window per polygon corner cell
    pd.testing.assert_frame_equal(zonal_stats(polygons, raster_path, threshold=0.5), whole)


def test_zonal_stats_n_jobs(
    raster_path: Path, polygons: gpd.GeoDataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = zonal_stats(polygons, raster_path, threshold=0.5)
    monkeypatch.setattr(hazard, "_TILE", 1)
    parallel = zonal_stats(polygons, raster_path, threshold=0.5, n_jobs=2)
    pd.testing.assert_frame_equal(parallel, whole)


def test_zonal_stats_n_jobs_in_memory_raster(
    raster_path: Path, polygons: gpd.GeoDataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = zonal_stats(polygons, raster_path, threshold=0.5)
    monkeypatch.setattr(hazard, "_TILE", 1)
    with MemoryFile(raster_path.read_bytes()) as mem, mem.open() as ds:
        parallel = zonal_stats(polygons, ds, threshold=0.5, n_jobs=2)  # blocks sent to workers
    pd.testing.assert_frame_equal(parallel, whole)
