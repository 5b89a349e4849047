"""Settlement-profile indicators: one table for enumerated and profile-only settlements.

A city usually mixes two kinds of settlements:

* **enumerated** settlements, with one row per household (``households`` layer) and
  service points (``service_points`` layer);
* **profile-only** settlements, known from a Know Your City style profile [KYC]_: counts
  of people, taps and toilet seats, legal status and eviction threat on the ``settlements``
  layer.

:func:`settlement_profile_table` gives one tidy table (:func:`profiling.indicators.rollup.
tidy_table` layout) with a row per settlement and round and a city row per indicator. A
settlement with household rows is computed from the enumeration (``source="enumeration"``);
one without from its profile (``source="profile"``); the city row combines both
(``source="enumeration+profile"`` when mixed).

Indicators (:data:`PROFILE_INDICATORS`)
---------------------------------------
``people_per_working_tap`` (people per tap), ``people_per_working_toilet_seat``
    :math:`P / T`: people over working taps (seats). *Enumeration*: :math:`P` =
    Σ ``household_size`` of the settlement's households, :math:`T` = working taps (seats) of
    its service points, both from :func:`profiling.access.people_per_service` (which
    estimates missing counts of working units). *Profile*: :math:`P` = ``population``,
    :math:`T` = ``taps_working`` (``toilet_seats_working``), falling back to ``taps_total``
    (``toilet_seats_total``) when the working count is missing and ``fallback_to_total`` is
    set; the row's ``parameters`` JSON then says ``"count_used": "taps_total"``. The value is
    ``inf`` with people and no working unit, ``NaN`` without people (or unknown counts).
    Sphere [Sphere2018]_ recommends at most 250 people per tap and 20 per toilet seat.
``people_under_eviction_threat`` (share of people)
    *Enumeration*: households whose ``eviction_threat`` is in the ``high`` group of
    :data:`profiling.codelists.EVICTION_THREAT` (notice served, eviction under way; with
    ``min_level="low"`` rumours count too), weighted by ``household_size``; unknown codes are
    left out of numerator and denominator (:func:`profiling.indicators.rollup.roll_up`, so
    these rows are exactly the core machinery's). The canonical household field is a yes / no
    answer ("has been threatened with eviction", :data:`profiling.schema.HOUSEHOLDS`), which
    cannot tell a rumour from a notice: a *yes* counts as threatened whatever ``min_level``.
    *Profile*: the settlement's ``eviction_threat`` code; every person of a threatened
    settlement counts (value 0 or 1, numerator :math:`x \\cdot` ``population``).
``people_in_recognised_settlements`` (share of people)
    People living in settlements whose ``legal_status`` is in the ``recognised`` group of
    :data:`profiling.codelists.LEGAL_STATUS` (also ``partial`` with ``include_partial``).
    Both sources read the settlement's legal status; households inherit it by
    ``settlement_id`` (a ``legal_status`` column of the households is replaced).

Units, unknowns
---------------
``n_units`` counts households behind a row: the enumerated households, or the profile's
``households`` count (0 when missing). ``unknown`` counts the households left out: households
without a size (tap / seat ratios), with an unknown answer (shares), or all households of a
profile whose code or count is unknown. A profile row is a one-unit roll-up with size
:math:`m` = ``population``: unknown code or population ⇒ ``value`` ``NaN``, ``numerator`` and
``denominator`` 0, counted in ``unknown``.

City row
--------
One city row per indicator combines, for every settlement, its **latest** row (``round``
ordered as text, ISO dates sort correctly) as a ratio of sums,

.. math:: V_{city} = \\frac{\\sum_s N_s}{\\sum_s D_s}

over the settlements whose numerator :math:`N_s` and denominator :math:`D_s` are both known
(finite): for the ratios, settlements with people and a tap (seat) count; for the shares,
every settlement (unknown ones add 0 to both). ``inf`` when :math:`\\sum N > 0 = \\sum D`,
``NaN`` when :math:`\\sum N = 0` for ratios or :math:`\\sum D = 0` for shares. Its ``round``
is the latest contributing round, ``rounds`` lists them all, ``ci_method`` is ``"none"``.

References
----------
.. [KYC] Slum Dwellers International, *Know Your City* settlement profiling questionnaire
   (population, taps and toilet seats, working or not; legal status; eviction threat).
.. [Sphere2018] Sphere Association, *The Sphere Handbook* (2018), Water supply standard 2.1
   (max. 250 people per tap) and Excreta management standard 3.2 (max. 20 people per toilet).
.. [JMP2017] WHO/UNICEF JMP, *Progress on drinking water, sanitation and hygiene: 2017
   update and SDG baselines* (people-weighted service shares).
.. [M142] UN-Habitat / World Bank / GLTN, *SDG indicator 1.4.2 metadata* (2019, rev. 2021):
   perceived security against forced eviction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from profiling import codelists as cl
from profiling._columns import as_bool, as_number, code_group, in_groups
from profiling.access import people_per_service
from profiling.indicators.registry import Indicator, Registry
from profiling.indicators.rollup import roll_up, tidy_table

__all__ = [
    "PROFILE_INDICATORS",
    "PROFILE_REGISTRY",
    "SOURCE_ENUMERATION",
    "SOURCE_MIXED",
    "SOURCE_PROFILE",
    "eviction_threatened",
    "settlement_profile_table",
]

SOURCE_ENUMERATION = "enumeration"
SOURCE_PROFILE = "profile"
SOURCE_MIXED = "enumeration+profile"

_THREAT_GROUPS: Mapping[str, tuple[str, ...]] = {"high": ("high",), "low": ("low", "high")}
"""``min_level`` -> the :data:`profiling.codelists.EVICTION_THREAT` groups that count."""


def eviction_threatened(units: pd.DataFrame, *, min_level: str = "high") -> pd.Series:
    """Whether each row (household or settlement) is under an eviction threat.

    Parameters
    ----------
    units : pandas.DataFrame
        Rows with an ``eviction_threat`` column: :data:`profiling.codelists.EVICTION_THREAT`
        codes (``none`` / ``rumoured`` / ``notice`` / ``ongoing``), or yes / no booleans (the
        canonical household field).
    min_level : {"high", "low"}, keyword-only
        ``"high"``: notice served or eviction under way; ``"low"``: rumours count too.

    Returns
    -------
    pandas.Series
        Nullable boolean aligned to ``units``; ``<NA>`` for missing answers, the code
        ``unknown`` and codes outside the list. A boolean column is read as is (a *yes*
        counts whatever ``min_level``: the answer does not say how serious the threat is).

    Examples
    --------
    >>> s = pd.DataFrame({"eviction_threat": ["none", "rumoured", "notice", "unknown"]})
    >>> eviction_threatened(s).tolist()
    [False, False, True, <NA>]
    >>> eviction_threatened(s, min_level="low").tolist()
    [False, True, True, <NA>]
    """
    if min_level not in _THREAT_GROUPS:
        raise ValueError(f"min_level must be one of {sorted(_THREAT_GROUPS)}, got {min_level!r}")
    column = units["eviction_threat"] if "eviction_threat" in units.columns else None
    if column is not None and pd.api.types.infer_dtype(column, skipna=True) == "boolean":
        return as_bool(units, "eviction_threat").rename("eviction_threatened")
    groups = code_group(units, "eviction_threat", cl.EVICTION_THREAT)
    return in_groups(groups, *_THREAT_GROUPS[min_level]).rename("eviction_threatened")


def _recognised(units: pd.DataFrame, *, include_partial: bool = False) -> pd.Series:
    groups = code_group(units, "legal_status", cl.LEGAL_STATUS)
    wanted = ("recognised", "partial") if include_partial else ("recognised",)
    return in_groups(groups, *wanted).rename("recognised")


def _threat_numerator(units: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
    """eviction_threatened(units, min_level): eviction_threat code in the 'high' group
    (with min_level='low' also 'low'); a yes/no answer is read as is; unknown codes unknown"""
    return eviction_threatened(units, min_level=params["min_level"])


def _recognised_numerator(units: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
    """legal_status of the unit's settlement in the 'recognised' group (also 'partial' with
    include_partial); 'unknown' and missing statuses unknown"""
    return _recognised(units, include_partial=bool(params["include_partial"]))


def _settlement_level(units: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
    """people of the settlement (sum of household_size, or the profile population) over its
    working units; computed per settlement by settlement_profile_table, not per household"""
    raise NotImplementedError(
        "a people-per-unit ratio is computed per settlement by settlement_profile_table"
    )


_SERVICE_SPECS: Mapping[str, tuple[str, str, str, str]] = {
    # indicator id -> (people_per_service column of units, of the ratio; profile working, total)
    "people_per_working_tap": ("taps_working", "people_per_tap", "taps_working", "taps_total"),
    "people_per_working_toilet_seat": (
        "seats_working",
        "people_per_seat",
        "toilet_seats_working",
        "toilet_seats_total",
    ),
}

PROFILE_INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        id="people_per_working_tap",
        name="People per working water tap",
        description=(
            "People over working taps in the settlement. Enumeration: sum of household_size "
            "over working taps of its water points (profiling.access.people_per_service). "
            "Profile: population / taps_working (taps_total when the working count is missing "
            "and fallback_to_total, noted in the row's parameters). inf with people and no "
            "working tap, NaN without people. City: sum of people / sum of taps over "
            "settlements where both are known. Sphere 2018: at most 250 people per tap."
        ),
        reference="Sphere 2018 Water supply standard 2.1; Know Your City profile",
        unit="people per tap",
        population="people",
        numerator=_settlement_level,
        denominator="working taps serving the settlement (service points or profile count)",
        parameters={"fallback_to_total": True},
        version="1",
    ),
    Indicator(
        id="people_per_working_toilet_seat",
        name="People per working toilet seat",
        description=(
            "People over working toilet seats in the settlement. Enumeration: sum of "
            "household_size over working seats of its toilets "
            "(profiling.access.people_per_service). Profile: population / "
            "toilet_seats_working (toilet_seats_total when missing and fallback_to_total). "
            "inf with people and no working seat, NaN without people. City: sum of people / "
            "sum of seats where both are known. Sphere 2018: at most 20 people per toilet."
        ),
        reference="Sphere 2018 Excreta management standard 3.2; Know Your City profile",
        unit="people per toilet seat",
        population="people",
        numerator=_settlement_level,
        denominator="working toilet seats serving the settlement (service points or profile)",
        parameters={"fallback_to_total": True},
        version="1",
    ),
    Indicator(
        id="people_under_eviction_threat",
        name="People under eviction threat",
        description=(
            "Share of people under an eviction threat of at least min_level ('high': notice "
            "served or eviction under way; 'low' adds rumours). Enumeration: households "
            "weighted by household_size, unknown answers excluded from the denominator (a "
            "yes/no household answer counts as threatened when yes). Profile: every person "
            "of a settlement whose eviction_threat is at least min_level."
        ),
        reference="Know Your City profile (eviction threat); related to SDG 1.4.2 (b)",
        unit="share",
        population="people",
        numerator=_threat_numerator,
        denominator="people in households / settlements whose eviction threat is known",
        parameters={"min_level": "high"},
        version="1",
    ),
    Indicator(
        id="people_in_recognised_settlements",
        name="People living in legally recognised settlements",
        description=(
            "Share of people living in settlements whose legal_status is in the 'recognised' "
            "group (also 'partial' with include_partial). Households inherit the legal status "
            "of their settlement by settlement_id; profiles weight it by population. "
            "Settlements with an unknown status are excluded from the denominator."
        ),
        reference="Know Your City profile (legal status of the settlement)",
        unit="share",
        population="people",
        numerator=_recognised_numerator,
        denominator="people in settlements whose legal status is known",
        parameters={"include_partial": False},
        version="1",
    ),
)
"""Settlement-profile definitions (computed by :func:`settlement_profile_table`)."""

PROFILE_REGISTRY = Registry(PROFILE_INDICATORS)
"""Registry of :data:`PROFILE_INDICATORS` (kept apart: ratios are settlement-level)."""


# -- Helpers ---------------------------------------------------------------------------------


def _ids(values: pd.Series) -> pd.Series:
    """Settlement ids as text (object), missing kept missing."""
    text = values.astype("string")
    return text.astype(object).where(text.notna(), None)


def _iso_dates(values: pd.Series) -> pd.Series:
    """Dates as ``YYYY-MM-DD`` text (object); missing or unparsable -> ``None``."""
    parsed = pd.to_datetime(values.astype("string"), errors="coerce", format="ISO8601")
    return parsed.dt.strftime("%Y-%m-%d").astype(object).where(parsed.notna(), None)


def _upload_text(frame: pd.DataFrame, keys: list[str], column: str) -> pd.Series:
    """Sorted, comma-separated upload ids per ``keys`` group (unique pairs first)."""
    pairs = frame[[*keys, column]].dropna(subset=[column]).drop_duplicates()
    text = pairs[column].astype("string")
    pairs = pairs.assign(**{column: text})
    return pairs.groupby(keys, dropna=False, sort=True)[column].agg(
        lambda s: ",".join(sorted(set(s)))
    )


def _rows_upload_ids(
    frame: pd.DataFrame, keys: pd.DataFrame, by: list[str], column: str
) -> np.ndarray:
    """Upload ids aligned to the rows of ``keys`` (``""`` when none)."""
    if column not in frame.columns or not len(keys):
        return np.full(len(keys), "", dtype=object)
    ids = _upload_text(frame, by, column)
    index = pd.MultiIndex.from_frame(keys[by]) if len(by) > 1 else pd.Index(keys[by[0]])
    return ids.reindex(index).fillna("").to_numpy(dtype=object)


def _round_keys(values: pd.Series, by_round: pd.Series | None) -> pd.DataFrame:
    keys = pd.DataFrame({"settlement_id": values.to_numpy(dtype=object)})
    keys["round"] = None if by_round is None else by_round.to_numpy(dtype=object)
    return keys


# -- Enumeration rows ------------------------------------------------------------------------


def _enumeration_ratio(
    indicator: Indicator,
    households: pd.DataFrame,
    services: pd.DataFrame | None,
    round_column: str | None,
    params: Mapping[str, Any],
    stamp: datetime,
) -> pd.DataFrame:
    units_col, ratio_col, _, _ = _SERVICE_SPECS[indicator.id]
    empty_services = pd.DataFrame({"service_type": [], "settlement_id": []}, dtype=object)
    chosen = empty_services if services is None else services
    if round_column is None:
        parts: list[tuple[Any, pd.DataFrame]] = [(None, households)]
    else:
        parts = list(households.groupby(round_column, dropna=False, sort=True))
    frames = []
    for round_value, part in parts:  # one pass per enumeration round
        per = people_per_service(part, chosen)
        present = pd.Index(part["settlement_id"].dropna().unique()).astype("string")
        per = per.reindex(present.sort_values())
        r: Any = None if round_value is None or pd.isna(round_value) else round_value
        frames.append(per.assign(_round=r))
    per = pd.concat(frames) if len(frames) > 1 else frames[0]
    sized = (per["households"] - per["households_without_size"]).to_numpy(dtype=float)
    people = np.where(sized > 0, per["people"].to_numpy(dtype=float), np.nan)
    n_units = per["households"].to_numpy(dtype=float)
    if services is None:
        units = np.full(len(per), np.nan)
        value = np.full(len(per), np.nan)
        unknown = n_units
    else:
        units = per[units_col].to_numpy(dtype=float)
        value = per[ratio_col].to_numpy(dtype=float)
        unknown = per["households_without_size"].to_numpy(dtype=float)
    keys = _round_keys(_ids(per.index.to_series()), per["_round"])
    key_cols = ["settlement_id"] + ([round_column] if round_column else [])
    up_keys = keys.rename(columns={"round": round_column}) if round_column else keys
    upload_ids = _rows_upload_ids(households, up_keys, key_cols, "upload_id")
    return tidy_table(
        indicator,
        keys,
        {
            "value": value,
            "numerator": people,
            "denominator": units,
            "n_units": n_units,
            "unknown": unknown,
        },
        ci_method="none",
        parameters=params,
        upload_ids=upload_ids,
        source=SOURCE_ENUMERATION,
        computed_at=stamp,
    )


def _enumeration_rows(
    indicator: Indicator,
    households: pd.DataFrame,
    settlements: pd.DataFrame,
    services: pd.DataFrame | None,
    round_column: str | None,
    params: Mapping[str, Any],
    stamp: datetime,
) -> pd.DataFrame:
    if indicator.id in _SERVICE_SPECS:
        return _enumeration_ratio(indicator, households, services, round_column, params, stamp)
    units = households
    if indicator.id == "people_in_recognised_settlements":
        status = settlements.set_index("settlement_id")["legal_status"]
        units = households.assign(legal_status=households["settlement_id"].map(status))
    return roll_up(
        units,
        indicator,
        by=("settlement_id",),
        round_column=round_column,
        parameters=params,
        computed_at=stamp,
    )


# -- Profile rows ----------------------------------------------------------------------------


def _profile_rows(
    indicator: Indicator,
    profiles: pd.DataFrame,
    params: Mapping[str, Any],
    stamp: datetime,
) -> pd.DataFrame:
    population = as_number(profiles, "population").to_numpy(dtype=float, na_value=np.nan)
    population = np.where(population >= 0, population, np.nan)
    households = as_number(profiles, "households").to_numpy(dtype=float, na_value=np.nan)
    n_units = np.where(households >= 0, households, 0.0)
    keys = _round_keys(profiles["settlement_id"], _iso_dates(profiles["profile_date"]))
    upload_ids = _rows_upload_ids(
        profiles.assign(_r=keys["round"].to_numpy()),
        keys.rename(columns={"round": "_r"}),
        ["settlement_id", "_r"],
        "upload_id",
    )
    used: np.ndarray | None = None
    if indicator.id in _SERVICE_SPECS:
        _, _, working_col, total_col = _SERVICE_SPECS[indicator.id]
        working = as_number(profiles, working_col).to_numpy(dtype=float, na_value=np.nan)
        total = as_number(profiles, total_col).to_numpy(dtype=float, na_value=np.nan)
        fallback = np.isnan(working) & ~np.isnan(total) & bool(params["fallback_to_total"])
        count = np.where(fallback, total, working)
        count = np.where(count >= 0, count, np.nan)
        known = ~np.isnan(population) & ~np.isnan(count)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(known & (population > 0), population / count, np.nan)
        stats = {"value": value, "numerator": population, "denominator": count}
        used = fallback
    else:
        if indicator.id == "people_under_eviction_threat":
            flag = eviction_threatened(profiles, min_level=params["min_level"])
        else:
            flag = _recognised(profiles, include_partial=bool(params["include_partial"]))
        x = flag.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        known = ~np.isnan(x) & ~np.isnan(population)
        den = np.where(known, population, 0.0)
        num = np.where(known, x * den, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(den > 0, num / den, np.nan)
        stats = {"value": value, "numerator": num, "denominator": den}
    stats["n_units"] = n_units
    stats["unknown"] = np.where(known, 0.0, n_units)
    if used is None or not used.any():
        extra = {"count_used": _SERVICE_SPECS[indicator.id][2]} if used is not None else {}
        return tidy_table(
            indicator,
            keys,
            stats,
            ci_method="none",
            parameters={**params, **extra},
            upload_ids=upload_ids,
            source=SOURCE_PROFILE,
            computed_at=stamp,
        )
    # Rows that fell back on the total count say so in their parameters JSON.
    _, _, working_col, total_col = _SERVICE_SPECS[indicator.id]
    pieces = []
    for mask, column in ((~used, working_col), (used, total_col)):
        if mask.any():
            piece = tidy_table(
                indicator,
                keys[mask].reset_index(drop=True),
                {k: np.asarray(v)[mask] for k, v in stats.items()},
                ci_method="none",
                parameters={**params, "count_used": column},
                upload_ids=upload_ids[mask],
                source=SOURCE_PROFILE,
                computed_at=stamp,
            )
            pieces.append(piece.set_index(np.flatnonzero(mask)))
    return pd.concat(pieces).sort_index().reset_index(drop=True)


# -- City row --------------------------------------------------------------------------------


def _city_row(
    indicator: Indicator,
    rows: pd.DataFrame,
    params: Mapping[str, Any],
    stamp: datetime,
    fallback_ids: list[str],
) -> pd.DataFrame:
    ordered = rows.sort_values("round", na_position="first", kind="stable")
    latest = ordered.drop_duplicates(subset="settlement_id", keep="last")
    num = latest["numerator"].to_numpy(dtype=float)
    den = latest["denominator"].to_numpy(dtype=float)
    both = np.isfinite(num) & np.isfinite(den)
    n_sum, d_sum = float(num[both].sum()), float(den[both].sum())
    if indicator.id in _SERVICE_SPECS:
        value = np.inf if n_sum > 0 and d_sum == 0 else (n_sum / d_sum if n_sum > 0 else np.nan)
    else:
        value = n_sum / d_sum if d_sum > 0 else np.nan
    sources = set(latest["source"])
    source = SOURCE_MIXED if len(sources) > 1 else sources.pop()
    rounds = sorted({str(r) for r in latest["round"] if r is not None and not pd.isna(r)})
    uploads = sorted({u for text in latest["upload_ids"] if text for u in str(text).split(",")})
    extra = {"count_total_used_for": fallback_ids} if fallback_ids else {}
    out = tidy_table(
        indicator,
        pd.DataFrame({"round": [rounds[-1] if rounds else None]}),
        {
            "value": value,
            "numerator": n_sum,
            "denominator": d_sum,
            "n_units": float(latest["n_units"].sum()),
            "unknown": float(latest["unknown"].sum()),
        },
        ci_method="none",
        parameters={**params, **extra},
        upload_ids=",".join(uploads),
        source=source,
        computed_at=stamp,
    )
    out["rounds"] = ",".join(rounds)
    return out


# -- Public entry point ----------------------------------------------------------------------


def settlement_profile_table(
    settlements: pd.DataFrame,
    households: pd.DataFrame | None = None,
    services: pd.DataFrame | None = None,
    *,
    round_column: str | None = "round",
    parameters: Mapping[str, Mapping[str, Any]] | None = None,
    computed_at: datetime | None = None,
) -> pd.DataFrame:
    """Profile indicators per settlement and for the city, enumeration and profile alike.

    See the module docstring for the definitions, the unknown rules and the city row.

    Parameters
    ----------
    settlements : pandas.DataFrame
        Canonical settlements (:data:`profiling.schema.SETTLEMENTS`): ``settlement_id``
        (unique) and, as available, ``population``, ``households``, ``taps_total``,
        ``taps_working``, ``toilet_seats_total``, ``toilet_seats_working``, ``legal_status``,
        ``eviction_threat``, ``profile_date``, ``upload_id``. Missing columns read as unknown.
    households : pandas.DataFrame, optional
        Canonical households: ``settlement_id``, ``household_size`` and, as available,
        ``eviction_threat``, the round column, ``upload_id``. Rows without a
        ``settlement_id`` are left out. ``None`` or empty: every settlement uses its profile.
    services : pandas.DataFrame, optional
        Canonical service points (``service_type``, ``settlement_id``, ``functional``,
        ``taps_*``, ``seats_*``) for the enumerated settlements; ``None``: their tap and seat
        ratios are unknown (``NaN``, every household in ``unknown``).
    round_column : str or None, keyword-only
        Enumeration round column of ``households`` (ignored when absent). Profile rows take
        the settlement's ``profile_date`` as ISO text (``None`` when missing).
    parameters : mapping, optional, keyword-only
        Parameter overrides per indicator id, e.g.
        ``{"people_under_eviction_threat": {"min_level": "low"}}``.
    computed_at : datetime, optional, keyword-only
        Timestamp to record (default: now, UTC).

    Returns
    -------
    pandas.DataFrame
        :func:`profiling.indicators.rollup.tidy_table` rows, per indicator of
        :data:`PROFILE_INDICATORS`: the city row (``group`` ``""``), then one row per
        enumerated settlement and round, then one per profile-only settlement (``group``
        ``"settlement_id=..."``); ``source`` says which.

    Raises
    ------
    ValueError
        Duplicate ``settlement_id`` in ``settlements``.

    Examples
    --------
    >>> s = pd.DataFrame({"settlement_id": ["A"], "population": [500], "households": [120],
    ...                   "taps_working": [2], "legal_status": ["legal"],
    ...                   "eviction_threat": ["notice"], "profile_date": ["2023-11-20"]})
    >>> t = settlement_profile_table(s)
    >>> t[t["group"] == "settlement_id=A"][["indicator_id", "value", "source"]].values.tolist()
    ... # doctest: +NORMALIZE_WHITESPACE
    [['people_per_working_tap', 250.0, 'profile'],
     ['people_per_working_toilet_seat', nan, 'profile'],
     ['people_under_eviction_threat', 1.0, 'profile'],
     ['people_in_recognised_settlements', 1.0, 'profile']]
    """
    stamp = computed_at or datetime.now(UTC)
    overrides = dict(parameters or {})
    unknown_ids = sorted(set(overrides) - {i.id for i in PROFILE_INDICATORS})
    if unknown_ids:
        raise KeyError(f"no profile indicator {unknown_ids}; known: {list(PROFILE_REGISTRY)}")
    st = settlements.copy()
    st["settlement_id"] = _ids(st["settlement_id"])
    st = st[st["settlement_id"].notna()]
    duplicated = st["settlement_id"][st["settlement_id"].duplicated()]
    if len(duplicated):
        raise ValueError(f"duplicate settlement_id in settlements: {sorted(set(duplicated))}")
    if "profile_date" not in st.columns:
        st["profile_date"] = None
    if "legal_status" not in st.columns:
        st["legal_status"] = None

    if households is None or len(households) == 0:
        hh = pd.DataFrame({"settlement_id": pd.Series([], dtype=object)})
    else:
        hh = households.assign(settlement_id=_ids(households["settlement_id"]))
        hh = hh[hh["settlement_id"].notna()]
    rc = round_column if round_column is not None and round_column in hh.columns else None
    enumerated = pd.Index(hh["settlement_id"].unique())
    profiles = st[~st["settlement_id"].isin(enumerated)].reset_index(drop=True)

    tables: list[pd.DataFrame] = []
    for indicator in PROFILE_INDICATORS:  # four definitions
        params = indicator.resolve_parameters(overrides.get(indicator.id))
        parts = []
        if len(hh):
            parts.append(_enumeration_rows(indicator, hh, st, services, rc, params, stamp))
        if len(profiles):
            parts.append(_profile_rows(indicator, profiles, params, stamp))
        rows = (
            pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0] if parts else None
        )
        if rows is None or rows.empty:
            continue
        fallback: list[str] = []
        if indicator.id in _SERVICE_SPECS and "count_used" in "".join(rows["parameters"]):
            total_col = _SERVICE_SPECS[indicator.id][3]
            flagged = rows["parameters"].str.contains(f'"count_used":"{total_col}"', regex=False)
            fallback = sorted(rows.loc[flagged, "settlement_id"].astype(str))
        tables.append(_city_row(indicator, rows, params, stamp, fallback))
        tables.append(rows)
    if not tables:
        return pd.DataFrame()
    return pd.concat(tables, ignore_index=True, sort=False)
