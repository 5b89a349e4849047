"""Roll per-unit indicator values up to settlements and the city, per enumeration round.

Estimator
---------
For a group :math:`g` (a settlement, the city, a disaggregation cell) and round, with
:math:`K_g` the units whose value :math:`x_i` and size :math:`m_i` are known:

.. math::

    N_g = \\sum_{i \\in K_g} w_i m_i x_i, \\qquad D_g = \\sum_{i \\in K_g} w_i m_i,
    \\qquad \\hat R_g = N_g / D_g

``numerator`` = :math:`N_g`, ``denominator`` = :math:`D_g` (exact people / households in a
census; estimated totals with sample weights), ``value`` = :math:`\\hat R_g` (``NaN`` when
:math:`D_g = 0`). :math:`m_i` is 1 for households / structures and the size column for people
/ adults (:data:`profiling.indicators.registry.POPULATION_SIZE_COLUMNS`); :math:`w_i` the
sample weight (1 in a census). With weights this is the Hájek (ratio) estimator, the
Horvitz–Thompson total of the numerator over the Horvitz–Thompson total of the denominator.

Confidence interval (95 %)
--------------------------
*Sample* (``sample_weight``, ``psu`` or ``strata`` given). Taylor linearisation of the ratio
[Kish1965]_ (§ 6.6) with the with-replacement (ultimate cluster) variance of a stratified
cluster sample, as ``survey::svyby(~x, ~g, design, svyratio)`` computes it [Lumley2010]_ for
``svydesign(ids=~psu, strata=~stratum, weights=~w)``. Each group is a *domain*: units outside
it (or unknown) contribute 0, and every PSU of the stratum counts in :math:`n_h`:

.. math::

    d_i = \\frac{w_i m_i (x_i - \\hat R_g)}{D_g}, \\qquad
    z_{hj} = \\sum_{i \\in \\text{PSU } hj,\\, i \\in K_g} d_i, \\qquad
    \\hat V(\\hat R_g) = \\sum_h \\frac{n_h}{n_h-1} \\sum_{j=1}^{n_h}
    (z_{hj} - \\bar z_h)^2

and :math:`\\hat R_g \\pm z_{0.975} \\sqrt{\\hat V}`, clipped to [0, 1] for shares. Without
``psu`` each unit is its own PSU; without ``strata`` each round is one stratum (rounds are
always separate strata). A stratum with one PSU adds no variance (R's ``"certainty"``
option). For ``statistic="total"`` indicators :math:`z` uses :math:`w_i m_i x_i` (the
Horvitz–Thompson total and its with-replacement variance); in a census a total is exact
(``ci_method = "census_exact"``, no interval).

*Census* (no ``sample_weight``). There is no sampling error; the interval reported is the
Wilson score interval [Wilson1927]_ on the **unweighted household share** :math:`k/n`
(:math:`k` units with :math:`x_i = 1` among the :math:`n` known units), read as the
uncertainty of the underlying propensity:

.. math::

    \\frac{\\hat p + z^2/2n \\pm z\\sqrt{\\hat p(1-\\hat p)/n + z^2/4n^2}}{1 + z^2/n}

It is given only when every known :math:`x_i` is 0 or 1 (else ``NaN``). For people-weighted
indicators the value is the people share while the interval is the household share's: say so
when reporting (``ci_method`` names the method on every row).

References
----------
.. [Kish1965] L. Kish, *Survey Sampling*, Wiley, 1965 (ratio means, § 6.6).
.. [Lumley2010] T. Lumley, *Complex Surveys: A Guide to Analysis Using R*, Wiley, 2010;
   R package ``survey``, ``svyratio``.
.. [Wilson1927] E. B. Wilson, "Probable inference, the law of succession, and statistical
   inference", *JASA* 22 (1927) 209-212.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd

import profiling
from profiling._memo import memo, shared_work
from profiling.indicators.privacy import assert_no_personal_columns
from profiling.indicators.registry import POPULATION_SIZE_COLUMNS, Indicator

__all__ = [
    "STAT_COLUMNS",
    "Z95",
    "change_between_rounds",
    "group_columns",
    "progress_to_target",
    "roll_up",
    "roll_up_many",
    "tidy_table",
    "to_csv_bytes",
    "to_json_bytes",
    "to_parquet_bytes",
    "wilson_interval",
]

Z95 = 1.959963984540054
"""Standard normal 0.975 quantile."""

_HEAD = ["indicator_id", "indicator_version", "group"]
STAT_COLUMNS: tuple[str, ...] = (
    "value",
    "numerator",
    "denominator",
    "n_units",
    "unknown",
    "ci_low",
    "ci_high",
)
"""Statistics of each row (blanked together by :mod:`profiling.indicators.privacy`)."""
_TAIL = [
    "ci_method",
    "unit",
    "population",
    "parameters",
    "rounds",
    "upload_ids",
    "source",
    "computed_at",
    "code_version",
]
_NON_GROUP = {*_HEAD, *STAT_COLUMNS, *_TAIL, "round"}


def wilson_interval(
    successes: np.ndarray | float, n: np.ndarray | float, *, z: float = Z95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion [Wilson1927]_ (vectorised).

    ``NaN`` where ``n == 0``.

    Examples
    --------
    >>> lo, hi = wilson_interval(8, 10)
    >>> round(float(lo), 3), round(float(hi), 3)
    (0.49, 0.943)
    """
    k = np.asarray(successes, dtype=float)
    nn = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / nn
        z2 = z * z
        denom = 1.0 + z2 / nn
        centre = (p + z2 / (2 * nn)) / denom
        half = z * np.sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn)) / denom
    bad = ~(nn > 0)
    return np.where(bad, np.nan, centre - half), np.where(bad, np.nan, centre + half)


def _sorted_text(values: pd.Series) -> str:
    return ",".join(sorted({str(v) for v in values if pd.notna(v)}))


def _factorized(units: pd.DataFrame, column: str) -> tuple[np.ndarray, pd.Index]:
    """Sorted codes of one key column, missing values last (coded ``len(uniques)``)."""

    def compute() -> tuple[np.ndarray, pd.Index]:
        values = units[column]
        try:
            codes, uniques = pd.factorize(values, sort=True)
        except TypeError:  # mixed types cannot be sorted: keep first-seen order
            codes, uniques = pd.factorize(values, sort=False)
        codes = np.where(codes < 0, len(uniques), codes).astype(np.int64)
        return codes, pd.Index(uniques)

    return memo(units, ("factorized", column), compute)


def _group_codes(units: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Group code of each unit and the table of group keys, sorted, missing keys last.

    Equivalent to ``groupby(keys, dropna=False, sort=True, observed=True)``: ``ngroup()``
    and the group index. Each column is factorized once per frame within
    :func:`shared_work`, and the groups are the distinct mixed-radix combinations.
    """
    if not keys:
        n = 1 if len(units) else 0
        return np.zeros(len(units), dtype=np.int64), pd.DataFrame(index=range(n))

    def compute() -> tuple[np.ndarray, pd.DataFrame]:
        parts = [_factorized(units, c) for c in keys]
        combined = np.zeros(len(units), dtype=np.int64)
        for codes, uniques in parts:
            combined = combined * (len(uniques) + 1) + codes
        distinct, group = np.unique(combined, return_inverse=True)
        columns: dict[str, Any] = {}
        for column, (_, uniques) in zip(reversed(keys), reversed(parts), strict=True):
            radix = len(uniques) + 1
            code = distinct % radix
            distinct = distinct // radix
            values = np.full(len(code), None, dtype=object)
            present = code < len(uniques)
            values[present] = uniques.to_numpy(dtype=object)[code[present]]
            columns[column] = values
        table = pd.DataFrame({c: columns[c] for c in keys})
        for c in keys:
            if isinstance(units[c].dtype, pd.CategoricalDtype):
                table[c] = table[c].astype(units[c].dtype)
        return group.astype(np.int64).reshape(-1), table

    return memo(units, ("groups", tuple(keys)), compute)


def _upload_ids(uploads: pd.Series, codes: np.ndarray, mask: np.ndarray | None) -> pd.Series:
    """Sorted, comma-separated upload ids per group code (units in ``mask`` only)."""
    pairs = pd.DataFrame({"g": codes, "u": uploads.to_numpy()})
    if mask is not None:
        pairs = pairs[mask]
    pairs = pairs.drop_duplicates()
    return pairs.groupby("g")["u"].agg(_sorted_text)


def _group_label(keys: pd.DataFrame) -> pd.Series:
    """``"settlement_id=S1; head_sex=female"``; ``""`` for the whole-city row."""
    if keys.shape[1] == 0:
        return pd.Series("", index=keys.index, dtype=object)
    parts = [
        c + "=" + keys[c].astype(object).where(keys[c].notna(), "NA").astype(str)
        for c in keys.columns
    ]
    label = parts[0]
    for part in parts[1:]:
        label = label + "; " + part
    return label.astype(object)


def _design(
    units: pd.DataFrame, round_column: str | None, psu: str | None, strata: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """PSU code of each unit and stratum code of each PSU.

    Strata are nested in rounds (each round is a separate survey), PSUs in strata; without
    ``psu`` each unit is its own PSU, without ``strata`` each round is one stratum.
    """
    for col in (psu, strata):
        if col is not None and col not in units.columns:
            raise KeyError(f"design column {col!r} missing from units")
    stratum_keys = [c for c in (round_column, strata) if c is not None]
    if stratum_keys:
        stratum = (
            units[stratum_keys].groupby(stratum_keys, dropna=False, sort=False).ngroup().to_numpy()
        )
    else:
        stratum = np.zeros(len(units), dtype=np.int64)
    psu_codes: np.ndarray
    if psu is None:
        psu_codes = np.arange(len(units), dtype=np.int64)
    else:
        frame = pd.DataFrame({"h": stratum, "p": units[psu].to_numpy()})
        psu_codes = frame.groupby(["h", "p"], dropna=False, sort=False).ngroup().to_numpy()
    stratum_of_psu = np.zeros(int(psu_codes.max()) + 1 if len(psu_codes) else 0, dtype=np.int64)
    stratum_of_psu[psu_codes] = stratum
    return psu_codes, stratum_of_psu


def _design_variance(
    z: np.ndarray,
    codes: np.ndarray,
    n_groups: int,
    psu_codes: np.ndarray,
    stratum_of_psu: np.ndarray,
) -> np.ndarray:
    """With-replacement variance of the group sums of ``z`` (domain estimation).

    :math:`\\hat V_g = \\sum_h \\frac{n_h}{n_h-1} \\sum_{i=1}^{n_h} (z_{ghi} - \\bar z_{gh})^2`
    with :math:`z_{ghi}` the sum of ``z`` over the units of group ``g`` in PSU ``i`` of
    stratum ``h`` (0 for PSUs without such units) and :math:`n_h` all PSUs of the stratum.
    A stratum with a single PSU adds nothing (R ``survey.lonely.psu = "certainty"``).
    Vectorised over the (group, PSU) pairs that occur.
    """
    n_psu = len(stratum_of_psu)
    if n_psu == 0 or n_groups == 0:
        return np.full(n_groups, np.nan)
    n_h = np.bincount(stratum_of_psu).astype(float)
    n_strata = len(n_h)
    nz = z != 0
    pair, inv = np.unique(codes[nz].astype(np.int64) * n_psu + psu_codes[nz], return_inverse=True)
    z_pair = np.bincount(inv, weights=z[nz])
    g_h = (pair // n_psu) * n_strata + stratum_of_psu[pair % n_psu]
    cell, inv2 = np.unique(g_h, return_inverse=True)
    s1 = np.bincount(inv2, weights=z_pair)
    s2 = np.bincount(inv2, weights=z_pair * z_pair)
    nh = n_h[cell % n_strata]
    with np.errstate(divide="ignore", invalid="ignore"):
        part = np.where(nh > 1, nh / (nh - 1) * (s2 - s1 * s1 / nh), 0.0)
    return np.bincount(cell // n_strata, weights=np.maximum(part, 0.0), minlength=n_groups)


def _unit_arrays(
    units: pd.DataFrame,
    indicator: Indicator,
    params: Mapping[str, Any],
    weight: str | None,
    sample_weight: str | None,
    unit_values: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, ...]:
    """Per-unit arrays shared by every grouping: in scope, known (0/1 floats), the numerator
    contribution :math:`w_i m_i x_i` (:math:`w_i x_i` for ``ratio_of_sums``; 0 when unknown),
    :math:`w_i m_i` (0 when unknown), and bit flags (1 in scope, 2 known,
    4 known with :math:`x_i \\in \\{0, 1\\}`, 8 known with :math:`x_i = 1`) counted together by
    one integer ``bincount`` per grouping."""
    if unit_values is None:
        x = indicator.values(units, params).to_numpy(dtype=float)
        scope = indicator.in_scope(units, params).to_numpy(dtype=float)
    else:
        x, scope = unit_values
    size_col = weight or POPULATION_SIZE_COLUMNS[indicator.population]
    if size_col is None:
        m = np.ones(len(units))
    else:
        if size_col not in units.columns:
            raise KeyError(f"size column {size_col!r} missing ({indicator.population})")
        m = pd.to_numeric(units[size_col], errors="coerce").to_numpy(dtype=float)
        m = np.where(m >= 0, m, np.nan)
    if sample_weight is None:
        w = np.ones(len(units))
    else:
        w = pd.to_numeric(units[sample_weight], errors="coerce").to_numpy(dtype=float)
        w = np.where(w > 0, w, np.nan)
    in_scope = scope != 0  # NaN scope stays: an unknown
    known = in_scope & np.isfinite(x) & np.isfinite(m) & np.isfinite(w) & np.isfinite(scope)
    xk = np.where(known, x, 0.0)
    a = np.where(known, w * m, 0.0)
    if indicator.statistic == "ratio_of_sums":  # x_i is already the unit's numerator count
        contribution = np.where(known, w * xk, 0.0)
        binary = np.zeros(len(units), dtype=bool)
    else:
        contribution = a * xk
        binary = known & ((xk == 0) | (xk == 1))
    flags = in_scope + 2 * known + 4 * binary + 8 * (binary & (xk == 1))
    return in_scope.astype(float), known.astype(float), contribution, a, flags.astype(np.int64)


def roll_up(
    units: pd.DataFrame,
    indicator: Indicator,
    *,
    by: Sequence[str] = ("settlement_id",),
    weight: str | None = None,
    sample_weight: str | None = None,
    psu: str | None = None,
    strata: str | None = None,
    round_column: str | None = "round",
    upload_column: str | None = "upload_id",
    parameters: Mapping[str, Any] | None = None,
    computed_at: datetime | None = None,
    unit_values: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Roll ``indicator`` up from units to groups, per round (see the module docstring).

    ``unit_values`` (the per-unit values and scope of :meth:`Indicator.values` and
    :meth:`Indicator.in_scope`, as float arrays) skips computing them again; prefer
    :func:`roll_up_many`, which does that for several groupings.

    Parameters
    ----------
    units : pandas.DataFrame
        One row per unit (canonical households, or structures), with the columns the
        indicator reads, ``by``, ``round_column`` and the size / weight columns.
    indicator : Indicator
        The definition.
    by : sequence of str, keyword-only
        Group keys. ``("settlement_id",)`` per settlement; ``()`` the city row; extra columns
        disaggregate (``head_sex``, ``tenure_type``, ``migration_status``, a hazard class...).
        Missing keys form their own group (``NA``) so cells add up to the total.
    weight : str, optional, keyword-only
        Column of unit sizes :math:`m_i`, overriding the population's default (1 per
        household, ``household_size`` for people, ``adults`` for adults).
    sample_weight : str, optional, keyword-only
        Column of sampling weights :math:`w_i` (inverse inclusion probabilities); ``None``
        for a full census.
    psu, strata : str, optional, keyword-only
        Columns naming each unit's primary sampling unit (cluster) and stratum, for the
        design-based variance (see the module docstring). Either one, or ``sample_weight``,
        makes the roll-up a sample estimate (weights 1 when ``sample_weight`` is ``None``).
    round_column : str or None, keyword-only
        Enumeration round column; each round is rolled up separately. ``None``: no rounds.
    upload_column : str or None, keyword-only
        Column of upload ids, listed per row for provenance (skipped when absent).
    parameters : mapping, optional, keyword-only
        Overrides of the indicator's parameters.
    computed_at : datetime, optional, keyword-only
        Timestamp to record (default: now, UTC).

    Returns
    -------
    pandas.DataFrame
        Tidy rows: ``indicator_id``, ``indicator_version``, ``group`` (text label), the ``by``
        columns, ``round``, ``value``, ``numerator``, ``denominator``, ``n_units`` (all units
        in the group), ``unknown`` (units left out as unknown), ``ci_low``, ``ci_high``,
        ``ci_method``, ``unit``, ``population``, ``parameters`` (JSON), ``rounds``,
        ``upload_ids`` (sorted, comma-separated), ``computed_at`` (UTC ISO), ``code_version``.
        Groups without units do not appear.

    Examples
    --------
    >>> from profiling.indicators.registry import Indicator
    >>> ind = Indicator("x", "X", "", "test", "share", "people", "flag", "known")
    >>> hh = pd.DataFrame({"settlement_id": ["A", "A", "A"], "round": ["2024", "2024", "2024"],
    ...                    "household_size": [2, 6, 4], "flag": [True, False, None]})
    >>> roll_up(hh, ind)[["value", "numerator", "denominator", "unknown"]].to_dict("records")
    [{'value': 0.25, 'numerator': 2.0, 'denominator': 8.0, 'unknown': 1}]
    """
    by = list(by)
    assert_no_personal_columns(by)
    keys = ([round_column] if round_column is not None else []) + by
    missing = [c for c in keys if c not in units.columns]
    if missing:
        raise KeyError(f"grouping columns missing from units: {missing}")
    params = indicator.resolve_parameters(parameters)

    arrays = memo(
        units,
        (
            "unit_arrays",
            indicator.id,
            indicator.version,
            orjson.dumps(params, option=orjson.OPT_SORT_KEYS),
            weight,
            sample_weight,
        ),
        lambda: _unit_arrays(units, indicator, params, weight, sample_weight, unit_values),
    )
    in_scope, _, contribution, a, flags = arrays
    census = sample_weight is None and psu is None and strata is None

    codes, key_table = _group_codes(units, keys)
    n_groups = len(key_table)

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(codes, weights=values, minlength=n_groups)[:n_groups]

    num = total(contribution)
    den = total(a)
    combos = np.bincount(codes * 16 + flags, minlength=16 * n_groups).reshape(n_groups, 16)
    bits = np.arange(16)
    n_units, n_known, n_binary, n_ones = (
        combos[:, (bits & bit) > 0].sum(axis=1).astype(float) for bit in (1, 2, 4, 8)
    )
    totals_only = indicator.statistic == "total"
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(den > 0, num / den, np.nan)
    value = num.copy() if totals_only else ratio

    if census and totals_only:
        lo = hi = np.full(n_groups, np.nan)
        method = "census_exact"
    elif census and indicator.statistic == "ratio_of_sums":
        # counts of households: Wilson on sum(n) successes among sum(m) households
        integral = (num == np.round(num)) & (den == np.round(den)) & (num <= den)
        lo, hi = wilson_interval(num, den)
        lo = np.where(integral, lo, np.nan)
        hi = np.where(integral, hi, np.nan)
        method = "wilson_counts"
    elif census:
        all_binary = n_binary == n_known
        lo, hi = wilson_interval(n_ones, n_known)
        lo = np.where(all_binary, lo, np.nan)
        hi = np.where(all_binary, hi, np.nan)
        method = "wilson_unweighted_households"
    else:
        if totals_only:  # z_i = w_i m_i x_i
            z = contribution
            method = "design_based_total"
        else:  # d_i = w_i m_i (x_i - R_g) / D_g on known units, 0 elsewhere
            r_unit = np.nan_to_num(ratio)[codes]
            z = (contribution - a * r_unit) / np.where(den > 0, den, 1.0)[codes]
            method = "taylor_linearised_ratio"
        psu_codes, stratum_of_psu = _design(units, round_column, psu, strata)
        var = _design_variance(z, codes, n_groups, psu_codes, stratum_of_psu)
        var = np.where(n_known > 0, var, np.nan)
        half = Z95 * np.sqrt(var)
        lo, hi = value - half, value + half
        if indicator.unit == "share":
            lo, hi = np.clip(lo, 0, 1), np.clip(hi, 0, 1)
        elif totals_only:
            lo = np.maximum(lo, 0.0)

    upload_ids: Any = ""
    if upload_column is not None and upload_column in units.columns and n_groups:
        if bool(in_scope.all()):  # the same for every indicator of this grouping: shared
            key = ("upload_ids", tuple(keys), upload_column)
            upload_ids = memo(units, key, lambda: _upload_ids(units[upload_column], codes, None))
        else:
            upload_ids = _upload_ids(units[upload_column], codes, in_scope.astype(bool))
        upload_ids = upload_ids.reindex(range(n_groups), fill_value="").to_numpy()
    key_frame = key_table[by].copy() if n_groups else pd.DataFrame(columns=by)
    if round_column and n_groups:
        key_frame["round"] = key_table[round_column].to_numpy()
    stats = {
        "value": value,
        "numerator": num,
        "denominator": den,
        "n_units": n_units,
        "unknown": n_units - n_known,
        "ci_low": lo,
        "ci_high": hi,
    }
    labels = memo(units, ("labels", tuple(keys)), lambda: _group_label(key_frame[by]).to_numpy())
    return tidy_table(
        indicator,
        key_frame,
        stats,
        ci_method=method,
        parameters=params,
        upload_ids=upload_ids,
        computed_at=computed_at,
        labels=labels,
    )


def tidy_table(
    indicator: Indicator,
    keys: pd.DataFrame,
    stats: Mapping[str, Any],
    *,
    ci_method: str,
    parameters: Mapping[str, Any],
    upload_ids: Any = "",
    source: str = "enumeration",
    computed_at: datetime | None = None,
    labels: np.ndarray | None = None,
) -> pd.DataFrame:
    """Assemble indicator rows in the standard tidy layout, with provenance.

    Every producer of indicator values (household roll-ups, structure counts, settlement
    profiles, project beneficiaries, MEL city statistics) returns this layout, so tables
    concatenate, suppress, compare between rounds and export alike.

    Parameters
    ----------
    indicator : Indicator
        The definition (id, version, unit, population).
    keys : pandas.DataFrame
        One row per output row: the group columns and optionally ``round``.
    stats : mapping
        Arrays (or scalars) for :data:`STAT_COLUMNS`; missing ones are ``NaN`` (``0`` for
        ``n_units`` / ``unknown``).
    ci_method : str, keyword-only
        How ``ci_low`` / ``ci_high`` were computed (``"none"`` when not given).
    parameters : mapping, keyword-only
        Resolved parameters (stored as sorted JSON).
    upload_ids : str or array, keyword-only
        Comma-separated upload ids per row.
    source : str, keyword-only
        Where the values come from: ``"enumeration"``, ``"profile"``, ``"mel_entry"``...
    computed_at : datetime, optional, keyword-only
        Timestamp to record (default: now, UTC).
    labels : numpy.ndarray, optional, keyword-only
        The ``group`` labels when already built (else made from the group columns).

    Returns
    -------
    pandas.DataFrame
        ``indicator_id``, ``indicator_version``, ``group``, the group columns, ``round``,
        :data:`STAT_COLUMNS`, then ``ci_method``, ``unit``, ``population``, ``parameters``,
        ``rounds``, ``upload_ids``, ``source``, ``computed_at``, ``code_version``.
    """
    by = [c for c in keys.columns if c != "round"]
    assert_no_personal_columns(by)
    n = len(keys)
    out = pd.DataFrame(
        {
            "indicator_id": [indicator.id] * n,
            "indicator_version": [indicator.version] * n,
            "group": labels if labels is not None else _group_label(keys[by]).to_numpy(),
        }
    )
    for col in by:
        out[col] = keys[col].to_numpy()
    out["round"] = keys["round"].to_numpy() if "round" in keys.columns else None
    for col in STAT_COLUMNS:
        default = 0 if col in ("n_units", "unknown") else np.nan
        values = np.broadcast_to(np.asarray(stats.get(col, default), dtype=float), (n,))
        out[col] = values.astype("int64") if col in ("n_units", "unknown") else values.copy()
    out["ci_method"] = ci_method
    out["unit"] = indicator.unit
    out["population"] = indicator.population
    out["parameters"] = orjson.dumps(dict(parameters), option=orjson.OPT_SORT_KEYS).decode()
    out["rounds"] = out["round"].map(lambda r: "" if pd.isna(r) else str(r))
    out["upload_ids"] = upload_ids
    out["source"] = source
    stamp = computed_at or datetime.now(UTC)
    out["computed_at"] = stamp.astimezone(UTC).isoformat(timespec="seconds")
    out["code_version"] = profiling.__version__
    assert_no_personal_columns(out.columns)
    return out


def group_columns(table: pd.DataFrame) -> list[str]:
    """The ``by`` columns of a roll-up table (every column that is not a standard one)."""
    return [c for c in table.columns if c not in _NON_GROUP]


def roll_up_many(
    units: pd.DataFrame,
    indicator: Indicator,
    *,
    groupings: Sequence[Sequence[str]] = ((), ("settlement_id",)),
    parameters: Mapping[str, Any] | None = None,
    computed_at: datetime | None = None,
    **options: Any,
) -> pd.DataFrame:
    """:func:`roll_up` for several groupings (city, settlement, disaggregations) at once.

    The per-unit values (e.g. the five deprivations behind 11.1.1) are computed once and
    reused by every grouping; rows of all groupings are concatenated (their ``group`` label
    tells them apart). ``options`` are passed to :func:`roll_up` (``weight``,
    ``sample_weight``, ``round_column``, ``upload_column``).
    """
    params = indicator.resolve_parameters(parameters)
    values = (
        indicator.values(units, params).to_numpy(dtype=float),
        indicator.in_scope(units, params).to_numpy(dtype=float),
    )
    stamp = computed_at or datetime.now(UTC)
    with shared_work():
        tables = [
            roll_up(
                units,
                indicator,
                by=by,
                parameters=parameters,
                computed_at=stamp,
                unit_values=values,
                **options,
            )
            for by in groupings
        ]
    return pd.concat(tables, ignore_index=True, sort=False)


def change_between_rounds(table: pd.DataFrame) -> pd.DataFrame:
    """Change of ``value`` per indicator and group between consecutive rounds.

    Rounds are ordered as text (ISO dates sort correctly). The first round of each group
    has no row.

    Returns
    -------
    pandas.DataFrame
        ``indicator_id``, ``indicator_version``, ``group``, the group columns, ``round_from``,
        ``round``, ``value_from``, ``value``, ``change`` = ``value - value_from``.
    """
    cols = ["indicator_id", "indicator_version", "group", *group_columns(table)]
    t = table.sort_values([*cols, "round"], kind="stable").reset_index(drop=True)
    prev = t.groupby(cols, dropna=False, sort=False)[["round", "value"]].shift(1)
    out = t[[*cols, "round", "value"]].copy()
    out.insert(len(cols), "round_from", prev["round"])
    out.insert(len(cols) + 2, "value_from", prev["value"])
    out["change"] = out["value"] - out["value_from"]
    return out[prev["round"].notna().to_numpy()].reset_index(drop=True)


def progress_to_target(table: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
    """Progress of each row toward its target, as a share of the distance to travel.

    .. math:: \\text{progress} = \\frac{\\text{value} - \\text{baseline}}
              {\\text{target} - \\text{baseline}}

    1 = target reached, 0 = no change, negative = moving away. ``NaN`` when the target
    equals the baseline.

    Parameters
    ----------
    table : pandas.DataFrame
        A roll-up table.
    targets : pandas.DataFrame
        ``indicator_id``, ``group`` (the table's ``group`` label, ``""`` for the city),
        ``baseline``, ``baseline_year``, ``target``, ``target_year`` (set by MEL).

    Returns
    -------
    pandas.DataFrame
        The table's rows that have a target, with the target columns and ``progress``.
    """
    need = ["indicator_id", "group", "baseline", "baseline_year", "target", "target_year"]
    missing = [c for c in need if c not in targets.columns]
    if missing:
        raise KeyError(f"targets lack columns {missing}")
    merged = table.merge(targets[need], on=["indicator_id", "group"], how="inner")
    gap = merged["target"] - merged["baseline"]
    with np.errstate(divide="ignore", invalid="ignore"):
        merged["progress"] = np.where(
            gap != 0, (merged["value"] - merged["baseline"]) / gap, np.nan
        )
    return merged


def to_csv_bytes(table: pd.DataFrame) -> bytes:
    """UTF-8 CSV (refuses personal columns)."""
    assert_no_personal_columns(table.columns)
    return table.to_csv(index=False).encode("utf-8")


def to_json_bytes(table: pd.DataFrame) -> bytes:
    """JSON array of row objects via orjson; ``NaN`` becomes ``null``."""
    assert_no_personal_columns(table.columns)
    records = table.astype(object).where(table.notna(), None).to_dict("records")
    return orjson.dumps(records, option=orjson.OPT_SERIALIZE_NUMPY)


def to_parquet_bytes(table: pd.DataFrame) -> bytes:
    """Parquet (pyarrow) bytes."""
    assert_no_personal_columns(table.columns)
    buffer = io.BytesIO()
    table.to_parquet(buffer, engine="pyarrow", index=False)
    return buffer.getvalue()
