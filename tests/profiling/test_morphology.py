"""Blocks, parcels and block complexity k (Brelsford et al. 2018), hand-computed.

Grids of equal square parcels peel in known layers: 1 × 3 → k = 1, 3 × 3 → k = 2,
5 × 5 → k = 3; an empty block has k = 0. Real data: Kianda (Kibera) structures and roads.
"""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from profiling.crs import GeographicCRSError
from profiling.morphology import (
    block_complexity,
    blocks_from_streets,
    building_street_access,
    parcel_layers,
    parcels,
    street_access_table,
)
from tests.realdata import real_file

CRS = 32737


def grid_parcels(nx: int, ny: int, size: float = 10.0, block_id: int = 0, x0: float = 0.0):
    cells = [
        shapely.box(x0 + i * size, j * size, x0 + (i + 1) * size, (j + 1) * size)
        for i in range(nx)
        for j in range(ny)
    ]
    return gpd.GeoDataFrame({"block_id": [block_id] * len(cells)}, geometry=cells, crs=CRS)


def block_of(parcel_frame: gpd.GeoDataFrame, block_id: int = 0) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"block_id": [block_id]}, geometry=[parcel_frame.union_all()], crs=CRS)


@pytest.mark.parametrize(
    ("nx", "ny", "k"), [(1, 1, 1), (1, 3, 1), (3, 1, 1), (3, 3, 2), (5, 5, 3), (7, 7, 4)]
)
def test_grid_complexity(nx: int, ny: int, k: int) -> None:
    p = grid_parcels(nx, ny)
    assert block_complexity(p, block_of(p)).tolist() == [k]


def test_layers_of_5x5() -> None:
    p = grid_parcels(5, 5)
    layers = parcel_layers(p, block_of(p))
    assert layers.value_counts().sort_index().to_dict() == {1: 16, 2: 8, 3: 1}


def test_several_blocks_at_once_and_empty_block() -> None:
    a = grid_parcels(3, 3, block_id=0)
    b = grid_parcels(5, 5, block_id=1, x0=100.0)  # separate block, far apart
    c = grid_parcels(5, 5, block_id=2, x0=30.0)  # adjacent to block 0: must not leak
    p = pd.concat([a, b, c], ignore_index=True)
    blocks = pd.concat(
        [
            block_of(a, 0),
            block_of(b, 1),
            block_of(c, 2),
            gpd.GeoDataFrame({"block_id": [3]}, geometry=[shapely.box(0, 60, 10, 70)], crs=CRS),
        ],
        ignore_index=True,
    )
    k = block_complexity(p, blocks)
    assert k.to_dict() == {0: 2, 1: 3, 2: 3, 3: 0}
    assert k.index.name == "block_id"


def test_no_parcels_at_all() -> None:
    p = grid_parcels(1, 1).iloc[:0]
    blocks = gpd.GeoDataFrame({"block_id": [0]}, geometry=[shapely.box(0, 0, 1, 1)], crs=CRS)
    assert block_complexity(p, blocks).tolist() == [0]


def tic_tac_toe(with_frame: bool = True) -> gpd.GeoSeries:
    # two vertical and two horizontal lines overshooting a 300 m frame: 9 blocks of 1 ha
    lines = [shapely.LineString([(x, -20), (x, 320)]) for x in (100, 200)]
    lines += [shapely.LineString([(-20, y), (320, y)]) for y in (100, 200)]
    if with_frame:
        lines.append(shapely.box(0, 0, 300, 300).exterior)
    return gpd.GeoSeries(lines, crs=CRS)


def test_blocks_from_tic_tac_toe() -> None:
    blocks = blocks_from_streets(tic_tac_toe())
    assert len(blocks) == 9
    np.testing.assert_allclose(blocks["area_ha"], 1.0)
    assert blocks["block_id"].tolist() == list(range(9))
    assert blocks.crs == CRS
    # without the frame the lines bound only the centre block; dangles are ignored
    assert len(blocks_from_streets(tic_tac_toe(with_frame=False))) == 1


def test_blocks_clipped_to_boundary() -> None:
    blocks = blocks_from_streets(tic_tac_toe(), boundary=shapely.box(0, 0, 150, 300))
    assert len(blocks) == 6
    assert blocks["area_ha"].sum() == pytest.approx(4.5)
    assert sorted(blocks["area_ha"].round(6)) == [0.5] * 3 + [1.0] * 3


def test_blocks_empty_and_geographic() -> None:
    assert len(blocks_from_streets(gpd.GeoSeries([], crs=CRS))) == 0
    with pytest.raises(GeographicCRSError):
        blocks_from_streets(tic_tac_toe().to_crs(4326))


def test_parcels_cover_the_block() -> None:
    block = gpd.GeoDataFrame({"block_id": [0]}, geometry=[shapely.box(0, 0, 100, 60)], crs=CRS)
    homes = gpd.GeoDataFrame(
        {"name": list("abcde")},
        geometry=[
            shapely.box(5, 5, 15, 15),
            shapely.box(40, 5, 50, 20),
            shapely.box(80, 30, 95, 55),
            shapely.box(30, 35, 45, 50),
            shapely.box(60, 10, 70, 18),
        ],
        index=[10, 11, 12, 13, 14],
        crs=CRS,
    )
    p = parcels(homes, block)
    assert sorted(p.index) == [10, 11, 12, 13, 14]
    assert (p["block_id"] == 0).all()
    assert p.area.sum() == pytest.approx(6000.0, rel=1e-3)
    assert shapely.union_all(p.geometry.array).symmetric_difference(block.geometry[0]).area < 1.0
    # each building lies in its own parcel
    assert all(p.loc[i].geometry.buffer(0.5).contains(homes.loc[i].geometry) for i in homes.index)
    # a single building: the whole block is its parcel; k = 1
    one = parcels(homes.iloc[:1], block)
    assert one.area.tolist() == pytest.approx([6000.0])
    assert block_complexity(one, block).tolist() == [1]


def test_parcels_straddling_and_outside() -> None:
    blocks = blocks_from_streets(tic_tac_toe())
    homes = gpd.GeoSeries(
        [
            shapely.box(90, 40, 130, 60),  # crosses the street x = 100, mostly in block east
            shapely.box(140, 40, 160, 60),
            shapely.box(400, 400, 410, 410),  # outside every block
        ],
        crs=CRS,
    )
    p = parcels(homes, blocks)
    assert sorted(p.index) == [0, 1]  # one parcel each, none for the outside building
    assert p.loc[0, "block_id"] == p.loc[1, "block_id"]


def test_off_network_share() -> None:
    street = gpd.GeoSeries([shapely.LineString([(0, 0), (1000, 0)])], crs=CRS)
    homes = gpd.GeoSeries(
        [shapely.box(495, 45, 505, 55), shapely.box(495, 245, 505, 255)], crs=CRS
    )  # centroids 50 m and 250 m from the street
    per = building_street_access(homes, street, off_network_m=200)
    assert per["street_distance_m"].tolist() == pytest.approx([50.0, 250.0])
    assert per["off_network"].tolist() == [False, True]
    # close the area with a frame 400 m away: one block, both buildings in it, share 0.5
    frame = gpd.GeoSeries([shapely.box(0, 0, 1000, 600).exterior], crs=CRS)
    table = street_access_table(homes, frame.union(street), off_network_m=200)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["buildings"] == 2
    assert row["off_network_share"] == pytest.approx(0.5)
    assert row["buildings_per_ha"] == pytest.approx(2 / 60.0)
    assert row["k"] == 1  # two parcels splitting the block both touch its edge
    assert table.attrs["buildings_outside_blocks"] == 0


def test_street_access_table_grid() -> None:
    # a 3 × 3 arrangement of houses in one 90 m block: the centre one is interior, k = 2
    frame = gpd.GeoSeries([shapely.box(0, 0, 90, 90).exterior], crs=CRS)
    homes = gpd.GeoSeries(
        [shapely.box(x + 10, y + 10, x + 20, y + 20) for x in (0, 30, 60) for y in (0, 30, 60)],
        crs=CRS,
    )
    table = street_access_table(homes, frame)
    assert table["k"].tolist() == [2]
    assert table["buildings"].tolist() == [9]
    assert table["off_network_share"].tolist() == [0.0]
    per = building_street_access(homes, frame)
    assert per["layer"].tolist() == [1, 1, 1, 1, 2, 1, 1, 1, 1]


@pytest.mark.realdata
def test_kianda_blocks_parcels_k() -> None:
    roads_path = real_file("kibera_kianda/Shapefiles/transport/Road.shp")
    structures_path = real_file(
        "kibera_kianda/Shapefiles/Kianda/Population/kianda_structures_and_population_dataset.shp"
    )
    started = time.perf_counter()
    structures = gpd.read_file(structures_path).set_crs(4326).to_crs(CRS)  # no .prj
    area = shapely.box(*structures.total_bounds).buffer(200)
    roads = gpd.read_file(roads_path).to_crs(CRS)
    roads = roads[roads.intersects(area)]
    blocks = blocks_from_streets(roads, boundary=area)
    p = parcels(structures, blocks)
    k = block_complexity(p, blocks)
    per = building_street_access(structures, roads, blocks=blocks, parcel_frame=p)
    table = street_access_table(structures, roads, boundary=area)
    elapsed = time.perf_counter() - started

    assert len(blocks) > 0
    assert p.index.is_unique
    assert set(p.index) <= set(structures.index)
    # every structure is in some block or reported as outside
    outside = int(per["block_id"].isna().sum())
    assert int(per["block_id"].notna().sum()) + outside == len(structures)
    assert table.attrs["buildings_outside_blocks"] == outside
    assert table["buildings"].sum() == len(p)
    with_buildings = table["buildings"] > 0
    assert (table.loc[with_buildings, "k"] >= 1).all()
    assert (table.loc[~with_buildings, "k"] == 0).all()
    assert table["k"].equals(k)
    assert per.loc[per["block_id"].notna(), "layer"].notna().mean() > 0.99
    assert elapsed < 60
    print(
        f"\nKianda: {len(structures)} structures, {len(roads)} road lines, {len(blocks)} blocks,"
        f" {len(p)} parcels, {outside} structures outside blocks, {elapsed:.1f} s"
    )
    print("k distribution (blocks with buildings):")
    print(table.loc[with_buildings, "k"].value_counts().sort_index().to_string())
    print("buildings by block k:")
    print(table.groupby("k")["buildings"].sum().to_string())


def test_overlapping_parcels_are_reported(caplog: pytest.LogCaptureFixture) -> None:
    """Parcels that cover more than their block (degenerate Voronoi cells) are listed."""
    from profiling.morphology import _overlapping_blocks  # noqa: PLC0415

    blocks = gpd.GeoDataFrame(
        {"block_id": [0, 1]}, geometry=[shapely.box(0, 0, 10, 10), shapely.box(20, 0, 30, 10)],
        crs=32737,
    )  # fmt: skip
    fine = [shapely.box(0, 0, 5, 10), shapely.box(5, 0, 10, 10)]
    overlapping = [shapely.box(20, 0, 27, 10), shapely.box(23, 0, 30, 10)]
    frame = gpd.GeoDataFrame({"block_id": [0, 0, 1, 1]}, geometry=fine + overlapping, crs=32737)
    with caplog.at_level("WARNING", logger="profiling.morphology"):
        assert _overlapping_blocks(frame, blocks) == [1]
    assert "overlap" in caplog.text
