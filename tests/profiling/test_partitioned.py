"""Partitioned analyses on Dask: the answers of the single-machine functions, partition by
partition.

A tiny case computed by hand (6 footprints in 3 spatial partitions, 2 working taps and a broken
one, a 3 × 3 flood-depth raster), a partition-boundary case (the nearest tap lies in another
partition), the roll-up sums split at random and added in any order against
``indicator_table``, and the Kianda structures of Kibera (real data) against the local path.
Every Dask computation uses the synchronous scheduler (fast, deterministic).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from datetime import UTC, datetime

import dask
import dask.dataframe as dd
import dask_geopandas
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.io import MemoryFile

from profiling.access import access_table
from profiling.hazard import HazardClasses, structure_hazard_class
from profiling.indicators import DEFAULT_REGISTRY, Indicator, Registry, indicator_table
from profiling.partitioned import (
    ROW_COLUMN,
    RollupPartial,
    collect,
    combine_partials,
    finish_rollup,
    partitioned_access,
    partitioned_hazard_class,
    partitioned_indicator_table,
    plan_rollup,
    rollup_partial,
    spatial_partitions,
)
from tests.realdata import real_file

CRS = 32737
STAMP = datetime(2026, 1, 1, tzinfo=UTC)
NODATA = -9999.0


@pytest.fixture(autouse=True)
def synchronous() -> Iterator[None]:
    with dask.config.set(scheduler="synchronous"):
        yield


# -- the hand-computed city -------------------------------------------------------------------

# 10 m cells, top-left corner (0, 30): row 0 is y 20-30, column 0 is x 0-10.
DEPTH = np.array(
    [
        [0.05, 0.3, 0.9],
        [0.2, 1.0, 2.0],
        [NODATA, 0.5, 1.6],
    ],
    dtype="float32",
)


def flood_tiff() -> bytes:
    with MemoryFile() as mem:
        with mem.open(
            driver="GTiff", width=3, height=3, count=1, dtype="float32", crs=f"EPSG:{CRS}",
            transform=Affine(10, 0, 0, 0, -10, 30), nodata=NODATA,
        ) as dst:  # fmt: skip
            dst.write(DEPTH, 1)
        return bytes(mem.read())


def footprints() -> gpd.GeoDataFrame:
    """Six 2 m footprints (f5 straddles two cells), two settlements."""
    boxes = [
        shapely.box(4, 24, 6, 26),  # f1 cell (0, 0) 0.05 m: none
        shapely.box(14, 24, 16, 26),  # f2 cell (0, 1) 0.3 m: low
        shapely.box(24, 14, 26, 16),  # f3 cell (1, 2) 2.0 m: high
        shapely.box(4, 4, 6, 6),  # f4 cell (2, 0) nodata: unknown
        shapely.box(9, 14, 11, 16),  # f5 cells (1, 0) 0.2 m and (1, 1) 1.0 m: worst medium
        shapely.box(24, 4, 26, 6),  # f6 cell (2, 2) 1.6 m: high
    ]
    return gpd.GeoDataFrame(
        {
            "structure_id": [f"f{i}" for i in range(1, 7)],
            "settlement_id": ["A", "A", "B", "B", "A", "B"],
            "round": "2024-06-01",
            "household_size": pd.array([2, 3, 4, 1, 5, 2], dtype="Int64"),
            "upload_id": pd.array([1, 1, 2, 2, 1, 3], dtype="Int64"),
        },
        geometry=boxes,
        crs=CRS,
        index=pd.Index([10, 11, 12, 13, 14, 15], name="fid"),
    )


def taps() -> gpd.GeoDataFrame:
    """Two working taps and a broken one in the middle (never the nearest)."""
    return gpd.GeoDataFrame(
        {
            "service_id": ["t1", "t2", "t3"],
            "service_type": "water_point",
            "functional": pd.array([True, True, False], dtype="boolean"),
        },
        geometry=[shapely.Point(0, 40), shapely.Point(30, -10), shapely.Point(15, 15)],
        crs=CRS,
    )


# nearest working tap from each footprint's centre, by hand
WATER_M = [
    math.hypot(5, 15),  # f1 (5, 25) -> t1 (0, 40)
    math.hypot(15, 15),  # f2 (15, 25) -> t1
    math.hypot(5, 25),  # f3 (25, 15) -> t2 (30, -10)
    math.hypot(25, 15),  # f4 (5, 5) -> t2
    math.hypot(10, 25),  # f5 (10, 15) -> t1 (the broken t3 is 5 m away)
    math.hypot(5, 15),  # f6 (25, 5) -> t2
]
CLASSES = ["none", "low", "high", None, "medium", "high"]


def _near_water(units: pd.DataFrame, params: dict[str, float]) -> pd.Series:
    """water_point_m <= max_distance_m; missing distance unknown."""
    dist = units["water_point_m"]
    return (dist <= params["max_distance_m"]).astype("boolean").mask(dist.isna(), pd.NA)


NEAR_WATER = Indicator(
    id="near_water_20m",
    name="People within 20 m of a working tap",
    description="test",
    reference="test",
    unit="share",
    population="people",
    numerator=_near_water,
    denominator="people whose distance is known",
    parameters={"max_distance_m": 20.0},
    requires=("water_point_m",),
)
REGISTRY = Registry(
    [
        DEFAULT_REGISTRY.get("people_count"),
        DEFAULT_REGISTRY.get("people_in_hazard_class"),
        NEAR_WATER,
    ]
)
GROUPINGS = ((), ("settlement_id",), ("settlement_id", "hazard_class"))


def analysed_parts() -> dask_geopandas.GeoDataFrame:
    parts = spatial_partitions(footprints(), npartitions=3)
    parts = partitioned_access(parts, taps(), types=("water_point",), columns=("water_point_m",))
    return partitioned_hazard_class(parts, flood_tiff())


def test_three_spatial_partitions_of_two() -> None:
    parts = spatial_partitions(footprints(), npartitions=3)
    assert parts.npartitions == 3
    members = [sorted(parts.partitions[i].compute()["structure_id"]) for i in range(3)]
    assert sorted(len(m) for m in members) == [2, 2, 2]
    assert sorted(s for m in members for s in m) == [f"f{i}" for i in range(1, 7)]
    # partitions are runs of the Hilbert curve: their index ranges do not overlap
    divisions = parts.divisions
    assert all(a < b for a, b in itertools.pairwise(divisions))


def test_hand_computed_distances_and_classes() -> None:
    got = collect(analysed_parts(), index=footprints().index)
    assert got.index.tolist() == [10, 11, 12, 13, 14, 15]
    assert got["structure_id"].tolist() == [f"f{i}" for i in range(1, 7)]
    np.testing.assert_allclose(got["water_point_m"], WATER_M, rtol=0, atol=1e-9)
    classes = got["hazard_class"]
    assert classes.dtype == HazardClasses.flood_depth().dtype
    assert [None if pd.isna(c) else c for c in classes] == CLASSES
    # and exactly what the single-machine functions give
    local = access_table(footprints(), taps(), types=("water_point",))["water_point_m"]
    pd.testing.assert_series_equal(got["water_point_m"], local, check_exact=True)
    with MemoryFile(flood_tiff()) as mem, mem.open() as raster:
        worst = structure_hazard_class(footprints(), raster)
    pd.testing.assert_series_equal(got["hazard_class"], worst, check_exact=True)


def test_point_method_samples_the_cell_under_each_point() -> None:
    points = footprints().assign(geometry=lambda f: f.centroid)
    parts = partitioned_hazard_class(
        spatial_partitions(points, npartitions=3), flood_tiff(), method="point"
    )
    got = collect(parts)["hazard_class"]
    # f5's centre (10, 15) lies on the edge of cells (1, 0) and (1, 1): it takes (1, 1), 1.0 m
    assert [None if pd.isna(c) else c for c in got] == CLASSES


def test_raster_path_read_by_window(tmp_path) -> None:
    path = tmp_path / "flood.tif"
    path.write_bytes(flood_tiff())
    parts = partitioned_hazard_class(spatial_partitions(footprints(), npartitions=3), path)
    got = collect(parts)["hazard_class"]
    assert [None if pd.isna(c) else c for c in got] == CLASSES


def test_hand_computed_rollup() -> None:
    units = collect(analysed_parts(), index=footprints().index)
    parts = analysed_parts()
    result = partitioned_indicator_table(
        parts, registry=REGISTRY, groupings=GROUPINGS, computed_at=STAMP, split_every=2
    )
    assert result.skipped == {}
    table = result.table
    rows = table.set_index(["indicator_id", "group"])
    people = rows.loc["people_count"]
    assert people.loc["", "value"] == 17
    assert people.loc["settlement_id=A", "value"] == 2 + 3 + 5
    assert people.loc["settlement_id=B", "value"] == 4 + 1 + 2
    high = rows.loc["people_in_hazard_class"]  # f3 (4) and f6 (2) are high; f4 unknown
    assert high.loc["settlement_id=B", ["numerator", "denominator", "unknown"]].tolist() == [
        6,
        6,
        1,
    ]
    assert high.loc["settlement_id=A", ["numerator", "denominator", "unknown"]].tolist() == [
        0,
        10,
        0,
    ]
    assert high.loc["", ["numerator", "denominator", "unknown"]].tolist() == [6, 16, 1]
    near = rows.loc["near_water_20m"]  # f1 (2 people) and f6 (2 people) within 20 m
    assert near.loc["settlement_id=A", "value"] == pytest.approx(2 / 10)
    assert near.loc["settlement_id=B", "value"] == pytest.approx(2 / 7)
    assert near.loc["", "value"] == pytest.approx(4 / 17)
    # Wilson interval on the households: 2 of 6
    assert near.loc["", "ci_low"] == pytest.approx(0.0967714, abs=1e-6)
    assert near.loc["", "ci_high"] == pytest.approx(0.7000067, abs=1e-6)
    assert people.loc["settlement_id=A", "upload_ids"] == "1"
    assert people.loc["settlement_id=B", "upload_ids"] == "2,3"
    assert people.loc["", "upload_ids"] == "1,2,3"
    by_class = table[table["group"].str.startswith("settlement_id=B; hazard_class=")]
    assert by_class["group"].unique().tolist() == [
        "settlement_id=B; hazard_class=high",
        "settlement_id=B; hazard_class=NA",
    ]
    # the same table, row for row, as the single-machine roll-up
    plain = pd.DataFrame(units.drop(columns="geometry"))
    local = indicator_table(plain, registry=REGISTRY, groupings=GROUPINGS, computed_at=STAMP)
    pd.testing.assert_frame_equal(table, local.table, check_exact=True)


def test_nearest_tap_in_another_partition() -> None:
    """Units on a line in three partitions; the only tap near unit x=30 sits among the units
    of the last partition, outside the unit's partition and its bounding box."""
    units = gpd.GeoDataFrame(
        {"x": range(0, 60, 10)},
        geometry=[shapely.Point(x, 0) for x in range(0, 60, 10)],
        crs=CRS,
    )
    services = gpd.GeoDataFrame(
        {"service_type": ["water_point", "water_point"]},
        geometry=[shapely.Point(-100, 0), shapely.Point(41, 0)],
        crs=CRS,
    )
    parts = spatial_partitions(units, npartitions=3)
    ranges = sorted(
        (p["x"].min(), p["x"].max()) for p in (parts.partitions[i].compute() for i in range(3))
    )
    assert ranges == [(0, 10), (20, 30), (40, 50)]
    done = partitioned_access(parts, services, types=("water_point",))
    got = collect(done)
    assert got["water_point_m"].tolist() == [41.0, 31.0, 21.0, 11.0, 1.0, 9.0]
    assert got["water_point_within"].tolist() == [True] * 6
    pd.testing.assert_frame_equal(
        got.drop(columns=["x", "geometry"]), access_table(units, services, types=("water_point",))
    )


def test_rows_without_location_are_kept_and_unknown() -> None:
    frame = footprints()
    frame.loc[[11, 14], "geometry"] = None
    parts = partitioned_hazard_class(
        partitioned_access(
            spatial_partitions(frame, npartitions=2), taps(), types=("water_point",)
        ),
        flood_tiff(),
    )
    got = collect(parts, index=frame.index)
    assert got.index.tolist() == frame.index.tolist()
    assert got.loc[[11, 14], "water_point_m"].isna().all()
    assert got.loc[[11, 14], "hazard_class"].isna().all()
    assert got.loc[[10, 12, 15], "hazard_class"].tolist() == ["none", "high", "high"]
    table = partitioned_indicator_table(
        parts, registry=REGISTRY, groupings=GROUPINGS, computed_at=STAMP
    ).table
    people = table[(table["indicator_id"] == "people_count") & (table["group"] == "")]
    assert people["value"].tolist() == [17]  # located or not, everyone is counted


def test_dask_frame_input_is_shuffled_by_hilbert_distance() -> None:
    frame = footprints()
    with dask.config.set({"dataframe.convert-string": False}):  # keep the str columns as they are
        lazy = dask_geopandas.from_geopandas(frame, npartitions=2, sort=False)
    parts = spatial_partitions(lazy, npartitions=3)
    got = collect(parts, index=frame.index)
    pd.testing.assert_frame_equal(got, frame)
    assert ROW_COLUMN not in got.columns


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="npartitions"):
        spatial_partitions(footprints(), npartitions=0)
    with pytest.raises(ValueError, match="reserved"):
        spatial_partitions(footprints().assign(_row=1), npartitions=1)
    parts = spatial_partitions(footprints(), npartitions=1)
    with pytest.raises(ValueError, match="method"):
        partitioned_hazard_class(parts, flood_tiff(), method="mean")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="path or GeoTIFF bytes"):
        partitioned_hazard_class(parts, np.zeros((3, 3)))  # type: ignore[arg-type]
    units = pd.DataFrame({"settlement_id": ["A"], "round": ["r"], "household_size": [1]})
    with pytest.raises(KeyError, match="head_sex"):
        rollup_partial(units, indicators=list(REGISTRY), groupings=[("head_sex",)])
    chosen, skipped = plan_rollup(list(units.columns), registry=REGISTRY)
    assert [i.id for i in chosen] == ["people_count"]
    assert set(skipped) == {"people_in_hazard_class", "near_water_20m"}
    partial = rollup_partial(units, indicators=chosen, groupings=GROUPINGS[:2])
    with pytest.raises(ValueError, match="other indicators"):
        finish_rollup(partial, indicators=list(REGISTRY), groupings=GROUPINGS[:2])
    with pytest.raises(ValueError, match="other groupings"):
        finish_rollup(partial, indicators=chosen, groupings=GROUPINGS[:1])
    with pytest.raises(ValueError, match="no partial"):
        combine_partials([])


# -- the roll-up sums, split at random ----------------------------------------------------------


def _flag(units: pd.DataFrame, params: dict[str, object]) -> pd.Series:
    """The flag column (nullable)."""
    return units["flag"]


def _score(units: pd.DataFrame, params: dict[str, object]) -> pd.Series:
    """The score column: 0, 0.5, 1 or unknown."""
    return units["score"]


def _count(units: pd.DataFrame, params: dict[str, object]) -> pd.Series:
    """Households with water in the unit."""
    return units["with_water"]


def _flagged(units: pd.DataFrame, params: dict[str, object]) -> pd.Series:
    """Scope: units whose scope flag is set (unknown when missing)."""
    return units["in_scope"]


MIXED = Registry(
    [
        Indicator("share_people", "S", "", "t", "share", "people", _flag, "known"),
        Indicator("score_households", "M", "", "t", "index", "households", _score, "known"),
        Indicator("total_people", "T", "", "t", "people", "people", _flag, "k", statistic="total"),
        Indicator(
            "water_share",
            "W",
            "",
            "t",
            "share",
            "households",
            _count,
            "k",
            statistic="ratio_of_sums",
        ),
        Indicator("scoped", "U", "", "t", "share", "people", _flag, "k", universe=_flagged),
    ]
)
MIXED_GROUPINGS = ((), ("settlement_id",), ("settlement_id", "kind"), ("kind",))


def mixed_units(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    missing = rng.random(n) < 0.1
    size = pd.array(rng.integers(0, 9, n), dtype="Int64")
    size[rng.random(n) < 0.05] = pd.NA
    flag = pd.array(rng.random(n) < 0.4, dtype="boolean")
    flag[rng.random(n) < 0.1] = pd.NA
    scope = pd.array(rng.random(n) < 0.7, dtype="boolean")
    scope[rng.random(n) < 0.05] = pd.NA
    score = rng.choice([0.0, 0.5, 1.0, np.nan], n)
    kind = pd.Categorical(rng.choice(["low", "high", None], n), categories=["low", "high"])
    return pd.DataFrame(
        {
            "settlement_id": np.where(missing, None, rng.choice(["s1", "s2", "s3", "s4"], n)),
            "round": rng.choice(["2023-01-01", "2024-01-01"], n),
            "kind": kind,
            "household_size": size,
            "flag": flag,
            "score": score,
            "with_water": rng.integers(0, 4, n).astype(float),
            "in_scope": scope,
            "upload_id": pd.array(rng.integers(1, 6, n), dtype="Int64"),
        }
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_partial_sums_added_in_any_order_give_the_local_table(seed: int) -> None:
    units = mixed_units(400, seed)
    local = indicator_table(units, registry=MIXED, groupings=MIXED_GROUPINGS, computed_at=STAMP)
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(np.arange(1, len(units)), size=6, replace=False))
    shuffled = units.iloc[rng.permutation(len(units))]
    bounds = [0, *cuts.tolist(), len(units)]
    chunks = [shuffled.iloc[a:b] for a, b in itertools.pairwise(bounds)]
    chunks.append(units.iloc[:0])  # an empty partition adds nothing
    options = {"indicators": list(MIXED), "groupings": MIXED_GROUPINGS}
    partials: list[RollupPartial] = [rollup_partial(c, **options) for c in chunks]
    while len(partials) > 1:  # a random tree of additions
        i, j = sorted(rng.choice(len(partials), size=2, replace=False))
        partials.append(combine_partials([partials.pop(j), partials.pop(i)]))
    table = finish_rollup(partials[0], computed_at=STAMP, **options)
    pd.testing.assert_frame_equal(table, local.table, check_exact=True)


def test_partitioned_table_of_a_plain_dask_frame() -> None:
    units = mixed_units(300, 7)
    lazy = dd.from_pandas(units, npartitions=5)
    got = partitioned_indicator_table(
        lazy, registry=MIXED, groupings=MIXED_GROUPINGS, computed_at=STAMP, split_every=2
    )
    local = indicator_table(units, registry=MIXED, groupings=MIXED_GROUPINGS, computed_at=STAMP)
    pd.testing.assert_frame_equal(got.table, local.table, check_exact=True)
    plain = {"round_column": None, "upload_column": None}
    without_rounds = partitioned_indicator_table(
        lazy, registry=MIXED, groupings=MIXED_GROUPINGS, computed_at=STAMP, **plain
    )
    local = indicator_table(
        units, registry=MIXED, groupings=MIXED_GROUPINGS, computed_at=STAMP, **plain
    )
    pd.testing.assert_frame_equal(without_rounds.table, local.table, check_exact=True)


# -- real data: Kianda, Kibera ----------------------------------------------------------------

KIANDA = "kibera_kianda/Shapefiles/"
KIANDA_RASTER = "kibera_kianda/derived_kianda_terrain_class_2m.tif"
# terrain bands 1 (lowest, most flood-prone) ... 32; a structure takes the lowest band it touches
TERRAIN = HazardClasses(
    breaks=(10, 6, 3),
    labels=("bands 11+", "bands 7-10", "bands 4-6", "bands 1-3"),
    higher_is_worse=False,
)


@pytest.mark.realdata
def test_kianda_structures_partitioned_like_the_local_path() -> None:
    structures = gpd.read_file(
        real_file(KIANDA + "Kianda/Population/kianda_structures_and_population_dataset.shp")
    ).set_crs(4326)
    raster = real_file(KIANDA_RASTER)
    taps = gpd.read_file(real_file(KIANDA + "Kianda/Water Points/kibera_water_points.shp"))
    taps = taps.set_crs(4326).assign(service_type="water_point")
    watsan = gpd.read_file(real_file(KIANDA + "watsan-shapefile/watsan.shp"))
    toilets = watsan[watsan["watsan"] == "toilet_public"].assign(service_type="toilet")
    services = pd.concat(
        [taps[["service_type", "geometry"]], toilets[["service_type", "geometry"]]]
    )
    homes = structures.to_crs(CRS)
    services = gpd.GeoDataFrame(services, crs=4326).to_crs(CRS)
    kinds = ("water_point", "toilet")

    parts = spatial_partitions(homes, npartitions=7)
    parts = partitioned_hazard_class(
        partitioned_access(parts, services, types=kinds), raster, classes=TERRAIN
    )
    got = collect(parts, index=homes.index)

    local = access_table(homes, services, types=kinds)
    pd.testing.assert_frame_equal(got[local.columns], local, check_exact=True)
    worst = structure_hazard_class(homes, raster, classes=TERRAIN)
    pd.testing.assert_series_equal(got["hazard_class"], worst, check_exact=True)
    with rasterio.open(raster) as ds:
        assert ds.crs.to_epsg() == CRS
    print(
        f"\nKianda: {len(homes)} structures in {parts.npartitions} partitions; "
        f"median {local['water_point_m'].median():.0f} m to a water point "
        f"({len(taps)}), {local['toilet_m'].median():.0f} m to a public toilet "
        f"({len(toilets)}); classes {got['hazard_class'].value_counts().to_dict()}"
    )
    assert len(homes) == 1510
    assert got["hazard_class"].notna().all()
