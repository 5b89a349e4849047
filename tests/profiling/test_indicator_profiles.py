"""Settlement-profile indicators: enumerated and profile-only settlements in one table."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest

from profiling.indicators.profiles import (
    PROFILE_INDICATORS,
    PROFILE_REGISTRY,
    eviction_threatened,
    settlement_profile_table,
)
from profiling.indicators.rollup import change_between_rounds, roll_up

STAMP = datetime(2024, 3, 1, tzinfo=UTC)
ROUND = "2024-02-05"
PROFILE_DATE = "2023-11-20"


def settlements() -> pd.DataFrame:
    """A and B are enumerated (their profile counts are ignored), C is profile-only."""
    return pd.DataFrame(
        {
            "settlement_id": ["A", "B", "C"],
            "name": ["Alpha", "Beta", "Gamma"],
            "population": [999, 999, 400],
            "households": [250, 250, 100],
            "taps_total": [9, 9, 5],
            "taps_working": [9, 9, 2],
            "toilet_seats_total": [9, 9, 10],
            "toilet_seats_working": [9, 9, None],
            "legal_status": ["legal", "not_legal", "partly_legal"],
            "eviction_threat": ["none", "none", "ongoing"],
            "profile_date": [PROFILE_DATE] * 3,
        }
    )


def households() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "settlement_id": ["A", "A", "B", "B", "B"],
            "household_size": [4, 6, 5, 3, 2],
            "eviction_threat": ["notice", "none", "rumoured", "unknown", None],
            "round": [ROUND] * 5,
            "upload_id": [7, 7, 7, 8, 8],
        }
    )


def services() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "service_id": ["w1", "w2", "t1", "t2"],
            "service_type": ["water_point", "water_point", "toilet", "toilet"],
            "settlement_id": ["A", "A", "A", "B"],
            "functional": [True, False, True, True],
            "taps_total": [2, 3, None, None],
            "taps_working": [2, 0, None, None],
            "seats_total": [None, None, 6, 2],
            "seats_working": [None, None, 5, 2],
        }
    )


def table(**kwargs: object) -> pd.DataFrame:
    return settlement_profile_table(
        settlements(), households(), services(), computed_at=STAMP, **kwargs
    )


def row(t: pd.DataFrame, indicator_id: str, group: str) -> pd.Series:
    hit = t[(t["indicator_id"] == indicator_id) & (t["group"] == group)]
    assert len(hit) == 1, (indicator_id, group, len(hit))
    return hit.iloc[0]


def test_registry_holds_the_four_definitions() -> None:
    assert [i.id for i in PROFILE_REGISTRY] == [
        "people_per_working_tap",
        "people_per_working_toilet_seat",
        "people_under_eviction_threat",
        "people_in_recognised_settlements",
    ]
    assert all(i.population == "people" for i in PROFILE_INDICATORS)
    assert PROFILE_REGISTRY.get("people_per_working_tap").unit == "people per tap"
    # A ratio of sums per settlement is not a per-household value: rolling it up is refused.
    with pytest.raises(NotImplementedError):
        roll_up(households(), PROFILE_REGISTRY.get("people_per_working_tap"))


def test_people_per_working_tap_by_hand() -> None:
    t = table()
    a = row(t, "people_per_working_tap", "settlement_id=A")
    # A: 4 + 6 people, 2 working taps (the broken point adds 0): 10 / 2
    assert (a["value"], a["numerator"], a["denominator"]) == (5.0, 10.0, 2.0)
    assert (a["source"], a["round"], a["n_units"], a["unknown"]) == ("enumeration", ROUND, 2, 0)
    assert a["upload_ids"] == "7"
    b = row(t, "people_per_working_tap", "settlement_id=B")
    assert math.isinf(b["value"]) and b["denominator"] == 0.0  # 10 people, no water point
    assert b["upload_ids"] == "7,8"
    c = row(t, "people_per_working_tap", "settlement_id=C")
    assert (c["value"], c["numerator"], c["denominator"]) == (200.0, 400.0, 2.0)
    assert (c["source"], c["round"], c["n_units"]) == ("profile", PROFILE_DATE, 100)
    assert orjson.loads(c["parameters"])["count_used"] == "taps_working"
    city = row(t, "people_per_working_tap", "")
    # City: (10 + 10 + 400) people / (2 + 0 + 2) taps
    assert city["value"] == pytest.approx(420 / 4)
    assert (city["numerator"], city["denominator"]) == (420.0, 4.0)
    assert city["source"] == "enumeration+profile"
    assert (city["round"], city["rounds"]) == (ROUND, f"{PROFILE_DATE},{ROUND}")
    assert (city["n_units"], city["ci_method"]) == (105, "none")
    assert city["upload_ids"] == "7,8"
    assert np.isnan(city["ci_low"])


def test_toilet_seats_fall_back_on_total_and_say_so() -> None:
    t = table()
    assert row(t, "people_per_working_toilet_seat", "settlement_id=A")["value"] == 2.0
    assert row(t, "people_per_working_toilet_seat", "settlement_id=B")["value"] == 5.0
    c = row(t, "people_per_working_toilet_seat", "settlement_id=C")
    assert (c["value"], c["denominator"]) == (40.0, 10.0)  # 400 / toilet_seats_total
    assert orjson.loads(c["parameters"])["count_used"] == "toilet_seats_total"
    city = row(t, "people_per_working_toilet_seat", "")
    assert city["value"] == pytest.approx(420 / 17)
    assert orjson.loads(city["parameters"])["count_total_used_for"] == ["C"]
    without = table(parameters={"people_per_working_toilet_seat": {"fallback_to_total": False}})
    c = row(without, "people_per_working_toilet_seat", "settlement_id=C")
    assert np.isnan(c["value"]) and c["unknown"] == 100
    # C has no known seat count: the city is A and B only
    city = row(without, "people_per_working_toilet_seat", "")
    assert city["value"] == pytest.approx(20 / 7)


def test_eviction_threat_by_hand() -> None:
    t = table()
    a = row(t, "people_under_eviction_threat", "settlement_id=A")
    assert (a["value"], a["numerator"], a["denominator"]) == (0.4, 4.0, 10.0)
    b = row(t, "people_under_eviction_threat", "settlement_id=B")
    # rumoured is 'low': not threatened at min_level high; unknown and missing are left out
    assert (b["value"], b["numerator"], b["denominator"], b["unknown"]) == (0.0, 0.0, 5.0, 2)
    c = row(t, "people_under_eviction_threat", "settlement_id=C")  # ongoing -> everyone
    assert (c["value"], c["numerator"], c["denominator"]) == (1.0, 400.0, 400.0)
    city = row(t, "people_under_eviction_threat", "")
    assert city["value"] == pytest.approx(404 / 415)
    assert city["unknown"] == 2
    low = table(parameters={"people_under_eviction_threat": {"min_level": "low"}})
    assert row(low, "people_under_eviction_threat", "settlement_id=B")["value"] == 1.0
    assert orjson.loads(row(low, "people_under_eviction_threat", "")["parameters"]) == {
        "min_level": "low"
    }


def test_recognised_settlements_by_hand() -> None:
    t = table()
    assert row(t, "people_in_recognised_settlements", "settlement_id=A")["value"] == 1.0
    assert row(t, "people_in_recognised_settlements", "settlement_id=B")["value"] == 0.0
    assert row(t, "people_in_recognised_settlements", "settlement_id=C")["value"] == 0.0
    assert row(t, "people_in_recognised_settlements", "")["value"] == pytest.approx(10 / 420)
    wide = table(parameters={"people_in_recognised_settlements": {"include_partial": True}})
    assert row(wide, "people_in_recognised_settlements", "settlement_id=C")["value"] == 1.0
    city = row(wide, "people_in_recognised_settlements", "")
    assert city["value"] == pytest.approx(410 / 420)


def test_enumeration_rows_equal_roll_up() -> None:
    t = table()
    hh = households()
    for indicator_id, units in (
        ("people_under_eviction_threat", hh),
        (
            "people_in_recognised_settlements",
            hh.assign(legal_status=hh["settlement_id"].map({"A": "legal", "B": "not_legal"})),
        ),
    ):
        expected = roll_up(units, PROFILE_REGISTRY.get(indicator_id), computed_at=STAMP)
        got = t[(t["indicator_id"] == indicator_id) & (t["source"] == "enumeration")]
        pd.testing.assert_frame_equal(
            got[expected.columns].reset_index(drop=True),
            expected.reset_index(drop=True),
            check_dtype=False,
        )


def test_infinity_nan_and_unknown_profiles() -> None:
    s = pd.DataFrame(
        {
            "settlement_id": ["P0", "P1", "P2", "P3"],
            "population": [0, 300, None, 200],
            "households": [0, 70, 50, None],
            "taps_working": [3, 0, 4, 1],
            "legal_status": ["legal", "unknown", "legal", "bogus"],
            "eviction_threat": ["notice", "unknown", None, "notice"],
            "profile_date": ["2023-11-20", "2023-11-20T09:30:00", None, "not a date"],
        }
    )
    t = settlement_profile_table(s, computed_at=STAMP)
    taps = t[t["indicator_id"] == "people_per_working_tap"].set_index("group")
    assert np.isnan(taps.loc["settlement_id=P0", "value"])  # no people
    assert math.isinf(taps.loc["settlement_id=P1", "value"])  # people, no working tap
    assert np.isnan(taps.loc["settlement_id=P2", "value"])  # people unknown
    assert taps.loc["settlement_id=P2", "unknown"] == 50
    assert taps.loc["settlement_id=P3", "value"] == 200.0
    assert taps.loc["settlement_id=P3", "n_units"] == 0  # household count missing
    # City: P0, P1 and P3 have both counts: (0 + 300 + 200) / (3 + 0 + 1)
    assert taps.loc["", "value"] == pytest.approx(500 / 4)
    assert taps.loc["", "source"] == "profile"
    rounds = taps["round"].astype(object).where(taps["round"].notna(), None).tolist()
    assert rounds == ["2023-11-20", "2023-11-20", "2023-11-20", None, None]

    legal = t[t["indicator_id"] == "people_in_recognised_settlements"].set_index("group")
    p1 = legal.loc["settlement_id=P1"]  # status 'unknown': out of the denominator
    assert np.isnan(p1["value"]) and (p1["numerator"], p1["denominator"]) == (0.0, 0.0)
    assert p1["unknown"] == 70
    assert np.isnan(legal.loc["settlement_id=P3", "value"])  # code outside the list
    assert np.isnan(legal.loc["settlement_id=P2", "value"])  # population unknown
    assert np.isnan(legal.loc["settlement_id=P0", "value"])  # nobody lives there
    assert np.isnan(legal.loc["", "value"])  # no known person at all
    evict = t[t["indicator_id"] == "people_under_eviction_threat"].set_index("group")
    assert evict.loc["settlement_id=P3", "value"] == 1.0
    assert np.isnan(evict.loc["settlement_id=P2", "value"])  # no code
    assert evict.loc["settlement_id=P2", "unknown"] == 50
    assert evict.loc["", "value"] == 1.0  # 200 / 200: P1, P2 unknown, P0 empty


def test_city_without_any_working_tap_is_infinite() -> None:
    s = pd.DataFrame({"settlement_id": ["X", "Y"], "population": [100, 50], "taps_working": [0, 0]})
    t = settlement_profile_table(s, computed_at=STAMP)
    city = row(t, "people_per_working_tap", "")
    assert math.isinf(city["value"]) and (city["numerator"], city["denominator"]) == (150.0, 0.0)
    nobody = settlement_profile_table(s.assign(population=0), computed_at=STAMP)
    assert np.isnan(row(nobody, "people_per_working_tap", "")["value"])


def test_empty_households_means_every_settlement_uses_its_profile() -> None:
    empty = pd.DataFrame({"settlement_id": [], "household_size": []})
    t = settlement_profile_table(settlements(), empty, services(), computed_at=STAMP)
    assert set(t["source"]) == {"profile"}
    assert len(t) == 4 * 4  # 3 settlements + the city, per indicator
    assert row(t, "people_per_working_tap", "settlement_id=A")["value"] == 999 / 9
    same = settlement_profile_table(settlements(), None, computed_at=STAMP)
    pd.testing.assert_frame_equal(t, same)


def test_without_services_enumerated_ratios_are_unknown() -> None:
    t = settlement_profile_table(settlements(), households(), None, computed_at=STAMP)
    a = row(t, "people_per_working_tap", "settlement_id=A")
    assert np.isnan(a["value"]) and a["unknown"] == 2
    assert row(t, "people_per_working_tap", "")["value"] == 200.0  # C alone


def test_boolean_household_answers_and_helper() -> None:
    hh = households().assign(eviction_threat=pd.array([True, False, None, True, False]))
    t = settlement_profile_table(settlements(), hh, services(), computed_at=STAMP)
    assert row(t, "people_under_eviction_threat", "settlement_id=A")["value"] == 0.4
    assert row(t, "people_under_eviction_threat", "settlement_id=B")["value"] == 0.6
    with pytest.raises(ValueError, match="min_level"):
        eviction_threatened(hh, min_level="medium")


def test_rounds_and_change_between_rounds() -> None:
    second = households().assign(round="2025-02-05", household_size=[4, 6, 5, 5, 5])
    second.loc[1, "eviction_threat"] = "notice"
    t = settlement_profile_table(
        settlements(), pd.concat([households(), second]), services(), computed_at=STAMP
    )
    a = t[(t["indicator_id"] == "people_under_eviction_threat") & (t["group"] == "settlement_id=A")]
    assert a["round"].tolist() == [ROUND, "2025-02-05"]
    change = change_between_rounds(a)
    assert change["change"].tolist() == [pytest.approx(0.6)]
    city = row(t, "people_per_working_tap", "")
    # Latest row per settlement: A 10, B 15 people (2025), C 400
    assert (city["numerator"], city["round"]) == (425.0, "2025-02-05")


def test_refusals() -> None:
    doubled = pd.concat([settlements(), settlements().iloc[:1]])
    with pytest.raises(ValueError, match="duplicate settlement_id"):
        settlement_profile_table(doubled)
    with pytest.raises(KeyError, match="no profile indicator"):
        settlement_profile_table(settlements(), parameters={"nope": {}})
    with pytest.raises(KeyError, match="no parameter"):
        settlement_profile_table(settlements(), parameters={"people_per_working_tap": {"nope": 1}})


def test_demo_city_every_settlement_once_per_indicator(tmp_path: Path) -> None:
    from sample_data.city import PROFILE_ONLY, build_city  # noqa: PLC0415
    from sample_data.households import generate_households_csv  # noqa: PLC0415

    city = build_city(5, households=400)
    export = generate_households_csv(tmp_path / "hh.csv", 400, seed=5, city=city, errors=False)
    hh = export.households[~export.households["duplicate"]].assign(round=ROUND, upload_id=1)
    enumerated = pd.DataFrame(city.settlements.drop(columns="geometry"))
    profile_only = pd.DataFrame(
        {
            "settlement_id": [s.settlement_id for s in PROFILE_ONLY],
            "legal_status": [s.legal_status for s in PROFILE_ONLY],
            "eviction_threat": [s.eviction_threat for s in PROFILE_ONLY],
            "population": [1200, 800],
            "households": [300, 190],
            "taps_working": [4, 2],
            "toilet_seats_working": [10, 6],
            "profile_date": [PROFILE_DATE] * 2,
        }
    )
    s = pd.concat([enumerated, profile_only], ignore_index=True)
    assert len(s) == 8
    services = pd.DataFrame(city.service_points.drop(columns="geometry"))
    t = settlement_profile_table(s, hh, services, computed_at=STAMP)
    profile_ids = {p.settlement_id for p in PROFILE_ONLY}
    for indicator in PROFILE_INDICATORS:
        rows = t[t["indicator_id"] == indicator.id]
        per = rows[rows["group"] != ""]
        assert sorted(per["settlement_id"]) == sorted(s["settlement_id"])
        expected = np.where(per["settlement_id"].isin(profile_ids), "profile", "enumeration")
        assert per["source"].tolist() == expected.tolist()
        city_row = rows[rows["group"] == ""]
        assert city_row["source"].tolist() == ["enumeration+profile"]
    # Gulioni rumoured, Reli Kando notice: only Reli Kando's 800 people are under high threat
    evict = row(t, "people_under_eviction_threat", "settlement_id=reli_kando")
    assert (evict["value"], evict["numerator"]) == (1.0, 800.0)
    taps = t[(t["indicator_id"] == "people_per_working_tap") & (t["source"] == "enumeration")]
    assert np.isfinite(taps["value"]).all() and (taps["value"] > 0).all()
