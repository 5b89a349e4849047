"""Disclosure control for indicator tables: small-cell suppression, no personal identifiers.

Rules
-----
*Primary suppression*: a cell built from fewer than ``k`` households (``n_units < k``,
default 5) has its statistics blanked (:data:`BLANKED`) and ``suppressed`` set to
``"fewer than k households"``.

*Complementary (secondary) suppression*: a *sibling set* is the cells of one table that
differ only in one disaggregation column (e.g. ``head_sex`` = female / male / NA within one
settlement, indicator and round); together they add up to the group total, which is
published in another table. If exactly one cell of a sibling set is suppressed, it could be
recovered as total minus the others, so the **smallest** unsuppressed sibling (fewest
households; ties broken by position) is suppressed too, with reason ``"complementary"``.
The rule is applied for every disaggregation column and repeated until nothing changes, so
that multi-way tables are protected along each margin. This is the simple "at least two
suppressed cells per marginal line" heuristic of [HDFS2012]_ (§ 4.4, secondary cell
suppression); it does not solve the optimal (least information loss) problem, and it does
not guard against recovery through totals of *other* tables with different groupings.

A sibling set with a single cell (the only cell equals the total) cannot be protected by
its siblings: its total must be suppressed too. Such cells are marked
``"fewer than k households; total also identifies it"`` so the caller suppresses the total.

References
----------
.. [HDFS2012] A. Hundepool, J. Domingo-Ferrer, L. Franconi, S. Giessing, E. Schulte Nordholt,
   K. Spicer, P.-P. de Wolf, *Statistical Disclosure Control*, Wiley, 2012, ch. 4
   (magnitude / frequency tables: threshold rule, secondary suppression).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from profiling.errors import ProfilingError
from profiling.schema import LAYERS

__all__ = [
    "BLANKED",
    "PERSONAL_COLUMNS",
    "PersonalDataError",
    "assert_no_personal_columns",
    "suppress_small_cells",
]

PERSONAL_COLUMNS: frozenset[str] = frozenset(
    f.name for layer in LAYERS.values() for f in layer.fields if f.personal
)
"""Names of the fields declared ``personal=True`` in :mod:`profiling.schema`."""

BLANKED: tuple[str, ...] = (
    "value",
    "numerator",
    "denominator",
    "n_units",
    "unknown",
    "ci_low",
    "ci_high",
)
"""Statistics blanked in a suppressed cell (the counts too: they would reveal the value)."""

_CONTEXT = ("indicator_id", "indicator_version", "round")


class PersonalDataError(ProfilingError):
    """An indicator output would contain a personal identifier column."""


def assert_no_personal_columns(columns: Iterable[object]) -> None:
    """Raise :class:`PersonalDataError` if any column is a personal identifier.

    Examples
    --------
    >>> assert_no_personal_columns(["settlement_id", "value"])
    >>> assert_no_personal_columns(["phone"])
    Traceback (most recent call last):
    ...
    profiling.indicators.privacy.PersonalDataError: personal identifier columns ...
    """
    found = sorted({str(c) for c in columns} & PERSONAL_COLUMNS)
    if found:
        raise PersonalDataError(
            f"personal identifier columns {found} may not appear in indicator output"
        )


def suppress_small_cells(
    table: pd.DataFrame,
    *,
    k: int = 5,
    count_column: str = "n_units",
    group_columns: Sequence[str] | None = None,
    context_columns: Sequence[str] = _CONTEXT,
) -> pd.DataFrame:
    """Blank cells built from fewer than ``k`` households, plus complementary cells.

    Parameters
    ----------
    table : pandas.DataFrame
        A roll-up table (:func:`profiling.indicators.roll_up`).
    k : int, keyword-only
        Minimum households per published cell (default 5).
    count_column : str, keyword-only
        Households behind each cell.
    group_columns : sequence of str, optional, keyword-only
        Columns along which cells are siblings (their cells add up to a total published
        elsewhere). Default: every group column of the table, the safe choice when margins
        along each of them (e.g. the city table by ``head_sex`` beside the settlement by
        ``head_sex`` table) may be published. Pass only the disaggregation columns (e.g.
        ``["head_sex"]``) when the sums across settlements are never published.
    context_columns : sequence of str, keyword-only
        Columns fixing one table (indicator, version, round); present ones are used.

    Returns
    -------
    pandas.DataFrame
        A copy with :data:`BLANKED` columns set to ``NaN`` in suppressed cells and a text
        column ``suppressed``: ``""`` (published), ``"fewer than k households"`` (with ``k``
        written out), or ``"complementary"``.
    """
    # rollup imports this module (the personal-column guard): import back lazily.
    from profiling.indicators.rollup import group_columns as _table_groups  # noqa: PLC0415

    assert_no_personal_columns(table.columns)
    if k < 1:
        raise ValueError("k must be >= 1")
    out = table.copy()
    n = pd.to_numeric(out[count_column], errors="coerce").to_numpy(dtype=float)
    primary = ~(n >= k)  # NaN counts are suppressed too
    reason = np.where(primary, f"fewer than {k} households", "").astype(object)
    suppressed = primary.copy()

    keys = _table_groups(out)
    dims = list(keys) if group_columns is None else list(group_columns)
    keys += [c for c in dims if c not in keys]
    context = [c for c in context_columns if c in out.columns]

    pos = np.arange(len(out))
    # The sibling-set key for each dimension; the NA level of a column is a cell like any other.
    set_ids: list[np.ndarray] = []
    for dim in dims:
        others = context + [c for c in keys if c != dim]
        if others:
            ids = out.groupby(others, dropna=False, sort=False).ngroup().to_numpy()
        else:
            ids = np.zeros(len(out), dtype=np.int64)
        set_ids.append(ids)

    changed = bool(dims)
    while changed:
        changed = False
        for ids in set_ids:
            frame = pd.DataFrame({"set": ids, "s": suppressed, "n": n, "pos": pos})
            stats = frame.groupby("set")["s"].agg(["sum", "size"])
            lonely = stats.index[(stats["sum"] == 1) & (stats["size"] > 1)]
            if len(lonely) == 0:
                continue
            cand = frame[frame["set"].isin(lonely) & ~frame["s"]]
            pick = cand.sort_values(["set", "n", "pos"], kind="stable").groupby("set").head(1)
            rows = pick["pos"].to_numpy()
            suppressed[rows] = True
            reason[rows] = "complementary"
            changed = True
    for ids in set_ids:
        single = pd.Series(ids).map(pd.Series(ids).value_counts()).to_numpy() == 1
        mark = single & primary
        reason[mark] = f"fewer than {k} households; total also identifies it"

    cols = [c for c in BLANKED if c in out.columns]
    for col in cols:
        out[col] = out[col].astype(float).where(~suppressed, np.nan)
    out["suppressed"] = reason
    return out
