"""Indicator registry: definitions, parameters, default indicators on hand-made households."""

from __future__ import annotations

from pathlib import Path

import orjson
import pandas as pd
import pytest

from profiling.indicators import DEFAULT_REGISTRY, Indicator, Registry
from profiling.indicators.catalogue import all_indicators, definitions_markdown, readme_section

GOOD = {  # a household deprived of nothing (all five known)
    "water_source": "piped_dwelling",
    "water_available": True,
    "sanitation": "pit_slab",
    "toilet_shared": False,
    "sleeping_rooms": 2,
    "wall_material": "cement_blocks",
    "roof_material": "iron_sheets",
    "floor_material": "cement",
    "tenure_document": "title_deed",
    "tenure_secure_perceived": True,
}


def households(*changes: dict[str, object], sizes: list[int]) -> pd.DataFrame:
    rows = [{**GOOD, **c, "household_size": s} for c, s in zip(changes, sizes, strict=True)]
    frame = pd.DataFrame(rows, index=[f"h{i}" for i in range(len(rows))])
    frame["settlement_id"] = "S1"
    frame["round"] = "2024-01-01"
    return frame


def test_default_registry_holds_the_core_definitions() -> None:
    ids = {i.id for i in DEFAULT_REGISTRY}
    assert {
        "sdg_11_1_1_slum_population",
        "households_three_plus_deprivations",
        "sdg_6_1_1_basic_water",
        "sdg_6_2_1_basic_sanitation",
        "sdg_1_4_2_documented",
        "sdg_1_4_2_perceived",
    } <= ids
    slum = DEFAULT_REGISTRY.get("sdg_11_1_1_slum_population")
    assert slum.population == "people"
    assert "adults" in DEFAULT_REGISTRY.get("sdg_1_4_2_documented").description


def test_records_are_plain_json() -> None:
    records = DEFAULT_REGISTRY.to_records()
    assert len(records) == len(DEFAULT_REGISTRY)
    text = orjson.dumps(records)  # raises on anything not plain data
    first = orjson.loads(text)[0]
    assert first["parameters"]["crowding_threshold"] == 3
    assert first["population_size_column"] == "household_size"
    assert "slum_household" in first["numerator"]


def test_register_get_and_duplicates() -> None:
    reg = Registry()
    ind = Indicator("x", "X", "d", "test", "share", "households", "flag", "known", version="2")
    reg.register(ind)
    assert reg.get("x") is ind
    assert "x" in reg
    assert list(reg) == [ind]
    with pytest.raises(ValueError, match="already registered"):
        reg.register(ind)
    reg.register(ind, replace=True)
    with pytest.raises(KeyError, match="known"):
        reg.get("nope")


def test_bad_population_and_parameter_refused() -> None:
    with pytest.raises(ValueError, match="population"):
        Indicator("x", "X", "d", "t", "share", "families", "flag", "known")  # type: ignore[arg-type]
    slum = DEFAULT_REGISTRY.get("sdg_11_1_1_slum_population")
    with pytest.raises(KeyError, match="no parameter"):
        slum.resolve_parameters({"crowding": 2})


def test_parameters_are_read_only_and_overridable() -> None:
    slum = DEFAULT_REGISTRY.get("sdg_11_1_1_slum_population")
    with pytest.raises(TypeError):
        slum.parameters["crowding_threshold"] = 2  # type: ignore[index]
    assert slum.resolve_parameters({"crowding_threshold": 2})["crowding_threshold"] == 2
    assert slum.parameters["crowding_threshold"] == 3


def test_slum_household_values() -> None:
    hh = households(
        {"sanitation": "bucket"},  # unimproved sanitation -> slum
        {},  # nothing -> not slum
        {"water_source": None},  # water unknown, rest fine -> unknown
        sizes=[2, 6, 4],
    )
    slum = DEFAULT_REGISTRY.get("sdg_11_1_1_slum_population").values(hh)
    assert slum.tolist()[:2] == [1.0, 0.0]
    assert pd.isna(slum.iloc[2])
    # crowding: 6 people in 2 rooms is not > 3; with threshold 2 it is
    over = DEFAULT_REGISTRY.get("sdg_11_1_1_slum_population").values(hh, {"crowding_threshold": 2})
    assert over.iloc[1] == 1.0


def test_three_plus_unknown_only_when_undecided() -> None:
    bad = {"sanitation": "bucket", "water_source": "unprotected_well", "wall_material": "mud"}
    hh = households(
        bad,  # 3 known -> True
        {
            "sanitation": "bucket",
            "water_source": "unprotected_well",
            "tenure_document": None,
            "tenure_secure_perceived": None,
        },  # 2 known + tenure unknown -> undecided
        {"water_source": None},  # 0 known + 1 unknown -> cannot reach 3 -> False
        sizes=[1, 1, 1],
    )
    values = DEFAULT_REGISTRY.get("households_three_plus_deprivations").values(hh)
    assert values.iloc[0] == 1.0
    assert pd.isna(values.iloc[1])
    assert values.iloc[2] == 0.0


def test_water_sanitation_tenure_values() -> None:
    hh = households(
        {},
        {"water_source": "public_tap", "water_trip_min": 45, "toilet_shared": True},
        {
            "water_source": None,
            "sanitation": None,
            "tenure_document": "none",
            "tenure_secure_perceived": None,
            "eviction_threat": True,
        },
        sizes=[1, 1, 1],
    )
    reg = DEFAULT_REGISTRY
    water = reg.get("sdg_6_1_1_basic_water").values(hh)
    assert water.tolist()[:2] == [1.0, 0.0]
    assert pd.isna(water.iloc[2])
    san = reg.get("sdg_6_2_1_basic_sanitation").values(hh)
    assert san.tolist()[:2] == [1.0, 0.0]
    assert pd.isna(san.iloc[2])
    assert reg.get("sdg_1_4_2_documented").values(hh).tolist() == [1.0, 1.0, 0.0]
    assert reg.get("sdg_1_4_2_perceived").values(hh).tolist() == [1.0, 1.0, 0.0]
    no_fallback = reg.get("sdg_1_4_2_perceived").values(hh, {"fallback_on_eviction_threat": False})
    assert pd.isna(no_fallback.iloc[2])


def test_column_numerator_and_universe() -> None:
    frame = pd.DataFrame({"flag": [True, False, None, True], "slum": [True, True, True, False]})
    ind = Indicator("x", "X", "d", "t", "share", "households", "flag", "known", universe="slum")
    assert ind.in_scope(frame).tolist() == [1.0, 1.0, 1.0, 0.0]
    with pytest.raises(KeyError, match="missing"):
        ind.values(frame.drop(columns="flag"))


def test_readme_lists_every_definition_as_generated() -> None:
    """`make docs` output is committed: the README shows the registries as they are."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert readme_section(readme) == definitions_markdown(), "run `make docs`"
    for indicator in all_indicators():
        assert f"`{indicator.id}`" in readme
