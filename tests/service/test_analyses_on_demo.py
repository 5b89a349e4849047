"""The analyses chained on the stored demo city: access, hazard exposure, deprivations.

Reads the layers back from the store as a notebook user would, projects them to metres and
checks what must hold whatever the random draw: network ≥ straight-line distance, people in
the flood zone only where the raster says so, and the hazard flag only ever adding
durable-housing deprivations.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import rasterio
from rasterio.io import MemoryFile

from geo_service.demo import run_demo
from geo_service.settings import Settings
from geo_service.storage import GeoPackageStore
from profiling.access import access_table
from profiling.crs import to_metric
from profiling.deprivation import deprivations
from profiling.hazard import (
    HazardClasses,
    exposure_table,
    hazardous_location,
    sample_raster,
    structure_hazard_class,
)
from profiling.network import StreetNetwork


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("demo-analyses")
    settings = Settings(store_path=root / "demo.gpkg")
    run_demo(root / "city", settings=settings, households=2_000, seed=21)
    with GeoPackageStore(settings.store_path) as store:
        layers = {
            name: store.read_layer(name)
            for name in ("households", "structures", "service_points", "streets")
        }
        (flood,) = [r for r in store.rasters() if r.kind == "flood_depth"]
        _, tiff = store.read_raster(flood.raster_id)
    metric = to_metric(*layers.values())
    out: dict[str, object] = dict(zip(layers, metric, strict=True))
    out["flood_tiff"] = tiff
    return out


def test_access_along_streets_is_never_shorter_than_straight(city):
    households: gpd.GeoDataFrame = city["households"]  # type: ignore[assignment]
    network = StreetNetwork.from_lines(city["streets"])  # type: ignore[arg-type]
    table = access_table(
        households, city["service_points"], types=("water_point", "toilet"), network=network
    )
    assert table.index.equals(households.index)
    for kind in ("water_point", "toilet"):
        reachable = table[f"{kind}_network_m"].notna() & (table[f"{kind}_network_m"] < 1e9)
        assert reachable.mean() > 0.9
        straight = table.loc[reachable, f"{kind}_m"]
        along = table.loc[reachable, f"{kind}_network_m"]
        assert (along + 1e-6 >= straight).all()


def test_flood_exposure_and_durable_housing(city):
    households: gpd.GeoDataFrame = city["households"]  # type: ignore[assignment]
    structures: gpd.GeoDataFrame = city["structures"]  # type: ignore[assignment]
    with MemoryFile(city["flood_tiff"]) as memfile, memfile.open() as raster:  # type: ignore[arg-type]
        assert isinstance(raster, rasterio.io.DatasetReader)
        depth = sample_raster(households, raster)
        classes = structure_hazard_class(structures, raster)
    flood = HazardClasses.flood_depth()
    household_class = flood.classify(depth)
    # Every household sampled at ≥ 1.5 m is in the high class, and no other is.
    assert ((household_class == "high") == (depth >= 1.5)).all()
    table = exposure_table(structures, classes, population_column="population")
    assert table["units"].sum() == len(structures)
    flag = hazardous_location(households, classes=household_class, hazard_classes=flood)
    plain = deprivations(households)
    with_hazard = deprivations(households, hazardous_location=flag.fillna(False))
    # The location can only add durable-housing deprivations, never remove one.
    before = plain["non_durable_housing"].fillna(False).astype(bool)
    after = with_hazard["non_durable_housing"].fillna(False).astype(bool)
    assert (after | ~before).all()
    assert int(after.sum()) >= int(before.sum())
    assert pd.api.types.is_bool_dtype(with_hazard["slum_household"].dtype)


def test_urban_fingerprint_moves_only_with_the_layers_it_reads(tmp_path: Path) -> None:
    """A households upload cannot change block street access or expansion: the urban results
    stay cached; a streets upload changes them."""
    import hashlib  # noqa: PLC0415

    import shapely  # noqa: PLC0415

    from geo_service.storage import UploadWrite  # noqa: PLC0415
    from geo_service.urban_analyses import content_fingerprint  # noqa: PLC0415

    def write(store: GeoPackageStore, layer: str, frame: gpd.GeoDataFrame, body: bytes) -> None:
        raw = tmp_path / f"{layer}.bin"
        raw.write_bytes(body)
        store.write_upload(
            UploadWrite(
                raw_path=raw,
                sha256=hashlib.sha256(body).hexdigest(),
                size=len(body),
                original_name=raw.name,
                format="geojson",
                layer=layer,
                frames={layer: frame},
            )
        )

    with GeoPackageStore(tmp_path / "city.gpkg") as store:
        empty = content_fingerprint(store)
        homes = gpd.GeoDataFrame(
            {"household_id": ["h1"]}, geometry=[shapely.Point(36.8, -1.3)], crs=4326
        )
        write(store, "households", homes, b"households")
        assert content_fingerprint(store) == empty
        street = gpd.GeoDataFrame(
            {"street_id": ["s1"]},
            geometry=[shapely.LineString([(36.8, -1.3), (36.81, -1.3)])],
            crs=4326,
        )
        write(store, "streets", street, b"streets")
        changed = content_fingerprint(store)
        assert changed != empty and ("streets", 1) in changed
