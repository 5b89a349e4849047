"""The indicator API on the demo city: values, audiences, suppression, profiles, targets.

Expected values are recomputed here from the stored households with
:func:`profiling.indicators.roll_up`, so the service's joins and filters are checked against
the library, and the audience rules (hidden settlements left out of the computation, small
cells blanked) against their definition.
"""

from __future__ import annotations

import io
import time
from urllib.parse import quote

import pandas as pd
import pytest

from geo_service.indicator_service import CACHE
from geo_service.storage import open_store
from profiling.indicators import DEFAULT_REGISTRY, PERSONAL_COLUMNS, catalogue_records, roll_up
from tests.service.api.conftest import Api

CITY = quote("Mto Mji")
HIDDEN = {"bonde_la_nyota", "kijiji_kipya"}
"""Unpublished settlements (owned by fed_a and fed_b): hidden from public, MEL, planners."""


def _households(api: Api) -> pd.DataFrame:
    with open_store(api.settings) as store:
        frame = store.read_layer("households")
    return pd.DataFrame(frame.drop(columns="geometry"))


def _rows(api: Api, who: str, **params: object) -> pd.DataFrame:
    response = api.get(f"/cities/{CITY}/indicators", who, params=params)
    assert response.status_code == 200, response.text
    return pd.DataFrame(response.json()["rows"])


def _city_row(rows: pd.DataFrame, indicator_id: str) -> pd.Series:
    chosen = rows[rows["indicator_id"] == indicator_id]
    assert len(chosen) == 1
    return chosen.iloc[0]


def test_catalogue_and_cities(api: Api) -> None:
    response = api.get("/indicators", "public")
    assert response.status_code == 200
    assert {r["id"] for r in response.json()} == {r["id"] for r in catalogue_records()}
    assert len(response.json()) == len(catalogue_records())
    cities = api.get("/cities", "public").json()
    assert {"city": "Mto Mji"} in cities


def test_unknown_city_and_indicator(api: Api) -> None:
    response = api.get("/cities/Atlantis/indicators", "admin")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    response = api.get(f"/cities/{CITY}/indicators", "admin", params={"indicator": "nope"})
    assert response.status_code == 422 and "nope" in response.json()["detail"]


@pytest.mark.parametrize("indicator_id", ["sdg_11_1_1_slum_population", "sdg_6_1_1_basic_water"])
def test_admin_city_values_equal_direct_roll_up(api: Api, indicator_id: str) -> None:
    rows = _rows(api, "admin", indicator=indicator_id)
    expected = roll_up(_households(api), DEFAULT_REGISTRY.get(indicator_id), by=())
    got = _city_row(rows, indicator_id)
    want = expected.iloc[0]
    for column in ("numerator", "denominator", "n_units", "unknown"):
        assert got[column] == want[column]
    assert got["value"] == pytest.approx(want["value"], abs=1e-12)
    assert "suppressed" not in rows.columns
    # per settlement, too
    per = _rows(api, "admin", indicator=indicator_id, disaggregate="settlement")
    direct = roll_up(_households(api), DEFAULT_REGISTRY.get(indicator_id), by=["settlement_id"])
    merged = per.merge(direct, on="settlement_id", suffixes=("", "_want"))
    assert len(merged) == len(direct) == 6
    assert (merged["numerator"] == merged["numerator_want"]).all()
    assert (merged["denominator"] == merged["denominator_want"]).all()


def test_public_leaves_unpublished_settlements_out_of_the_computation(api: Api) -> None:
    households = _households(api)
    admin = _city_row(_rows(api, "admin", indicator="people_count"), "people_count")
    for who in ("public", "mel", "planner"):
        city = _city_row(_rows(api, who, indicator="people_count"), "people_count")
        hidden_people = households.loc[households["settlement_id"].isin(HIDDEN), "household_size"]
        assert city["denominator"] == admin["denominator"] - hidden_people.sum()
        everything = pd.concat(
            [_rows(api, who, disaggregate=d) for d in ("settlement", "sex", "tenure")]
        )
        assert not set(everything["settlement_id"].dropna()) & HIDDEN
        body = api.get(f"/cities/{CITY}/indicators", who, params={"format": "csv"}).text
        assert not any(s in body for s in HIDDEN)
    # fed_a sees its own unpublished settlement but not fed_b's
    own = _rows(api, "fed_a", disaggregate="settlement")
    assert "bonde_la_nyota" in set(own["settlement_id"])
    assert "kijiji_kipya" not in set(own["settlement_id"])


def test_small_cells_are_suppressed_with_a_reason(api: Api) -> None:
    k = api.settings.small_cell_k
    for who in ("public", "mel"):
        rows = _rows(api, who, disaggregate="migration")
        small = rows[rows["suppressed"] != ""]
        assert len(small) > 0
        assert small["value"].isna().all() and small["numerator"].isna().all()
        assert set(small["suppressed"]) <= {
            f"fewer than {k} households",
            "complementary",
            f"fewer than {k} households; total also identifies it",
        }
        published = rows[rows["suppressed"] == ""]
        assert (published["n_units"] >= k).all()
    admin = _rows(api, "admin", disaggregate="migration")
    assert admin["value"].notna().sum() > 0 and (admin["n_units"] < k).any()


def test_sex_rows_add_up_to_the_city(api: Api) -> None:
    indicator_id = "sdg_11_1_1_slum_population"
    city = _city_row(_rows(api, "admin", indicator=indicator_id), indicator_id)
    by_sex = _rows(api, "admin", indicator=indicator_id, disaggregate="sex")
    assert {"settlement_id", "head_sex"} <= set(by_sex.columns)
    assert by_sex["numerator"].sum() == city["numerator"]
    assert by_sex["denominator"].sum() == city["denominator"]
    assert by_sex["n_units"].sum() == city["n_units"]


def test_csv_has_no_personal_columns(api: Api) -> None:
    response = api.get(f"/cities/{CITY}/indicators", "public", params={"format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    table = pd.read_csv(io.StringIO(response.text))
    assert {"indicator_id", "value", "numerator", "denominator", "suppressed"} <= set(table.columns)
    assert not set(table.columns) & PERSONAL_COLUMNS
    assert "grouping" not in table.columns and "family" not in table.columns
    json_rows = _rows(api, "public")
    assert len(table) == len(json_rows)


def test_profiles(api: Api) -> None:
    mtoni = api.get("/settlements/mtoni/profile", "public")
    assert mtoni.status_code == 200
    body = mtoni.json()
    assert body["source"] == "enumeration" and body["round"] == "2024-02-05"
    households = _households(api)
    own = households[households["settlement_id"] == "mtoni"]
    assert body["population"]["value"] == own["household_size"].sum()
    assert body["households"]["value"] == len(own)
    assert set(body["hazard_exposure"]) <= {"none", "low", "medium", "high", "unknown"}
    exposed = [c["value"] for c in body["hazard_exposure"].values() if c["value"] is not None]
    assert sum(exposed) <= body["population"]["value"]
    assert 0 <= body["deprivations"]["slum_household"]["value"] <= 1
    assert body["services"]["taps_working"]["value"] > 0
    assert api.get("/settlements/bonde_la_nyota/profile", "public").status_code == 404
    assert api.get("/settlements/bonde_la_nyota/profile", "fed_b").status_code == 404
    assert api.get("/settlements/bonde_la_nyota/profile", "fed_a").status_code == 200
    assert api.get("/settlements/nowhere/profile", "admin").status_code == 404
    gulioni = api.get("/settlements/gulioni/profile", "public").json()
    assert gulioni["source"] == "profile"
    assert gulioni["population"]["value"] == 5250
    assert gulioni["services"]["taps_working"]["value"] == 4


def test_targets_and_progress(api: Api) -> None:
    path = f"/cities/{CITY}/targets"
    target = {
        "indicator_id": "sdg_6_1_1_basic_water",
        "group": "",
        "baseline": 0.5,
        "baseline_year": 2020,
        "target": 0.95,
        "target_year": 2030,
    }
    assert api.client.put(path, json=[target]).status_code == 401
    planner = api.client.put(path, json=[target], headers=api.headers("planner"))
    assert planner.status_code == 403
    bad = api.client.put(
        path, json=[{**target, "indicator_id": "no_such"}], headers=api.headers("mel")
    )
    assert bad.status_code == 422 and "no_such" in bad.json()["detail"]
    stored = api.client.put(path, json=[target], headers=api.headers("mel"))
    assert stored.status_code == 200
    got = api.get(path, "planner").json()
    assert len(got) == 1 and got[0]["target"] == 0.95 and got[0]["set_at"]
    assert api.get(path, "public").status_code == 401
    progress = api.get(f"/cities/{CITY}/progress", "mel").json()
    assert len(progress) == 1
    mel_city = _city_row(
        _rows(api, "mel", indicator="sdg_6_1_1_basic_water"), "sdg_6_1_1_basic_water"
    )
    expected = (mel_city["value"] - 0.5) / (0.95 - 0.5)
    assert progress[0]["progress"] == pytest.approx(expected)
    assert progress[0]["value"] == pytest.approx(mel_city["value"])


def test_second_request_is_cached(api: Api) -> None:
    path = f"/cities/{CITY}/indicators"
    params = {"disaggregate": "sex"}
    first = api.get(path, "public", params=params)
    computations = CACHE.computations
    timings = []
    for _ in range(20):
        start = time.perf_counter()
        again = api.get(path, "public", params=params)
        timings.append(time.perf_counter() - start)
        assert again.content == first.content
    assert CACHE.computations == computations
    assert sorted(timings)[len(timings) // 2] < 0.02
