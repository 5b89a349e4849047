"""Informality from morphology: features by hand, and a synthetic city of regular and
irregular fabric told apart under spatial cross-validation."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from models.informality import cell_features, label_cells, orientation_deg, spatial_cv

CRS = "EPSG:32737"


def test_orientation_and_cell_features_by_hand() -> None:
    boxes = [shapely.box(10, 10, 20, 15), shapely.box(40, 40, 50, 45)]
    rotated = shapely.affinity.rotate(shapely.box(60, 60, 70, 65), 30, origin="centroid")
    assert orientation_deg(np.array([rotated])).round(6).tolist() == [30.0]
    cells = cell_features(gpd.GeoDataFrame(geometry=[*boxes], crs=CRS), cell_m=100)
    row = cells.iloc[0]
    assert (row["buildings"], row["mean_area_m2"], row["cv_area"]) == (2, 50.0, 0.0)
    assert row["coverage"] == pytest.approx(100 / 10_000)
    assert row["orientation_spread_deg"] == pytest.approx(0.0, abs=1e-6)
    assert row["mean_nn_m"] == pytest.approx(np.hypot(30, 30))


def _city(seed: int = 0) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """West half: a planned grid of big aligned houses; east half: small irregular shacks."""
    rng = np.random.default_rng(seed)
    formal = [
        shapely.box(x, y, x + 14, y + 10)
        for x in np.arange(0, 1500, 30.0)
        for y in np.arange(0, 1500, 30.0)
    ]
    n = 12_000
    cx, cy = rng.uniform(1500, 3000, n), rng.uniform(0, 1500, n)
    size = rng.uniform(3, 6, n)
    shacks = shapely.box(cx, cy, cx + size, cy + size * rng.uniform(0.6, 1.0, n))
    angles = rng.uniform(0, 90, n)
    informal = [
        shapely.affinity.rotate(g, a, origin="centroid")
        for g, a in zip(shacks, angles, strict=True)
    ]
    buildings = gpd.GeoDataFrame(geometry=[*formal, *informal], crs=CRS)
    settlement = gpd.GeoDataFrame(geometry=[shapely.box(1500, 0, 3000, 1500)], crs=CRS)
    return buildings, settlement


def test_spatial_cv_tells_fabrics_apart() -> None:
    buildings, settlement = _city()
    cells = cell_features(buildings)
    labels = label_cells(cells, settlement)
    # 15 x 15 cells of each fabric; a few shacks straddle the top edge into a 16th row
    assert labels.sum() == 225 and 450 <= len(labels) <= 480
    _, metrics, meta = spatial_cv(cells, labels)
    assert metrics["precision"] > 0.9 and metrics["recall"] > 0.9
    # 500 m folds over 100 m cells: 6 columns x 3 full rows of tiles, plus the straddling row
    assert metrics["spatial_blocks"] == 23 and meta.features[0] == "buildings"
