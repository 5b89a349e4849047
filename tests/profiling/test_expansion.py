"""Urban expansion: hand-computed answers on tiny rasters, plus the GOSTurban tutorial GHSL.

Tiny rasters use 10 m pixels (1 pixel = 100 m² = 0.01 ha) and a walking circle of radius 15 m,
i.e. a full 3 × 3 kernel, so every built-up share is (built in the 3 × 3 window) / (window
pixels inside the raster): 9 inside, 6 on an edge, 4 in a corner.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest
import rasterio

from profiling.expansion import (
    CAPTURED,
    EXTENSION,
    FRINGE,
    INFILL,
    LEAPFROG,
    RURAL,
    SUBURBAN,
    URBAN,
    annual_growth_rate,
    built_masks,
    circular_kernel,
    expansion_table,
    growth_types,
    land_needed,
    landscape_expansion_index,
    proximity_index,
    sdg_11_3_1,
    urban_extent,
    urbanness,
)
from profiling.indicators.expansion import expansion_indicator_table
from tests.realdata import real_file

PX = 10.0
HA = 0.01  # one 10 m pixel in hectares


def grid(text: str) -> np.ndarray:
    """A boolean raster from rows of '#' (built) and '.' (open)."""
    return np.array([[c == "#" for c in line.strip()] for line in text.strip().splitlines()])


# --------------------------------------------------------------------------- built masks


def test_built_masks_cut_at_each_epoch_and_skip_nodata() -> None:
    r = np.array([[1975, 1990, 2000], [2015, 65535, 1975]], dtype="uint16")
    m = built_masks(r, [1975, 2000, 2030], nodata=65535)
    assert m[1975].tolist() == [[True, False, False], [False, False, True]]
    assert m[2000].tolist() == [[True, True, True], [False, False, True]]
    assert m[2030].tolist() == [[True, True, True], [True, False, True]]


def test_built_masks_float_nan_is_never_built() -> None:
    r = np.array([[1990.0, np.nan]])
    assert built_masks(r, [2000])[2000].tolist() == [[True, False]]


# --------------------------------------------------------------------------- urban extent


def test_kernel_shapes() -> None:
    assert circular_kernel(15, PX).shape == (3, 3)
    assert circular_kernel(15, PX).sum() == 9
    assert circular_kernel(10, PX).sum() == 5  # plus shape: diagonals are 14.1 m away
    k = circular_kernel(564.19, 100)
    assert k.shape == (11, 11)
    assert k.sum() == 97  # ~0.97 km² of 1 ha pixels


BLOCK = grid(
    """
    ##...
    ##...
    .....
    ....#
    .....
    """
)


def test_urbanness_by_hand() -> None:
    s = urbanness(BLOCK, PX, radius_m=15)
    assert s[0, 0] == pytest.approx(4 / 4)  # corner window, all built
    assert s[0, 1] == pytest.approx(4 / 6)  # edge window
    assert s[1, 0] == pytest.approx(4 / 6)
    assert s[1, 1] == pytest.approx(4 / 9)
    assert s[3, 4] == pytest.approx(1 / 6)
    assert s[2, 2] == pytest.approx(1 / 9)
    assert s[4, 0] == 0.0


def test_extent_classes_fringe_and_areas_by_hand() -> None:
    ext = urban_extent(BLOCK, PX, radius_m=15, fringe_m=10)
    c = ext.classes
    assert c[0, 0] == URBAN and c[0, 1] == URBAN and c[1, 0] == URBAN
    assert c[1, 1] == SUBURBAN  # 4/9 = 0.44
    assert c[3, 4] == RURAL  # 1/6 = 0.17
    # fringe: open 4-neighbours of the urban/suburban block; (2, 2) is 14.1 m away
    fringe = {tuple(p) for p in np.argwhere(c == FRINGE)}
    assert fringe == {(0, 2), (1, 2), (2, 0), (2, 1)}
    assert not (c == CAPTURED).any()
    a = ext.areas
    assert a["urban"] == pytest.approx(3 * HA)
    assert a["suburban"] == pytest.approx(1 * HA)
    assert a["rural"] == pytest.approx(1 * HA)
    assert a["fringe"] == pytest.approx(4 * HA)
    assert a["captured"] == 0.0
    assert a["built"] == pytest.approx(5 * HA)
    assert a["extent"] == pytest.approx(8 * HA)
    assert ext.extent.sum() == 8


def test_rural_pixel_gives_no_fringe() -> None:
    ext = urban_extent(grid("....\n.#..\n....\n...."), PX, radius_m=15, fringe_m=10)
    assert ext.classes[1, 1] == RURAL  # 1/9
    assert ext.areas["extent"] == 0.0 and ext.areas["fringe"] == 0.0


RING = grid(
    """
    ......
    ####..
    #..#..
    ####..
    ......
    """
)


def test_hole_inside_ring_is_captured() -> None:
    ext = urban_extent(RING, PX, radius_m=15, fringe_m=0)
    s = ext.share
    assert s[1, 0] == pytest.approx(3 / 6)  # suburban, on the boundary 0.5
    assert s[1, 1] == pytest.approx(4 / 9)
    assert ext.classes[1, 0] == SUBURBAN  # exactly 50 % is not urban (> 50 %)
    assert ext.classes[2, 0] == URBAN  # 4 / 6
    assert np.isin(ext.classes[RING], (URBAN, SUBURBAN)).all()
    assert ext.classes[2, 1] == CAPTURED and ext.classes[2, 2] == CAPTURED
    assert ext.areas["captured"] == pytest.approx(2 * HA)
    assert ext.areas["extent"] == pytest.approx(12 * HA)
    # the same hole is too big when the cap is 1 pixel
    small = urban_extent(RING, PX, radius_m=15, fringe_m=0, captured_max_ha=HA)
    assert small.areas["captured"] == 0.0


def test_hole_touching_the_edge_is_not_captured() -> None:
    open_ring = grid(
        """
        ####..
        ...#..
        ####..
        ......
        """
    )
    ext = urban_extent(open_ring, PX, radius_m=15, fringe_m=0)
    assert np.isin(ext.classes[open_ring], (URBAN, SUBURBAN)).all()
    assert ext.classes[1, 0] == 0 and ext.classes[1, 1] == 0
    assert ext.areas["captured"] == 0.0


def test_fringe_hole_is_fringe_not_captured() -> None:
    ext = urban_extent(RING, PX, radius_m=15, fringe_m=10)
    assert ext.classes[2, 1] == FRINGE and ext.classes[2, 2] == FRINGE
    assert ext.areas["captured"] == 0.0


# --------------------------------------------------------------------------- growth types

OLD = grid(
    """
    ............
    #####.......
    #####.......
    ##.##.......
    #####.......
    #####.......
    ............
    """
)
NEW = grid(
    """
    ............
    .....#....#.
    .....#....#.
    ..#..#......
    ............
    ............
    ............
    """
)


def test_lei_by_hand() -> None:
    labels, lei = landscape_expansion_index(OLD, OLD | NEW, PX, buffer_m=10)
    by_patch = {tuple(np.argwhere(labels == k)[0]): lei[k] for k in range(1, labels.max() + 1)}
    assert by_patch[(3, 2)] == pytest.approx(1.0)  # gap: 4 old neighbours
    assert by_patch[(1, 5)] == pytest.approx(3 / 8)  # column beside the block: 3 of 8
    assert by_patch[(1, 10)] == pytest.approx(0.0)  # far away


def test_growth_types_by_hand() -> None:
    classes, areas = growth_types(OLD, OLD | NEW, PX, buffer_m=10)
    assert classes[3, 2] == INFILL
    assert (classes[1:4, 5] == EXTENSION).all()
    assert (classes[1:3, 10] == LEAPFROG).all()
    assert (classes[~NEW] == 0).all()
    assert areas == pytest.approx(
        {"infill": 1 * HA, "extension": 3 * HA, "leapfrog": 2 * HA, "new": 6 * HA}
    )


def test_growth_thresholds_move_patches() -> None:
    # extension LEI is 0.375: an infill threshold below it turns it into infill
    classes, _ = growth_types(OLD, OLD | NEW, PX, buffer_m=10, infill_above=0.3)
    assert classes[1, 5] == INFILL
    classes, _ = growth_types(OLD, OLD | NEW, PX, buffer_m=10, leapfrog_below=0.4)
    assert classes[1, 5] == LEAPFROG
    assert classes[3, 2] == INFILL


def test_wider_buffer_lowers_lei() -> None:
    # a 20 m disk around the gap (3, 2) holds 12 old pixels; (3, 4) is nearer the new column
    # (10 m) so it goes to that ring: the gap keeps 11 old of 11 -> LEI 1.0; the far patch 0
    labels, lei = landscape_expansion_index(OLD, OLD | NEW, PX, buffer_m=20)
    assert lei[labels[3, 2]] == pytest.approx(1.0)
    assert lei[labels[1, 10]] == 0.0


def test_no_new_development() -> None:
    classes, areas = growth_types(OLD, OLD, PX)
    assert not classes.any()
    assert areas["new"] == 0.0


# --------------------------------------------------------------------------- rates, SDG 11.3.1


def test_growth_rate_and_sdg_11_3_1_by_hand() -> None:
    assert annual_growth_rate(100, 121, 10) == pytest.approx(math.log(1.21) / 10)
    r = sdg_11_3_1(100, 121, 1000, 1100, 10)
    assert r["lcr"] == pytest.approx(math.log(1.21) / 10)
    assert r["pgr"] == pytest.approx(math.log(1.1) / 10)
    assert r["ratio"] == pytest.approx(2.0, rel=1e-12)
    assert math.isnan(sdg_11_3_1(100, 121, 1000, 1000, 10)["ratio"])  # no population growth
    assert math.isnan(annual_growth_rate(0, 5, 10))


def test_proximity_index() -> None:
    yy, xx = np.mgrid[-30:31, -30:31]
    assert proximity_index(xx**2 + yy**2 <= 900) == pytest.approx(1.0, abs=0.01)
    line = np.zeros((1, 101), dtype=bool)
    line[0, :] = True
    # line of 101 pixels: mean distance to the middle 2 * (1 + ... + 50) / 101 = 2550 / 101,
    # equal-area circle r = sqrt(101 / pi)
    expected = (2 / 3) * math.sqrt(101 / math.pi) / (2550 / 101)
    assert proximity_index(line) == pytest.approx(expected)
    assert math.isnan(proximity_index(np.zeros((2, 2), bool)))


def test_expansion_table_on_tiny_raster() -> None:
    ep = np.full(OLD.shape, 0, dtype="uint16")
    ep[OLD] = 2000
    ep[NEW] = 2010
    tab = expansion_table(
        ep,
        [2000, 2010],
        PX,
        {2000: 1000, 2010: 1100},
        nodata=0,
        radius_m=15,
        fringe_m=10,
        buffer_m=10,
    )
    assert list(tab.index) == [2000, 2010]
    first = urban_extent(OLD, PX, radius_m=15, fringe_m=10).areas
    second = urban_extent(OLD | NEW, PX, radius_m=15, fringe_m=10).areas
    assert tab.loc[2000, "extent_ha"] == pytest.approx(first["extent"])
    assert tab.loc[2010, "extent_ha"] == pytest.approx(second["extent"])
    assert tab.loc[2010, "built_ha"] == pytest.approx(30 * HA)
    assert tab.loc[2010, "infill_ha"] == pytest.approx(HA)
    assert tab.loc[2010, "extension_ha"] == pytest.approx(3 * HA)
    assert tab.loc[2010, "leapfrog_ha"] == pytest.approx(2 * HA)
    lcr = math.log(second["extent"] / first["extent"]) / 10
    assert tab.loc[2010, "extent_growth"] == pytest.approx(lcr)
    assert tab.loc[2010, "sdg_11_3_1"] == pytest.approx(lcr / (math.log(1.1) / 10))
    assert tab.loc[2000, "density_per_ha"] == pytest.approx(1000 / first["extent"])
    assert math.isnan(tab.loc[2000, "sdg_11_3_1"])


def test_expansion_table_rejects_unsorted_epochs() -> None:
    with pytest.raises(ValueError, match="increasing"):
        expansion_table(np.zeros((2, 2)), [2010, 2000], PX)


# --------------------------------------------------------------------------- land needed


def test_land_needed_by_hand() -> None:
    # 100 000 people at 100 p/ha = 1 000 ha; doubled population at constant density: 2 000 ha;
    # density halving over 20 years (rate ln(0.5)/20) -> 50 p/ha -> 4 000 ha
    r = land_needed(100_000, 200_000, 100, density_change_rate=math.log(0.5) / 20, years=20)
    assert r["area_now_ha"] == pytest.approx(1000)
    assert r["area_constant_density_ha"] == pytest.approx(2000)
    assert r["added_constant_density_ha"] == pytest.approx(1000)
    assert r["density_target"] == pytest.approx(50)
    assert r["area_changing_density_ha"] == pytest.approx(4000)
    assert r["added_changing_density_ha"] == pytest.approx(3000)
    with pytest.raises(ValueError):
        land_needed(1, 2, 0, years=1)


# --------------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_ghsl_gosturban_tutorial() -> None:
    path = real_file("ghsl_gosturban_tutorial/GHSL.tif")
    with rasterio.open(path) as src:
        arr = src.read(1)
        pixel_m = float(src.res[0])
        nodata = src.nodata
    assert pixel_m == 100.0
    present = sorted(int(v) for v in np.unique(arr) if v != nodata)
    epochs = [e for e in (1975, 1990, 2000, 2015, 2030) if e in present]
    assert len(epochs) >= 2
    t0 = time.perf_counter()
    tab = expansion_table(arr, epochs, pixel_m, nodata=nodata)
    seconds = time.perf_counter() - t0
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(f"\nGHSL expansion table ({arr.shape}, {seconds:.1f} s)")
        print(
            tab.drop(columns=["population", "density_per_ha", "population_growth", "sdg_11_3_1"])
            .round(4)
            .to_string()
        )
    assert (np.diff(tab["extent_ha"]) > 0).all()
    assert (np.diff(tab["built_ha"]) > 0).all()
    assert tab["fullness"].between(0, 1).all()
    assert tab["proximity"].between(0, 1.05).all()
    parts = tab["urban_ha"] + tab["suburban_ha"] + tab["fringe_ha"] + tab["captured_ha"]
    assert np.allclose(parts, tab["extent_ha"])
    assert np.allclose(tab["urban_ha"] + tab["suburban_ha"] + tab["rural_ha"], tab["built_ha"])
    new = tab[["infill_ha", "extension_ha", "leapfrog_ha"]].sum(axis=1).iloc[1:]
    assert np.allclose(new, np.diff(tab["built_ha"]))
    assert (tab["extent_growth"].iloc[1:] > 0).all()
    assert seconds < 30


def test_expansion_indicator_rows_by_hand() -> None:
    table = pd.DataFrame(
        {
            "extent_ha": [100.0, 121.0],
            "built_ha": [60.0, 80.0],
            "population": [1000.0, 1100.0],
            "sdg_11_3_1": [np.nan, 2.0],
        },
        index=pd.Index([2000, 2010], name="epoch"),
    )
    rows = expansion_indicator_table(table, city="Mto Mji")
    ratio = rows[rows.indicator_id == "sdg_11_3_1_land_consumption_ratio"]
    assert ratio["round"].tolist() == ["2010"] and ratio["value"].tolist() == [2.0]
    density = rows[rows.indicator_id == "urban_density"].set_index("round")
    assert density.loc["2010", "value"] == pytest.approx(1100 / 121)
    assert density.loc["2010", "numerator"] == 1100 and density.loc["2010", "denominator"] == 121
    assert set(rows["city"]) == {"Mto Mji"} and set(rows["source"]) == {"built_up_raster"}
