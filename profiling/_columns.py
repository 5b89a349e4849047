"""Column readers shared by the household analyses (tenure, deprivations).

Each returns a Series aligned to the frame, with a missing column read as "not asked" (all
missing), so rules can tell unknown answers from negative ones.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from profiling import codelists as cl
from profiling._memo import memo

__all__ = ["as_bool", "as_number", "as_text", "code_group", "in_groups"]


def as_text(frame: pd.DataFrame, name: str) -> pd.Series:
    """Column ``name`` as object values with ``None`` for missing (all missing when absent)."""
    if name not in frame.columns:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    col = frame[name]
    return col.astype(object).where(col.notna(), None)


def code_group(frame: pd.DataFrame, name: str, table: Mapping[str, cl.Code]) -> pd.Series:
    """The code-list group of each value (vectorised dictionary lookup).

    ``None`` for missing values, codes outside the list and the group ``unknown`` (the
    ``other`` answer, which says nothing about the class).
    """
    if name not in frame.columns:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)

    def lookup() -> np.ndarray:
        groups = {c.code: c.group for c in table.values() if c.group and c.group != "unknown"}
        # Look up each distinct value once (a few codes, a million rows).
        codes, uniques = pd.factorize(frame[name], use_na_sentinel=True)
        found = [groups.get(u) if isinstance(u, str) else None for u in uniques]
        return np.array([*found, None], dtype=object)[codes]

    values = memo(frame, ("code_group", name, id(table)), lookup)
    return pd.Series(values.copy(), index=frame.index, dtype=object)


def as_bool(frame: pd.DataFrame, name: str) -> pd.Series:
    """Column ``name`` as nullable boolean (all ``<NA>`` when absent)."""
    if name not in frame.columns:
        return pd.Series(pd.NA, index=frame.index, dtype="boolean")
    return frame[name].astype("boolean")


def as_number(frame: pd.DataFrame, name: str) -> pd.Series:
    """Column ``name`` as nullable float (all ``<NA>`` when absent, non-numbers ``<NA>``)."""
    if name not in frame.columns:
        return pd.Series(pd.NA, index=frame.index, dtype="Float64")
    return pd.to_numeric(frame[name], errors="coerce").astype("Float64")


def in_groups(groups: pd.Series, *wanted: str) -> pd.Series:
    """Nullable boolean: group in ``wanted``; ``<NA>`` where the group is unknown."""
    out = pd.Series(groups.isin(wanted).to_numpy(), index=groups.index, dtype="boolean")
    return out.where(groups.notna(), pd.NA)
