"""Informality model on real Kibera data: Kianda's enumerated structure footprints plus the
2012 OSM buildings, labelled by the 22 Kibera village boundaries.

A small sample (about a hundred 100 m cells, most of them inside the villages): the checks
are structural (both classes, finite metrics, Kianda labelled and shaped as informal fabric),
not a claim of skill. ``pytest -s`` prints the figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from typer.testing import CliRunner

from geo_service.cli import app
from models.informality import FEATURES, cell_features, label_cells, spatial_cv
from profiling.crs import to_metric
from tests.realdata import real_file

pytestmark = pytest.mark.realdata

KIANDA = "kibera_kianda/Shapefiles/Kianda/Population/kianda_structures_and_population_dataset.shp"
VILLAGES = "kibera_kianda/Shapefiles/boundary-shapefile/Boundary.shp"
OSM = "kibera_kianda/Shapefiles/map.osm.xml"


def _read() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Kianda + OSM buildings (``source`` column) and the villages, in UTM 37S."""
    kianda = pyogrio.read_dataframe(real_file(KIANDA)).set_crs(4326)  # no .prj: lon/lat
    osm = pyogrio.read_dataframe(real_file(OSM), layer="multipolygons")
    osm = osm[osm["building"].notna()]
    villages = pyogrio.read_dataframe(real_file(VILLAGES))
    kianda, osm, villages = to_metric(kianda, osm, villages)
    # an OSM building whose centroid lies in a Kianda footprint duplicates that structure
    hit = shapely.STRtree(kianda.geometry.to_numpy()).query(
        shapely.centroid(osm.geometry.to_numpy()), predicate="within"
    )
    osm = osm.iloc[np.setdiff1d(np.arange(len(osm)), hit[0])]
    buildings = pd.concat(
        [kianda[["geometry"]].assign(source="kianda"), osm[["geometry"]].assign(source="osm")],
        ignore_index=True,
    )
    return gpd.GeoDataFrame(buildings, geometry="geometry", crs=kianda.crs), villages


def _cells_of(buildings: gpd.GeoDataFrame, source: str) -> set[tuple[int, int]]:
    xy = shapely.get_coordinates(shapely.centroid(buildings.geometry.to_numpy()))
    ij = np.floor(xy / 100.0).astype(int)[buildings["source"].to_numpy() == source]
    return set(map(tuple, ij.tolist()))


def test_kibera_spatial_cv_structure_and_figures() -> None:
    buildings, villages = _read()
    assert (buildings["source"] == "kianda").sum() == 1510
    cells = cell_features(buildings, cell_m=100.0)
    labels = label_cells(cells, villages)
    _, metrics, meta = spatial_cv(cells, labels, block_m=500.0, cell_m=100.0)

    keys = list(zip(cells["cell_x"], cells["cell_y"], strict=True))
    kianda_cells, osm_cells = _cells_of(buildings, "kianda"), _cells_of(buildings, "osm")
    is_kianda = np.array([k in kianda_cells for k in keys])
    osm_outside = np.array([k in osm_cells and k not in kianda_cells for k in keys]) & (labels == 0)
    contrast = {
        name: (cells.loc[is_kianda, name].mean(), cells.loc[osm_outside, name].mean())
        for name in ("buildings", "mean_area_m2", "mean_nn_m", "coverage")
    }
    print(
        f"\nKibera informality, {len(buildings)} buildings "
        f"({(buildings['source'] == 'osm').sum()} OSM after de-duplication), 100 m cells, "
        f"500 m spatial folds: {metrics}"
    )
    print(
        f"Kianda cells: {is_kianda.sum()} ({labels[is_kianda].sum()} labelled 1); "
        f"OSM-only cells outside the villages: {osm_outside.sum()}; "
        f"OSM-only cells inside: {(~is_kianda & (labels == 1)).sum()}"
    )
    for name, (k, o) in contrast.items():
        print(f"  {name}: Kianda cells {k:.3g}, OSM cells outside the villages {o:.3g}")

    assert 0 < metrics["positives"] < metrics["cells"] == len(cells)
    assert metrics["spatial_blocks"] >= 5 and meta.features == list(FEATURES)
    assert all(np.isfinite(metrics[k]) for k in ("precision", "recall", "auc"))
    assert labels[is_kianda].mean() > 0.6  # Kianda is a Kibera village (edge cells fall out)
    assert osm_outside.sum() >= 5
    # informal fabric: small structures packed close together
    assert contrast["mean_area_m2"][0] < contrast["mean_area_m2"][1]
    assert contrast["mean_nn_m"][0] < contrast["mean_nn_m"][1]


def test_kibera_cli_train_informality(tmp_path: Path) -> None:
    buildings, villages = _read()
    combined = tmp_path / "kibera_buildings.gpkg"  # a temporary file, never in the repo
    buildings.to_file(combined)
    expected = spatial_cv(
        cell_features(buildings, cell_m=100.0),
        label_cells(cell_features(buildings, cell_m=100.0), villages),
    )[2]
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["models", "train-informality", str(combined), str(real_file(VILLAGES)),
         "--out", str(tmp_path / "m"), "--cell-m", "100", "--block-m", "500"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    print(f"\n{result.output}")
    saved = json.loads((tmp_path / "m" / "informality.json").read_text())
    assert saved["training_data_sha256"] == expected.training_data_sha256
    assert saved["metrics"] == pytest.approx(expected.metrics, nan_ok=True)
    # the raw OSM XML read directly: layer multipolygons, only building-tagged features kept
    result = runner.invoke(
        app,
        ["models", "train-informality", str(real_file(OSM)), str(real_file(VILLAGES)),
         "--buildings-layer", "multipolygons", "--out", str(tmp_path / "osm")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    osm_metrics = json.loads((tmp_path / "osm" / "informality.json").read_text())["metrics"]
    print(f"OSM XML only: {osm_metrics}")
    assert 0 < osm_metrics["positives"] < osm_metrics["cells"]
    # Kianda's Shapefile has no .prj: refused without --crs, read as lon/lat with it
    result = runner.invoke(
        app, ["models", "train-informality", str(real_file(KIANDA)), str(real_file(VILLAGES))]
    )
    assert result.exit_code == 2 and "has no CRS" in result.output
