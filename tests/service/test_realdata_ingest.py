"""Real exports, read in place from ../shared/realdata, through the whole ingest path.

Facts asserted here were checked against the files themselves (see each comment).
"""

from __future__ import annotations

import pytest

from geo_service.ingestion import IngestRequest, ingest_file, validate_file
from geo_service.storage import GeoPackageStore
from profiling.errors import MissingCRS, ValidationFailed
from tests.realdata import real_file, zip_shapefile

pytestmark = pytest.mark.realdata

KIANDA = "kibera_kianda/Shapefiles/Kianda/Population/kianda_structures_and_population_dataset.shp"
VILLAGES = "kibera_kianda/Shapefiles/boundary-shapefile/Boundary.shp"


def _layer(settings, name):
    with GeoPackageStore(settings.store_path) as store:
        return store.read_layer(name)


def test_kianda_structures_need_a_crs_then_total_15207_people(tmp_path, settings):
    upload = zip_shapefile(real_file(KIANDA), tmp_path)  # the real files have no .prj
    request = IngestRequest(layer="structures", mapping="kianda_structures", settlement="KIB8")
    with pytest.raises(MissingCRS, match="--crs"):
        ingest_file(upload, request, settings=settings)
    result = ingest_file(
        upload,
        IngestRequest(
            layer="structures",
            mapping="kianda_structures",
            settlement="KIB8",
            crs="EPSG:4326",
            round="2012-06-01",
        ),
        settings=settings,
    )
    assert result.rows == 1_510
    frame = _layer(settings, "structures")
    # Kianda, Kibera: 15,207 people in 4,560 households (kiberaTB README and the dbf sums).
    assert frame["population"].sum() == 15_207
    assert frame["households"].sum() == 4_560
    assert frame["structure_id"].is_unique
    assert "STR_CODE" in frame["attributes"].iloc[0]  # unmapped columns are kept


def test_kianda_structures_inside_kianda_village(tmp_path, settings):
    villages = zip_shapefile(real_file(VILLAGES), tmp_path)
    stored = ingest_file(villages, IngestRequest(mapping="kibera_villages"), settings=settings)
    assert stored.rows == 22
    names = _layer(settings, "settlements").set_index("settlement_id")["name"]
    assert names["KIB8"] == "Kianda"  # the 8th polygon of Boundary.shp
    upload = zip_shapefile(real_file(KIANDA), tmp_path)
    result = validate_file(
        upload,
        IngestRequest(
            layer="structures", mapping="kianda_structures", settlement="KIB8", crs="EPSG:4326"
        ),
        settings=settings,
    )
    outside = [p for p in result.report if p.rule == "outside_settlement"]
    # The enumerated structures lie in Kianda: at most a few footprints straddle the
    # digitised village boundary.
    assert len(outside) < 0.05 * 1_510


def test_map_kibera_watsan_points(tmp_path, settings):
    upload = zip_shapefile(
        real_file("kibera_kianda/Shapefiles/watsan-shapefile/watsan.shp"), tmp_path
    )
    result = ingest_file(upload, IngestRequest(mapping="mapkibera_watsan_2012"), settings=settings)
    # 685 points less 9 recycling, 9 urban agriculture, 9 other and 2 bathrooms.
    assert result.rows == 656
    frame = _layer(settings, "service_points")
    assert frame["service_type"].value_counts().to_dict() == {
        "water_point": 401,
        "toilet": 217,  # 208 public toilets, 6 bio-centres, 3 pee points
        "waste_point": 38,
    }
    # Among the kept points: 9 non-operational, 6 closed, 19 under construction; 162 unknown.
    assert int((~frame["functional"].fillna(True)).sum()) == 9 + 6 + 19
    assert int(frame["functional"].isna().sum()) == 162


def test_map_kibera_osm_watsan(settings):
    path = real_file("mapkibera_watsan_osm/features-osm.geojson")
    result = ingest_file(
        path, IngestRequest(mapping="mapkibera_watsan_osm_2021"), settings=settings
    )
    assert result.rows == 792
    frame = _layer(settings, "service_points")
    assert int((frame["functional"] == False).sum()) == 62  # noqa: E712  operational_status


def test_nairobi_abidjan_kobo_households(settings):
    path = real_file("nairobi_abidjan_wash_hhsurvey/household_data.csv")
    result = validate_file(path, IngestRequest(), settings=settings)
    assert result.layer == "households"
    assert any("nairobi_abidjan_wash_2021" in n for n in result.notes)  # inferred and said
    assert result.rows == 1_714
    # Two households answered 9999 minutes to fetch water: reported, not refused.
    far = [p.row for p in result.report if p.rule == "out_of_range"]
    assert far == [257, 465]
    assert all(p.layer != "" and ".bin" not in p.layer for p in result.report)
    stored = ingest_file(path, IngestRequest(round="2021-06-01"), settings=settings)
    assert stored.rows == 1_714  # no coordinates: households are counted, not mapped
    frame = _layer(settings, "households")
    assert frame["head_sex"].value_counts().to_dict() == {"male": 1_070, "female": 644}
    assert frame.geometry.isna().all()


def test_kampala_households(settings):
    path = real_file("kampala_bwaise_hh_waste/solidwastekampala.csv")
    result = ingest_file(path, IngestRequest(mapping="kampala_bwaise_waste"), settings=settings)
    assert result.rows == 103


def test_cap_haitien_mwater_multipoints_and_zones(tmp_path, settings):
    points = zip_shapefile(
        real_file("caphaitien_okap/mwater_waterpoints/waterpoints_clip.shp"), tmp_path
    )
    result = ingest_file(
        points, IngestRequest(mapping="caphaitien_mwater_waterpoints"), settings=settings
    )
    assert result.rows == 1_849
    frame = _layer(settings, "service_points")
    assert (frame.geometry.geom_type == "Point").all()  # one-part MultiPoints made Points
    assert (frame["subtype"] == "borehole").sum() == 1_210
    lon, lat = frame.geometry.x.mean(), frame.geometry.y.mean()
    assert -72.4 < lon < -72.0 and 19.5 < lat < 19.9  # EPSG:32618 → lon/lat, Cap-Haïtien
    zones = zip_shapefile(
        real_file("caphaitien_okap/okap_zones/Okap_Zonaj_Asenisman_USAID.shp"), tmp_path
    )
    assert ingest_file(zones, IngestRequest(mapping="okap_zones"), settings=settings).rows == 198


def test_kinshasa_erosion_and_blantyre_skips(settings):
    erosion = real_file("kinshasa_kisenso_erosion/erosions.geojson")
    with pytest.raises(ValidationFailed) as failed:
        ingest_file(erosion, IngestRequest(mapping="kinshasa_erosion"), settings=settings)
    # Features 55 and 58 of the real file have empty geometries.
    errors = [(p.row, p.rule) for p in failed.value.report.errors]
    assert errors == [(55, "null_geometry"), (58, "null_geometry")]
    request = IngestRequest(mapping="kinshasa_erosion", skip_invalid_rows=True)
    result = ingest_file(erosion, request, settings=settings)
    assert result.rows == 56
    skips = real_file("blantyre_waste_skips/gps_marked_skips_in_blantyre.kml")
    assert (
        ingest_file(skips, IngestRequest(mapping="blantyre_waste_skips"), settings=settings).rows
        == 53
    )


def test_kianda_terrain_raster(settings):
    path = real_file("kibera_kianda/derived_kianda_terrain_class_2m.tif")
    result = ingest_file(path, IngestRequest(layer="hazard_index"), settings=settings)
    assert result.upload_id is not None
    with GeoPackageStore(settings.store_path) as store:
        (raster,) = store.rasters()
    assert (raster.epsg, raster.width, raster.height, raster.nodata) == (32737, 290, 360, -9999)
