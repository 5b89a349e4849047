"""Hypothesis fuzzing of the read endpoints' query parameters (issue 8).

Generated parameters -- bbox with inverted, NaN, infinite, huge or non-numeric parts; negative,
huge and non-integer limit / offset; property lists with unknown names; settlement ids with
unicode and SQL-ish text; rounds; output formats -- are sent through the TestClient, as a
random role (public, planner, mel, either federation), to a small demo store built once per
module. Whatever the input:

- no response is a 5xx;
- a 4xx body is ``application/problem+json`` with a non-empty ``detail``;
- a 200 body parses (GeoJSON FeatureCollection, CSV, JSON, HTML) and holds no row of a
  settlement the role may not see (ownership and publication as in
  ``tests/service/api/conftest.py``: ``bonde_la_nyota`` (fed_a) and ``kijiji_kipya`` (fed_b)
  are unpublished).

Deterministic (``derandomize=True``); ``FUZZ_EXAMPLES=200`` runs that many random examples per
test.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient  # noqa: TID251 - the service's own test client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo_service.access import HOUSEHOLD_LEVEL_LAYERS
from geo_service.api import create_app
from geo_service.servicedb import Role, ServiceDB
from geo_service.settings import Settings
from tests.service.api.conftest import OWNED, PUBLISHED, Api

CITY = "Mto Mji"
ROLES = ["public", "planner", "mel", "fed_a", "fed_b"]
UNPUBLISHED = frozenset(OWNED) - PUBLISHED

_DEEP = os.environ.get("FUZZ_EXAMPLES")


def fuzz(examples: int) -> settings:
    """``examples`` derandomized examples, or ``FUZZ_EXAMPLES`` random ones."""
    return settings(
        max_examples=int(_DEEP) if _DEEP else examples,
        derandomize=not _DEEP,
        database=None,
        deadline=timedelta(seconds=30),  # the first request of an audience fills a cache
        suppress_health_check=[HealthCheck.too_slow],
    )


# ------------------------------------------------------------------------------ fixture


@pytest.fixture(scope="module")
def qapi(small_demo: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A copy of the session's 300-household demo store, one key per role, owners and
    publication as in the API tests; the client returns 500s instead of raising them."""
    root = tmp_path_factory.mktemp("fuzz_queries")
    shutil.copyfile(small_demo[0], root / "demo.gpkg")
    settings_ = Settings(store_path=root / "demo.gpkg", work_dir=root / "jobs")
    settings_ = Settings(
        store_path=settings_.store_path, work_dir=root / "jobs", models_dir=root / "no_models"
    )
    db = ServiceDB(settings_.service_db)
    keys = {
        "admin": db.create_key(Role.admin, label="fuzz admin")[1],
        "fed_a": db.create_key(Role.federation, org="fed_a")[1],
        "fed_b": db.create_key(Role.federation, org="fed_b")[1],
        "planner": db.create_key(Role.planner, org="city planning")[1],
        "mel": db.create_key(Role.mel, org="cities alliance")[1],
    }
    for settlement, org in OWNED.items():
        db.assign_settlement(settlement, org)
    for settlement in PUBLISHED:
        db.set_published(settlement, True, by="test")
    with TestClient(create_app(settings_), raise_server_exceptions=False) as client:
        yield Api(client=client, settings=settings_, keys=keys)


@pytest.fixture(scope="module")
def layers(qapi: Api) -> list[str]:
    body = qapi.get("/collections", "admin").json()
    names = [c["id"] for c in body["collections"]]
    assert {"settlements", "households", "service_points"} <= set(names)
    return names


def hidden(role: str, layer: str | None = None) -> frozenset[str]:
    """Settlements whose rows ``role`` must never receive (for ``layer``)."""
    if role in ("fed_a", "fed_b"):
        own = frozenset(s for s, org in OWNED.items() if org == role)
        if layer in HOUSEHOLD_LEVEL_LAYERS:
            return frozenset(OWNED) - own  # plus open-data settlements: checked below
        return UNPUBLISHED - own
    return UNPUBLISHED


# ------------------------------------------------------------------------------ checks


def check_response(response: httpx.Response) -> None:
    """No 5xx; a 4xx is problem+json with a detail."""
    assert response.status_code < 500, (response.request.url, response.text[:2000])
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json"), (
            response.headers["content-type"]
        )
        body = response.json()
        assert isinstance(body.get("detail"), str) and body["detail"].strip(), body


def check_no_hidden_text(response: httpx.Response, role: str) -> None:
    for settlement in hidden(role):
        assert settlement not in response.text, (settlement, role, response.request.url)


# ------------------------------------------------------------------------------ strategies

_WEIRD_TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "' OR 1=1 --",
            '"; DROP TABLE households; --',
            "mtoni' UNION SELECT * FROM households --",
            "%",
            "_",
            "\u202emtoni",
            "MTONI",
            "mtoni ",
            "../../etc/passwd",
            "\x00",
            "null",
        ]
    ),
)
_SETTLEMENT = st.one_of(
    st.sampled_from(["mtoni", "bonde_la_nyota", "kijiji_kipya", "zz_unknown"]), _WEIRD_TEXT
)
_NUMBER_TEXT = st.one_of(
    st.floats(-200, 200).map(repr),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "-0", "37.6", "-1.9", "", " ", "0x10"]),
    st.integers(-(10**30), 10**30).map(str),
    st.text(max_size=4),
)
_BBOX = st.one_of(
    st.lists(_NUMBER_TEXT, min_size=4, max_size=4).map(",".join),
    st.lists(_NUMBER_TEXT, max_size=7).map(",".join),
    st.tuples(
        st.floats(-180, 180), st.floats(-90, 90), st.floats(-180, 180), st.floats(-90, 90)
    ).map(lambda b: ",".join(map(repr, b))),
    st.just("37.5,-2.0,37.8,-1.7"),
)
_INT_TEXT = st.one_of(
    st.integers(-5, 400).map(str),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["1.5", "1e3", "", "abc", "NaN", "0", "9223372036854775808"]),
)
_PROPERTY = st.one_of(
    st.sampled_from(
        ["settlement_id", "household_size", "head_name", "phone", "attributes", "source_sha256"]
    ),
    st.sampled_from(["service_id", "service_type", "name", "round", "upload_id", "fid"]),
    _WEIRD_TEXT,
)


@st.composite
def items_query(draw: st.DrawFn) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    if draw(st.booleans()):
        params.append(("bbox", draw(_BBOX)))
    if draw(st.booleans()):
        params.append(("limit", draw(_INT_TEXT)))
    if draw(st.booleans()):
        params.append(("offset", draw(_INT_TEXT)))
    if draw(st.booleans()):
        params.append(("properties", ",".join(draw(st.lists(_PROPERTY, max_size=4)))))
    if draw(st.booleans()):
        params.append(("settlement", draw(_SETTLEMENT)))
    if draw(st.booleans()):
        params.append(("round", draw(st.sampled_from(["2024-02-05", "1999-01-01", "x", ""]))))
    if draw(st.booleans()):
        params.append(("f", draw(st.sampled_from(["json", "geojson", "csv", "html", "CSV", ""]))))
    if draw(st.integers(0, 9)) == 0:
        params.append((draw(st.sampled_from(["unknown", "sortby", "filter"])), "x"))
    return params


# ------------------------------------------------------------------------------ tests


@fuzz(80)
@given(data=st.data(), role=st.sampled_from(ROLES))
def test_collection_items(qapi: Api, layers: list[str], data: st.DataObject, role: str) -> None:
    """OGC items: bbox, limit, offset, properties, settlement, round, f; never a 5xx or a row
    of a settlement the role may not see."""
    collection = data.draw(st.one_of(st.sampled_from(layers), _WEIRD_TEXT), label="collection")
    params = data.draw(items_query(), label="params")
    accept = data.draw(st.sampled_from([None, "text/csv", "application/geo+json", "*/*"]))
    headers = qapi.headers(role) | ({"Accept": accept} if accept else {})
    response = qapi.client.get(
        f"/collections/{quote(collection, safe='')}/items", params=params, headers=headers
    )
    check_response(response)
    if response.status_code != 200:
        return
    not_visible = hidden(role, collection)
    if response.headers["content-type"].startswith("text/csv"):
        rows = list(csv.DictReader(io.StringIO(response.text)))
        settlements = [r.get("settlement_id") for r in rows]
    else:
        body = response.json()
        assert body["type"] == "FeatureCollection"
        assert body["numberReturned"] == len(body["features"]) <= body["numberMatched"]
        settlements = [(f.get("properties") or {}).get("settlement_id") for f in body["features"]]
    leaked = {s for s in settlements if s in not_visible}
    assert not leaked, (role, collection, params, leaked)
    if role in ("fed_a", "fed_b") and collection in HOUSEHOLD_LEVEL_LAYERS:
        own = {s for s, org in OWNED.items() if org == role}
        assert {s for s in settlements if s} <= own, (role, collection, params)


_INDICATOR_IDS = st.sampled_from(
    ["sdg_11_1_1_slum_population", "sdg_6_1_1_basic_water", "sdg_6_2_1_basic_sanitation"]
)


@fuzz(40)
@given(
    role=st.sampled_from(ROLES),
    city=st.one_of(st.just(CITY), st.just(CITY), _WEIRD_TEXT),
    indicators=st.lists(st.one_of(_INDICATOR_IDS, _WEIRD_TEXT), max_size=3),
    round_=st.one_of(st.none(), st.sampled_from(["2024-02-05", "x", ""]), _WEIRD_TEXT),
    disaggregate=st.one_of(
        st.none(),
        st.sampled_from(
            ["settlement", "sex", "tenure", "migration", "hazard_class", "project_type"]
        ),
        _WEIRD_TEXT,
    ),
    fmt=st.one_of(st.none(), st.sampled_from(["json", "csv", "geojson", "JSON"])),
)
def test_city_indicators(
    qapi: Api,
    role: str,
    city: str,
    indicators: list[str],
    round_: str | None,
    disaggregate: str | None,
    fmt: str | None,
) -> None:
    """/cities/{city}/indicators: indicator, round, disaggregate, format."""
    params = [("indicator", i) for i in indicators]
    params += [(k, v) for k, v in [("round", round_), ("disaggregate", disaggregate)] if v]
    if fmt is not None:
        params.append(("format", fmt))
    response = qapi.client.get(
        f"/cities/{quote(city, safe='')}/indicators", params=params, headers=qapi.headers(role)
    )
    check_response(response)
    if response.status_code != 200:
        return
    if response.headers["content-type"].startswith("text/csv"):
        list(csv.reader(io.StringIO(response.text)))
    else:
        body = response.json()
        assert isinstance(body["rows"], list)
        for row in body["rows"]:
            value = row.get("value")
            assert value is None or (isinstance(value, int | float) and math.isfinite(value)), row
    check_no_hidden_text(response, role)


@fuzz(30)
@given(
    role=st.sampled_from(ROLES),
    city=st.one_of(st.just(CITY), st.just(CITY), _WEIRD_TEXT),
    settlement=st.one_of(st.none(), _SETTLEMENT),
)
def test_city_blocks(qapi: Api, role: str, city: str, settlement: str | None) -> None:
    """/cities/{city}/blocks?settlement=."""
    params = {} if settlement is None else {"settlement": settlement}
    response = qapi.client.get(
        f"/cities/{quote(city, safe='')}/blocks", params=params, headers=qapi.headers(role)
    )
    check_response(response)
    if response.status_code != 200:
        return
    body = response.json()
    assert body["type"] == "FeatureCollection"
    for feature in body["features"]:
        assert feature["properties"]["settlement_id"] not in hidden(role), feature["properties"]
    check_no_hidden_text(response, role)


@fuzz(8)
@given(
    role=st.sampled_from(ROLES),
    city=st.one_of(st.just(CITY), st.just(CITY), st.just(CITY), _WEIRD_TEXT),
    indicator=st.one_of(st.none(), _INDICATOR_IDS, _WEIRD_TEXT),
)
def test_city_map(qapi: Api, role: str, city: str, indicator: str | None) -> None:
    """/maps/cities/{city}?indicator=: an HTML page or a problem, never a 5xx or a hidden
    settlement's id."""
    params = {} if indicator is None else {"indicator": indicator}
    response = qapi.client.get(
        f"/maps/cities/{quote(city, safe='')}", params=params, headers=qapi.headers(role)
    )
    check_response(response)
    if response.status_code != 200:
        return
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text.lower()
    layers = response.text.split('id="geo-service-map-layers">', 1)
    if len(layers) == 2:
        json.loads(layers[1].split("</script>", 1)[0])
    check_no_hidden_text(response, role)


def test_fixture_roles_see_different_settlements(qapi: Api) -> None:
    """The premise of the leak checks: hidden settlements exist and the admin sees them."""
    rows = qapi.get("/collections/settlements/items", "admin", params={"limit": 1000}).json()
    ids = {f["properties"]["settlement_id"] for f in rows["features"]}
    assert ids >= UNPUBLISHED
    public = qapi.get("/collections/settlements/items", "public", params={"limit": 1000}).json()
    assert not UNPUBLISHED & {f["properties"]["settlement_id"] for f in public["features"]}
