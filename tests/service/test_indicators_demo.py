"""Every default indicator on the demo city, against a deliberately simple re-computation.

The expected side below is written from the documented rules (registry / deprivation /
tenure docstrings and the code lists, copied here as literal sets), household by household
in plain Python with three-valued logic (``None`` = unknown); it calls none of the
indicator helpers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from geo_service.demo import run_demo
from geo_service.settings import Settings
from geo_service.storage import GeoPackageStore
from profiling.indicators import DEFAULT_REGISTRY, roll_up

STAMP = datetime(2026, 1, 1, tzinfo=UTC)

WATER_IMPROVED = {
    "piped_dwelling", "piped_yard", "piped_neighbour", "public_tap", "water_kiosk", "borehole",
    "protected_well", "protected_spring", "rainwater", "tanker_truck", "cart_small_tank",
    "bottled_water", "sachet_water",
}  # fmt: skip
WATER_BAD = {"unprotected_well", "unprotected_spring", "surface_water"}
ON_PREMISES = {"piped_dwelling", "piped_yard"}
SAN_IMPROVED = {
    "flush_sewer", "flush_septic", "flush_pit", "flush_unknown", "pit_vip", "pit_slab",
    "composting", "container_based",
}  # fmt: skip
SAN_BAD = {"flush_open", "pit_no_slab", "bucket", "hanging", "open_defecation"}
MAT_FINISHED = {
    "iron_sheets", "cement", "stone_lime", "bricks", "cement_blocks", "covered_adobe",
    "wood_planks", "cement_fibre", "tiles", "vinyl",
}  # fmt: skip
MAT_BAD = {
    "no_walls", "mud", "cane_palm", "bamboo_mud", "stone_mud", "uncovered_adobe", "plywood",
    "cardboard", "plastic", "reused_wood", "rustic_metal", "no_roof", "thatch", "earth_sand",
    "rustic_mat",
}  # fmt: skip
DOC_LEGAL = {"title_deed", "lease", "certificate", "allotment_letter", "rent_agreement"}
DOC_NOT = {"sale_agreement", "chief_letter", "none"}
TYPE_SECURE = {
    "formal_rental", "certificate_of_occupancy", "leasehold", "registered_freehold",
    "joint_or_common",
}  # fmt: skip
TYPE_NOT = {
    "none", "perceived", "customary", "occupancy", "informal_rental", "anti_eviction",
    "group_tenure",
}  # fmt: skip


def _v(x: Any) -> Any:
    """Missing (None / NaN / <NA>) -> None."""
    return None if x is None or pd.isna(x) else x


def _or(*parts: bool | None) -> bool | None:
    if any(p is True for p in parts):
        return True
    if all(p is False for p in parts):
        return False
    return None


def _member(value: Any, yes: set[str], no: set[str]) -> bool | None:
    return True if value in yes else False if value in no else None


def _shared(h: dict[str, Any]) -> bool | None:
    if _v(h["toilet_shared"]) is not None:
        return bool(h["toilet_shared"])
    count = _v(h["toilet_sharing_households"])
    return None if count is None else count >= 2


def _flags(h: dict[str, Any]) -> list[bool | None]:
    water = _member(h["water_source"], WATER_BAD, WATER_IMPROVED)
    shared = _shared(h)
    count = _v(h["toilet_sharing_households"])
    too_shared = False if shared is False else (None if count is None else count > 2)
    sanitation = _or(_member(h["sanitation"], SAN_BAD, SAN_IMPROVED), too_shared)
    size, rooms = _v(h["household_size"]), _v(h["sleeping_rooms"])
    crowded = None if size is None or rooms is None else size > 3 * rooms
    materials = [_member(h[c], MAT_BAD, MAT_FINISHED) for c in ("wall", "roof", "floor")]
    secure = _or(
        _member(h["tenure_document"], DOC_LEGAL, DOC_NOT),
        _member(h["tenure_type"], TYPE_SECURE, TYPE_NOT),
    )
    insecure = None if secure is None else not secure
    return [water, sanitation, crowded, _or(*materials), insecure]


def slum(h: dict[str, Any]) -> bool | None:
    return _or(*_flags(h))


def three_plus(h: dict[str, Any]) -> bool | None:
    flags = _flags(h)
    yes = sum(f is True for f in flags)
    unknown = sum(f is None for f in flags)
    return True if yes >= 3 else False if yes + unknown < 3 else None


def basic_water(h: dict[str, Any]) -> bool | None:
    source = h["water_source"]
    if source in WATER_BAD:
        return False
    if source not in WATER_IMPROVED:
        return None
    if source in ON_PREMISES:
        return True
    trip = _v(h["water_trip_min"])
    if trip is None or trip < 0 or trip > 1440:
        return None
    return trip <= 30


def basic_sanitation(h: dict[str, Any]) -> bool | None:
    if h["sanitation"] in SAN_BAD:
        return False
    if h["sanitation"] not in SAN_IMPROVED:
        return None
    shared = _shared(h)
    return None if shared is None else not shared


def documented(h: dict[str, Any]) -> bool | None:
    return _member(h["tenure_document"], DOC_LEGAL, DOC_NOT)


def perceived(h: dict[str, Any]) -> bool | None:
    answer = _v(h["tenure_secure_perceived"])
    if answer is None and _v(h["eviction_threat"]) is True:
        return False
    return None if answer is None else bool(answer)


def one_deprivation(h: dict[str, Any]) -> bool | None:
    flags = _flags(h)
    yes = sum(f is True for f in flags)
    unknown = sum(f is None for f in flags)
    if yes == 1 and unknown == 0:
        return True
    return False if yes >= 2 or yes + unknown < 1 else None


def safely_managed_water(h: dict[str, Any]) -> bool | None:
    source = h["water_source"]
    if source in WATER_BAD:
        return False
    if source not in WATER_IMPROVED:
        return None
    return source in ON_PREMISES and _v(h["water_available"]) is True


def basic_hygiene(h: dict[str, Any]) -> bool | None:
    place = h["handwashing"]
    if place == "none":
        return False
    if place not in {"fixed", "mobile"}:
        return None
    water, soap = _v(h["handwashing_water"]), _v(h["handwashing_soap"])
    if water is True and soap is True:
        return True
    return False if water is False or soap is False else None


def waste_collected(h: dict[str, Any]) -> bool | None:
    disposal = h["waste_disposal"]
    if disposal in {"burned", "buried", "dumped_open", "dumped_water", "composted"}:
        return False
    if disposal not in {"collected_door", "communal_point"}:
        return None
    per_week = _v(h["waste_collections_per_week"])
    return None if per_week is None else per_week >= 1


# indicator id -> (per-household rule, size column: None counts households)
EXPECTED: dict[str, tuple[Callable[[dict[str, Any]], bool | None], str | None]] = {
    "sdg_11_1_1_slum_population": (slum, "household_size"),
    "population_one_deprivation": (one_deprivation, "household_size"),
    "households_three_plus_deprivations": (three_plus, None),
    "sdg_6_1_1_safely_managed_water": (safely_managed_water, "household_size"),
    "sdg_6_1_1_basic_water": (basic_water, "household_size"),
    # with its default shares of 1 safely managed sanitation equals basic
    "sdg_6_2_1_safely_managed_sanitation": (basic_sanitation, "household_size"),
    "sdg_6_2_1_basic_sanitation": (basic_sanitation, "household_size"),
    "sdg_6_2_1_basic_hygiene": (basic_hygiene, "household_size"),
    "sdg_11_6_1_waste_collected": (waste_collected, "household_size"),
    "sdg_1_4_2_documented_adults": (documented, "adults"),
    "sdg_1_4_2_perceived_adults": (perceived, "adults"),
    "sdg_1_4_2_documented": (documented, None),
    "sdg_1_4_2_perceived": (perceived, None),
}
HOUSEHOLD_RATIOS = {i.id for i in DEFAULT_REGISTRY if i.statistic == "ratio" and not i.requires}


@pytest.fixture(scope="module")
def households(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    root: Path = tmp_path_factory.mktemp("demo_indicators")
    settings = Settings(store_path=root / "demo.gpkg")
    run_demo(root / "city", settings=settings, households=2_000, seed=11)
    with GeoPackageStore(settings.store_path) as store:
        frame = store.read_layer("households")
    return pd.DataFrame(frame.drop(columns="geometry"))


def _expected(households: pd.DataFrame, indicator_id: str, by: list[str]) -> pd.DataFrame:
    rule, size_column = EXPECTED[indicator_id]
    rows = []
    for record in households.to_dict("records"):
        h: dict[str, Any] = {str(k): v for k, v in record.items()}
        h["wall"], h["roof"], h["floor"] = (
            h["wall_material"],
            h["roof_material"],
            h["floor_material"],
        )
        value = rule(h)
        size = _v(h[size_column]) if size_column else 1
        known = value is not None and size is not None
        rows.append(
            {
                "key": tuple(h[c] for c in by),
                "num": float(size) * float(bool(value)) if known else 0.0,
                "den": float(size) if known else 0.0,
                "unknown": 0 if known else 1,
            }
        )
    table = pd.DataFrame(rows).groupby("key", sort=True).sum()
    table["n_units"] = pd.DataFrame(rows).groupby("key", sort=True).size()
    return table


@pytest.mark.parametrize("indicator_id", sorted(EXPECTED))
@pytest.mark.parametrize("by", [["settlement_id"], []], ids=["settlement", "city"])
def test_indicator_matches_simple_recomputation(households, indicator_id, by):
    assert set(EXPECTED) == HOUSEHOLD_RATIOS
    got = roll_up(households, DEFAULT_REGISTRY.get(indicator_id), by=by, computed_at=STAMP)
    want = _expected(households, indicator_id, by)
    assert len(got) == len(want) >= 1
    for (key, exp), (_, row) in zip(want.iterrows(), got.iterrows(), strict=True):
        assert tuple(row[c] for c in by) == key
        assert row["denominator"] == exp["den"]  # exact: integer people / households
        assert row["numerator"] == exp["num"]
        assert row["n_units"] == exp["n_units"]
        assert row["unknown"] == exp["unknown"]
        assert row["value"] == pytest.approx(exp["num"] / exp["den"], abs=1e-12)
    # The figures are informative: neither all unknown nor all one answer.
    city = want.sum()
    assert 0 < city["num"] < city["den"]
