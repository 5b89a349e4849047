"""Urban form, expansion and model endpoints on the demo city, checked against the generated
files (the built-up raster, the unprofiled clusters of the manifest) computed independently."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from fastapi.testclient import TestClient
from rasterio.io import MemoryFile
from scipy import ndimage

from geo_service.api import create_app
from geo_service.settings import Settings
from geo_service.storage import GeoPackageStore
from models.informality import predict_cells
from models.persistence import load_model

CITY = "Mto Mji"
BASE = "/cities/Mto%20Mji"
CELL_HA = 30.0 * 30.0 / 10_000.0


@pytest.fixture
def epochs(demo_store: Path) -> np.ndarray:
    """The generated first-built epoch raster (beside the session's demo store)."""
    with rasterio.open(demo_store.parent / "city" / "built_up_epochs.tif") as src:
        return src.read(1)


def _layers(page: str) -> list[str]:
    found = re.search(
        r'<script type="application/json" id="geo-service-map-layers">(.*?)</script>', page, re.S
    )
    assert found
    return json.loads(found.group(1))


# -- models ----------------------------------------------------------------------------------


def test_no_models_is_an_empty_list_and_a_clear_404(api) -> None:
    listed = api.get("/models", "public").json()
    assert listed["models"] == []
    r = api.get(f"{BASE}/expansion/forecast", "planner")
    assert r.status_code == 404
    assert "geo-service models train-expansion" in r.json()["detail"]
    r = api.get(f"{BASE}/informality", "planner")
    assert r.status_code == 404
    assert "train-informality" in r.json()["detail"]


def test_models_are_loaded_at_start_with_their_metadata(api_models) -> None:
    listed = {m["name"]: m for m in api_models.get("/models", "public").json()["models"]}
    assert set(listed) == {"expansion_forecast", "informality"}
    for record in listed.values():
        assert record["status"] == "loaded"
        assert len(record["training_data_sha256"]) == 64
        assert len(record["model_sha256"]) == 64
        assert record["sklearn_version"]
        assert record["features"]
    assert listed["informality"]["parameters"]["cell_m"] == 100
    assert 0 <= listed["informality"]["metrics"]["recall"] <= 1
    assert listed["expansion_forecast"]["metrics"]["auc"] > 0.5
    one = api_models.get("/models/informality", "public").json()
    assert one["features"] == listed["informality"]["features"]
    assert api_models.get("/models/nothing", "public").status_code == 404


def test_a_tampered_model_is_refused_and_the_service_still_starts(
    demo_store: Path, demo_models: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "models"
    shutil.copytree(demo_models, folder)
    path = folder / "informality.skops"
    path.write_bytes(path.read_bytes() + b"\0")
    store = tmp_path / "store.gpkg"
    shutil.copyfile(demo_store, store)
    settings = Settings(store_path=store, work_dir=tmp_path / "jobs", models_dir=folder)
    with TestClient(create_app(settings)) as client:
        listed = {m["name"]: m for m in client.get("/models").json()["models"]}
        assert listed["informality"]["status"] == "refused"
        assert "sha256" in listed["informality"]["reason"]
        assert listed["expansion_forecast"]["status"] == "loaded"
        r = client.get("/models/informality")
        assert r.status_code == 404 and "refused" in r.json()["detail"]


# -- blocks ----------------------------------------------------------------------------------


def test_blocks_geojson(api) -> None:
    r = api.get(f"{BASE}/blocks", "admin")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    body = r.json()
    assert body["type"] == "FeatureCollection" and body["numberReturned"] == len(body["features"])
    props = [f["properties"] for f in body["features"]]
    assert props and all(isinstance(p["k"], int) and p["k"] >= 0 for p in props)
    built = [p for p in props if p["buildings"] > 0]
    assert all(p["k"] >= 1 for p in built)
    for p in built:
        assert p["buildings_per_ha"] == pytest.approx(p["buildings"] / p["area_ha"])
    lon, lat = body["features"][0]["geometry"]["coordinates"][0][0]
    assert -180 <= lon <= 180 and -90 <= lat <= 90
    one = api.get(f"{BASE}/blocks", "admin", params={"settlement": "mtoni"}).json()
    assert {f["properties"]["settlement_id"] for f in one["features"]} == {"mtoni"}
    assert api.get(f"{BASE}/blocks", params={"settlement": "nowhere"}).status_code == 404


def test_blocks_leave_out_settlements_the_caller_may_not_see(api) -> None:
    public = {f["properties"]["settlement_id"] for f in api.get(f"{BASE}/blocks", "public").json()[
        "features"]}  # fmt: skip
    owner = {f["properties"]["settlement_id"] for f in api.get(f"{BASE}/blocks", "fed_a").json()[
        "features"]}  # fmt: skip
    assert "bonde_la_nyota" not in public and "kijiji_kipya" not in public
    assert "bonde_la_nyota" in owner and "kijiji_kipya" not in owner
    assert api.get("/cities/Atlantis/blocks", "admin").status_code == 404


# -- expansion -------------------------------------------------------------------------------


def test_expansion_table_against_the_raster(api, epochs: np.ndarray) -> None:
    r = api.get(f"{BASE}/expansion", "public")
    assert r.status_code == 200
    body = r.json()
    assert body["epochs"] == [2000, 2010, 2020]
    rows = {row["epoch"]: row for row in body["rows"]}
    for year in (2000, 2010, 2020):
        expected = ((epochs > 0) & (epochs <= year) & (epochs != 65535)).sum() * CELL_HA
        assert rows[year]["built_ha"] == pytest.approx(expected)
        assert rows[year]["extent_ha"] >= rows[year]["urban_ha"] + rows[year]["suburban_ha"]
    assert rows[2000]["infill_ha"] is None
    new = rows[2020]["infill_ha"] + rows[2020]["extension_ha"] + rows[2020]["leapfrog_ha"]
    assert new == pytest.approx((epochs == 2020).sum() * CELL_HA)
    assert rows[2020]["sdg_11_3_1"] is None  # no population per epoch


def test_forecast_json_and_geotiff(api_models, epochs: np.ndarray) -> None:
    body = api_models.get(f"{BASE}/expansion/forecast", "public").json()
    assert body["from_epoch"] == 2020
    assert body["candidate_cells"] == int((epochs == 0).sum())
    assert sum(c["cells"] for c in body["classes"]) == body["candidate_cells"]
    r = api_models.get(f"{BASE}/expansion/forecast", "public", params={"format": "geotiff"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/tiff")
    with MemoryFile(r.content) as memfile, memfile.open() as src:
        p = src.read(1)
        assert src.dtypes[0] == "float32" and src.crs.is_projected
    assert p.shape == epochs.shape
    np.testing.assert_array_equal(np.isfinite(p), epochs == 0)
    assert float(np.nansum(p)) * CELL_HA == pytest.approx(body["expected_new_built_ha"], abs=0.01)
    # the model ranks cells next to the built-up area above the far ones (distance decay)
    built = (epochs > 0) & (epochs != 65535)
    distance = ndimage.distance_transform_edt(~built) * 30.0
    near = p[(epochs == 0) & (distance <= 60)]
    far = p[(epochs == 0) & (distance >= 600)]
    assert np.nanmean(near) > np.nanmean(far)


# -- informality -----------------------------------------------------------------------------


def test_informality_roles(api_models) -> None:
    assert api_models.get(f"{BASE}/informality", "public").status_code == 401
    assert api_models.get(f"{BASE}/informality", "mel").status_code == 403
    assert api_models.get(f"{BASE}/informality", "fed_a").status_code == 403
    assert api_models.get(f"{BASE}/informality", "planner").status_code == 200


def test_informality_cells_match_the_model_on_the_store_footprints(
    api_models, demo_store: Path, demo_models: Path
) -> None:
    body = api_models.get(f"{BASE}/informality", "admin").json()
    features = body["features"]
    threshold = body["threshold"]
    assert body["flagged"] == sum(f["properties"]["flagged"] for f in features)
    for f in features:
        p = f["properties"]
        assert p["flagged"] == (p["probability"] >= threshold and not p["known_settlement"])
    assert any(f["properties"]["known_settlement"] for f in features)
    # the same model applied directly to the stored footprints, projected independently
    model, meta = load_model(demo_models, "informality")
    with GeoPackageStore(demo_store) as store:
        buildings = store.read_layer("buildings")
        settlements = store.read_layer("settlements")
    crs = buildings.estimate_utm_crs()
    direct = predict_cells(model, meta, buildings.to_crs(crs), settlements.to_crs(crs))
    assert len(features) == len(direct)
    got = sorted(round(f["properties"]["probability"], 4) for f in features)
    np.testing.assert_allclose(got, np.sort(direct["probability"].round(4)), atol=1e-4)
    assert (
        sum(f["properties"]["known_settlement"] for f in features)
        == direct["known_settlement"].sum()
    )
    only = api_models.get(f"{BASE}/informality", "admin", params={"flagged_only": True}).json()
    assert len(only["features"]) == body["flagged"]


def test_informality_leaves_out_hidden_settlements(api_models) -> None:
    planner = api_models.get(f"{BASE}/informality", "planner").json()["features"]
    admin = api_models.get(f"{BASE}/informality", "admin").json()["features"]
    assert len(planner) < len(admin)  # cells of the unpublished settlements are dropped


# -- indicators and maps ---------------------------------------------------------------------


def test_urban_indicators_are_served(api) -> None:
    wanted = ["building_density_per_ha", "urban_extent_ha", "buildings_off_network_share"]
    r = api.get(f"{BASE}/indicators", "public", params={"indicator": wanted})
    rows = r.json()["rows"]
    ids = {row["indicator_id"] for row in rows}
    assert ids == set(wanted)
    extent = {
        row["round"]: row["value"] for row in rows if row["indicator_id"] == "urban_extent_ha"
    }
    assert set(extent) == {"2000", "2010", "2020"}
    assert extent["2000"] < extent["2010"] < extent["2020"]
    density = next(row for row in rows if row["indicator_id"] == "building_density_per_ha")
    assert density["value"] == pytest.approx(density["numerator"] / density["denominator"])
    assert density["suppressed"] == ""


def test_city_map_layers_by_role(api_models) -> None:
    planner = _layers(api_models.get("/maps/cities/Mto%20Mji", "planner").text)
    assert {"Street blocks: complexity k", "Built-up by epoch", "Expansion forecast"} <= set(
        planner
    )
    assert "Looks informal (model)" in planner
    public = _layers(api_models.get("/maps/cities/Mto%20Mji", "public").text)
    assert "Expansion forecast" in public and "Looks informal (model)" not in public
    settlement = _layers(api_models.get("/maps/settlements/mtoni", "public").text)
    assert "Street blocks: complexity k" in settlement


def test_city_only_indicators_are_not_choropleth_choices(api) -> None:
    r = api.get("/maps/cities/Mto%20Mji", "public", params={"indicator": "built_up_ha"})
    assert r.status_code == 400  # a bad query parameter
    page = api.get(
        "/maps/cities/Mto%20Mji", "public", params={"indicator": "building_density_per_ha"}
    )
    assert page.status_code == 200
    assert "Settlements: Building density" in _layers(page.text)
