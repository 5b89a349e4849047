"""Ingest end to end: stage → read → map → validate → store, on tiny hand-made files."""

from __future__ import annotations

import csv
import json
import math
import time
import zipfile
from pathlib import Path

import pytest

from geo_service.ingestion import IngestRequest, ingest_file, validate_file
from geo_service.settings import Settings
from geo_service.storage import GeoPackageStore
from profiling.errors import MissingCRS, ProfilingError, UnsafeInput, ValidationFailed

MAPPING = """
[form]
id = "tiny_households"
layer = "households"
title = "Tiny test form"
source = "kobo"

[geometry]
latitude = "_gps_latitude"
longitude = "_gps_longitude"
precision = "_gps_precision"

[columns]
"_uuid" = ["household_id", "submission_uuid"]
"hh/size" = "household_size"
"hh/sex" = "head_sex"
"hh/structure" = "structure_id"

[values.head_sex]
F = "female"
M = "male"

[constants]
settlement_id = "S1"
"""

HEADER = (
    "_uuid;_index;hh/size;hh/sex;_gps_latitude;_gps_longitude;_gps_precision;hh/note;hh/structure"
)
ROWS = [
    'u1;1;4;F;-1.3005;36.8005;5;"=HYPERLINK(""http://x"",""y"")";=1+2',
    "u2;2;3;M;-1.3004;36.8004;6;;A12",
    "u3;3;6;F;-1.3003;36.8006;4;ok;@SUM(A1)",
]


def _settlements(tmp_path: Path) -> Path:
    features = [
        {
            "type": "Feature",
            "properties": {"settlement_id": sid, "name": name},
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [
                        [x0, -1.301],
                        [x0 + 0.001, -1.301],
                        [x0 + 0.001, -1.300],
                        [x0, -1.300],
                        [x0, -1.301],
                    ]
                ],
            },
        }
        for sid, name, x0 in [("S1", "Shauri", 36.800), ("S2", "Moyo", 36.802)]
    ]
    path = tmp_path / "settlements.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _households(tmp_path: Path, rows: list[str], name: str = "households.csv") -> Path:
    path = tmp_path / name
    path.write_text("\ufeff" + "\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def mapping(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(MAPPING)
    return path


@pytest.fixture
def city(tmp_path: Path, settings: Settings) -> Settings:
    """A store holding the two settlements."""
    ingest_file(_settlements(tmp_path), IngestRequest(layer="settlements"), settings=settings)
    return settings


def _snapshot(settings: Settings) -> object:
    with GeoPackageStore(settings.store_path) as store:
        return store.snapshot()


def test_settlements_with_canonical_names_need_no_mapping(tmp_path, settings):
    result = ingest_file(_settlements(tmp_path), IngestRequest(), settings=settings)
    assert (result.layer, result.rows, result.duplicate) == ("settlements", 2, False)
    assert any("canonical names" in n for n in result.notes)


def test_households_are_stored_with_provenance_and_formula_text(tmp_path, city, mapping):
    path = _households(tmp_path, ROWS)
    request = IngestRequest(layer="households", mapping=str(mapping), round="2024-03-01")
    result = ingest_file(path, request, settings=city)
    assert result.rows == 3 and not result.report.has_errors
    with GeoPackageStore(city.store_path) as store:
        frame = store.read_layer("households")
        upload = store.get_upload(result.upload_id)
        raw = store.read_raw(upload.sha256)
    assert sorted(frame["household_id"]) == ["u1", "u2", "u3"]
    assert set(frame["round"]) == {"2024-03-01"}
    assert list(frame.sort_values("source_row")["source_row"]) == [1, 2, 3]
    assert frame.loc[frame.household_id == "u1", "head_sex"].item() == "female"
    # The unmapped note is kept as text in `attributes`, the formula never evaluated.
    note = json.loads(frame.loc[frame.household_id == "u1", "attributes"].item())
    assert note["hh/note"] == '=HYPERLINK("http://x","y")'
    assert raw == path.read_bytes()
    assert math.isclose(frame.geometry.x[frame.household_id == "u2"].item(), 36.8004)


def test_csv_export_defuses_formula_cells(tmp_path, city, mapping):
    ingest_file(_households(tmp_path, ROWS), IngestRequest(mapping=str(mapping)), settings=city)
    dest = tmp_path / "out.csv"
    with GeoPackageStore(city.store_path) as store:
        assert store.export("households", dest, fmt="csv") == 3
    with dest.open(encoding="utf-8", newline="") as f:
        cells = [c for row in csv.reader(f) for c in row]
    assert not any(c.startswith("=") for c in cells)
    assert "'=1+2" in cells and "'@SUM(A1)" in cells and "A12" in cells


def test_same_file_again_is_a_no_op(tmp_path, city, mapping):
    path = _households(tmp_path, ROWS)
    first = ingest_file(path, IngestRequest(mapping=str(mapping)), settings=city)
    before = _snapshot(city)
    again = ingest_file(path, IngestRequest(mapping=str(mapping)), settings=city)
    assert again.duplicate and again.upload_id == first.upload_id
    assert _snapshot(city) == before


def test_an_error_stores_nothing_unless_rows_may_be_set_aside(tmp_path, city, mapping):
    rows = [*ROWS, "u4;4;2;X;-1.3005;36.8005;5;;"]  # unknown sex code on data row 4
    path = _households(tmp_path, rows)
    before = _snapshot(city)
    with pytest.raises(ValidationFailed) as failed:
        ingest_file(path, IngestRequest(mapping=str(mapping)), settings=city)
    bad = list(failed.value.report.errors)
    assert [(p.row, p.column, p.rule) for p in bad] == [(4, "hh/sex", "unmapped_value")]
    assert _snapshot(city) == before

    kept = ingest_file(
        path, IngestRequest(mapping=str(mapping), skip_invalid_rows=True), settings=city
    )
    assert kept.rows == 3
    assert kept.report.facts["rows_set_aside"] == {"households": 1}


def test_point_outside_its_settlement_is_reported(tmp_path, city, mapping):
    far = "u9;9;3;M;-1.3005;36.8030;5;;"  # inside S2's longitude band + beyond: not in S1
    result = validate_file(
        _households(tmp_path, [far]), IngestRequest(mapping=str(mapping)), settings=city
    )
    rules = {p.rule for p in result.report}
    assert "outside_settlement" in rules


def test_job_folder_is_cleaned_up(tmp_path, city, mapping):
    validate_file(_households(tmp_path, ROWS), IngestRequest(mapping=str(mapping)), settings=city)
    assert city.work_dir is not None
    assert list(city.work_dir.iterdir()) == []


# -- Hostile inputs through the whole path: a clear error and an unchanged store -------------

CANARY = "CANARY-7f3e0c1d-never-leak"


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _hostile(tmp_path: Path, case: str) -> tuple[Path, str | None]:
    """A hostile file and the original name it is uploaded under."""
    p = tmp_path / f"case_{case}"
    if case == "empty":
        p.write_bytes(b"")
    elif case == "truncated_zip":
        full = _zip(tmp_path / "full.zip", {"a.csv": b"x;y\n" * 10_000})
        p.write_bytes(full.read_bytes()[:300])
    elif case == "zip_slip":
        _zip(p, {"../evil.shp": b"x", "../evil.dbf": b"x", "../evil.shx": b"x"})
    elif case == "zip_bomb":
        _zip(p, {"bomb.shp": b"\0" * 60_000_000, "bomb.dbf": b"", "bomb.shx": b""})
    elif case == "kml_xxe":
        p.write_text(
            '<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            '<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>&x;</name>'
            "<Point><coordinates>36.8,-1.3</coordinates></Point></Placemark></kml>"
        )
    elif case == "vrt_as_geojson":
        secret = tmp_path / "secret.csv"
        secret.write_text(f"id,WKT\n1,POINT (0 0)\n{CANARY},POINT (1 1)\n")
        p.write_text(
            f'<OGRVRTDataSource><OGRVRTLayer name="s"><SrcDataSource>{secret}'
            "</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>"
        )
        return p, "settlements.geojson"
    elif case == "vsicurl_name":
        p.write_text('{"type": "FeatureCollection", "features": []}')
        return p, "/vsicurl/http://127.0.0.1:9/x.geojson"
    elif case == "shapefile_without_prj":
        import geopandas as gpd  # noqa: PLC0415
        from shapely.geometry import Point  # noqa: PLC0415

        folder = tmp_path / "shp"
        folder.mkdir()
        gpd.GeoDataFrame(
            {"svc_id": ["a"], "svc_type": ["toilet"]},
            geometry=[Point(36.8, -1.3)],
            crs=4326,
        ).to_file(folder / "pts.shp")
        (folder / "pts.prj").unlink()
        _zip(p, {f.name: f.read_bytes() for f in folder.iterdir()})
    elif case == "million_vertices":
        n = 1_000_000
        ring = ", ".join(
            f"[{36.8 + 0.01 * math.cos(2 * math.pi * i / n):.7f}, "
            f"{-1.3 + 0.01 * math.sin(2 * math.pi * i / n):.7f}]"
            for i in range(n)
        )
        p.write_text(
            '{"type":"FeatureCollection","features":[{"type":"Feature","properties":'
            '{"hazard_id":"h1","hazard_type":"flood"},"geometry":{"type":"Polygon",'
            f'"coordinates":[[{ring}, [36.81, -1.3]]]}}}}]}}'
        )
    elif case == "nan_polygon":
        p.write_text(
            '{"type":"FeatureCollection","features":[{"type":"Feature","properties":'
            '{"hazard_id":"h1","hazard_type":"flood"},"geometry":{"type":"Polygon",'
            '"coordinates":[[[36.8,-1.3],[NaN,-1.3],[36.81,-1.31],[36.8,-1.3]]]}}]}'
        )
    else:  # pragma: no cover
        raise AssertionError(case)
    return p, None


HOSTILE = [
    "empty",
    "truncated_zip",
    "zip_slip",
    "zip_bomb",
    "kml_xxe",
    "vrt_as_geojson",
    "vsicurl_name",
    "shapefile_without_prj",
    "million_vertices",
    "nan_polygon",
]


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_file_is_refused_and_store_unchanged(tmp_path, city, case, capfd):
    path, name = _hostile(tmp_path, case)
    before = _snapshot(city)
    start = time.perf_counter()
    with pytest.raises(ProfilingError) as refused:
        ingest_file(path, IngestRequest(original_name=name), settings=city)
    assert time.perf_counter() - start < 20
    message = str(refused.value)
    assert (message and "\n" not in message.strip()) or isinstance(refused.value, ValidationFailed)
    if case == "shapefile_without_prj":
        assert isinstance(refused.value, MissingCRS)
    if case in {"kml_xxe", "vrt_as_geojson"}:
        assert isinstance(refused.value, UnsafeInput)
    assert _snapshot(city) == before
    captured = capfd.readouterr()
    for text in (message, captured.out, captured.err):
        assert CANARY not in text and "root:x:0" not in text
    assert city.work_dir is not None and list(city.work_dir.iterdir()) == []


def test_bowtie_of_a_thousand_vertices_is_repaired_in_bounded_time(tmp_path, settings):
    # A bowtie (two triangles crossing at the centre) whose diagonal is a 997-vertex zigzag.
    n = 997
    diagonal = [
        (36.80 + 0.01 * i / n + (0.00001 if i % 2 else 0.0), -1.31 + 0.01 * i / n)
        for i in range(n + 1)
    ]
    ring = [*diagonal, (36.81, -1.31), (36.80, -1.30), diagonal[0]]
    feature = {
        "type": "Feature",
        "properties": {"hazard_id": "bow", "hazard_type": "flood"},
        "geometry": {"type": "Polygon", "coordinates": [[list(c) for c in ring]]},
    }
    path = tmp_path / "bowtie.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    start = time.perf_counter()
    result = ingest_file(path, IngestRequest(layer="hazard_zones"), settings=settings)
    assert time.perf_counter() - start < 10
    assert result.rows == 1
    assert any(p.rule == "invalid_geometry" for p in result.report)
    with GeoPackageStore(settings.store_path) as store:
        assert store.read_layer("hazard_zones").geometry.is_valid.all()


def _geotiff(path: Path, values: list[list[float]], dtype: str, nodata: float) -> Path:
    import numpy as np  # noqa: PLC0415
    import rasterio  # noqa: PLC0415
    from affine import Affine  # noqa: PLC0415

    data = np.asarray(values, dtype=dtype)
    profile = {
        "driver": "GTiff",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": dtype,
        "crs": "EPSG:32737",
        "nodata": nodata,
        "transform": Affine(10.0, 0.0, 252_000.0, 0.0, -10.0, 9_855_000.0),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


def test_raster_kind_is_inferred_from_years_or_must_be_given(tmp_path, settings):
    epochs = _geotiff(tmp_path / "e.tif", [[0, 2000], [2010, 65535]], "uint16", 65535)
    result = validate_file(epochs, IngestRequest(), settings=settings)
    assert result.layer == "built_up_epoch"
    assert any("inferred from its year values" in n for n in result.notes)

    depth = _geotiff(tmp_path / "d.tif", [[0.0, 0.4], [1.2, -9999.0]], "float32", -9999.0)
    with pytest.raises(ProfilingError, match="--layer"):
        ingest_file(depth, IngestRequest(), settings=settings)
    stored = ingest_file(depth, IngestRequest(layer="flood_depth"), settings=settings)
    with GeoPackageStore(settings.store_path) as store:
        (raster,) = store.rasters()
        info, data = store.read_raster(raster.raster_id)
    assert (stored.layer, info.kind, info.width, info.nodata) == (
        "flood_depth",
        "flood_depth",
        2,
        -9999,
    )
    assert data == depth.read_bytes()


def test_same_file_again_answers_before_parsing(tmp_path, city, mapping, monkeypatch):
    path = _households(tmp_path, ROWS)
    first = ingest_file(path, IngestRequest(mapping=str(mapping)), settings=city)

    def must_not_read(*_args, **_kwargs):
        raise AssertionError("a stored file was parsed again")

    monkeypatch.setattr("geo_service.ingestion.read_upload", must_not_read)
    again = ingest_file(path, IngestRequest(mapping=str(mapping)), settings=city)
    assert (again.duplicate, again.upload_id, again.layer) == (True, first.upload_id, "households")
    assert "already" not in again.notes[0] and f"upload {first.upload_id}" in again.notes[0]
    # Another round of the same bytes is a new upload, so it is read.
    with pytest.raises(AssertionError, match="parsed again"):
        ingest_file(path, IngestRequest(mapping=str(mapping), round="2025-01-01"), settings=city)
