"""OGC API - Features: landing page, conformance, collections, items, access and errors."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
import shapely

from geo_service.access import HOUSEHOLD_LEVEL_LAYERS, Principal
from geo_service.api.deps import Services, settlement_scope
from geo_service.servicedb import Role
from tests.service.api.conftest import Api

HIDDEN_FROM_OTHERS = {"bonde_la_nyota", "kijiji_kipya"}
PERSONAL = {"head_name", "phone", "national_id"}
PRINCIPALS = {
    "admin": Principal(Role.admin),
    "fed_a": Principal(Role.federation, org="fed_a"),
    "fed_b": Principal(Role.federation, org="fed_b"),
    "planner": Principal(Role.planner, org="city planning"),
    "mel": Principal(Role.mel, org="cities alliance"),
    "public": Principal(Role.public),
}


def services_of(api: Api) -> Services:
    services: Services = api.client.app.state.services  # type: ignore[attr-defined]
    return services


def visible_fids(api: Api, who: str, layer: str) -> set[int]:
    """The fids of ``layer`` that ``who`` may see, straight from the store."""
    services = services_of(api)
    scope = settlement_scope(
        services, PRINCIPALS[who], household_level=layer in HOUSEHOLD_LEVEL_LAYERS
    )
    frame = services.store.read_layer(layer, columns=["settlement_id"])
    return {
        int(fid)
        for fid, s in zip(frame.index, frame["settlement_id"], strict=True)
        if scope.allows(None if s is None or s != s else s)
    }


def check_feature_collection(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A small RFC 7946 / OGC items validator; returns the features."""
    assert body["type"] == "FeatureCollection"
    assert isinstance(body["features"], list)
    assert body["numberReturned"] == len(body["features"])
    assert body["numberMatched"] >= body["numberReturned"]
    assert body["timeStamp"].endswith("Z")
    rels = {link["rel"] for link in body["links"]}
    assert {"self", "alternate"} <= rels
    ids = [f["id"] for f in body["features"]]
    assert len(ids) == len(set(ids))
    for feature in body["features"]:
        assert feature["type"] == "Feature"
        assert isinstance(feature["id"], int)
        assert isinstance(feature["properties"], dict)
        geometry = feature["geometry"]
        if geometry is None:
            continue
        assert geometry["type"] in {
            "Point",
            "MultiPoint",
            "LineString",
            "MultiLineString",
            "Polygon",
            "MultiPolygon",
        }
        shape = shapely.from_geojson(_dumps(geometry))
        coords = shapely.get_coordinates(shape)
        assert len(coords) > 0
        assert ((coords[:, 0] >= -180) & (coords[:, 0] <= 180)).all()
        assert ((coords[:, 1] >= -90) & (coords[:, 1] <= 90)).all()
        # the demo city is near Nairobi-ish coordinates: lon ≈ 37.6, lat ≈ -1.9 (not swapped)
        assert 30 < coords[0, 0] < 45 and -5 < coords[0, 1] < 5
    return body["features"]


def _dumps(value: Any) -> str:
    return json.dumps(value)


def all_items(api: Api, who: str, layer: str, limit: int, **params: str) -> list[dict]:
    """Follow ``next`` links through a whole collection."""
    query = "&".join(f"{k}={v}" for k, v in params.items())
    url: str | None = f"/collections/{layer}/items?limit={limit}" + (f"&{query}" if query else "")
    out: list[dict] = []
    matched = None
    while url is not None:
        response = api.get(url, who)
        assert response.status_code == 200, response.text
        body = response.json()
        out += check_feature_collection(body)
        matched = body["numberMatched"] if matched is None else matched
        assert body["numberMatched"] == matched
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    assert len(out) == matched
    return out


# ------------------------------------------------------------------------- landing pages
def test_landing_page(api: Api) -> None:
    response = api.get("/", "public")
    assert response.status_code == 200
    body = response.json()
    assert body["title"]
    rels = {link["rel"]: link["href"] for link in body["links"]}
    assert rels["service-desc"].endswith("/openapi.json")
    assert rels["service-doc"].endswith("/docs")
    assert rels["conformance"].endswith("/conformance")
    assert rels["data"].endswith("/collections")
    assert {"self"} <= set(rels)


def test_conformance(api: Api) -> None:
    body = api.get("/conformance", "public").json()
    base = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
    assert set(body["conformsTo"]) == {base + "core", base + "geojson", base + "oas30"}


@pytest.mark.parametrize(
    ("who", "households"),
    [("public", False), ("mel", False), ("planner", True), ("fed_a", True), ("admin", True)],
)
def test_collections_per_role(api: Api, who: str, households: bool) -> None:
    response = api.get("/collections", who)
    assert response.status_code == 200
    ids = {c["id"] for c in response.json()["collections"]}
    assert {"settlements", "service_points", "streets"} <= ids
    assert ("households" in ids) is households
    assert ("structures" in ids) is households
    for c in response.json()["collections"]:
        assert c["itemType"] == "feature"
        assert c["description"]
        types = {(link["rel"], link["type"]) for link in c["links"]}
        assert ("items", "application/geo+json") in types and ("items", "text/csv") in types


def test_collection_extent(api: Api) -> None:
    body = api.get("/collections/households", "planner").json()
    (bbox,) = body["extent"]["spatial"]["bbox"]
    assert bbox[0] <= bbox[2] and bbox[1] <= bbox[3]
    assert body["extent"]["temporal"]["interval"][0][0].startswith("2024-02-05")
    # the planner's extent covers only visible households
    items = all_items(api, "planner", "households", 1000)
    xy = shapely.get_coordinates(shapely.from_geojson([_dumps(f["geometry"]) for f in items]))
    assert xy[:, 0].min() == pytest.approx(bbox[0]) and xy[:, 1].max() == pytest.approx(bbox[3])


@pytest.mark.parametrize(("who", "code"), [("public", 401), ("mel", 403)])
def test_household_collection_needs_a_staff_key(api: Api, who: str, code: int) -> None:
    for path in (
        "/collections/households",
        "/collections/households/items",
        "/collections/households/items/1",
    ):
        response = api.get(path, who)
        assert response.status_code == code, path
        assert response.headers["content-type"] == "application/problem+json"


# --------------------------------------------------------------------------------- items
def test_items_geojson(api: Api) -> None:
    response = api.get("/collections/service_points/items?limit=10", "planner")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    body = response.json()
    features = check_feature_collection(body)
    assert body["numberReturned"] == 10
    assert body["numberMatched"] == len(visible_fids(api, "planner", "service_points"))
    rels = {link["rel"] for link in body["links"]}
    assert "next" in rels and "prev" not in rels
    assert all(f["geometry"]["type"] == "Point" for f in features)


@pytest.mark.parametrize(
    ("who", "layer"),
    [
        ("planner", "households"),
        ("fed_a", "households"),
        ("admin", "households"),
        ("public", "service_points"),
        ("planner", "structures"),
        ("public", "settlements"),
    ],
)
def test_paging_returns_every_visible_feature_once(api: Api, who: str, layer: str) -> None:
    features = all_items(api, who, layer, 137)
    ids = [f["id"] for f in features]
    assert len(ids) == len(set(ids))
    assert set(ids) == visible_fids(api, who, layer)


def test_prev_link_and_offset(api: Api) -> None:
    body = api.get("/collections/households/items?limit=50&offset=100", "planner").json()
    links = {link["rel"]: link["href"] for link in body["links"]}
    assert "offset=50" in links["prev"] and "offset=150" in links["next"]
    first = api.get("/collections/households/items?limit=150", "planner").json()
    assert [f["id"] for f in body["features"]] == [f["id"] for f in first["features"][100:]]


def test_limit_is_clamped(api: Api) -> None:
    services_of(api).settings.max_page_size = 40
    body = api.get("/collections/households/items?limit=100000", "admin").json()
    assert body["numberReturned"] == 40
    assert body["numberMatched"] > 40


def test_bbox_filter_matches_shapely(api: Api) -> None:
    everything = all_items(api, "planner", "households", 1000)
    box = (37.635, -1.91, 37.65, -1.895)
    expected = {
        f["id"]
        for f in everything
        if shapely.intersects(shapely.from_geojson(_dumps(f["geometry"])), shapely.box(*box))
    }
    assert expected and len(expected) < len(everything)
    got = all_items(api, "planner", "households", 137, bbox=",".join(map(str, box)))
    assert {f["id"] for f in got} == expected


def test_properties_filter(api: Api) -> None:
    body = api.get(
        "/collections/households/items?limit=5&properties=household_size,settlement_id", "planner"
    ).json()
    for feature in check_feature_collection(body):
        assert set(feature["properties"]) == {"household_size", "settlement_id"}


def test_settlement_and_round_filters(api: Api) -> None:
    body = api.get("/collections/households/items?settlement=mtoni&limit=1000", "planner").json()
    assert body["numberMatched"] > 0
    assert {f["properties"]["settlement_id"] for f in body["features"]} == {"mtoni"}
    body = api.get("/collections/households/items?round=2024-02-05&limit=1", "planner").json()
    assert body["numberMatched"] == len(visible_fids(api, "planner", "households"))
    body = api.get("/collections/households/items?round=1999&limit=1", "planner").json()
    assert body["numberMatched"] == 0 and body["features"] == []


def test_single_item(api: Api) -> None:
    fid = min(visible_fids(api, "planner", "households"))
    response = api.get(f"/collections/households/items/{fid}", "planner")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    body = response.json()
    assert body["type"] == "Feature" and body["id"] == fid
    assert body["geometry"]["type"] == "Point"
    assert api.get("/collections/households/items/999999", "planner").status_code == 404


def test_csv_output(api: Api) -> None:
    response = api.get("/collections/households/items?limit=20&f=csv", "fed_a")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 20
    assert {"fid", "lon", "lat", "head_name", "settlement_id"} <= set(rows[0])
    assert all(-5 < float(r["lat"]) < 5 and 30 < float(r["lon"]) < 45 for r in rows)
    # phone numbers start with "+": a spreadsheet would run them as formulas
    assert all(r["phone"].startswith("'+") for r in rows if r["phone"])
    by_accept = api.client.get(
        "/collections/streets/items?limit=3",
        headers={**api.headers("planner"), "Accept": "text/csv"},
    )
    assert by_accept.headers["content-type"].startswith("text/csv")
    assert "wkt" in next(csv.reader(io.StringIO(by_accept.text)))


def test_members_has_null_geometry(api: Api) -> None:
    body = api.get("/collections/members/items", "admin").json()
    check_feature_collection(body)
    assert all(f["geometry"] is None for f in body["features"])


# -------------------------------------------------------------------------------- access
@pytest.mark.parametrize("who", ["public", "planner", "mel", "fed_b"])
def test_unpublished_settlements_stay_hidden(api: Api, who: str) -> None:
    settlements = all_items(api, who, "settlements", 100)
    ids = {f["properties"]["settlement_id"] for f in settlements}
    hidden = HIDDEN_FROM_OTHERS - ({"kijiji_kipya"} if who == "fed_b" else set())
    assert ids and not ids & hidden
    for layer in ("service_points", "projects"):
        features = all_items(api, who, layer, 100)
        assert not {f["properties"]["settlement_id"] for f in features} & hidden
    for settlement in hidden:
        response = api.get(f"/collections/settlements/items?settlement={settlement}", who)
        assert response.status_code == 404


def test_planner_households_without_personal_data(api: Api) -> None:
    features = all_items(api, "planner", "households", 500)
    settlements = {f["properties"]["settlement_id"] for f in features}
    assert "mtoni" in settlements and not settlements & HIDDEN_FROM_OTHERS
    for f in features:
        assert not PERSONAL & set(f["properties"])
        assert "attributes" not in f["properties"] and "source_sha256" not in f["properties"]
    response = api.get("/collections/households/items?properties=head_name", "planner")
    assert response.status_code == 400
    fid = min(visible_fids(api, "admin", "households") - visible_fids(api, "planner", "households"))
    assert api.get(f"/collections/households/items/{fid}", "planner").status_code == 404


def test_federation_sees_own_households_with_personal_fields(api: Api) -> None:
    features = all_items(api, "fed_a", "households", 500)
    settlements = {f["properties"]["settlement_id"] for f in features}
    assert settlements == {"mtoni", "bonde_la_nyota"}
    assert all(set(f["properties"]) >= PERSONAL for f in features)
    assert any(f["properties"]["head_name"] for f in features)
    assert all("attributes" in f["properties"] for f in features)
    response = api.get("/collections/households/items?settlement=kijiji_kipya", "fed_a")
    assert response.status_code == 404
    assert api.get("/collections/households/items?settlement=atlantis", "fed_a").status_code == 404
    fid = min(visible_fids(api, "fed_b", "households"))
    assert api.get(f"/collections/households/items/{fid}", "fed_a").status_code == 404
    own = min(visible_fids(api, "fed_a", "households"))
    body = api.get(f"/collections/households/items/{own}", "fed_a").json()
    assert set(body["properties"]) >= PERSONAL


def test_household_reads_are_audited(api: Api) -> None:
    db = services_of(api).db
    before = len(db.audit_log(limit=1000))
    api.get("/collections/households/items?limit=3", "planner")
    fid = min(visible_fids(api, "planner", "households"))
    api.get(f"/collections/households/items/{fid}", "planner")
    log = db.audit_log(limit=1000)
    assert len(log) == before + 2
    items_line, item_line = log[1], log[0]
    assert items_line["action"] == "read" and items_line["role"] == "planner"
    assert items_line["resource"] == "collections/households/items"
    assert items_line["detail"]["limit"] == "3"
    assert item_line["detail"]["fid"] == fid
    api.get("/collections/service_points/items?limit=3", "planner")
    assert len(db.audit_log(limit=1000)) == before + 2


# -------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "bbox", ["1,2,3", "a,b,c,d", "10,10,0,0", "0,-100,1,1", "1,2,3,4,5,6", "nan,0,1,1"]
)
def test_bad_bbox_is_400(api: Api, bbox: str) -> None:
    response = api.get(f"/collections/service_points/items?bbox={bbox}", "public")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert "bbox" in response.json()["detail"]


def test_unknown_collection_is_404(api: Api) -> None:
    for path in ("/collections/roads", "/collections/roads/items", "/collections/roads/items/1"):
        response = api.get(path, "admin")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"


def test_unknown_property_and_parameter_are_400(api: Api) -> None:
    response = api.get("/collections/service_points/items?properties=nope", "public")
    assert response.status_code == 400 and "nope" in response.json()["detail"]
    response = api.get("/collections/service_points/items?colour=red", "public")
    assert response.status_code == 400 and "colour" in response.json()["detail"]


def test_openapi_documents_every_endpoint(api: Api) -> None:
    spec = api.get("/openapi.json", "public").json()
    for path in (
        "/",
        "/conformance",
        "/collections",
        "/collections/{collection_id}",
        "/collections/{collection_id}/items",
        "/collections/{collection_id}/items/{feature_id}",
    ):
        operation = spec["paths"][path]["get"]
        assert operation["summary"] and operation["description"]
        content = operation["responses"]["200"]["content"]
        assert any("example" in c for c in content.values()), path


def test_geojson_bytes_equal_the_feature_dicts(api: Api) -> None:
    """The columnar serialiser writes exactly what per-feature dicts through orjson give."""
    import orjson  # noqa: PLC0415

    from geo_service.api.geojson import feature_collection_bytes, features  # noqa: PLC0415

    store = services_of(api).store
    for layer in ("households", "members", "settlements", "structures"):
        frame = store.read_layer(layer, include_personal=True)
        expected = {"type": "FeatureCollection", "numberMatched": 1, "features": features(frame)}
        got = feature_collection_bytes(frame, {"numberMatched": 1})
        option = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
        assert got == orjson.dumps(expected, option=option), layer
