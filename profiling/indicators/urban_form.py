"""Block street access indicators (reblocking), rolled up from buildings and blocks.

:func:`profiling.morphology.street_access_by_area` gives, per settlement, one row per street
block (complexity ``k``, buildings, area) and one per building (its parcel's peeling
``layer``, its block's ``k``, whether it is off-network). :func:`urban_form_indicator_table`
rolls those rows up to the settlement and the city with
:func:`profiling.indicators.roll_up_many`, so the figures carry the same layout, Wilson
intervals (a census of footprints) and provenance as every other indicator.

References
----------
.. [Brelsford2018] C. Brelsford, T. Martin, J. Hand, L. M. A. Bettencourt, "Toward cities
   without slums: topology and the spatial evolution of neighborhoods", *Science Advances*
   4(8) (2018) eaar4644: block complexity ``k``; ``k = 1`` when every parcel faces a street.
.. [MillionNeighborhoods] Mansueto Institute, *Million Neighborhoods Initiative* (prclz):
   block complexity from OpenStreetMap streets and building footprints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from profiling.indicators.registry import Indicator, Registry
from profiling.indicators.rollup import roll_up_many
from profiling.morphology import OFF_NETWORK_M

__all__ = [
    "URBAN_FORM_INDICATORS",
    "URBAN_FORM_REGISTRY",
    "urban_form_indicator_table",
]

_REFERENCE = "Brelsford et al. 2018; Million Neighborhoods (prclz)"


def _no_frontage(units: pd.DataFrame, _: Mapping[str, Any]) -> pd.Series:
    """The building's parcel is peeled in layer 2 or deeper: it does not touch a street or
    footpath (unknown when the parcel was never reached from the block edge)."""
    return units["layer"].astype("Float64").ge(2)


def _in_complex_block(units: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
    """The building's block has complexity ``k >= k_min``."""
    return units["k"].astype("Float64").ge(float(params["k_min"]))


def _block_not_fully_accessible(units: pd.DataFrame, _: Mapping[str, Any]) -> pd.Series:
    """The block (with at least one building) has ``k >= 2``."""
    return units["k"].astype("Float64").ge(2)


def _has_buildings(units: pd.DataFrame, _: Mapping[str, Any]) -> pd.Series:
    """Blocks with at least one building."""
    return units["buildings"].gt(0)


BUILDING_INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        id="buildings_without_street_frontage_share",
        name="Buildings without street frontage",
        description=(
            "Buildings whose parcel (enclosed tessellation of the block) does not touch a "
            "street or footpath: reached only through other parcels (peeling layer >= 2). "
            "The buildings reblocking would connect."
        ),
        reference=_REFERENCE,
        unit="share",
        population="structures",
        numerator=_no_frontage,
        denominator="buildings placed in a street block of the settlement",
    ),
    Indicator(
        id="buildings_in_complex_blocks_share",
        name="Buildings in complex blocks",
        description=(
            "Buildings in blocks of complexity k >= k_min: the block's parcels must be peeled "
            "k_min or more times before none remain [Brelsford2018]."
        ),
        reference=_REFERENCE,
        unit="share",
        population="structures",
        numerator=_in_complex_block,
        denominator="buildings placed in a street block of the settlement",
        parameters={"k_min": 3},
    ),
    Indicator(
        id="block_complexity_building_mean",
        name="Mean block complexity of buildings",
        description="Mean k of the block each building stands in (1 = every parcel faces a "
        "street).",
        reference=_REFERENCE,
        unit="k",
        population="structures",
        numerator="k",
        denominator="buildings placed in a street block of the settlement",
    ),
    Indicator(
        id="buildings_off_network_share",
        name="Buildings off the street network",
        description=(
            "Buildings whose centroid is off_network_m or more from the nearest street or "
            "footpath centreline."
        ),
        reference="Million Neighborhoods (prclz)",
        unit="share",
        population="structures",
        numerator="off_network",
        denominator="buildings placed in a street block of the settlement",
        parameters={"off_network_m": OFF_NETWORK_M},
    ),
)
"""Rolled up from the per-building rows."""

BLOCK_INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        id="blocks_not_fully_accessible_share",
        name="Blocks without full street access",
        description="Blocks with buildings whose complexity k >= 2: some parcel reaches a "
        "street only through another.",
        reference=_REFERENCE,
        unit="share",
        population="land",
        numerator=_block_not_fully_accessible,
        denominator="street blocks of the settlement with at least one building",
        universe=_has_buildings,
    ),
    Indicator(
        id="building_density_per_ha",
        name="Building density",
        description="Buildings per hectare of street block: sum of buildings / sum of block area.",
        reference=_REFERENCE,
        unit="buildings per ha",
        population="land",
        numerator="buildings",
        denominator="hectares of the settlement's street blocks",
        statistic="ratio_of_sums",
    ),
)
"""Rolled up from the per-block rows (block area is the size of a block)."""

URBAN_FORM_INDICATORS: tuple[Indicator, ...] = BUILDING_INDICATORS + BLOCK_INDICATORS
"""Every block street access definition."""

URBAN_FORM_REGISTRY = Registry(URBAN_FORM_INDICATORS)
"""Registry of :data:`URBAN_FORM_INDICATORS`."""


def urban_form_indicator_table(
    buildings: pd.DataFrame,
    blocks: pd.DataFrame,
    *,
    groupings: Sequence[Sequence[str]] = ((), ("settlement_id",)),
    parameters: Mapping[str, Any] | None = None,
    computed_at: datetime | None = None,
    source: str = "footprints",
) -> pd.DataFrame:
    """Indicator rows from :func:`profiling.morphology.street_access_by_area`.

    Parameters
    ----------
    buildings : pandas.DataFrame
        Per-building rows: ``settlement_id``, ``block_id``, ``layer``, ``k``,
        ``off_network``. Buildings in no block are left out.
    blocks : pandas.DataFrame
        Per-block rows: ``settlement_id``, ``k``, ``buildings``, ``area_ha``.
    groupings : sequence of sequences of str, keyword-only
        Group columns of each table (default: the city, then each settlement).
    parameters : mapping, optional, keyword-only
        The analysis parameters to record (``k_min``, ``off_network_m``).
    computed_at : datetime, optional, keyword-only
    source : str, keyword-only
        The ``source`` of every row (e.g. which footprint layer).

    Returns
    -------
    pandas.DataFrame
        Tidy rows (:func:`profiling.indicators.tidy_table` layout), no ``round``; empty when
        there are no blocks.

    Examples
    --------
    >>> b = pd.DataFrame({"settlement_id": ["a"] * 4, "block_id": [0, 0, 0, 1],
    ...                   "layer": [1, 1, 2, 1], "k": [2, 2, 2, 1],
    ...                   "off_network": [False] * 4})
    >>> blk = pd.DataFrame({"settlement_id": ["a", "a"], "k": [2, 1], "buildings": [3, 1],
    ...                     "area_ha": [0.5, 1.5]})
    >>> t = urban_form_indicator_table(b, blk, groupings=[()])
    >>> t.set_index("indicator_id")["value"].round(3).to_dict()  # doctest: +NORMALIZE_WHITESPACE
    {'buildings_without_street_frontage_share': 0.25, 'buildings_in_complex_blocks_share': 0.0,
     'block_complexity_building_mean': 1.75, 'buildings_off_network_share': 0.0,
     'blocks_not_fully_accessible_share': 0.5, 'building_density_per_ha': 2.0}
    """
    placed = pd.DataFrame(buildings)
    if "block_id" in placed.columns:
        placed = placed[placed["block_id"].notna()]
    parts: list[pd.DataFrame] = []
    options: dict[str, Any] = {"round_column": None, "upload_column": None}
    overrides = dict(parameters or {})
    for units, registry, weight in (
        (placed, BUILDING_INDICATORS, None),
        (pd.DataFrame(blocks), BLOCK_INDICATORS, "area_ha"),
    ):
        if units.empty:
            continue
        for indicator in registry:
            own = {k: v for k, v in overrides.items() if k in indicator.parameters}
            weights = {"weight": weight} if indicator.statistic == "ratio_of_sums" else {}
            parts.append(
                roll_up_many(
                    units,
                    indicator,
                    groupings=groupings,
                    parameters=own,
                    computed_at=computed_at,
                    **options,
                    **weights,
                )
            )
    if not parts:
        return pd.DataFrame()
    table = pd.concat(parts, ignore_index=True, sort=False)
    table["source"] = source
    return table
