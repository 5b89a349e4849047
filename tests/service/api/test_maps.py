"""HTML maps: roles, hidden settlements, no household positions for the public, escaping,
CSP, size, offline export."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from geo_service.cli import app as cli_app
from geo_service.indicator_service import CACHE
from geo_service.maps.layers import escape_series
from geo_service.settings import get_settings
from geo_service.storage import geometry_blob, open_store

CITY = "/maps/cities/Mto%20Mji"
HIDDEN = ("bonde_la_nyota", "kijiji_kipya")
CDNS = ("cdn.jsdelivr", "unpkg", "cdnjs", "code.jquery", "maxcdn", "netdna")
XSS = "<script>alert(1)</script>"
CITY_LAYERS = [  # bottom to top: hexagons below the settlements keep their tooltips hoverable
    "Flood depth",
    "Households beyond 500 m of water (hexagons)",
    "Settlements: Population living in slum households",
]


def _layers(page: str) -> list[str]:
    found = re.search(
        r'<script type="application/json" id="geo-service-map-layers">(.*?)</script>', page, re.S
    )
    assert found, "declared-layers script missing"
    return json.loads(found.group(1))


def _pairs(page: str, decimals: int) -> set[tuple[float, float]]:
    """Every number pair in the page, rounded, in both orders."""
    out: set[tuple[float, float]] = set()
    for a, b in re.findall(r"(-?\d+\.\d+),\s*(-?\d+\.\d+)", page):
        x, y = round(float(a), decimals), round(float(b), decimals)
        out |= {(x, y), (y, x)}
    return out


def _households(api) -> np.ndarray:
    with open_store(api.settings) as store:
        frame = store.read_layer("households", columns=["settlement_id"])
    return np.column_stack([frame.geometry.x, frame.geometry.y])


def _leaks(page: str, points: np.ndarray) -> dict[int, int]:
    found = {}
    for decimals in (6, 5):
        pairs = _pairs(page, decimals)
        found[decimals] = sum((round(x, decimals), round(y, decimals)) in pairs for x, y in points)
    return found


def _check_page(response) -> str:
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    page = response.text
    assert len(response.content) < 3_000_000
    for cdn in CDNS:
        assert cdn not in page, cdn
    assert 'name="geo-service-map-var"' in page
    assert "/maps/static/leaflet/leaflet.js" in page
    return page


@pytest.mark.parametrize("who", ["public", "planner"])
def test_city_map(api, who: str) -> None:
    page = _check_page(api.get(CITY, who))
    layers = _layers(page)
    assert layers[:3] == CITY_LAYERS
    assert {"Water points", "Toilets"} <= set(layers)
    for hidden in HIDDEN:
        assert hidden not in page
    assert "Mtoni" in page and "/settlements/mtoni/profile" in page


def test_public_city_map_has_no_household_coordinates(api) -> None:
    points = _households(api)
    page = api.get(CITY, "public").text
    assert _leaks(page, points) == {6: 0, 5: 0}


def test_settlement_map_household_points_by_role(api) -> None:
    points = _households(api)
    planner = _check_page(api.get("/maps/settlements/mtoni", "planner"))
    assert {"Structures: deprivation count", "Households"} <= set(_layers(planner))
    assert _leaks(planner, points)[6] > 100  # the detector works: households are there
    public = _check_page(api.get("/maps/settlements/mtoni", "public"))
    layers = _layers(public)
    assert "Households" not in layers and not any(n.startswith("Structures") for n in layers)
    assert "Households beyond 500 m of water (hexagons)" in layers
    assert _leaks(public, points) == {6: 0, 5: 0}
    assert "MTN-0" not in public  # no structure ids either
    mel = _check_page(api.get("/maps/settlements/mtoni", "mel"))
    assert "Households" not in _layers(mel)
    other = _check_page(api.get("/maps/settlements/mtoni", "fed_b"))
    assert "Households" not in _layers(other)
    owner = _check_page(api.get("/maps/settlements/mtoni?color=hazard_class", "fed_a"))
    assert "Structures: hazard class" in _layers(owner)


def test_not_found_and_bad_parameters(api) -> None:
    assert api.get("/maps/cities/Nowhere", "public").status_code == 404
    for hidden in HIDDEN:
        assert api.get(f"/maps/settlements/{hidden}", "public").status_code == 404
        assert api.get(f"/maps/settlements/{hidden}", "planner").status_code == 404
    assert api.get("/maps/settlements/bonde_la_nyota", "fed_a").status_code == 200
    assert api.get("/maps/settlements/nowhere", "admin").status_code == 404
    assert api.get(f"{CITY}?indicator=nope", "public").status_code == 400
    assert api.get("/maps/settlements/mtoni?color=nope", "public").status_code == 400


def test_indicator_selection(api) -> None:
    page = _check_page(api.get(f"{CITY}?indicator=sdg_6_1_1_basic_water", "public"))
    assert _layers(page)[2] == "Settlements: Population using at least basic drinking water"


def test_static_files_served(api) -> None:
    response = api.get("/maps/static/leaflet/leaflet.js", "public")
    assert response.status_code == 200
    assert "Leaflet" in response.text[:2000]
    assert api.get("/maps/static/../access.py", "public").status_code == 404


def edit_store(settings, statements: list[tuple[str, tuple]]) -> None:
    """Run SQL (``%s`` placeholders) on the store behind ``settings``, as an editor in QGIS or
    psql would, bypassing the service."""
    if settings.database_url is not None:
        import psycopg  # noqa: PLC0415

        url = settings.database_url.get_secret_value()
        with psycopg.connect(url, options="-c search_path=geo_service,public") as con:
            for sql, params in statements:
                con.execute(sql, params)
        return
    with closing(sqlite3.connect(settings.store_path)) as con, con:
        for name in ("ST_IsEmpty", "ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY"):
            fn = getattr(geometry_blob, name.lower().replace("st_isempty", "st_is_empty"))
            con.create_function(name, 1, fn, deterministic=True)
        for sql, params in statements:
            con.execute(sql.replace("%s", "?"), params)


def test_names_are_escaped(api) -> None:
    edit_store(
        api.settings,
        [
            ("UPDATE settlements SET name = %s WHERE settlement_id = 'mtoni'", (XSS,)),
            (
                "UPDATE service_points SET name = %s WHERE settlement_id = 'mtoni'",
                ("`${x}`" + XSS,),
            ),
        ],
    )
    CACHE.clear()
    for path in (CITY, "/maps/settlements/mtoni"):
        page = api.get(path, "public").text
        assert XSS not in page
        assert "alert(1)" in page  # it is there, escaped
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.replace("\\u0026", "&")
    CACHE.clear()


def test_escape_series() -> None:
    out = escape_series(pd.Series([XSS, None, "a&b\"'"]))
    assert out.tolist() == [
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "n/a",
        "a&amp;b&quot;&#x27;",
    ]


@pytest.fixture
def cli_store(api, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The CLI options (or environment) that point the CLI at the ``api`` store."""
    get_settings.cache_clear()
    if api.settings.database_url is None:
        yield ["--store", str(api.settings.store_path)]
    else:
        monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", api.settings.database_url.get_secret_value())
        monkeypatch.setenv("GEO_SERVICE_STORE_PATH", str(api.settings.store_path))
        yield []
    get_settings.cache_clear()


def test_cli_export_is_offline(api, cli_store: list[str], tmp_path: Path) -> None:
    dest = tmp_path / "city.html"
    result = CliRunner().invoke(cli_app, ["map", "city", "Mto Mji", "--out", str(dest), *cli_store])
    assert result.exit_code == 0, result.output
    page = dest.read_text(encoding="utf-8")
    assert "/maps/static" not in page
    assert "<script src=" not in page and "<link " not in page
    assert "Leaflet" in page and "L.map(" in page
    for cdn in CDNS:
        assert cdn not in page
    for hidden in HIDDEN:
        assert hidden not in page
    assert _leaks(page, _households(api)) == {6: 0, 5: 0}
    dest2 = tmp_path / "s.html"
    result = CliRunner().invoke(
        cli_app,
        ["map", "settlement", "mtoni", "--out", str(dest2), *cli_store, "--role", "planner"],
    )
    assert result.exit_code == 0, result.output
    assert "Households" in _layers(dest2.read_text(encoding="utf-8"))
    result = CliRunner().invoke(
        cli_app, ["map", "settlement", "kijiji_kipya", "--out", str(dest2), *cli_store]
    )
    assert result.exit_code == 2
