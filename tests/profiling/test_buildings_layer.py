"""The city-wide ``buildings`` layer: its schema, who may read it, and the OSM mapping."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from geo_service.access import HOUSEHOLD_LEVEL_LAYERS, LAYER_ROLES, PUBLIC, can_read_layer
from geo_service.ingestion import IngestRequest, ingest_file
from geo_service.settings import Settings
from geo_service.storage import GeoPackageStore
from profiling.ingest.mapping import apply_mapping, bundled_mappings
from profiling.ingest.vector import read_vector
from profiling.schema import LAYERS, layer_schema


def _osm_export(tmp_path: Path, id_column: str) -> Path:
    """A small overpass-turbo / HOT Export Tool style GeoJSON of building polygons."""

    def square(x: float, y: float, side: float) -> dict:
        ring = [[x, y], [x + side, y], [x + side, y + side], [x, y + side], [x, y]]
        return {"type": "Polygon", "coordinates": [ring]}

    rows = [
        ({"building": "house", "building:levels": "2", "height": "6.5"}, 0.0),
        ({"building": "yes", "building:levels": None, "height": None, "name": "Duka"}, 0.001),
        ({"building": "apartments", "building:levels": "5", "height": "16"}, 0.002),
    ]
    features = [
        {
            "type": "Feature",
            "properties": {id_column: f"way/{100 + i}", **props},
            "geometry": square(36.80 + dx, -1.30, 0.0002),
        }
        for i, (props, dx) in enumerate(rows)
    ]
    path = tmp_path / "buildings_osm.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_buildings_is_a_public_polygon_layer() -> None:
    schema = LAYERS["buildings"]
    assert schema is layer_schema("buildings")
    assert schema.geometry == "Polygon" and schema.key == "building_id"
    assert schema.required == ("building_id",)
    assert {"source", "building", "levels", "height_m", "confidence"} <= set(schema.names)
    assert schema.field("levels").dtype == "int"
    assert schema.field("confidence").maximum == 1
    assert not any(f.personal for f in schema.fields)
    assert "buildings" not in HOUSEHOLD_LEVEL_LAYERS
    assert LAYER_ROLES["buildings"] == LAYER_ROLES["streets"]
    assert can_read_layer(PUBLIC, "buildings")


def test_osm_geojson_maps_onto_the_fields(tmp_path: Path) -> None:
    mapping = bundled_mappings()["osm_buildings"]
    assert mapping.layer == "buildings"
    for id_column in ("@id", "osm_id"):
        vector = read_vector(_osm_export(tmp_path, id_column), "geojson")
        mapped = apply_mapping(vector.frame, mapping, layer_schema("buildings"))
        frame = mapped.frame
        assert not [p for p in mapped.report if p.severity == "error"]
        # the other id column is reported missing, nothing else
        assert {p.rule for p in mapped.report if p.severity == "warning"} == {"missing_column"}
        assert frame["building_id"].tolist() == ["way/100", "way/101", "way/102"]
        assert frame["building"].tolist() == ["house", "yes", "apartments"]
        assert frame["levels"].tolist() == [2, pd.NA, 5]
        assert frame["height_m"].tolist()[::2] == [6.5, 16.0]
        assert frame["source"].eq("osm").all()
        assert frame["confidence"].isna().all()
        assert "Duka" in frame["attributes"].iloc[1]
        assert set(frame.geometry.geom_type) == {"Polygon"}


def test_osm_export_is_stored_and_public(tmp_path: Path, settings: Settings) -> None:
    path = _osm_export(tmp_path, "@id")
    result = ingest_file(path, IngestRequest(mapping="osm_buildings"), settings=settings)
    assert result.layer == "buildings" and result.rows == 3
    with GeoPackageStore(settings.store_path) as store:
        stored = store.read_layer("buildings")
    assert sorted(stored["building_id"]) == ["way/100", "way/101", "way/102"]
    assert stored["settlement_id"].isna().all()
