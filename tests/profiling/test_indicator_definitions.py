"""Tier II, exposure and access definitions, adults from the roster, the all-indicator table."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from profiling import deprivation
from profiling.indicators import (
    DEFAULT_REGISTRY,
    adults_from_members,
    indicator_table,
    roll_up,
)
from tests.profiling.test_indicator_registry import households

STAMP = datetime(2026, 1, 1, tzinfo=UTC)


def _row(frame: pd.DataFrame, indicator_id: str, **options: object) -> pd.Series:
    return roll_up(frame, DEFAULT_REGISTRY.get(indicator_id), by=(), **options).iloc[0]


def test_hazard_exposure_by_hand() -> None:
    # slum: no, yes (mud walls), yes (bucket), yes (mud); classes high, high, low, unknown
    hh = households(
        {}, {"wall_material": "mud"}, {"sanitation": "bucket"}, {"wall_material": "mud"},
        sizes=[4, 3, 5, 2],
    )  # fmt: skip
    hh["hazard_class"] = ["high", "high", "low", None]
    share = _row(hh, "slum_population_in_high_hazard")
    # universe: slum households 2, 3, 4; known class: 2 (high, 3 people), 3 (low, 5 people)
    assert (share["numerator"], share["denominator"]) == (3, 8)
    assert (share["n_units"], share["unknown"]) == (3, 1)
    exposed = _row(hh, "people_in_hazard_class")
    assert exposed["value"] == 4 + 3 and exposed["ci_method"] == "census_exact"
    medium = _row(hh, "people_in_hazard_class", parameters={"min_class": "low"})
    assert medium["value"] == 4 + 3 + 5
    by_class = roll_up(hh, DEFAULT_REGISTRY.get("people_count"), by=("hazard_class",))
    classes = by_class["hazard_class"].astype(object).fillna("NA")
    got = dict(zip(classes, by_class["value"], strict=True))
    assert got == {"high": 7, "low": 5, "NA": 2}
    with pytest.raises(ValueError, match="min_class"):
        _row(hh, "people_in_hazard_class", parameters={"min_class": "extreme"})


def test_access_thresholds_prefer_walking_distance() -> None:
    hh = households({}, {}, {}, {}, sizes=[1, 2, 3, 4])
    hh["water_point_m"] = [100.0, 450.0, 600.0, np.nan]
    row = _row(hh, "access_water_point_within")
    assert (row["numerator"], row["denominator"], row["unknown"]) == (3, 6, 1)
    hh["water_point_network_m"] = [100.0, 700.0, 600.0, 300.0]  # walking is longer
    row = _row(hh, "access_water_point_within")
    assert (row["numerator"], row["denominator"]) == (1 + 4, 10)
    hh["toilet_m"] = [10.0, 50.0, 50.1, math.inf]  # inf: no toilet at all
    row = _row(hh, "access_toilet_within")
    assert (row["numerator"], row["denominator"], row["unknown"]) == (1 + 2, 10, 0)


def test_hygiene_waste_and_safely_managed_by_hand() -> None:
    hh = households(
        {"handwashing": "fixed", "handwashing_water": True, "handwashing_soap": True,
         "waste_disposal": "collected_door", "waste_collections_per_week": 2,
         "sanitation": "flush_sewer"},
        {"handwashing": "mobile", "handwashing_water": True, "handwashing_soap": False,
         "waste_disposal": "communal_point", "waste_collections_per_week": 0.5},
        {"handwashing": "not_observed", "waste_disposal": "burned"},
        {"handwashing": "none", "waste_disposal": "collected_door",
         "water_source": "public_tap", "water_trip_min": None, "sanitation": "bucket"},
        sizes=[2, 3, 4, 1],
    )  # fmt: skip
    hyg = _row(hh, "sdg_6_2_1_basic_hygiene")
    assert (hyg["numerator"], hyg["denominator"], hyg["unknown"]) == (2, 6, 1)
    waste = _row(hh, "sdg_11_6_1_waste_collected")  # the 4th: frequency unknown
    assert (waste["numerator"], waste["denominator"], waste["unknown"]) == (2, 9, 1)
    # public tap with unknown trip: basic unknown, but certainly not safely managed
    water = _row(hh, "sdg_6_1_1_safely_managed_water")
    assert (water["numerator"], water["denominator"], water["unknown"]) == (9, 10, 0)
    assert _row(hh, "sdg_6_1_1_basic_water")["unknown"] == 1
    # basic: households 1-3 (2 + 3 + 4 people); sewer 60 % treated, on-site 50 % safe
    san = _row(
        hh,
        "sdg_6_2_1_safely_managed_sanitation",
        parameters={"sewer_safely_managed_share": 0.6, "onsite_safely_managed_share": 0.5},
    )
    assert san["numerator"] == pytest.approx(2 * 0.6 + 3 * 0.5 + 4 * 0.5)
    assert san["denominator"] == 10
    assert math.isnan(san["ci_low"])  # non-binary values: no Wilson interval


def test_one_deprivation_is_exact() -> None:
    hh = households(
        {}, {"wall_material": "mud"}, {"wall_material": "mud", "sanitation": "bucket"},
        {"wall_material": "mud", "tenure_document": None, "tenure_type": None},
        {"tenure_document": None, "tenure_type": None},
        sizes=[1, 2, 4, 5, 6],  # 2 rooms: never overcrowded
    )  # fmt: skip
    row = _row(hh, "population_one_deprivation")
    # 1: none (False); 2: one (True); 3: two (False); 4: one + unknown (unknown);
    # 5: zero + unknown (unknown)
    assert (row["numerator"], row["denominator"], row["unknown"]) == (2, 7, 2)


def test_adults_from_members_and_adult_weighting() -> None:
    hh = households({}, {"tenure_document": "none"}, {}, sizes=[3, 2, 2])
    hh["household_id"] = ["a", "b", "c"]
    hh["adults"] = [1, 1, 2]
    members = pd.DataFrame(
        {
            "household_id": ["a", "a", "a", "b", "b"],
            "age": [30, 45, 10, 19, None],
            "sex": ["female", "male", "female", "female", "male"],
        }
    )
    out = adults_from_members(hh, members)
    assert out["adults"].tolist()[0] == 2  # roster wins over the declared 1
    assert math.isnan(out["adults"].tolist()[1])  # an age is missing: unknown, not 1
    assert out["adults"].tolist()[2] == 2  # no roster: declared answer kept
    assert out["adult_females"].tolist()[0] == 1 and out["adult_males"].tolist()[0] == 1
    row = _row(out, "sdg_1_4_2_documented_adults")
    assert (row["numerator"], row["denominator"], row["unknown"]) == (4, 4, 1)
    women = _row(out, "sdg_1_4_2_documented_adults", weight="adult_females")
    assert (women["numerator"], women["denominator"]) == (1, 1)
    assert hh["adults"].tolist() == [1, 1, 2]  # input untouched


def test_indicator_table_skips_what_is_not_joined_and_shares_deprivations(monkeypatch) -> None:
    hh = households({}, {"wall_material": "mud"}, sizes=[2, 3])
    calls = []
    real = deprivation.deprivations

    def counting(*args: object, **kwargs: object) -> pd.DataFrame:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("profiling.indicators.definitions.deprivations", counting)
    result = indicator_table(hh, computed_at=STAMP)
    assert "slum_population_in_high_hazard" in result.skipped
    assert "hazard_class" in result.skipped["people_in_hazard_class"]
    assert "access_water_point_within" in result.skipped
    computed = set(result.table["indicator_id"])
    assert "sdg_11_1_1_slum_population" in computed and "people_count" in computed
    assert computed | set(result.skipped) == {i.id for i in DEFAULT_REGISTRY}
    assert len(calls) == 1  # 11.1.1, one deprivation and 3+ share one table
    assert set(result.table["group"]) == {"", "settlement_id=S1"}
    assert (result.table["computed_at"] == "2026-01-01T00:00:00+00:00").all()
