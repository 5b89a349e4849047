"""Tenure: the continuum of land rights, SDG 1.4.2 components, renters and eviction threat.

Every function is pure: a canonical ``households`` (or ``structures``) frame in, a new Series
or DataFrame out, indexed like the input (or by settlement for summaries), never mutating it.
Classes are read from the code lists' ``group`` (:mod:`profiling.codelists`), never from ad hoc
string tests. A column absent from the frame is treated as an answer not collected (all
missing), so the result says *unknown* instead of failing or guessing.

Missing answers follow one rule throughout: three-valued (Kleene) logic. A household is
*secure* when any component says so, *insecure* only when every component is known and none
does, and ``<NA>`` otherwise. Nothing unknown is silently counted as secure or insecure.

References
----------
.. [M142] UN-Habitat, World Bank, GLTN, *SDG indicator 1.4.2 metadata* (2019 rev. 2021):
   (a) share of adults with legally recognised documentation of their rights to land,
   (b) share who perceive their rights to land as secure (no fear of losing the land or
   property against their will in the next 5 years).
.. [M111] UN-Habitat, *SDG indicator 11.1.1 metadata* and *training module: adequate housing
   and slum upgrading* (2018): secure tenure is "evidence of documentation that can be used as
   proof of secure tenure status or for which there is either de facto or perceived protection
   against forced evictions".
.. [GLTN2012] UN-Habitat / GLTN, *Handling land: innovative tools for land governance and
   secure tenure* (2012): the continuum of land rights.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from profiling import codelists as cl
from profiling._columns import as_bool, as_number, as_text, code_group, in_groups

__all__ = [
    "RENTAL_TENURE",
    "SecureTenureRule",
    "documented_security",
    "eviction_threat_summary",
    "owner_renter_shares",
    "perceived_security",
    "secure_tenure",
    "tenure_position",
]

RENTAL_TENURE: frozenset[str] = frozenset({"informal_rental", "formal_rental"})
"""Tenure types of households that rent their home (``TENURE_TYPES`` codes). Every other known
type except ``none`` (no rights) counts as owner-occupation in :func:`owner_renter_shares`:
the household occupies a home it holds, whatever the strength of the right."""

_NO_RIGHTS: frozenset[str] = frozenset({"none"})
"""``TENURE_TYPES`` codes that are neither renting nor owner-occupation (pavement dwellers)."""

if not (RENTAL_TENURE | _NO_RIGHTS).issubset(cl.codes(cl.TENURE_TYPES)):  # pragma: no cover
    raise ImportError("RENTAL_TENURE names codes missing from TENURE_TYPES")

SecureTenureRule = Literal["documented_or_formal", "documented_or_formal_or_perceived"]
"""How :func:`secure_tenure` combines the components (see there)."""


_POSITIONS: dict[str, int] = {
    code: i for i, code in enumerate(c for c, v in cl.TENURE_TYPES.items() if v.group != "unknown")
}
"""Position of each known ``TENURE_TYPES`` code on the continuum (0 = no rights)."""


def tenure_position(households: pd.DataFrame) -> pd.Series:
    """Position of each household's ``tenure_type`` on the continuum of land rights.

    The continuum runs from no rights and perceived tenure through occupancy and
    anti-eviction rights to leasehold and registered freehold [GLTN2012]_; positions follow
    the order of :data:`profiling.codelists.TENURE_TYPES` (0 = ``none``). ``other`` and
    missing answers give ``<NA>``.

    Returns
    -------
    pandas.Series
        ``Int64`` named ``tenure_position``, indexed like ``households``.

    Examples
    --------
    >>> tenure_position(pd.DataFrame({"tenure_type": ["none", "registered_freehold"]})).tolist()
    [0, 10]
    """
    codes = as_text(households, "tenure_type")
    return codes.map(_POSITIONS).astype("Int64").rename("tenure_position")


def documented_security(households: pd.DataFrame) -> pd.Series:
    """SDG 1.4.2 (a): the household holds legally recognised documentation of its rights.

    True for a ``tenure_document`` in the group ``legally_recognised`` (title deed, registered
    lease, certificate, allotment letter, written rental agreement); False for other documents
    (informal sale agreement, chief's letter) and for ``none``; ``<NA>`` for ``other`` and
    missing answers [M142]_.

    Returns
    -------
    pandas.Series
        Nullable boolean named ``documented_security``.
    """
    groups = code_group(households, "tenure_document", cl.TENURE_DOCUMENTS)
    return in_groups(groups, "legally_recognised").rename("documented_security")


def perceived_security(
    households: pd.DataFrame, *, fallback_on_eviction_threat: bool = True
) -> pd.Series:
    """SDG 1.4.2 (b): the household does not fear losing its home in the next 5 years.

    Read from ``tenure_secure_perceived``. Where that answer is missing and
    ``fallback_on_eviction_threat`` is set, a household that reports an eviction threat is
    counted as perceiving its tenure as insecure (False); the absence of a threat says nothing
    about fear, so it stays ``<NA>`` [M142]_.

    Returns
    -------
    pandas.Series
        Nullable boolean named ``perceived_security``.
    """
    perceived = as_bool(households, "tenure_secure_perceived")
    if fallback_on_eviction_threat:
        threatened = as_bool(households, "eviction_threat").fillna(False).astype(bool)
        perceived = perceived.mask(perceived.isna() & threatened, False)
    return perceived.astype("boolean").rename("perceived_security")


def _kleene_or(*parts: pd.Series) -> pd.Series:
    """Three-valued OR: True if any part is True, False if all are False, else ``<NA>``."""
    frame = pd.concat([p.astype("boolean") for p in parts], axis=1)
    any_true = frame.fillna(False).astype(bool).any(axis=1)
    all_false = (~frame.fillna(True).astype(bool)).all(axis=1)
    out = pd.Series(pd.NA, index=frame.index, dtype="boolean")
    out[any_true] = True
    out[all_false & ~any_true] = False
    return out


def secure_tenure(
    households: pd.DataFrame, *, rule: SecureTenureRule = "documented_or_formal"
) -> pd.Series:
    """Secure tenure, the input of the 11.1.1 "insecure tenure" deprivation.

    Rules (three-valued OR over the components, so unknown answers stay unknown):

    * ``documented_or_formal`` (default): :func:`documented_security` OR a ``tenure_type`` in
      the group ``secure`` (formal rental, certificate of occupancy, leasehold, freehold).
      Types in the ``intermediate`` group (customary, anti-eviction, group tenure) are not
      secure on their own.
    * ``documented_or_formal_or_perceived``: the wider UN-Habitat reading [M111]_, which also
      accepts perceived protection against forced eviction (:func:`perceived_security`).

    Returns
    -------
    pandas.Series
        Nullable boolean named ``secure_tenure``.

    Raises
    ------
    ValueError
        An unknown ``rule``.
    """
    if rule not in ("documented_or_formal", "documented_or_formal_or_perceived"):
        raise ValueError(f"unknown rule {rule!r}: documented_or_formal[_or_perceived]")
    formal = in_groups(code_group(households, "tenure_type", cl.TENURE_TYPES), "secure")
    parts = [documented_security(households), formal]
    if rule == "documented_or_formal_or_perceived":
        parts.append(perceived_security(households))
    return _kleene_or(*parts).rename("secure_tenure")


def _groups(frame: pd.DataFrame, by: str | None) -> pd.Series:
    if by is None:
        return pd.Series("all", index=frame.index, name="settlement_id")
    if by not in frame.columns:
        raise KeyError(f"no column {by!r} to group by; pass by=None for one overall row")
    return frame[by].astype(object).where(frame[by].notna(), "(missing)").rename(by)


def owner_renter_shares(frame: pd.DataFrame, *, by: str | None = "settlement_id") -> pd.DataFrame:
    """Renter and owner-occupier households per settlement (or per ``by`` group).

    Two enumeration shapes are accepted:

    * **households** (a ``tenure_type`` column): renters are households whose type is in
      :data:`RENTAL_TENURE`; owner-occupiers are the other known types except ``none`` (no
      rights). Shares are over households whose tenure is known; ``other`` and missing
      answers are counted in ``unknown`` and left out of the denominator.
    * **structures** (``owner_households`` and ``households`` columns, no ``tenure_type``):
      per-structure counts as in the Kianda enumeration. Owner-occupier share =
      Σ owner_households / Σ households; renters are the other households
      (households − owner_households), which the structure enumeration does not split
      further. Structures where either count is missing are counted in ``unknown`` and left
      out of both sums; structures with more owner households than households are kept (the
      formula above is the published one) and counted in ``inconsistent``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Canonical households or structures.
    by : str or None, keyword-only
        Grouping column (``settlement_id``); ``None`` for one row labelled ``all``.

    Returns
    -------
    pandas.DataFrame
        Indexed by group: ``households`` (known households), ``renters``, ``owner_occupiers``,
        ``renter_share``, ``owner_occupier_share`` (0..1, ``NaN`` when nothing is known),
        ``unknown`` (records left out) and ``inconsistent`` (structures only; 0 otherwise).

    Examples
    --------
    >>> s = pd.DataFrame({"settlement_id": ["k", "k"], "owner_households": [1, 0],
    ...                   "households": [4, 6]})
    >>> owner_renter_shares(s).loc["k", "owner_occupier_share"]
    np.float64(0.1)
    """
    keys = _groups(frame, by)
    if "tenure_type" in frame.columns:
        types = as_text(frame, "tenure_type")
        known_types = {c for c, v in cl.TENURE_TYPES.items() if v.group != "unknown"}
        known = types.isin(known_types)
        renters = types.isin(RENTAL_TENURE)
        owners = known & ~renters & ~types.isin(_NO_RIGHTS)
        parts = pd.DataFrame(
            {
                "households": known.astype(int),
                "renters": renters.astype(int),
                "owner_occupiers": owners.astype(int),
                "unknown": (~known).astype(int),
                "inconsistent": 0,
            },
            index=frame.index,
        )
    elif {"owner_households", "households"} <= set(frame.columns):
        owner = as_number(frame, "owner_households")
        total = as_number(frame, "households")
        both = (owner.notna() & total.notna()).to_numpy(dtype=bool)
        own = owner.fillna(0).to_numpy(dtype=float) * both
        tot = total.fillna(0).to_numpy(dtype=float) * both
        parts = pd.DataFrame(
            {
                "households": tot,
                "renters": tot - own,
                "owner_occupiers": own,
                "unknown": (~both).astype(int),
                "inconsistent": (both & (own > tot)).astype(int),
            },
            index=frame.index,
        )
    else:
        raise KeyError(
            "owner_renter_shares needs a tenure_type column (households) or owner_households "
            "and households columns (structures)"
        )
    out = parts.groupby(keys.to_numpy(), sort=True).sum()
    out.index.name = keys.name
    denom = out["households"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["renter_share"] = np.where(denom > 0, out["renters"] / denom, np.nan)
        out["owner_occupier_share"] = np.where(denom > 0, out["owner_occupiers"] / denom, np.nan)
    return out[
        [
            "households",
            "renters",
            "owner_occupiers",
            "renter_share",
            "owner_occupier_share",
            "unknown",
            "inconsistent",
        ]
    ]


def eviction_threat_summary(
    households: pd.DataFrame, *, by: str | None = "settlement_id"
) -> pd.DataFrame:
    """Eviction threat and tenure security per settlement.

    Parameters
    ----------
    households : pandas.DataFrame
        Canonical households with ``eviction_threat``, ``tenure_secure_perceived``,
        ``tenure_document`` (missing columns count as unanswered).
    by : str or None, keyword-only
        Grouping column; ``None`` for one row labelled ``all``.

    Returns
    -------
    pandas.DataFrame
        Indexed by group: ``households`` (all rows), ``threat_known``, ``threatened``
        (households reporting an eviction threat), ``threatened_share`` (of known answers),
        ``perceived_known`` / ``perceived_insecure_share`` (SDG 1.4.2 b, from
        :func:`perceived_security`), ``documented_known`` / ``documented_share`` (SDG 1.4.2 a,
        from :func:`documented_security`). Shares are 0..1 over known answers, ``NaN`` when
        none is known [M142]_.

    Examples
    --------
    >>> hh = pd.DataFrame({"settlement_id": ["a", "a", "a"],
    ...                    "eviction_threat": [True, False, None]})
    >>> eviction_threat_summary(hh).loc["a", ["threatened", "threatened_share"]].tolist()
    [1.0, 0.5]
    """
    keys = _groups(households, by)
    threat = as_bool(households, "eviction_threat")
    perceived = perceived_security(households)
    documented = documented_security(households)
    parts = pd.DataFrame(
        {
            "households": 1,
            "threat_known": threat.notna().astype(int),
            "threatened": threat.fillna(False).astype(int),
            "perceived_known": perceived.notna().astype(int),
            "perceived_insecure": (~perceived).fillna(False).astype(int),
            "documented_known": documented.notna().astype(int),
            "documented": documented.fillna(False).astype(int),
        },
        index=households.index,
    )
    out = parts.groupby(keys.to_numpy(), sort=True).sum().astype(float)
    out.index.name = keys.name

    def share(num: str, den: str) -> np.ndarray:
        d = out[den].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(d > 0, out[num].to_numpy() / d, np.nan)

    out["threatened_share"] = share("threatened", "threat_known")
    out["perceived_insecure_share"] = share("perceived_insecure", "perceived_known")
    out["documented_share"] = share("documented", "documented_known")
    return out[
        [
            "households",
            "threat_known",
            "threatened",
            "threatened_share",
            "perceived_known",
            "perceived_insecure_share",
            "documented_known",
            "documented_share",
        ]
    ]
