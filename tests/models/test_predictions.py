"""Predictions the service calls: informality per cell and the expansion probability map,
checked on tiny inputs whose answers are obvious."""

from __future__ import annotations

import dataclasses
import json

import geopandas as gpd
import numpy as np
import pytest
import shapely
from sklearn.linear_model import LogisticRegression

from models.expansion_forecast import (
    expected_new_built_ha,
    forecast_report,
    predict_probability,
)
from models.informality import FEATURES, cell_features, predict_cells, spatial_cv
from models.persistence import ModelMeta, load_model, save_model
from profiling.crs import GeographicCRSError

CRS = "EPSG:32737"


def _two_fabrics() -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Cells x = 0..9, y = 0..4: even columns hold one big house, odd columns 30 tiny shacks."""
    rng = np.random.default_rng(0)
    geoms = []
    for cx in range(10):
        for cy in range(5):
            x0, y0 = cx * 100, cy * 100
            if cx % 2 == 0:
                geoms.append(shapely.box(x0 + 20, y0 + 20, x0 + 60, y0 + 50))
            else:
                px, py = rng.uniform(5, 90, 30), rng.uniform(5, 90, 30)
                geoms.extend(shapely.box(x0 + px, y0 + py, x0 + px + 3, y0 + py + 3))
    buildings = gpd.GeoDataFrame(geometry=geoms, crs=CRS)
    cells = cell_features(buildings)
    return buildings, (cells["cell_x"].to_numpy() % 2).astype(int)


def _trained() -> tuple[object, ModelMeta, gpd.GeoDataFrame]:
    buildings, labels = _two_fabrics()
    model, _, meta = spatial_cv(cell_features(buildings), labels, block_m=200.0)
    return model, meta, buildings


def test_predict_cells_flags_the_shacks_outside_known_settlements() -> None:
    model, meta, buildings = _trained()
    assert meta.parameters == {"cell_m": 100.0, "block_m": 200.0, "n_splits": 5.0, "seed": 0.0}
    # known settlement: the shack column x = 1 (cell centres at x = 150)
    known = gpd.GeoDataFrame(geometry=[shapely.box(100, 0, 200, 500)], crs=CRS).to_crs(4326)
    cells = predict_cells(model, meta, buildings, known)
    assert len(cells) == 50 and cells.crs == buildings.crs
    assert {"cell_x", "cell_y", "probability", "known_settlement", "flagged", *FEATURES} <= set(
        cells.columns
    )
    shacks = cells["cell_x"].to_numpy() % 2 == 1
    assert cells["probability"].dtype == float
    assert (cells["probability"][shacks] > 0.9).all() and (
        cells["probability"][~shacks] < 0.1
    ).all()
    assert cells["known_settlement"].tolist() == (cells["cell_x"] == 1).tolist()
    assert cells["flagged"].tolist() == (shacks & (cells["cell_x"] != 1).to_numpy()).tolist()
    assert cells.geometry.area.round(6).eq(10_000).all()
    # without settlements nothing is known; a threshold above 1 flags nothing
    alone = predict_cells(model, meta, buildings)
    assert not alone["known_settlement"].any() and alone["flagged"].tolist() == shacks.tolist()
    assert not predict_cells(model, meta, buildings, threshold=1.01)["flagged"].any()


def test_predict_cells_uses_the_models_cell_size(tmp_path) -> None:
    model, meta, buildings = _trained()
    save_model(model, meta, tmp_path)
    loaded, loaded_meta = load_model(tmp_path, "informality")
    assert loaded_meta.parameters["cell_m"] == 100.0
    coarse = dataclasses.replace(loaded_meta, parameters={**loaded_meta.parameters, "cell_m": 200})
    assert len(predict_cells(loaded, coarse, buildings)) == 15  # 5 x 3 cells of 200 m
    # metadata written before `parameters` existed: the cell size comes from the notes
    raw = json.loads((tmp_path / "informality.json").read_text())
    del raw["parameters"]
    (tmp_path / "informality.json").write_text(json.dumps(raw))
    _, old = load_model(tmp_path, "informality")
    assert old.parameters == {} and len(predict_cells(loaded, old, buildings)) == 50


def test_predict_cells_refuses_degrees_and_other_features() -> None:
    model, meta, buildings = _trained()
    with pytest.raises(GeographicCRSError, match="metric CRS"):
        predict_cells(model, meta, buildings.to_crs(4326))
    other = dataclasses.replace(meta, features=[*FEATURES[:-1], "street_density"])
    with pytest.raises(ValueError, match=r"missing: \['mean_nn_m'\], unexpected: \['street_d"):
        predict_cells(model, other, buildings)
    swapped = dataclasses.replace(meta, features=[FEATURES[1], FEATURES[0], *FEATURES[2:]])
    with pytest.raises(ValueError, match="order differs"):
        predict_cells(model, swapped, buildings)


def _raster() -> np.ndarray:
    """Built 1990 at (1, 1); 2000 at (1, 2); 9 = nodata at (3, 3); the rest never (0)."""
    raster = np.zeros((4, 4), dtype=np.uint16)
    raster[1, 1], raster[1, 2], raster[3, 3] = 1990, 2000, 9
    return raster


def _distance_model() -> tuple[LogisticRegression, ModelMeta]:
    """P(built) falls with the distance to built-up: 100 m -> high, 300 m -> low."""
    model = LogisticRegression().fit([[100.0], [100.0], [300.0], [300.0]], [1, 1, 0, 0])
    return model, ModelMeta("expansion_forecast", ["distance_to_built_m"], "", {})


def test_predict_probability_nan_mask_and_values() -> None:
    model, meta = _distance_model()
    p = predict_probability(model, meta, _raster(), 1990, 100.0, nodata=9)
    assert p.dtype == np.float32 and p.shape == (4, 4)
    nan = np.zeros((4, 4), dtype=bool)
    nan[1, 1] = nan[3, 3] = True  # built at 1990 and nodata; (1, 2) is built only in 2000
    assert np.array_equal(np.isnan(p), nan)
    # same distance, same probability; nearer cells more likely
    assert p[0, 1] == p[1, 0] == p[1, 2] == p[2, 1]
    assert p[0, 1] > p[0, 0] > p[0, 3]
    expected = model.predict_proba([[100.0]])[0, 1]
    assert p[0, 1] == pytest.approx(expected, rel=1e-6)
    # at 2000 the second cell is built too
    later = predict_probability(model, meta, _raster(), 2000, 100.0, nodata=9)
    assert np.isnan(later[1, 2]) and np.isnan(later).sum() == 3


def test_expected_new_built_ha_by_hand() -> None:
    p = np.array([[0.5, np.nan], [0.25, 1.0]], dtype=np.float32)
    # (0.5 + 0.25 + 1.0) cells x 100 m x 100 m = 1.75 ha
    assert expected_new_built_ha(p, 100.0) == pytest.approx(1.75)
    assert expected_new_built_ha(p, 10.0) == pytest.approx(0.0175)
    assert expected_new_built_ha(np.full((2, 2), np.nan), 30.0) == 0.0


def test_predict_probability_follows_the_trained_columns() -> None:
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:40, :40]
    r = np.hypot(yy - 20, xx - 20) + rng.normal(0, 1, (40, 40))
    raster = np.select([r < 5, r < 9, r < 13], [1990, 2000, 2015], 0).astype(np.uint16)
    hazard = rng.random((40, 40))
    report = forecast_report(raster, (1990, 2000, 2015), 100.0, hazard=hazard)
    meta = report.meta
    assert meta.features == ["distance_to_built_m", "built_share_neighbourhood", "hazard"]
    assert meta.parameters["pixel_m"] == 100.0 and meta.parameters["epoch_middle"] == 2000.0
    p = predict_probability(report.model, meta, raster, 2000, 100.0, hazard=hazard)
    assert np.array_equal(np.isnan(p), (raster > 0) & (raster <= 2000))
    # the ring grown 2000 -> 2015 is more likely than the far corners
    ring = (raster == 2015) & ~np.isnan(p)
    assert np.nanmean(p[ring]) > np.nanmean(p[0:3, 0:3]) + 0.3
    with pytest.raises(ValueError, match=r"hazard \(pass hazard=...\)"):
        predict_probability(report.model, meta, raster, 2000, 100.0)
    unknown = dataclasses.replace(meta, features=["distance_to_built_m", "night_lights"])
    with pytest.raises(ValueError, match="night_lights"):
        predict_probability(report.model, unknown, raster, 2000, 100.0)
