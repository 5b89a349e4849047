"""Every indicator of a registry in one tidy table, and adult counts from the members roster.

>>> hh = pd.DataFrame({"household_id": ["h1", "h2"], "adults": [1, 2]})
>>> m = pd.DataFrame({"household_id": ["h1", "h1", "h1"], "age": [40, 17, 19],
...                   "sex": ["female", "male", "male"]})
>>> adults_from_members(hh, m)[["adults", "adult_females", "adult_males"]].to_dict("list")
{'adults': [2.0, 2.0], 'adult_females': [1.0, nan], 'adult_males': [1.0, nan]}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from profiling._memo import shared_work
from profiling.indicators.definitions import DEFAULT_REGISTRY
from profiling.indicators.registry import POPULATION_SIZE_COLUMNS, Registry
from profiling.indicators.rollup import roll_up_many

__all__ = ["IndicatorTable", "adults_from_members", "indicator_table"]

ADULT_AGE = 18
"""Age (years) from which a member is an adult (SDG 1.4.2 metadata: 18+, national
definitions may use 15)."""


def adults_from_members(
    households: pd.DataFrame, members: pd.DataFrame, *, min_age: float = ADULT_AGE
) -> pd.DataFrame:
    """Adults per household counted from the roster, by sex (for SDG 1.4.2 by adults).

    For households with at least one member row, ``adults`` is the number of members aged
    ``min_age`` or more, ``adult_females`` / ``adult_males`` the women and men among them;
    members whose age is missing are not counted, and make the household's counts unknown
    (``NaN``) rather than too small. Households without roster rows keep their ``adults``
    answer, with the split by sex unknown.

    Parameters
    ----------
    households : pandas.DataFrame
        Canonical households (``household_id``, optional ``adults``).
    members : pandas.DataFrame
        Canonical members (``household_id``, ``age`` in years, ``sex``).
    min_age : float, keyword-only
        Adult age, years (default 18).

    Returns
    -------
    pandas.DataFrame
        A copy of ``households`` with ``adults``, ``adult_females``, ``adult_males``
        (float, ``NaN`` unknown).
    """
    for column in ("household_id", "age"):
        frame = households if column == "household_id" else members
        if column not in frame.columns:
            raise KeyError(f"column {column!r} missing: needed to count adults")
    if "household_id" not in members.columns:
        raise KeyError("members need household_id to be counted per household")
    age = pd.to_numeric(members["age"], errors="coerce")
    sex = (
        members["sex"].astype(object)
        if "sex" in members.columns
        else pd.Series(None, index=members.index)
    )
    adult = (age >= min_age).to_numpy()
    roster = pd.DataFrame(
        {
            "household_id": members["household_id"].astype(str).to_numpy(),
            "adults": adult.astype(float),
            "adult_females": (adult & (sex == "female").to_numpy()).astype(float),
            "adult_males": (adult & (sex == "male").to_numpy()).astype(float),
            "age_missing": age.isna().to_numpy(),
        }
    )
    per = roster.groupby("household_id", sort=False).sum()
    per.loc[per["age_missing"] > 0, ["adults", "adult_females", "adult_males"]] = np.nan
    out = households.copy()
    keys = out["household_id"].astype(str)
    listed = keys.isin(per.index).to_numpy()
    declared = (
        pd.to_numeric(out["adults"], errors="coerce").astype(float)
        if "adults" in out.columns
        else pd.Series(np.nan, index=out.index)
    )
    for column in ("adults", "adult_females", "adult_males"):
        counted = keys.map(per[column]).astype(float)
        fallback = declared if column == "adults" else np.nan
        out[column] = np.where(listed, counted, fallback)
    return out


@dataclass(frozen=True)
class IndicatorTable:
    """Result of :func:`indicator_table`.

    Attributes
    ----------
    table : pandas.DataFrame
        Tidy rows of every computed indicator (see :func:`profiling.indicators.roll_up`).
    skipped : dict
        Indicator id → why it was not computed (e.g. ``hazard_class`` not joined).
    """

    table: pd.DataFrame
    skipped: dict[str, str]


def indicator_table(
    units: pd.DataFrame,
    *,
    registry: Registry = DEFAULT_REGISTRY,
    indicators: Sequence[str] | None = None,
    groupings: Sequence[Sequence[str]] = ((), ("settlement_id",)),
    computed_at: datetime | None = None,
    **options: Any,
) -> IndicatorTable:
    """Roll every indicator of ``registry`` (or the ``indicators`` named) up for each grouping.

    Indicators whose ``requires`` or size column (``adults``: see
    :func:`adults_from_members`) is absent are skipped with the reason; analyses
    behind several indicators (the five deprivations) are computed once. A grouping column
    absent from ``units`` raises ``KeyError``: a typo never silently merges cells.

    Parameters
    ----------
    units : pandas.DataFrame
        Canonical households with the joined analysis columns.
    registry : Registry, keyword-only
    indicators : sequence of str, optional, keyword-only
        Ids to compute (default: all of the registry, in its order).
    groupings : sequence of sequences of str, keyword-only
        As for :func:`profiling.indicators.roll_up_many`.
    computed_at : datetime, optional, keyword-only
        One timestamp for every row (default: now, UTC).
    **options
        Passed to :func:`profiling.indicators.roll_up` (``sample_weight``, ``psu``,
        ``strata``, ``round_column``, ``upload_column``).

    Returns
    -------
    IndicatorTable
    """
    chosen = [registry.get(i) for i in indicators] if indicators else list(registry)
    stamp = computed_at or datetime.now(UTC)
    tables: list[pd.DataFrame] = []
    skipped: dict[str, str] = {}
    with shared_work():
        for indicator in chosen:
            size = POPULATION_SIZE_COLUMNS[indicator.population]
            needed = [*indicator.requires, *([size] if size else [])]
            absent = [c for c in needed if c not in units.columns]
            if absent:
                skipped[indicator.id] = f"needs column(s) {absent} (join the analysis first)"
                continue
            tables.append(
                roll_up_many(units, indicator, groupings=groupings, computed_at=stamp, **options)
            )
    table = pd.concat(tables, ignore_index=True, sort=False) if tables else pd.DataFrame()
    return IndicatorTable(table=table, skipped=skipped)
