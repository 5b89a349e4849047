"""Indicators for structure-level enumerations (the Kibera Kianda shape).

A structure-level enumeration has one row per *structure* (building) with counts, not one row
per household. The canonical columns, and the meaning of the Kianda source column they come
from (``kianda_structures_and_population_dataset.README.txt``):

==========================  ============  =====================================================
canonical column            Kianda        README meaning
==========================  ============  =====================================================
``households``              ``HOUSEHOLD`` number of households within the structure
``population``              ``POP``       number of people living in the structure
``households_water``        ``WATER``     number of households supplied with water
``households_toilet``       ``TOILET``    number of households with a toilet
``households_electricity``  ``ELECT``     number of households supplied with electricity
``owner_households``        ``OWNER``     "number of residents owning their house" (read here
                                          as owner-occupier households; the README says
                                          *residents*, state it when reporting)
==========================  ============  =====================================================

Shares are *ratios of sums* over the structures of a group:

.. math:: \\text{share}_x = \\frac{\\sum_s \\text{households\\_x}_s}{\\sum_s \\text{households}_s}

:func:`roll_up_structures` runs :func:`profiling.indicators.roll_up` on a definition of
:data:`STRUCTURE_REGISTRY` (``statistic="ratio_of_sums"``): unit size :math:`m_s` =
``households``, per-unit numerator count ``households_x``, so the value is exactly the source's
own ``sum(WATER) / sum(HOUSEHOLD)``, with its interval (Wilson on the household counts) and
provenance. A structure whose count or household number is missing is *unknown* (left out of
both sums). :func:`totals` returns the exact sums of the count columns per group.

A structure with **0 households but a positive count** is inconsistent (who is supplied?):
its count is kept in the numerator, as the source's sums keep it, and
:func:`inconsistent_structures` lists such structures for the data-quality report. In
Kianda 589 of 1,510 structures have 0 households, and some of them report water (7
structures, 15 households), toilets, electricity or owners.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

import profiling
from profiling.indicators.privacy import assert_no_personal_columns
from profiling.indicators.registry import Indicator, NumeratorFn, Registry
from profiling.indicators.rollup import roll_up

__all__ = [
    "STRUCTURE_COUNT_COLUMNS",
    "STRUCTURE_INDICATORS",
    "STRUCTURE_REGISTRY",
    "STRUCTURE_SIZE_COLUMN",
    "household_share",
    "inconsistent_structures",
    "roll_up_structures",
    "totals",
]

STRUCTURE_SIZE_COLUMN = "households"
"""Unit size :math:`m_s` of a structure in household-based shares."""

STRUCTURE_COUNT_COLUMNS: tuple[str, ...] = (
    "households",
    "population",
    "households_water",
    "households_toilet",
    "households_electricity",
    "owner_households",
)
"""Count columns of a canonical structure-level enumeration (summed by :func:`totals`)."""


def household_share(column: str) -> NumeratorFn:
    """Numerator function of a ratio of sums: the structure's count ``column``.

    Missing or negative counts are unknown (``NaN``).

    Parameters
    ----------
    column : str
        The count column, e.g. ``households_water``.

    Returns
    -------
    callable
        ``f(units, parameters) -> Series`` (float64) for :class:`Indicator`.
    """

    def share(units: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
        count = pd.to_numeric(units[column], errors="coerce").astype("float64")
        return count.where(count >= 0, np.nan)

    share.__doc__ = f"{column} per structure (summed over sum of households; missing: unknown)"
    share.__name__ = f"share_{column}"
    return share


def _share_indicator(id_: str, name: str, column: str, meaning: str, reference: str) -> Indicator:
    return Indicator(
        id=id_,
        name=name,
        description=(
            f"Share of households that {meaning}: sum of {column} over sum of households in "
            "the group's structures (ratio of sums, as the source's own totals; roll up with "
            "roll_up_structures). Structures with a missing count are unknown."
        ),
        reference=reference,
        unit="share",
        population="households",
        numerator=household_share(column),
        denominator="households in structures whose count is known",
        parameters={},
        version="2",
        statistic="ratio_of_sums",
    )


STRUCTURE_INDICATORS: tuple[Indicator, ...] = (
    _share_indicator(
        "structure_households_water",
        "Households supplied with water",
        "households_water",
        "are supplied with water (Kianda WATER)",
        "Structure enumeration (Kianda WATER / HOUSEHOLD)",
    ),
    _share_indicator(
        "structure_households_toilet",
        "Households with a toilet",
        "households_toilet",
        "have a toilet (Kianda TOILET)",
        "Structure enumeration (Kianda TOILET / HOUSEHOLD)",
    ),
    _share_indicator(
        "structure_households_electricity",
        "Households supplied with electricity",
        "households_electricity",
        "are supplied with electricity (Kianda ELECT)",
        "Structure enumeration (Kianda ELECT / HOUSEHOLD)",
    ),
    _share_indicator(
        "structure_owner_occupiers",
        "Owner-occupier households",
        "owner_households",
        "own their house (Kianda OWNER, 'residents owning their house')",
        "Structure enumeration (Kianda OWNER / HOUSEHOLD)",
    ),
)
"""Household shares for structure-level enumerations (roll up with :func:`roll_up_structures`)."""

STRUCTURE_REGISTRY = Registry(STRUCTURE_INDICATORS)
"""Registry of :data:`STRUCTURE_INDICATORS` (kept apart: they read structure rows, not
household rows)."""


def roll_up_structures(
    structures: pd.DataFrame,
    indicator: Indicator,
    *,
    by: Sequence[str] = ("settlement_id",),
    round_column: str | None = "round",
    upload_column: str | None = "upload_id",
    computed_at: datetime | None = None,
) -> pd.DataFrame:
    """:func:`profiling.indicators.roll_up` of a structure share, weighted by households.

    Parameters
    ----------
    structures : pandas.DataFrame
        Canonical structures (:data:`STRUCTURE_COUNT_COLUMNS`, the ``by`` columns).
    indicator : Indicator
        A definition of :data:`STRUCTURE_REGISTRY`.
    by, round_column, upload_column, computed_at
        As for :func:`profiling.indicators.roll_up`. Missing round / upload columns are
        tolerated (no rounds / no upload ids).

    Returns
    -------
    pandas.DataFrame
        The roll-up table: ``numerator`` = households with the service, ``denominator`` =
        households, ``unknown`` = structures with the count or households missing.
    """
    rc = round_column if round_column in structures.columns else None
    return roll_up(
        structures,
        indicator,
        by=by,
        weight=STRUCTURE_SIZE_COLUMN,
        round_column=rc,
        upload_column=upload_column,
        computed_at=computed_at,
    )


def inconsistent_structures(structures: pd.DataFrame, column: str) -> pd.Series:
    """Structures with 0 households but a positive ``column`` count (data-quality flag).

    Examples
    --------
    >>> s = pd.DataFrame({"households": [0, 0, 2], "households_water": [3, 0, 5]})
    >>> inconsistent_structures(s, "households_water").tolist()
    [True, False, False]
    """
    households = pd.to_numeric(structures[STRUCTURE_SIZE_COLUMN], errors="coerce")
    count = pd.to_numeric(structures[column], errors="coerce")
    return ((households == 0) & (count > 0)).rename(f"inconsistent_{column}")


def _id_list(values: pd.Series) -> str:
    return ",".join(sorted({str(v) for v in values if pd.notna(v)}))


def totals(
    structures: pd.DataFrame,
    *,
    by: Sequence[str] = ("settlement_id",),
    columns: Sequence[str] = STRUCTURE_COUNT_COLUMNS,
    round_column: str | None = "round",
    upload_column: str | None = "upload_id",
    computed_at: datetime | None = None,
) -> pd.DataFrame:
    """Exact sums of count columns per group, over every structure, with provenance.

    Parameters
    ----------
    structures : pandas.DataFrame
        One row per structure with the count ``columns``.
    by : sequence of str, keyword-only
        Group keys (``()`` for the city). Missing keys form their own group.
    columns : sequence of str, keyword-only
        Count columns to sum (default :data:`STRUCTURE_COUNT_COLUMNS`, those present).
    round_column, upload_column : str or None, keyword-only
        Round and upload-id columns (used when present).
    computed_at : datetime, optional, keyword-only
        Timestamp to record (default: now, UTC).

    Returns
    -------
    pandas.DataFrame
        One row per group (and round): ``group`` (label as in ``roll_up``), the ``by``
        columns, ``round``, ``n_units`` (structures), one column per count (exact sum,
        missing counts skipped), ``missing_<column>`` (structures with that count missing),
        ``upload_ids``, ``computed_at``, ``code_version``.

    Examples
    --------
    >>> s = pd.DataFrame({"settlement_id": ["A", "A"], "households": [2, 3],
    ...                   "population": [5, None]})
    >>> totals(s)[["group", "n_units", "households", "population"]].to_dict("records")
    [{'group': 'settlement_id=A', 'n_units': 2, 'households': 5.0, 'population': 5.0}]
    """
    by = list(by)
    assert_no_personal_columns(by)
    rc = round_column if round_column is not None and round_column in structures.columns else None
    keys = ([rc] if rc else []) + by
    cols = [c for c in columns if c in structures.columns]
    data = pd.DataFrame(
        {c: pd.to_numeric(structures[c], errors="coerce").astype("float64") for c in cols},
        index=structures.index,
    )
    for key in keys:
        data[key] = structures[key]
    if keys:
        grouped = data.groupby(keys, dropna=False, sort=True, observed=True)
        sums = grouped[cols].sum(min_count=0)
        missing = data[cols].isna().groupby([data[k] for k in keys], dropna=False, sort=True).sum()
        out = sums.reset_index()
        out.insert(len(keys), "n_units", grouped.size().to_numpy().astype("int64"))
        for c in cols:
            out[f"missing_{c}"] = missing[c].to_numpy().astype("int64")
    else:
        out = pd.DataFrame({"n_units": [len(data)]}, dtype="int64")
        for c in cols:
            out[c] = [float(data[c].sum(min_count=0))]
        for c in cols:
            out[f"missing_{c}"] = [int(data[c].isna().sum())]
    if by:
        parts = [
            c + "=" + out[c].astype(object).where(out[c].notna(), "NA").astype(str) for c in by
        ]
        label = parts[0]
        for part in parts[1:]:
            label = label + "; " + part
        out.insert(0, "group", label.astype(object))
    else:
        out.insert(0, "group", "")
    if rc is None:
        out["round"] = None
    if upload_column is not None and upload_column in structures.columns:
        if keys:
            ids = (
                structures.groupby(keys, dropna=False, sort=True, observed=True)[upload_column]
                .agg(_id_list)
                .to_numpy()
            )
        else:
            vals = structures[upload_column]
            ids = np.array([_id_list(vals)])
        out["upload_ids"] = ids
    else:
        out["upload_ids"] = ""
    stamp = computed_at or datetime.now(UTC)
    out["computed_at"] = stamp.astimezone(UTC).isoformat(timespec="seconds")
    out["code_version"] = profiling.__version__
    assert_no_personal_columns(out.columns)
    return out
