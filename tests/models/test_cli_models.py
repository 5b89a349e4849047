"""``geo-service models train-informality`` on a small generated city: GeoPackage, GeoJSON and
zipped Shapefile inputs, the saved files, and one clear line (exit 2) for each refusal."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from typer.testing import CliRunner

from geo_service.cli import app
from models.informality import FEATURES
from models.persistence import load_model
from tests.realdata import zip_shapefile

UTM = "EPSG:32737"  # Nairobi
X0, Y0 = 250_000.0, 9_855_000.0


def _city() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """1200 m x 600 m in lon/lat: aligned houses west of x0 + 600, irregular shacks east,
    and the settlement boundary over the east half."""
    rng = np.random.default_rng(0)
    formal = [
        shapely.box(X0 + x, Y0 + y, X0 + x + 14, Y0 + y + 10)
        for x in np.arange(0, 600, 30.0)
        for y in np.arange(0, 600, 30.0)
    ]
    n = 2500
    cx, cy = rng.uniform(X0 + 600, X0 + 1193, n), rng.uniform(Y0 + 1, Y0 + 594, n)
    size = rng.uniform(3, 6, n)
    informal = [
        shapely.affinity.rotate(g, a, origin="centroid")
        for g, a in zip(
            shapely.box(cx, cy, cx + size, cy + size * 0.8), rng.uniform(0, 90, n), strict=True
        )
    ]
    buildings = gpd.GeoDataFrame(
        {"building": ["house"] * len(formal) + ["yes"] * n},
        geometry=[*formal, *informal],
        crs=UTM,
    ).to_crs(4326)
    settlement = gpd.GeoDataFrame(
        {"name": ["east"]}, geometry=[shapely.box(X0 + 600, Y0, X0 + 1200, Y0 + 600)], crs=UTM
    ).to_crs(4326)
    return buildings, settlement


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("city")
    buildings, settlement = _city()
    paths = {
        "buildings_gpkg": folder / "buildings.gpkg",
        "settlements_geojson": folder / "settlements.geojson",
    }
    buildings.to_file(paths["buildings_gpkg"], layer="footprints")
    settlement.to_file(paths["settlements_geojson"])
    shp = folder / "shp" / "buildings.shp"
    shp.parent.mkdir()
    buildings.to_file(shp)
    paths["buildings_zip"] = zip_shapefile(shp, folder)
    paths["buildings_zip_no_prj"] = zip_shapefile(shp, folder / "shp", with_prj=False)
    paths["points"] = folder / "points.geojson"
    gpd.GeoDataFrame(geometry=buildings.to_crs(UTM).centroid, crs=UTM).to_crs(4326).to_file(
        paths["points"]
    )
    paths["degrees_lie"] = folder / "metres_labelled_degrees.gpkg"
    buildings.to_crs(UTM).set_crs(4326, allow_override=True).to_file(paths["degrees_lie"])
    paths["everywhere"] = folder / "everywhere.geojson"
    gpd.GeoDataFrame(
        geometry=[shapely.box(X0 - 100, Y0 - 100, X0 + 1300, Y0 + 700)], crs=UTM
    ).to_crs(4326).to_file(paths["everywhere"])
    paths["nowhere"] = folder / "nowhere.geojson"
    gpd.GeoDataFrame(geometry=[shapely.box(X0 + 5000, Y0, X0 + 5100, Y0 + 100)], crs=UTM).to_crs(
        4326
    ).to_file(paths["nowhere"])
    return paths


def _train(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["models", "train-informality", *map(str, args)])
    return result.exit_code, result.output


def test_trains_saves_and_reports(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "m"
    code, output = _train(
        files["buildings_gpkg"], files["settlements_geojson"], "--out", out,
        "--block-m", "300", "--buildings-layer", "footprints",
    )  # fmt: skip
    assert code == 0, output
    for label in ("precision", "recall", "ROC AUC", "cells", "positives", "spatial blocks"):
        assert label in output
    saved = json.loads((out / "informality.json").read_text())
    assert saved["features"] == list(FEATURES)
    assert len(saved["training_data_sha256"]) == 64 and saved["sklearn_version"]
    assert saved["parameters"] == {"cell_m": 100.0, "block_m": 300.0, "n_splits": 5.0, "seed": 0.0}
    m = saved["metrics"]
    # 12 x 6 cells of 100 m, the east half inside the settlement. Tiles of 300 m are aligned
    # on the CRS origin: x cells 2500..2511 meet 5 tile columns (2499-2501, ..., 2511-2513),
    # y cells 98550..98555 meet 2 tile rows
    assert (m["cells"], m["positives"], m["spatial_blocks"]) == (72, 36, 10)
    assert m["precision"] > 0.8 and m["recall"] > 0.8 and m["auc"] > 0.9
    model, meta = load_model(out, "informality")
    assert meta.metrics == m and hasattr(model, "predict_proba")


def test_zipped_shapefile_and_a_stated_crs(files: dict[str, Path], tmp_path: Path) -> None:
    code, output = _train(
        files["buildings_zip"], files["settlements_geojson"], "--out", tmp_path,
        "--cell-m", "200", "--block-m", "400",
    )  # fmt: skip
    assert code == 0, output
    assert json.loads((tmp_path / "informality.json").read_text())["metrics"]["cells"] == 18
    code, output = _train(files["buildings_zip_no_prj"], files["settlements_geojson"])
    assert code == 2 and "has no CRS" in output and "--crs" in output
    code, output = _train(
        files["buildings_zip_no_prj"], files["settlements_geojson"], "--out", tmp_path,
        "--crs", "EPSG:4326", "--block-m", "300",
    )  # fmt: skip
    assert code == 0, output


@pytest.mark.parametrize(
    ("buildings", "settlements", "message"),
    [
        ("missing.gpkg", "settlements_geojson", "no such file"),
        ("buildings_gpkg", "missing.geojson", "no such file"),
        ("points", "settlements_geojson", "no polygon features"),
        ("buildings_gpkg", "points", "no polygon features"),
        ("degrees_lie", "settlements_geojson", "cannot be projected"),
        ("buildings_gpkg", "everywhere", "cover every one of the 72 cells"),
        ("buildings_gpkg", "nowhere", "cover none of the 72 cells"),
    ],
)
def test_refusals_are_one_clear_line(
    files: dict[str, Path], tmp_path: Path, buildings: str, settlements: str, message: str
) -> None:
    code, output = _train(
        files.get(buildings, tmp_path / buildings),
        files.get(settlements, tmp_path / settlements),
        "--out", tmp_path / "m", "--block-m", "300",
    )  # fmt: skip
    assert code == 2, output
    assert message in output and "Traceback" not in output
    assert ("need both" in output) == ("cover" in message)
    assert not (tmp_path / "m").exists()


def test_bad_sizes_and_a_single_block(files: dict[str, Path], tmp_path: Path) -> None:
    code, output = _train(files["buildings_gpkg"], files["settlements_geojson"], "--cell-m", "0")
    assert code == 2 and "--cell-m" in output
    code, output = _train(
        files["buildings_gpkg"], files["settlements_geojson"], "--out", tmp_path,
        "--block-m", "5000",
    )  # fmt: skip
    assert code == 2 and "at least 2 spatial blocks" in output
