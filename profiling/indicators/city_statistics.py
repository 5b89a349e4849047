"""City statistics entered by MEL staff: a small dated table carried through the indicator rows.

Some results-framework figures are not computed from enumeration data but reported by the
city (budgets, council seats, labour-force survey results). MEL staff enter them as a table,
one row per figure:

==============  ========  ==============================================================
column          required  meaning
==============  ========  ==============================================================
indicator_id    yes       an id of :data:`CITY_STATISTICS_REGISTRY`
city            yes       the city the figure describes
date            yes       ISO date (``YYYY-MM-DD``) the figure refers to (end of the
                          fiscal year, election date, survey reference date)
value           yes       the figure, in the indicator's unit
numerator       no        with ``denominator``: the parts of ``value`` (checked:
denominator     no        ``value = numerator / denominator``, relative tolerance 1e-6)
currency        no [1]    ISO 4217 code of an expenditure
source          no        where MEL got the figure (publication, office, survey)
entered_by      no        who entered it (a role or initials, not a personal identifier)
note            no        free text
==============  ========  ==============================================================

[1] required for ``municipal_expenditure_basic_services_per_person``.

:func:`read_city_statistics` reads and validates such a table (CSV, XLSX or a frame),
collecting *every* problem in a :class:`profiling.report.Report` before raising
:class:`profiling.errors.ValidationFailed`. Rows are numbered like every other upload of the
service (:mod:`profiling.validate`): the **1-based data row, header excluded**, so the first
data row is row 1 (it is line 2 of the spreadsheet, below the header). Rules (all errors
except ``incomplete_ratio``):

==================  ==================================================================
rule                meaning
==================  ==================================================================
missing_column      a required column is absent (file level, ``row=None``)
required            a required value is empty in a row
unknown_indicator   ``indicator_id`` is not a city statistic (the message lists them)
invalid_date        ``date`` is not an ISO date
not_a_number        ``value`` (or ``numerator`` / ``denominator``) is not a number
out_of_range        a share outside [0, 1]
negative_value      a negative expenditure
inconsistent_value  ``value`` differs from ``numerator / denominator`` by more than 1e-6
                    relative (or the denominator is 0)
incomplete_ratio    (warning) only one of ``numerator`` / ``denominator`` is given
missing_currency    an expenditure without ``currency``
duplicate_entry     the same ``(indicator_id, city, date)`` as an earlier row
==================  ==================================================================

:func:`city_statistics_table` turns the entries into :func:`profiling.indicators.rollup.
tidy_table` rows (group column ``city``, ``round`` = the date, ``source="mel_entry"``,
``ci_method="none"``), so :func:`profiling.indicators.rollup.change_between_rounds` and
:func:`profiling.indicators.rollup.progress_to_target` work on them as on enumeration
figures. Each row's ``parameters`` JSON records ``reported_source``, ``entered_by``,
``currency`` and ``note``. ``n_units`` and ``unknown`` are 0: no enumerated household stands
behind a reported figure (do not pass these rows to small-cell suppression).

References
----------
.. [CRF] Cities Alliance, *Corporate Results Framework* (2021), Tier II: municipal
   expenditure on basic services.
.. [UNH2004] UN-Habitat, *Urban Indicators Guidelines* (2004): local government expenditure
   per capita (capital and recurrent, per year).
.. [M551] UN Women / IPU, *SDG indicator 5.5.1 (b) metadata*: proportion of elected seats
   held by women in deliberative bodies of local government.
.. [M861] ILO, *SDG indicator 8.6.1 metadata*: proportion of youth (aged 15-24 years) not in
   education, employment or training (NEET).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from profiling.errors import UnsupportedFormat, ValidationFailed
from profiling.indicators.privacy import assert_no_personal_columns
from profiling.indicators.registry import Indicator, Registry
from profiling.indicators.rollup import tidy_table
from profiling.report import ERROR, WARNING, Report

__all__ = [
    "CITY_STATISTICS_REGISTRY",
    "CITY_STATISTIC_COLUMNS",
    "CITY_STATISTIC_INDICATORS",
    "LAYER",
    "REQUIRED_COLUMNS",
    "SOURCE_MEL",
    "city_statistics_table",
    "read_city_statistics",
]

LAYER = "city_statistics"
"""Layer name used in the problems of the validation report."""
SOURCE_MEL = "mel_entry"
"""``source`` of every row of :func:`city_statistics_table`."""
REQUIRED_COLUMNS: tuple[str, ...] = ("indicator_id", "city", "date", "value")
"""Columns every entry table must have."""
CITY_STATISTIC_COLUMNS: tuple[str, ...] = (
    *REQUIRED_COLUMNS,
    "numerator",
    "denominator",
    "currency",
    "source",
    "entered_by",
    "note",
)
"""Every column of an entry table; other columns are ignored."""
_NUMBERS = ("value", "numerator", "denominator")
_TEXTS = ("indicator_id", "city", "currency", "source", "entered_by", "note")
_EXPENDITURE = "municipal_expenditure_basic_services_per_person"
_REL_TOL = 1e-6

CITY_STATISTIC_INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        id=_EXPENDITURE,
        name="Municipal expenditure on basic services per person",
        description=(
            "Municipal expenditure (capital and recurrent) on basic services (water, "
            "sanitation, solid waste, drainage, streets) in the year ending on the entry's "
            "date, per resident, in the entry's currency (recorded in the parameters). "
            "Entered by MEL from the city budget; numerator = expenditure, denominator = "
            "population when given."
        ),
        reference="Cities Alliance CRF Tier II; UN-Habitat Urban Indicators Guidelines (2004)",
        unit="currency per person per year",
        population="people",
        numerator="value",
        denominator="city population (as reported with the figure)",
        parameters={},
        version="1",
    ),
    Indicator(
        id="women_share_local_government_seats",
        name="Share of local government seats held by women",
        description=(
            "Elected seats held by women in the city's deliberative body over all elected "
            "seats, on the entry's date (SDG 5.5.1 (b)). Entered by MEL."
        ),
        reference="SDG 5.5.1 (b)",
        unit="share",
        population="people",
        numerator="value",
        denominator="elected seats of the local deliberative body",
        parameters={},
        version="1",
    ),
    Indicator(
        id="youth_neet_share",
        name="Youth not in employment, education or training",
        description=(
            "Share of youth aged 15-24 not in employment, education or training (NEET) in "
            "the city, from the labour-force survey whose reference date is the entry's date "
            "(SDG 8.6.1). Entered by MEL."
        ),
        reference="SDG 8.6.1",
        unit="share",
        population="people",
        numerator="value",
        denominator="youth aged 15-24",
        parameters={},
        version="1",
    ),
)
"""City statistics MEL staff enter (carried by :func:`city_statistics_table`)."""

CITY_STATISTICS_REGISTRY = Registry(CITY_STATISTIC_INDICATORS)
"""Registry of :data:`CITY_STATISTIC_INDICATORS`."""


def _load(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source.copy()
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    if suffix == ".xlsx":
        return pd.read_excel(path, dtype=object, engine="openpyxl")
    raise UnsupportedFormat(f"city statistics must be .csv or .xlsx, got {path.name!r}")


def _text(frame: pd.DataFrame, name: str) -> pd.Series:
    """Column as stripped text (object), empty -> ``None`` (all ``None`` when absent)."""
    if name not in frame.columns:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    col = frame[name]
    text = col.astype("string").str.strip()
    return text.astype(object).where(col.notna() & text.ne("").fillna(False), None)


def _dates(frame: pd.DataFrame) -> pd.Series:
    """ISO ``YYYY-MM-DD`` text of ``date`` (object); ``None`` when missing or unparsable.

    The text must start with a full ISO 8601 date (``2023-12-31``; a time part, as in a
    spreadsheet date cell, is accepted and dropped); ``2023`` or ``31/12/2023`` are refused.
    """
    text = _text(frame, "date").astype("string")
    full = text.str.match(r"^\d{4}-\d{2}-\d{2}([ T]|$)").fillna(False)
    parsed = pd.to_datetime(text.where(full), errors="coerce", format="ISO8601")
    return parsed.dt.strftime("%Y-%m-%d").astype(object).where(parsed.notna(), None)


def read_city_statistics(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Read and validate a table of city statistics entered by MEL staff.

    Parameters
    ----------
    source : str, Path or pandas.DataFrame
        A ``.csv`` (UTF-8, header row) or ``.xlsx`` file (first sheet, read with openpyxl),
        or a frame, with the columns of :data:`CITY_STATISTIC_COLUMNS` (see the module
        docstring). Other columns are ignored; personal identifier columns are refused.

    Returns
    -------
    pandas.DataFrame
        One row per entry, in input order: :data:`CITY_STATISTIC_COLUMNS` with ``date`` as
        ISO text, ``value`` / ``numerator`` / ``denominator`` as float (``NaN`` when not
        given), texts as ``str`` or ``None``; plus ``source_row`` (1-based data row, header
        excluded). ``attrs["report"]`` holds the :class:`profiling.report.Report` (its
        warnings, e.g. ``incomplete_ratio``).

    Raises
    ------
    profiling.errors.ValidationFailed
        Any error; ``report`` lists every problem (rule ids in the module docstring) with
        its row and column.
    profiling.indicators.privacy.PersonalDataError
        A personal identifier column (``phone``, ``head_name``...).
    profiling.errors.UnsupportedFormat
        A file that is neither ``.csv`` nor ``.xlsx``.

    Examples
    --------
    >>> entries = pd.DataFrame({"indicator_id": ["youth_neet_share"], "city": ["Mto Mji"],
    ...                         "date": ["2023-12-31"], "value": ["0.31"]})
    >>> read_city_statistics(entries)[["date", "value", "source_row"]].to_dict("records")
    [{'date': '2023-12-31', 'value': 0.31, 'source_row': 1}]
    >>> bad = entries.assign(value=["1.4"])
    >>> try:
    ...     read_city_statistics(bad)
    ... except ValidationFailed as exc:
    ...     print(exc.report.errors[0])
    ERROR   city_statistics row 1 column 'value': [out_of_range] youth_neet_share is a share: 1.4 is outside [0, 1]
    """  # noqa: E501
    frame = _load(source)
    frame.columns = [str(c).strip() for c in frame.columns]
    assert_no_personal_columns(frame.columns)
    report = Report()
    frame = frame.reset_index(drop=True)
    rows = np.arange(1, len(frame) + 1, dtype=np.int64)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    for column in missing:
        report.add(LAYER, None, column, "missing_column", ERROR, f"required column {column!r}")

    def flag(mask: pd.Series | np.ndarray, column: str, rule: str, message: Any) -> None:
        """One problem per flagged row; ``message(i)`` builds the text of position ``i``."""
        for i in np.flatnonzero(np.asarray(mask, dtype=bool)):  # offending rows only
            report.add(LAYER, int(rows[i]), column, rule, ERROR, message(i))

    out = pd.DataFrame({"source_row": rows})
    for name in _TEXTS:
        out[name] = _text(frame, name)
    numbers: dict[str, np.ndarray] = {}
    for name in _NUMBERS:
        text = _text(frame, name)
        number = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
        numbers[name] = number
        out[name] = number
        bad = text.notna().to_numpy() & ~np.isfinite(number)
        flag(bad, name, "not_a_number", lambda i, t=text, n=name: f"{n} {t[i]!r} is not a number")
    out["date"] = _dates(frame) if "date" in frame.columns else None

    for name in (c for c in REQUIRED_COLUMNS if c not in missing):
        empty = _text(frame, name).isna()
        flag(empty, name, "required", lambda i, n=name: f"{n} is empty")
    if "date" not in missing:
        given = _text(frame, "date").notna()
        flag(
            given & out["date"].isna(),
            "date",
            "invalid_date",
            lambda i: f"date {frame['date'][i]!r} is not an ISO date (YYYY-MM-DD)",
        )

    ids = out["indicator_id"]
    known_ids = [i.id for i in CITY_STATISTICS_REGISTRY]
    flag(
        ids.notna() & ~ids.isin(known_ids),
        "indicator_id",
        "unknown_indicator",
        lambda i: f"unknown indicator {ids[i]!r}; known: {', '.join(known_ids)}",
    )
    units = ids.map({i.id: i.unit for i in CITY_STATISTICS_REGISTRY})
    value, num, den = numbers["value"], numbers["numerator"], numbers["denominator"]
    share = (units == "share").to_numpy()
    flag(
        share & ((value < 0) | (value > 1)),
        "value",
        "out_of_range",
        lambda i: f"{ids[i]} is a share: {value[i]:g} is outside [0, 1]",
    )
    expenditure = (ids == _EXPENDITURE).to_numpy()
    flag(
        expenditure & (value < 0),
        "value",
        "negative_value",
        lambda i: f"expenditure {value[i]:g} is negative",
    )
    flag(
        expenditure & out["currency"].isna().to_numpy(),
        "currency",
        "missing_currency",
        lambda i: "an expenditure needs its ISO 4217 currency",
    )
    both = np.isfinite(num) & np.isfinite(den) & np.isfinite(value)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = num / den
        off = np.abs(value - ratio) > _REL_TOL * np.maximum(np.abs(ratio), np.abs(value))
    flag(
        both & ((den == 0) | off),
        "value",
        "inconsistent_value",
        lambda i: (
            f"value {value[i]:g} differs from numerator / denominator = "
            f"{num[i]:g} / {den[i]:g}"
            + (" (denominator 0)" if den[i] == 0 else f" = {ratio[i]:.6g}")
        ),
    )
    given_num = out["numerator"].notna().to_numpy()
    given_den = out["denominator"].notna().to_numpy()
    for i in np.flatnonzero(given_num != given_den):
        column = "denominator" if given_num[i] else "numerator"
        report.add(
            LAYER,
            int(rows[i]),
            column,
            "incomplete_ratio",
            WARNING,
            f"{column} is empty: numerator and denominator are checked only together",
        )

    key = out[["indicator_id", "city", "date"]]
    complete = key.notna().all(axis=1)
    if complete.any():
        keyed = key[complete]
        first = (
            out.loc[complete, "source_row"]
            .groupby([keyed[c] for c in key.columns], sort=False)
            .transform("min")
        )
        dup = keyed.duplicated(keep="first")
        for i in np.flatnonzero(dup.to_numpy()):
            position = keyed.index[int(i)]
            report.add(
                LAYER,
                int(rows[position]),
                "date",
                "duplicate_entry",
                ERROR,
                f"{keyed['indicator_id'][position]} for {keyed['city'][position]!r} on "
                f"{keyed['date'][position]} already entered in row {int(first[position])}",
            )
    # Ordered by row (file-level problems first), as profiling.validate orders its report.
    report = Report(sorted(report.problems, key=lambda p: -1 if p.row is None else p.row))
    if report.has_errors:
        raise ValidationFailed(report, f"city statistics: {report.summary()}")
    clean = out[[*CITY_STATISTIC_COLUMNS, "source_row"]].copy()
    clean.attrs["report"] = report
    return clean


def city_statistics_table(
    entries: str | Path | pd.DataFrame, *, computed_at: datetime | None = None
) -> pd.DataFrame:
    """MEL city statistics as tidy indicator rows.

    Parameters
    ----------
    entries : str, Path or pandas.DataFrame
        An entry table; validated by :func:`read_city_statistics` (again, when it is its
        output: the check is idempotent).
    computed_at : datetime, optional, keyword-only
        Timestamp to record (default: now, UTC).

    Returns
    -------
    pandas.DataFrame
        :func:`profiling.indicators.rollup.tidy_table` rows sorted by indicator, city and
        date: group column ``city`` (``group`` = ``"city=<city>"``), ``round`` = the ISO
        date, ``value`` / ``numerator`` / ``denominator`` as entered, ``n_units`` and
        ``unknown`` 0, ``ci_method="none"``, ``source="mel_entry"``, ``upload_ids`` empty,
        ``parameters`` = JSON of ``reported_source``, ``entered_by``, ``currency``, ``note``.

    Examples
    --------
    >>> entries = pd.DataFrame({"indicator_id": ["youth_neet_share"] * 2,
    ...                         "city": ["Mto Mji"] * 2, "date": ["2022-12-31", "2023-12-31"],
    ...                         "value": [0.34, 0.31]})
    >>> t = city_statistics_table(entries)
    >>> t[["group", "round", "value", "source"]].values.tolist()
    [['city=Mto Mji', '2022-12-31', 0.34, 'mel_entry'], ['city=Mto Mji', '2023-12-31', 0.31, 'mel_entry']]
    """  # noqa: E501
    clean = read_city_statistics(entries)
    stamp = computed_at or datetime.now(UTC)
    clean = clean.sort_values(["indicator_id", "city", "date"], kind="stable")
    provenance = pd.DataFrame(
        {
            "reported_source": clean["source"],
            "entered_by": clean["entered_by"],
            "currency": clean["currency"],
            "note": clean["note"],
        }
    )
    records = provenance.astype(object).where(provenance.notna(), None).to_dict("records")
    clean = clean.assign(
        _params=[orjson.dumps(r, option=orjson.OPT_SORT_KEYS).decode() for r in records]
    )
    tables = []
    for (indicator_id, params), part in clean.groupby(
        ["indicator_id", "_params"], sort=False, dropna=False
    ):
        indicator = CITY_STATISTICS_REGISTRY.get(str(indicator_id))
        parameters: Mapping[str, Any] = orjson.loads(str(params))
        tables.append(
            tidy_table(
                indicator,
                pd.DataFrame({"city": part["city"].to_numpy(), "round": part["date"].to_numpy()}),
                {
                    "value": part["value"].to_numpy(),
                    "numerator": part["numerator"].to_numpy(),
                    "denominator": part["denominator"].to_numpy(),
                },
                ci_method="none",
                parameters=parameters,
                upload_ids="",
                source=SOURCE_MEL,
                computed_at=stamp,
            )
        )
    if not tables:
        return pd.DataFrame()
    out = pd.concat(tables, ignore_index=True, sort=False)
    return out.sort_values(["indicator_id", "city", "round"], kind="stable").reset_index(drop=True)
