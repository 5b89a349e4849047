"""Block street access per settlement and its indicators, by hand on small constructed areas."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from profiling.indicators import URBAN_FORM_REGISTRY, urban_form_indicator_table
from profiling.indicators.catalogue import CATALOGUE
from profiling.morphology import street_access_by_area

CRS = 32737


def _grid_area(x0: float) -> tuple[list[shapely.Geometry], list[shapely.Geometry]]:
    """A 30 m square block at ``x0`` ringed by a street, with a 3 x 3 grid of 10 m parcels'
    buildings (one 4 m house in each cell): k = 2, 8 buildings with frontage, 1 without."""
    ring = shapely.LineString(
        [(x0, 0), (x0 + 30, 0), (x0 + 30, 30), (x0, 30), (x0, 0)]
    )  # fmt: skip
    houses = [
        shapely.box(x0 + x + 3, y + 3, x0 + x + 7, y + 7) for x in (0, 10, 20) for y in (0, 10, 20)
    ]
    return [ring], houses


def _two_areas() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    streets_a, houses_a = _grid_area(0.0)
    streets_b = [shapely.LineString([(1000, 0), (1100, 0), (1100, 100), (1000, 100), (1000, 0)])]
    houses_b = [shapely.box(1010, 10, 1020, 20), shapely.box(1040, 40, 1060, 60)]
    buildings = gpd.GeoDataFrame(geometry=houses_a + houses_b, crs=CRS)
    streets = gpd.GeoDataFrame(geometry=streets_a + streets_b, crs=CRS)
    areas = gpd.GeoDataFrame(
        {"settlement_id": ["a", "b"]},
        geometry=[shapely.box(-1, -1, 31, 31), shapely.box(999, -1, 1101, 101)],
        crs=CRS,
    )
    return buildings, streets, areas


def test_street_access_by_area_tags_each_area() -> None:
    buildings, streets, areas = _two_areas()
    blocks, per = street_access_by_area(buildings, streets, areas)
    by_area = blocks.set_index("settlement_id")
    assert by_area.loc["a", "k"] == 2
    assert by_area.loc["a", "buildings"] == 9
    assert by_area.loc["b", "k"] == 1
    assert by_area.loc["b", "buildings"] == 2
    assert by_area.loc["b", "area_ha"] == pytest.approx(1.0)
    assert by_area.loc["b", "buildings_per_ha"] == pytest.approx(2.0)
    assert blocks.crs == buildings.crs
    a = per[per["settlement_id"] == "a"]
    assert sorted(a["layer"].tolist()) == [1] * 8 + [2]
    assert a["k"].tolist() == [2] * 9
    centre = a.loc[a["layer"] == 2, "building_index"].item()
    assert centre == 4  # the middle house of the 3 x 3 grid
    assert set(per["building_index"]) == set(range(11))


def test_street_access_by_area_without_streets_near_an_area() -> None:
    buildings, streets, areas = _two_areas()
    far = gpd.GeoDataFrame(
        {"settlement_id": ["c"]}, geometry=[shapely.box(5000, 5000, 5100, 5100)], crs=CRS
    )
    blocks, per = street_access_by_area(buildings, streets, pd.concat([areas, far]))
    assert set(blocks["settlement_id"]) == {"a", "b"}
    assert "c" not in set(per["settlement_id"])


def test_urban_form_indicators_by_hand() -> None:
    buildings, streets, areas = _two_areas()
    blocks, per = street_access_by_area(buildings, streets, areas)
    table = urban_form_indicator_table(per, pd.DataFrame(blocks.drop(columns="geometry")))
    value = table.set_index(["indicator_id", "group"])["value"]
    # city: 11 buildings, 1 without frontage; blocks: a (k 2, 0.09 ha), b (k 1, 1 ha)
    assert value["buildings_without_street_frontage_share", ""] == pytest.approx(1 / 11)
    assert value["buildings_without_street_frontage_share", "settlement_id=a"] == pytest.approx(
        1 / 9
    )
    assert value["buildings_without_street_frontage_share", "settlement_id=b"] == 0
    assert value["block_complexity_building_mean", ""] == pytest.approx((9 * 2 + 2 * 1) / 11)
    assert value["blocks_not_fully_accessible_share", ""] == pytest.approx(0.5)
    assert value["buildings_in_complex_blocks_share", ""] == 0  # k_min = 3
    assert value["building_density_per_ha", ""] == pytest.approx(11 / (0.09 + 1.0))
    assert value["building_density_per_ha", "settlement_id=a"] == pytest.approx(9 / 0.09)
    assert value["buildings_off_network_share", ""] == 0
    shares = table[table["unit"] == "share"]
    assert shares["ci_low"].le(shares["value"]).all()
    assert shares["ci_high"].ge(shares["value"]).all()
    assert set(table["source"]) == {"footprints"}
    assert table["round"].isna().all()


def test_urban_form_parameters_and_unknown_layers() -> None:
    per = pd.DataFrame(
        {
            "settlement_id": ["a"] * 4,
            "block_id": [0, 0, 0, 1],
            "layer": pd.array([1, 2, pd.NA, 1], dtype="Int64"),
            "k": [3, 3, 3, 1],
            "off_network": [False, True, False, False],
        }
    )
    blocks = pd.DataFrame(
        {"settlement_id": ["a", "a", "a"], "k": [3, 1, 0], "buildings": [3, 1, 0]}
    ).assign(area_ha=[1.0, 1.0, 2.0])
    table = urban_form_indicator_table(per, blocks, groupings=[()], parameters={"k_min": 4})
    row = table.set_index("indicator_id")
    # a parcel never reached from the block edge is unknown: out of both counts
    assert row.loc["buildings_without_street_frontage_share", "value"] == pytest.approx(1 / 3)
    assert row.loc["buildings_without_street_frontage_share", "unknown"] == 1
    assert row.loc["buildings_in_complex_blocks_share", "value"] == 0  # k_min raised to 4
    assert '"k_min":4' in row.loc["buildings_in_complex_blocks_share", "parameters"]
    assert row.loc["buildings_off_network_share", "value"] == pytest.approx(0.25)
    # the empty block is out of the access share's scope but its area counts for density
    assert row.loc["blocks_not_fully_accessible_share", "value"] == pytest.approx(0.5)
    assert row.loc["building_density_per_ha", "value"] == pytest.approx(4 / 4.0)


def test_urban_form_is_a_catalogue_family() -> None:
    registry, how = CATALOGUE["urban_form"]
    assert registry is URBAN_FORM_REGISTRY
    assert "street_access_by_area" in how
    assert len(list(registry)) == 6
    assert np.all([i.population in ("structures", "land") for i in registry])
