"""JMP ladders, waste collection and the five UN-Habitat deprivations (SDG 11.1.1)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiling import codelists as cl
from profiling.deprivation import (
    DEPRIVATIONS,
    SANITATION_LADDER,
    WATER_LADDER,
    deprivation_report,
    deprivations,
    handwashing_ladder,
    overcrowded,
    sanitation_ladder,
    waste_collected,
    water_ladder,
)
from tests.realdata import real_file

NA = pd.NA


def hh(**cols: list[object]) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    return pd.DataFrame(cols, index=pd.Index([f"h{i}" for i in range(n)], name="household_id"))


def bools(s: pd.Series) -> list[object]:
    return [None if v is NA else bool(v) for v in s]


# -- water ---------------------------------------------------------------------------------


def test_water_ladder_every_step_and_boundary() -> None:
    frame = hh(
        water_source=[
            "piped_dwelling",  # on premises, available → safely managed (upper bound)
            "piped_yard",  # on premises, availability unknown → basic
            "public_tap",  # exactly 30 min → basic
            "public_tap",  # 30.5 min → limited
            "borehole",  # trip unknown → unknown
            "public_tap",  # 9999 "don't know" code → unknown
            "unprotected_well",
            "surface_water",
            "other",
            None,
        ],
        water_trip_min=[None, None, 30, 30.5, None, 9999, 5, 5, 5, 5],
        water_available=[True, None, True, True, True, None, None, None, None, None],
    )
    before = frame.copy()
    out = water_ladder(frame)
    pd.testing.assert_frame_equal(frame, before)
    assert out.name == "water_ladder"
    assert out.index.equals(frame.index)
    assert list(out.cat.categories) == list(WATER_LADDER)
    assert out.tolist() == [
        "safely_managed",
        "basic",
        "basic",
        "limited",
        "unknown",
        "unknown",
        "unimproved",
        "surface_water",
        "unknown",
        "unknown",
    ]
    assert water_ladder(frame, report_safely_managed=False).iloc[0] == "basic"
    assert water_ladder(frame, max_trip_min=60).iloc[3] == "basic"


def test_water_queue_added_when_trip_excludes_it() -> None:
    frame = hh(
        water_source=["public_tap"] * 3,
        water_trip_min=[20, 20, 40],
        water_queue_min=[10, 15, None],
    )
    assert water_ladder(frame).tolist() == ["basic", "basic", "limited"]
    # 20 + 10 = 30 → basic; 20 + 15 = 35 → limited; 40 alone already > 30 → limited
    assert water_ladder(frame, queue_included=False).tolist() == ["basic", "limited", "limited"]
    frame2 = hh(water_source=["public_tap"], water_trip_min=[20], water_queue_min=[None])
    assert water_ladder(frame2, queue_included=False).tolist() == ["unknown"]


# -- sanitation and hygiene ---------------------------------------------------------------------


def test_sanitation_ladder_every_step() -> None:
    frame = hh(
        sanitation=[
            "flush_sewer",
            "pit_slab",
            "pit_vip",
            "pit_vip",
            "pit_no_slab",
            "hanging",
            "open_defecation",
            "other",
            None,
            "composting",
        ],
        toilet_shared=[False, True, None, None, True, None, None, False, None, None],
        toilet_sharing_households=[None, None, 1, 3, None, None, None, None, None, None],
    )
    out = sanitation_ladder(frame)
    assert out.name == "sanitation_ladder"
    assert list(out.cat.categories) == list(SANITATION_LADDER)
    assert out.tolist() == [
        "basic",
        "limited",
        "basic",  # only the own household uses it (count includes itself)
        "limited",
        "unimproved",
        "unimproved",
        "open_defecation",
        "unknown",
        "unknown",
        "unknown",  # improved, sharing unknown: basic or limited cannot be told
    ]


def test_handwashing_ladder_every_step() -> None:
    frame = hh(
        handwashing=["fixed", "mobile", "fixed", "mobile", "none", "not_observed", None],
        handwashing_water=[True, False, True, None, None, True, None],
        handwashing_soap=[True, True, None, None, None, True, None],
    )
    out = handwashing_ladder(frame)
    assert out.name == "handwashing_ladder"
    assert out.tolist() == [
        "basic",
        "limited",
        "unknown",
        "unknown",
        "no_facility",
        "unknown",
        "unknown",
    ]


def test_waste_collected() -> None:
    frame = hh(
        waste_disposal=[
            "collected_door",
            "communal_point",
            "collected_door",
            "burned",
            "other",
            None,
        ],
        waste_collections_per_week=[1, 0.5, None, None, 3, 3],
    )
    out = waste_collected(frame)
    assert out.name == "waste_collected"
    assert bools(out) == [True, False, None, False, None, None]
    assert bools(waste_collected(frame, min_per_week=2)) == [False, False, None, False, None, None]


# -- the five deprivations -----------------------------------------------------------------


GOOD = {
    "water_source": "public_tap",
    "water_trip_min": 10.0,
    "sanitation": "flush_sewer",
    "toilet_shared": False,
    "toilet_sharing_households": 1,
    "household_size": 2,
    "sleeping_rooms": 1,
    "wall_material": "bricks",
    "roof_material": "iron_sheets",
    "floor_material": "cement",
    "tenure_type": "leasehold",
    "tenure_document": "lease",
}


def one_change(**changes: object) -> pd.DataFrame:
    return pd.DataFrame([{**GOOD, **changes}], index=["h"])


def test_good_household_is_not_slum() -> None:
    d = deprivations(one_change())
    assert not d[list(DEPRIVATIONS)].iloc[0].any()
    assert d.loc["h", "deprivation_count"] == 0
    assert d.loc["h", "deprivations_unknown"] == 0
    assert d.loc["h", "slum_household"] is np.False_ or d.loc["h", "slum_household"] == False  # noqa: E712


@pytest.mark.parametrize(
    ("changes", "column", "expected"),
    [
        ({"water_source": "unprotected_spring"}, "improved_water_deprived", True),
        ({"water_source": "surface_water"}, "improved_water_deprived", True),
        ({"water_source": "other"}, "improved_water_deprived", None),
        ({"water_source": None}, "improved_water_deprived", None),
        ({"sanitation": "bucket"}, "improved_sanitation_deprived", True),
        ({"sanitation": "open_defecation"}, "improved_sanitation_deprived", True),
        (
            {"toilet_shared": True, "toilet_sharing_households": 2},
            "improved_sanitation_deprived",
            False,
        ),
        (
            {"toilet_shared": True, "toilet_sharing_households": 3},
            "improved_sanitation_deprived",
            True,
        ),
        (
            {"toilet_shared": True, "toilet_sharing_households": None},
            "improved_sanitation_deprived",
            None,
        ),
        ({"sanitation": None}, "improved_sanitation_deprived", None),
        # a facility shared by 3+ households is deprived whatever its (unknown) type
        (
            {"sanitation": None, "toilet_shared": True, "toilet_sharing_households": 4},
            "improved_sanitation_deprived",
            True,
        ),
        ({"household_size": 6, "sleeping_rooms": 2}, "overcrowded", False),  # exactly 3 / room
        ({"household_size": 7, "sleeping_rooms": 2}, "overcrowded", True),
        ({"household_size": None}, "overcrowded", None),
        ({"sleeping_rooms": None}, "overcrowded", None),
        ({"wall_material": "mud"}, "non_durable_housing", True),  # natural
        ({"roof_material": "plastic"}, "non_durable_housing", True),  # rudimentary
        ({"floor_material": "earth_sand"}, "non_durable_housing", True),  # natural
        ({"wall_material": "rustic_metal"}, "non_durable_housing", True),  # rudimentary
        ({"wall_material": "other"}, "non_durable_housing", None),
        ({"wall_material": "other", "floor_material": "mud"}, "non_durable_housing", True),
        ({"roof_material": None}, "non_durable_housing", None),
        ({"tenure_type": "informal_rental", "tenure_document": "none"}, "insecure_tenure", True),
        ({"tenure_type": None, "tenure_document": None}, "insecure_tenure", None),
    ],
)
def test_each_deprivation(changes: dict[str, object], column: str, expected: bool | None) -> None:
    d = deprivations(one_change(**changes))
    assert str(d[column].dtype) == "boolean"
    got = d.loc["h", column]
    assert (None if got is NA else bool(got)) == expected
    others = [c for c in DEPRIVATIONS if c != column]
    assert not d.loc["h", others].fillna(True).any()  # only that component moved
    if expected is None:
        assert d.loc["h", "deprivations_unknown"] == 1
        assert d.loc["h", "slum_household"] is NA  # unknown, not "not a slum household"
    else:
        assert d.loc["h", "deprivation_count"] == int(expected)
        assert bool(d.loc["h", "slum_household"]) == expected


def test_rule_options() -> None:
    frame = pd.DataFrame(
        [
            {**GOOD, "household_size": 5, "sleeping_rooms": 2},  # 2.5 per room
            {**GOOD, "toilet_shared": True, "toilet_sharing_households": 2},
            {**GOOD, "water_trip_min": 45.0},
            {**GOOD, "water_trip_min": None},
        ]
    )
    default = deprivations(frame)
    strict = deprivations(
        frame, crowding_threshold=2, max_sharing_households=None, water_requires_basic=True
    )
    assert bools(default["overcrowded"]) == [False, False, False, False]
    assert bools(strict["overcrowded"]) == [True, False, False, False]
    assert bools(default["improved_sanitation_deprived"])[1] is False
    assert bools(strict["improved_sanitation_deprived"])[1] is True
    assert bools(default["improved_water_deprived"]) == [False, False, False, False]
    assert bools(strict["improved_water_deprived"]) == [False, False, True, None]


def test_hazardous_location_makes_housing_non_durable() -> None:
    frame = pd.DataFrame([GOOD, GOOD, GOOD, {**GOOD, "wall_material": "mud"}], index=list("abcd"))
    hazard = pd.Series([True, False, None, False], index=list("abcd"), dtype="boolean")
    d = deprivations(frame, hazardous_location=hazard)
    assert bools(d["non_durable_housing"]) == [True, False, None, True]
    # alignment is by label, not position
    shuffled = deprivations(frame, hazardous_location=hazard.iloc[::-1])
    pd.testing.assert_frame_equal(d, shuffled)


def test_report_counts_unknowns() -> None:
    frame = pd.DataFrame(
        [
            GOOD,
            {**GOOD, "household_size": None},
            {**GOOD, "wall_material": "mud", "household_size": None},
        ]
    )
    report = deprivation_report(deprivations(frame))
    assert report.loc["overcrowded"].tolist()[:3] == [0, 1, 2]
    assert report.loc["non_durable_housing"].tolist()[:3] == [1, 2, 0]
    assert report.loc["slum_household"].tolist()[:3] == [1, 1, 1]


def test_overcrowded_zero_rooms() -> None:
    out = overcrowded(hh(household_size=[1, 3], sleeping_rooms=[0, 1]))
    assert out.name == "overcrowded"
    assert bools(out) == [True, False]


# -- properties ----------------------------------------------------------------------------


def maybe(values: object) -> st.SearchStrategy[object]:
    return st.one_of(st.none(), st.sampled_from(sorted(values)))  # type: ignore[arg-type]


household = st.fixed_dictionaries(
    {
        "water_source": maybe(cl.DRINKING_WATER),
        "water_trip_min": st.one_of(st.none(), st.floats(0, 120)),
        "sanitation": maybe(cl.SANITATION),
        "toilet_shared": st.one_of(st.none(), st.booleans()),
        "toilet_sharing_households": st.one_of(st.none(), st.integers(1, 10)),
        "household_size": st.one_of(st.none(), st.integers(1, 15)),
        "sleeping_rooms": st.one_of(st.none(), st.integers(0, 6)),
        "wall_material": maybe(cl.MATERIALS),
        "roof_material": maybe(cl.MATERIALS),
        "floor_material": maybe(cl.MATERIALS),
        "tenure_type": maybe(cl.TENURE_TYPES),
        "tenure_document": maybe(cl.TENURE_DOCUMENTS),
    }
)


def typed(rows: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(GOOD))
    frame["toilet_shared"] = frame["toilet_shared"].astype("boolean")
    for c in ("toilet_sharing_households", "household_size", "sleeping_rooms"):
        frame[c] = frame[c].astype("Int64")
    frame["water_trip_min"] = frame["water_trip_min"].astype("Float64")
    return frame


@settings(max_examples=80, deadline=None)
@given(st.lists(household, min_size=1, max_size=15))
def test_deprivation_invariants(rows: list[dict[str, object]]) -> None:
    frame = typed(rows)
    before = frame.copy()
    d = deprivations(frame)
    pd.testing.assert_frame_equal(frame, before)
    assert d.index.equals(frame.index)
    flags = d[list(DEPRIVATIONS)]
    assert (d["deprivation_count"] + d["deprivations_unknown"] <= 5).all()
    assert (d["deprivation_count"] == flags.fillna(False).astype(int).sum(axis=1)).all()
    known = d["deprivations_unknown"] == 0
    assert (d.loc[known, "slum_household"] == (d.loc[known, "deprivation_count"] >= 1)).all()
    assert (d["slum_household"].fillna(False) == (d["deprivation_count"] >= 1)).all()
    assert d.loc[d["slum_household"].isna(), "deprivations_unknown"].gt(0).all()


@settings(max_examples=60, deadline=None)
@given(
    household, st.sampled_from(["wall_material", "water_source", "sanitation", "household_size"])
)
def test_adding_a_deprivation_never_lowers_the_count(row: dict[str, object], what: str) -> None:
    worse = {
        "wall_material": {"wall_material": "mud"},
        "water_source": {"water_source": "surface_water"},
        "sanitation": {"sanitation": "open_defecation"},
        "household_size": {"household_size": 15, "sleeping_rooms": 1},
    }[what]
    a = deprivations(typed([row]))
    b = deprivations(typed([{**row, **worse}]))
    assert b["deprivation_count"].iloc[0] >= a["deprivation_count"].iloc[0]
    assert bool(b["slum_household"].iloc[0]) is True


# -- real data -----------------------------------------------------------------------------


@pytest.mark.realdata
def test_nairobi_abidjan_ladders_and_deprivations() -> None:
    from profiling.ingest.kobo import read_kobo_csv  # noqa: PLC0415
    from profiling.ingest.mapping import apply_mapping, bundled_mappings  # noqa: PLC0415

    path = real_file("nairobi_abidjan_wash_hhsurvey/household_data.csv")
    export = read_kobo_csv(path)
    frame = apply_mapping(
        export.main,
        bundled_mappings()["nairobi_abidjan_wash_2021"],
        group_separator=export.group_separator,
        repeats=None,
    ).frame
    raw = export.main
    water = water_ladder(frame)
    sanitation = sanitation_ladder(frame)
    d = deprivations(frame)
    report = deprivation_report(d)
    table = pd.concat(
        [
            pd.crosstab(frame["settlement_id"], water, margins=True),
            pd.crosstab(frame["settlement_id"], sanitation, margins=True),
        ],
        axis=1,
        keys=["water", "sanitation"],
    )
    print("\n", table.to_string(), "\n\n", report.to_string())

    assert len(frame) == len(raw) == 1714
    # independently from the raw export: DrinkingWaterGroup == "Surface" → 3 households
    assert (water == "surface_water").sum() == (raw["DrinkingWaterGroup"] == "Surface").sum() == 3
    # ToiletFacility == "NoFacility_Nature" → 8 households practise open defecation
    assert (
        (sanitation == "open_defecation").sum()
        == (raw["ToiletFacility"] == "NoFacility_Nature").sum()
        == 8
    )
    # no household size in this export: crowding is unknown for all, never "not overcrowded"
    assert report.loc["overcrowded", "unknown"] == 1714
    assert report.loc["overcrowded", "not_deprived"] == 0
    # no tenure questions either: tenure unknown everywhere, so nobody is known non-slum
    assert report.loc["insecure_tenure", "unknown"] == 1714
    assert report.loc["slum_household", "not_deprived"] == 0
    assert (d["deprivations_unknown"] >= 2).all()
