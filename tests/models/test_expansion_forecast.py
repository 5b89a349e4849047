"""Expansion forecast: figure of merit by hand, a synthetic city that grows outwards, safe
model files, and the real GHSL rasters."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from typer.testing import CliRunner

from geo_service.cli import app
from models.expansion_forecast import FEATURES, cell_features, figure_of_merit, forecast_report
from models.persistence import load_model, save_model
from tests.realdata import real_file


def test_figure_of_merit_by_hand() -> None:
    y = np.array([1, 1, 1, 0, 0, 0, 0])
    score = np.array([0.9, 0.8, 0.1, 0.7, 0.2, 0.3, 0.0])
    # top 3 predicted: cells 0, 1, 3 -> hits 2, misses 1 (cell 2), false alarms 1 (cell 3)
    assert figure_of_merit(y, score) == pytest.approx(2 / 4)
    assert np.isnan(figure_of_merit(np.zeros(3), np.ones(3)))


def test_features_by_hand() -> None:
    built = np.zeros((5, 5), dtype=bool)
    built[2, 2] = True
    f = cell_features(built, 10.0, radius_m=10.0)
    assert f["distance_to_built_m"][2, 4] == 20.0
    assert f["distance_to_built_m"][0, 0] == pytest.approx(np.hypot(20, 20))
    # radius 1 cell: a plus-shaped kernel of 5 cells; the centre's share is 1/5
    assert f["built_share_neighbourhood"][2, 2] == pytest.approx(1 / 5)
    assert np.isnan(f["slope_deg"]).all() and list(f) == list(FEATURES)
    dem = np.tile(np.arange(5, dtype=float) * 10.0, (5, 1))  # rises 10 m per 10 m cell
    assert cell_features(built, 10.0, dem=dem)["slope_deg"][2, 2] == pytest.approx(45.0)


def _growing_city(size: int = 80, seed: int = 1) -> np.ndarray:
    """Epochs 1990 / 2000 / 2015: a core that grows in rings, plus scattered noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size / 2, xx - size / 2) + rng.normal(0, 1.5, (size, size))
    raster = np.zeros((size, size), dtype=np.uint16)
    raster[r < 28] = 2015
    raster[r < 18] = 2000
    raster[r < 10] = 1990
    noise = (rng.random((size, size)) < 0.01) & (raster == 0)
    raster[noise] = 2015
    return raster


def test_outward_growth_is_predicted_and_beats_nothing(tmp_path) -> None:
    report = forecast_report(_growing_city(), (1990, 2000, 2015), 100.0, seed=0)
    m = report.metrics
    assert m["auc"] > 0.85 and m["baseline_auc"] > 0.85
    assert 0 < m["fom"] <= 1 and m["test_changed"] > 0
    # safe files: skops + metadata, loaded back with the same predictions
    save_model(report.model, report.meta, tmp_path)
    model, meta = load_model(tmp_path, "expansion_forecast")
    assert meta.features == ["distance_to_built_m", "built_share_neighbourhood"]
    x = np.column_stack([np.arange(5.0) * 100, np.full(5, 0.2)])
    assert np.allclose(model.predict_proba(x), report.model.predict_proba(x))
    assert meta.metrics["auc"] == m["auc"]
    on_disk = json.loads((tmp_path / "expansion_forecast.json").read_text())
    assert on_disk["training_data_sha256"] == meta.training_data_sha256
    (tmp_path / "expansion_forecast.skops").write_bytes(b"tampered")
    with pytest.raises(ValueError, match="sha256"):
        load_model(tmp_path, "expansion_forecast")


@pytest.mark.realdata
def test_ghsl_forecast_report() -> None:
    path = real_file("ghsl_gosturban_tutorial/GHSL.tif")
    with rasterio.open(path) as ds:
        raster = ds.read(1)
        nodata = ds.nodata
        pixel = abs(ds.transform.a)
    epochs = sorted(int(v) for v in np.unique(raster) if v != nodata and v > 0)
    assert len(epochs) >= 3
    start, middle, end = epochs[0], epochs[len(epochs) // 2], epochs[-1]
    # GHSL marks never-built cells with its nodata value (65535): inside the data, not missing
    report = forecast_report(raster, (start, middle, end), pixel, seed=0)
    m = report.metrics
    print(f"\nGHSL expansion forecast {start}->{middle} (train), {middle}->{end} (test): {m}")
    assert m["auc"] > 0.7 and m["auc"] >= m["baseline_auc"] - 0.02
    assert 0 < m["fom"] <= 1


# rasterio's own use of affine's deprecated `*` when writing a GeoTIFF
@pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")
def test_cli_trains_and_saves(tmp_path) -> None:
    raster = _growing_city()
    path = tmp_path / "epochs.tif"
    profile = {
        "driver": "GTiff", "width": raster.shape[1], "height": raster.shape[0], "count": 1,
        "dtype": "uint16", "crs": "EPSG:32737", "transform": from_origin(0, 8000, 100, 100),
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(raster, 1)
    result = CliRunner().invoke(
        app, ["models", "train-expansion", str(path), "--out", str(tmp_path / "m")]
    )
    assert result.exit_code == 0, result.output
    assert "figure of merit" in result.stdout
    model, meta = load_model(tmp_path / "m", "expansion_forecast")
    assert meta.notes.startswith("trained on 1990->2000") and hasattr(model, "predict_proba")
    bad = CliRunner().invoke(app, ["models", "train-expansion", str(path), "--epochs", "1990,2000"])
    assert bad.exit_code == 2
