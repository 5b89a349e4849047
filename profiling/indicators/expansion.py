"""Urban expansion indicators (Atlas of Urban Expansion, SDG 11.3.1) in the tidy layout.

:func:`profiling.expansion.expansion_table` computes, per epoch of a built-up raster, the urban
extent and its parts, fullness, density, compactness, growth and the growth types;
:func:`expansion_indicator_table` turns that table into indicator rows (group: the city; round:
the epoch) so that they are served, compared between rounds and set against targets like
every other indicator.

References
----------
.. [Angel2016] S. Angel et al., *Atlas of Urban Expansion, 2016 Edition, Volume 1: Areas and
   Densities*, NYU Urban Expansion Program, UN-Habitat, Lincoln Institute.
.. [M1131] UN-Habitat, *SDG indicator 11.3.1 metadata* (2021): ratio of land consumption rate
   to population growth rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from profiling.indicators.registry import Indicator, Registry
from profiling.indicators.rollup import tidy_table

__all__ = ["EXPANSION_INDICATORS", "EXPANSION_REGISTRY", "expansion_indicator_table"]


# indicator id -> (column of expansion_table, numerator column, denominator column)
_SOURCES: dict[str, tuple[str, str | None, str | None]] = {
    "urban_extent_ha": ("extent_ha", None, None),
    "built_up_ha": ("built_ha", None, None),
    "urban_fullness": ("fullness", "built_ha", "extent_ha"),
    "urban_density": ("density_per_ha", "population", "extent_ha"),
    "urban_compactness": ("proximity", None, None),
    "urban_extent_annual_growth": ("extent_growth", None, None),
    "sdg_11_3_1_land_consumption_ratio": ("sdg_11_3_1", None, None),
    "new_development_infill_ha": ("infill_ha", None, None),
    "new_development_extension_ha": ("extension_ha", None, None),
    "new_development_leapfrog_ha": ("leapfrog_ha", None, None),
}


def _definition(
    id_: str, name: str, description: str, unit: str, reference: str, statistic: str
) -> Indicator:
    return Indicator(
        id=id_,
        name=name,
        description=description,
        reference=reference,
        unit=unit,
        population="land",
        numerator=_SOURCES[id_][0],
        denominator="see description (computed per epoch from the built-up raster)",
        statistic=statistic,  # type: ignore[arg-type]
    )


EXPANSION_INDICATORS: tuple[Indicator, ...] = (
    _definition(
        "urban_extent_ha",
        "Urban extent",
        "Urban and suburban built-up pixels (built-up share > 25 % within a 1 km2 walking "
        "circle), fringe open space within 100 m and captured open space (< 200 ha) [Angel2016].",
        "ha",
        "Atlas of Urban Expansion",
        "total",
    ),
    _definition(
        "built_up_ha",
        "Built-up area",
        "Built-up pixels by the epoch.",
        "ha",
        "Atlas of Urban Expansion",
        "total",
    ),
    _definition(
        "urban_fullness",
        "Fullness of the urban extent",
        "Urban and suburban built-up area / urban extent [Angel2016].",
        "share",
        "Atlas of Urban Expansion",
        "ratio",
    ),
    _definition(
        "urban_density",
        "Density of the urban extent",
        "Population / urban extent (people per hectare) [Angel2016].",
        "people per ha",
        "Atlas of Urban Expansion",
        "ratio",
    ),
    _definition(
        "urban_compactness",
        "Compactness (proximity index)",
        "Mean distance to the centroid of an equal-area circle over that of the extent "
        "(1 = a circle; Angel, Parent and Civco 2010).",
        "index",
        "Atlas of Urban Expansion",
        "ratio",
    ),
    _definition(
        "urban_extent_annual_growth",
        "Annual growth of the urban extent",
        "ln(extent_t / extent_t-1) / years since the previous epoch.",
        "per year",
        "Atlas of Urban Expansion",
        "ratio",
    ),
    _definition(
        "sdg_11_3_1_land_consumption_ratio",
        "Ratio of land consumption rate to population growth rate",
        "LCR / PGR with LCR = ln(Urb_t+n / Urb_t) / y and PGR = ln(Pop_t+n / Pop_t) / y over "
        "the urban extent and its population since the previous epoch [M1131].",
        "ratio",
        "SDG 11.3.1",
        "ratio",
    ),
    _definition(
        "new_development_infill_ha",
        "New development: infill",
        "New built-up patches whose 300 m ring is >= 90 % old built-up (landscape expansion "
        "index; Liu et al. 2010, GOSTurban thresholds).",
        "ha",
        "Urban expansion planning",
        "total",
    ),
    _definition(
        "new_development_extension_ha",
        "New development: extension",
        "New built-up patches whose 300 m ring is between 5 % and 90 % old built-up.",
        "ha",
        "Urban expansion planning",
        "total",
    ),
    _definition(
        "new_development_leapfrog_ha",
        "New development: leapfrog",
        "New built-up patches whose 300 m ring is <= 5 % old built-up.",
        "ha",
        "Urban expansion planning",
        "total",
    ),
)
"""Expansion definitions (values from :func:`profiling.expansion.expansion_table`)."""

EXPANSION_REGISTRY = Registry(EXPANSION_INDICATORS)
"""Registry of :data:`EXPANSION_INDICATORS`."""


def expansion_indicator_table(
    table: pd.DataFrame,
    *,
    city: str | None,
    parameters: Mapping[str, Any] | None = None,
    computed_at: datetime | None = None,
) -> pd.DataFrame:
    """Indicator rows from an :func:`profiling.expansion.expansion_table` (one per epoch).

    Parameters
    ----------
    table : pandas.DataFrame
        Indexed by epoch, with the columns the definitions read.
    city : str or None, keyword-only
        The ``city`` group column of every row; ``None``: no group column (the city row,
        group ``""``, as the service's household city rows).
    parameters : mapping, optional, keyword-only
        The analysis parameters to record (radius, fringe, buffer...).
    computed_at : datetime, optional, keyword-only

    Returns
    -------
    pandas.DataFrame
        Tidy rows (:func:`profiling.indicators.tidy_table`), ``source`` = ``"built_up_raster"``;
        epochs where a value cannot be computed (no previous epoch, no population) are left
        out.

    Examples
    --------
    >>> t = pd.DataFrame({"extent_ha": [100.0, 121.0], "built_ha": [60.0, 80.0]},
    ...                  index=pd.Index([2000, 2010], name="epoch"))
    >>> rows = expansion_indicator_table(t, city="X")
    >>> rows[rows.indicator_id == "urban_fullness"]["value"].round(3).tolist()
    [0.6, 0.661]
    """
    parts: list[pd.DataFrame] = []
    for indicator in EXPANSION_INDICATORS:
        column, num, den = _SOURCES[indicator.id]
        if column not in table.columns:
            if num is None or den is None or num not in table or den not in table:
                continue
            values = table[num] / table[den]
        else:
            values = table[column]
        values = pd.to_numeric(values, errors="coerce")
        keep = np.isfinite(values.to_numpy(dtype=float))
        if not keep.any():
            continue
        epochs = table.index[keep]
        stats: dict[str, Any] = {"value": values[keep].to_numpy(dtype=float)}
        if num is not None and den is not None and num in table and den in table:
            stats["numerator"] = pd.to_numeric(table.loc[epochs, num]).to_numpy(dtype=float)
            stats["denominator"] = pd.to_numeric(table.loc[epochs, den]).to_numpy(dtype=float)
        elif indicator.statistic == "total":
            stats["numerator"] = stats["value"]
        keys = pd.DataFrame({"round": [str(e) for e in epochs]})
        if city is not None:
            keys.insert(0, "city", [city] * len(epochs))
        parts.append(
            tidy_table(
                indicator,
                keys,
                stats,
                ci_method="none",
                parameters=dict(parameters or {}),
                source="built_up_raster",
                computed_at=computed_at,
            )
        )
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts, ignore_index=True)
