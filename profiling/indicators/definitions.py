"""Household indicator definitions: SDG Tier I / II, exposure and access (the default registry).

Each definition reads canonical household columns (:mod:`profiling.schema`) through the
analyses (:mod:`profiling.deprivation`, :mod:`profiling.tenure`), plus, for exposure and access,
columns joined from the spatial analyses: ``hazard_class`` (e.g.
:func:`profiling.hazard.structure_hazard_class` of the household's structure),
``hazardous_location`` (:func:`profiling.hazard.hazardous_location`) and the distance columns of
:func:`profiling.access.access_table` (``water_point_m``, ``water_point_network_m``...).

The population of "slum / low-income settlements" of the Tier II figures is the population of
the enumerated settlements: rolled up per settlement and for the city, they describe exactly
the households enumerated (say "in the profiled settlements" when reporting).

References
----------
.. [M111] UN-Habitat, *SDG indicator 11.1.1 metadata* (2018): proportion of urban population
   living in slum households.
.. [JMP2017] WHO/UNICEF JMP, *Progress on drinking water, sanitation and hygiene: 2017 update
   and SDG baselines*: SDG 6.1.1 / 6.2.1 service ladders, population-weighted.
.. [JMP2018] WHO/UNICEF JMP, *Core questions on drinking water, sanitation and hygiene for
   household surveys: 2018 update*.
.. [M142] UN-Habitat / World Bank / GLTN, *SDG indicator 1.4.2 metadata* (2019, rev. 2021):
   proportion of the adult population with (a) legally recognised documentation and (b)
   perceived security of tenure, by sex.
.. [M1161] UN-Habitat, *SDG indicator 11.6.1 metadata* and *Waste Wise Cities Tool* (2021):
   municipal solid waste collected; household step "population served by collection".
.. [CRF] Cities Alliance, *Corporate Results Framework* (2021): Tier I city context, Tier II
   results in the population of slum / low-income settlements, Tier III outputs.
.. [SPH2018] Sphere Association, *The Sphere Handbook* (2018): WASH standards 2.1 (water point
   within 500 m) and 3.2 (toilet within 50 m).
.. [M1121] UN-Habitat, *SDG 11.2.1 metadata*: transit stop within 500 m walking.
.. [M1171] UN-Habitat, *SDG 11.7.1 metadata*: public open space within 400 m walking.
.. [INASAFE] InaSAFE 4 documentation, flood depth classes (none < 0.1 <= low < 0.7 <= medium
   < 1.5 <= high, metres).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson
import pandas as pd

from profiling import codelists as cl
from profiling._columns import code_group
from profiling._memo import memo
from profiling.deprivation import (
    deprivations,
    handwashing_ladder,
    sanitation_ladder,
    waste_collected,
    water_ladder,
)
from profiling.indicators.registry import Indicator, Registry
from profiling.tenure import documented_security, perceived_security

__all__ = [
    "DEFAULT_INDICATORS",
    "DEFAULT_REGISTRY",
    "FLOOD_DEPTH_CLASSES",
]

FLOOD_DEPTH_CLASSES: tuple[str, ...] = ("none", "low", "medium", "high")
"""Default ordered hazard classes (InaSAFE flood depth [INASAFE]_), least to most hazardous."""


def _deprivation_table(units: pd.DataFrame, params: Mapping[str, Any]) -> pd.DataFrame:
    """:func:`deprivations` of ``units``, shared by every indicator within
    :func:`profiling.indicators.shared_work` (11.1.1, its depth, the hazard figure)."""
    hazardous = units["hazardous_location"] if "hazardous_location" in units.columns else None
    key = ("deprivations", orjson.dumps(dict(params), option=orjson.OPT_SORT_KEYS))
    return memo(units, key, lambda: deprivations(units, hazardous_location=hazardous, **params))


_WATER_DEFAULTS: dict[str, Any] = {"max_trip_min": 30, "queue_included": True}


def _water(units: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
    key = ("water_ladder", orjson.dumps(dict(params), option=orjson.OPT_SORT_KEYS))
    return memo(units, key, lambda: water_ladder(units, **params))


def _sanitation(units: pd.DataFrame) -> pd.Series:
    return memo(units, "sanitation_ladder", lambda: sanitation_ladder(units))


def _ladder_is(ladder: pd.Series, levels: set[str]) -> pd.Series:
    """``True`` where the JMP level is in ``levels``; ``<NA>`` where it is ``unknown``."""
    out = pd.Series(ladder.isin(levels).to_numpy(), index=ladder.index, dtype="boolean")
    return out.mask((ladder == "unknown").to_numpy(), pd.NA)


# -- Tier I: SDG 11.1.1 ----------------------------------------------------------------------

_DEPRIVATION_DEFAULTS: dict[str, Any] = {
    "crowding_threshold": 3,
    "max_sharing_households": 2,
    "water_requires_basic": False,
    "max_trip_min": 30,
    "tenure_rule": "documented_or_formal",
}


def _slum_household(units: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
    """profiling.deprivation.deprivations(...)["slum_household"]: one or more of the five
    deprivations known True; unknown when none is known True and one is unknown. Reads
    ``hazardous_location`` when present (non-durable housing includes hazardous sites)."""
    return _deprivation_table(units, params)["slum_household"]


def _one_deprivation(units: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
    """deprivation_count == 1 exactly: one known and no unknown component; False when two
    or more are known or none can be; unknown otherwise."""
    table = _deprivation_table(units, params)
    known = table["deprivation_count"].to_numpy()
    unknown = table["deprivations_unknown"].to_numpy()
    out = pd.Series(pd.NA, index=units.index, dtype="boolean")
    out = out.mask((known >= 2) | (known + unknown < 1), False)
    return out.mask((known == 1) & (unknown == 0), True)


def _three_or_more(units: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
    """deprivation_count >= 3 (known); False when even all unknown components could not
    reach 3; unknown otherwise."""
    table = _deprivation_table(units, params)
    known = table["deprivation_count"]
    unknown = table["deprivations_unknown"]
    out = pd.Series(pd.NA, index=units.index, dtype="boolean")
    out = out.mask((known + unknown) < 3, False)
    return out.mask(known >= 3, True)


# -- Tier II: water, sanitation, hygiene, waste, tenure ---------------------------------------


def _basic_water(units: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
    """water_ladder in {safely_managed, basic}; ladder 'unknown' is unknown."""
    return _ladder_is(_water(units, params), {"safely_managed", "basic"})


def _safely_managed_water(units: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
    """water_ladder == safely_managed (improved, on premises, available when needed); an
    upper bound, as water quality is not tested. Unknown only when the source is unknown (an
    improved source off premises is not safely managed, whatever its trip time)."""
    out = _ladder_is(_water(units, _WATER_DEFAULTS), {"safely_managed"})
    source_known = code_group(units, "water_source", cl.DRINKING_WATER).notna()
    return out.mask(out.isna() & source_known.to_numpy(), False)


def _basic_sanitation(units: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
    """sanitation_ladder == basic (improved, not shared); 'unknown' is unknown."""
    return _ladder_is(_sanitation(units), {"basic"})


def _safely_managed_sanitation(units: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
    """Basic sanitation times the city's share of excreta safely managed for its kind of
    facility: sewer_safely_managed_share for flush_sewer, onsite_safely_managed_share for
    any other improved facility; 0 below basic; unknown when the ladder is unknown."""
    basic = _basic_sanitation(units, params).astype("Float64")
    sewer = units["sanitation"].astype(object).eq("flush_sewer") if "sanitation" in units else None
    share = np.full(len(units), float(params["onsite_safely_managed_share"]))
    if sewer is not None:
        share[sewer.fillna(False).to_numpy(dtype=bool)] = float(
            params["sewer_safely_managed_share"]
        )
    return basic * pd.Series(share, index=units.index)


def _basic_hygiene(units: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
    """handwashing_ladder == basic (facility with water and soap); 'unknown' is unknown."""
    return _ladder_is(handwashing_ladder(units), {"basic"})


def _waste_collected(units: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
    """profiling.deprivation.waste_collected: collected door-to-door or at a communal point
    at least min_per_week times a week."""
    return waste_collected(units, **params)


def _documented(units: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
    """profiling.tenure.documented_security (legally recognised document)."""
    return documented_security(units)


def _perceived(units: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
    """profiling.tenure.perceived_security (no fear of losing the home)."""
    return perceived_security(units, **params)


_HOUSEHOLD_BASED_142 = (
    " This household version counts households, the respondent answering for the household; "
    "the adult version (sdg_1_4_2_*_adults) weights the same answer by the household's adults."
)
_ADULT_BASED_142 = (
    " Each adult of a household takes the household's answer (the roster does not ask every "
    "adult): weighted by the adults column, which profiling.indicators.adults_from_members "
    "fills from the members roster (with adult_females / adult_males for the split by sex: "
    "roll up with weight='adult_females')."
)

# -- Exposure ---------------------------------------------------------------------------------


def _everyone(units: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
    """1 for every unit (count people / structures; disaggregate by hazard_class)."""
    return pd.Series(1.0, index=units.index)


def _in_hazard_class(units: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
    """hazard_class at least min_class in the ordered hazard_labels; a missing or
    unlisted class is unknown."""
    labels = list(params["hazard_labels"])
    if params["min_class"] not in labels:
        raise ValueError(f"min_class {params['min_class']!r} not in hazard_labels {labels}")
    codes = pd.Categorical(units["hazard_class"].astype(object), categories=labels).codes
    out = pd.Series(codes >= labels.index(params["min_class"]), index=units.index)
    return out.astype("boolean").mask(codes < 0, pd.NA)


def _slum_scope(units: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
    """Slum households only (SDG 11.1.1 rule with its defaults)."""
    return _deprivation_table(units, _DEPRIVATION_DEFAULTS)["slum_household"]


# -- Access -----------------------------------------------------------------------------------


def _within(service_type: str) -> Any:
    def numerator(units: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
        network = f"{service_type}_network_m"
        column = network if network in units.columns else f"{service_type}_m"
        if column not in units.columns:
            raise KeyError(f"column {service_type}_m needed by the indicator is missing")
        dist = pd.to_numeric(units[column], errors="coerce")
        out = pd.Series((dist <= params["max_distance_m"]).to_numpy(), index=units.index)
        return out.astype("boolean").mask(dist.isna(), pd.NA)

    numerator.__doc__ = (
        f"{service_type}_network_m (walking, when present) else {service_type}_m (straight "
        "line) <= max_distance_m; missing distance is unknown, no service (inf) is False."
    )
    return numerator


def _access_indicator(
    service_type: str, name: str, max_distance_m: float, reference: str, cite: str
) -> Indicator:
    return Indicator(
        id=f"access_{service_type}_within",
        name=name,
        description=(
            f"Share of people living within {max_distance_m:g} m of the nearest functional "
            f"{service_type.replace('_', ' ')} (walking distance along the street network "
            f"when it was measured, else straight-line) {cite}."
        ),
        reference=reference,
        unit="share",
        population="people",
        numerator=_within(service_type),
        denominator="people in households whose distance is known",
        parameters={"max_distance_m": max_distance_m},
        requires=(f"{service_type}_m",),
    )


_PEOPLE_KNOWN = "people in households whose {} is known"

DEFAULT_INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        id="sdg_11_1_1_slum_population",
        name="Population living in slum households",
        description=(
            "Share of people living in households with one or more of the five UN-Habitat "
            "deprivations (improved water, improved sanitation, sufficient living area, "
            "durable housing, secure tenure), weighted by household_size [M111]."
        ),
        reference="SDG 11.1.1; CRF Tier I",
        unit="share",
        population="people",
        numerator=_slum_household,
        denominator=_PEOPLE_KNOWN.format("slum status"),
        parameters=_DEPRIVATION_DEFAULTS,
    ),
    Indicator(
        id="population_one_deprivation",
        name="Population in households with exactly one deprivation",
        description=(
            "Share of people in households with exactly one of the five deprivations (the "
            "shallowest slum condition, the first target of upgrading) [M111]."
        ),
        reference="SDG 11.1.1 (depth of deprivation); CRF Tier I",
        unit="share",
        population="people",
        numerator=_one_deprivation,
        denominator="people in households whose count of deprivations is decided (1 or not)",
        parameters=_DEPRIVATION_DEFAULTS,
    ),
    Indicator(
        id="households_three_plus_deprivations",
        name="Households with three or more deprivations",
        description=(
            "Share of households with at least 3 of the 5 UN-Habitat deprivations known; "
            "unknown when the unknown components could still bring the count to 3."
        ),
        reference="SDG 11.1.1 (depth of deprivation); CRF Tier I",
        unit="share",
        population="households",
        numerator=_three_or_more,
        denominator="households whose count of deprivations is decided (>= 3 or < 3)",
        parameters=_DEPRIVATION_DEFAULTS,
    ),
    Indicator(
        id="sdg_6_1_1_safely_managed_water",
        name="Population using safely managed drinking water (upper bound)",
        description=(
            "Share of people whose JMP drinking-water ladder is safely managed: improved "
            "source on premises, available when needed. Free from contamination is not "
            "tested by profiling, so this is an upper bound [JMP2017]."
        ),
        reference="SDG 6.1.1; CRF Tier II",
        unit="share",
        population="people",
        numerator=_safely_managed_water,
        denominator=_PEOPLE_KNOWN.format("water ladder"),
    ),
    Indicator(
        id="sdg_6_1_1_basic_water",
        name="Population using at least basic drinking water",
        description=(
            "Share of people in households whose JMP drinking-water ladder is safely managed "
            "or basic (improved source, round trip <= max_trip_min incl. queuing) [JMP2017]."
        ),
        reference="SDG 6.1.1; CRF Tier II",
        unit="share",
        population="people",
        numerator=_basic_water,
        denominator=_PEOPLE_KNOWN.format("water ladder"),
        parameters=_WATER_DEFAULTS,
    ),
    Indicator(
        id="sdg_6_2_1_safely_managed_sanitation",
        name="Population using safely managed sanitation",
        description=(
            "Basic sanitation whose excreta are safely managed: each basic household counts "
            "the city's share of safely managed excreta for its facility (sewage treated for "
            "flush_sewer; safely emptied and treated or disposed in situ otherwise), set by "
            "MEL from utility data as JMP does. The defaults of 1 make it equal to basic: an "
            "upper bound until the shares are set [JMP2017]."
        ),
        reference="SDG 6.2.1 (a); CRF Tier II",
        unit="share",
        population="people",
        numerator=_safely_managed_sanitation,
        denominator=_PEOPLE_KNOWN.format("sanitation ladder"),
        parameters={"sewer_safely_managed_share": 1.0, "onsite_safely_managed_share": 1.0},
    ),
    Indicator(
        id="sdg_6_2_1_basic_sanitation",
        name="Population using at least basic sanitation",
        description=(
            "Share of people in households with an improved facility not shared with other "
            "households (JMP basic; includes safely managed) [JMP2017]."
        ),
        reference="SDG 6.2.1 (a); CRF Tier II",
        unit="share",
        population="people",
        numerator=_basic_sanitation,
        denominator=_PEOPLE_KNOWN.format("sanitation ladder"),
    ),
    Indicator(
        id="sdg_6_2_1_basic_hygiene",
        name="Population with a handwashing facility with soap and water",
        description=(
            "Share of people in households with a fixed or mobile handwashing facility with "
            "water and soap present (JMP basic hygiene) [JMP2018]."
        ),
        reference="SDG 6.2.1 (b); CRF Tier II",
        unit="share",
        population="people",
        numerator=_basic_hygiene,
        denominator=_PEOPLE_KNOWN.format("hygiene ladder"),
    ),
    Indicator(
        id="sdg_11_6_1_waste_collected",
        name="Population with regular solid waste collection",
        description=(
            "Share of people in households whose solid waste is collected (door-to-door or at "
            "a communal point) at least min_per_week times a week: the household step of "
            "11.6.1, population served by collection [M1161]."
        ),
        reference="SDG 11.6.1 (household part); CRF Tier II",
        unit="share",
        population="people",
        numerator=_waste_collected,
        denominator=_PEOPLE_KNOWN.format("collection"),
        parameters={"min_per_week": 1},
    ),
    Indicator(
        id="sdg_1_4_2_documented_adults",
        name="Adults with legally recognised tenure documentation",
        description="SDG 1.4.2 (a), from tenure_document [M142]." + _ADULT_BASED_142,
        reference="SDG 1.4.2 (a); CRF Tier II",
        unit="share",
        population="adults",
        numerator=_documented,
        denominator="adults in households whose documentation answer is known",
    ),
    Indicator(
        id="sdg_1_4_2_perceived_adults",
        name="Adults perceiving their tenure as secure",
        description=(
            "SDG 1.4.2 (b), from tenure_secure_perceived; a reported eviction threat counts "
            "as insecure when the answer is missing [M142]." + _ADULT_BASED_142
        ),
        reference="SDG 1.4.2 (b); CRF Tier II",
        unit="share",
        population="adults",
        numerator=_perceived,
        denominator="adults in households whose perception answer is known",
        parameters={"fallback_on_eviction_threat": True},
    ),
    Indicator(
        id="sdg_1_4_2_documented",
        name="Households with legally recognised tenure documentation",
        description="SDG 1.4.2 (a), from tenure_document [M142]." + _HOUSEHOLD_BASED_142,
        reference="SDG 1.4.2 (a); CRF Tier II",
        unit="share",
        population="households",
        numerator=_documented,
        denominator="households whose documentation answer is known",
    ),
    Indicator(
        id="sdg_1_4_2_perceived",
        name="Households perceiving their tenure as secure",
        description=(
            "SDG 1.4.2 (b), from tenure_secure_perceived; a reported eviction threat counts as "
            "insecure when the answer is missing [M142]." + _HOUSEHOLD_BASED_142
        ),
        reference="SDG 1.4.2 (b); CRF Tier II",
        unit="share",
        population="households",
        numerator=_perceived,
        denominator="households whose perception answer is known",
        parameters={"fallback_on_eviction_threat": True},
    ),
    Indicator(
        id="people_count",
        name="People",
        description=(
            "Number of people (sum of household_size). Disaggregated by hazard_class it gives "
            "the people in each hazard class; by settlement the enumerated population."
        ),
        reference="Exposure; CRF Tier I context",
        unit="people",
        population="people",
        numerator=_everyone,
        denominator="people in households with a known size",
        statistic="total",
    ),
    Indicator(
        id="households_count",
        name="Households",
        description="Number of households (disaggregate by hazard_class for exposure).",
        reference="Exposure; CRF Tier I context",
        unit="households",
        population="households",
        numerator=_everyone,
        denominator="households",
        statistic="total",
    ),
    Indicator(
        id="people_in_hazard_class",
        name="People living at or above a hazard class",
        description=(
            "Number of people in households whose hazard_class (ordered hazard_labels, "
            "default InaSAFE flood depth classes) is min_class or worse [INASAFE]."
        ),
        reference="Exposure",
        unit="people",
        population="people",
        numerator=_in_hazard_class,
        denominator="people in households whose hazard class is known",
        parameters={"hazard_labels": FLOOD_DEPTH_CLASSES, "min_class": "high"},
        statistic="total",
        requires=("hazard_class",),
    ),
    Indicator(
        id="slum_population_in_high_hazard",
        name="Slum population living in high hazard",
        description=(
            "Share of the people of slum households (SDG 11.1.1 rule with its defaults) whose "
            "hazard_class is min_class or worse [M111] [INASAFE]."
        ),
        reference="Exposure; SDG 11.1.1 / 11.5 context",
        unit="share",
        population="people",
        numerator=_in_hazard_class,
        denominator="people in slum households whose hazard class is known",
        parameters={"hazard_labels": FLOOD_DEPTH_CLASSES, "min_class": "high"},
        universe=_slum_scope,
        requires=("hazard_class",),
    ),
    _access_indicator(
        "water_point",
        "Population within 500 m of a water point",
        500.0,
        "Sphere WASH 2.1; CRF Tier II",
        "[SPH2018]",
    ),
    _access_indicator(
        "toilet",
        "Population within 50 m of a toilet",
        50.0,
        "Sphere WASH 3.2; CRF Tier II",
        "[SPH2018]",
    ),
    _access_indicator(
        "transit_stop",
        "Population within 500 m of a public transport stop",
        500.0,
        "SDG 11.2.1",
        "[M1121]",
    ),
    _access_indicator(
        "open_space",
        "Population within 400 m of public open space",
        400.0,
        "SDG 11.7.1",
        "[M1171]",
    ),
)
"""Household definitions of :data:`DEFAULT_REGISTRY` in reporting order."""

DEFAULT_REGISTRY = Registry(DEFAULT_INDICATORS)
"""The registry the service uses; other modules add their definitions with ``register``."""
