"""Column values between pandas and SQLite, by canonical field type.

Writing turns each column into a plain Python list ready for ``executemany`` (vectorised in
pandas/NumPy, then one ``tolist()``): dates as ISO ``YYYY-MM-DD`` text, booleans as 0/1,
missing values (None, NaN, NaT, pd.NA) as NULL, ``codes`` (select_multiple) lists as
space-separated text. Reading does the reverse with pandas nullable dtypes, so an integer or
boolean column with a missing value keeps its type.

Declared SQLite column types follow the GeoPackage data types (OGC 12-128r18, clause 1.1.1.1.3,
Table 1): ``TEXT``, ``INTEGER``, ``REAL``, ``BOOLEAN``, ``DATE``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson
import pandas as pd

__all__ = ["SQL_TYPES", "attributes_to_sql", "csv_safe", "from_sql", "to_sql"]

SQL_TYPES: Mapping[str, str] = {
    "str": "TEXT",
    "codes": "TEXT",
    "int": "INTEGER",
    "float": "REAL",
    "bool": "BOOLEAN",
    "date": "DATE",
}

_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


class ValueProblem(ValueError):
    """A value cannot be stored with the declared type (message names the first bad row)."""


def _missing(value: Any) -> bool:
    """None, NaN, NaT or pd.NA (scalars only: lists are values)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and bool(np.isnan(value))


def _with_none(values: list[Any], mask: np.ndarray) -> list[Any]:
    for i in np.flatnonzero(mask).tolist():
        values[i] = None
    return values


def _first_bad(series: pd.Series, ok: np.ndarray) -> str:
    bad = np.flatnonzero(~ok)
    if len(bad) == 0:
        return ""
    i = int(bad[0])
    return f" (first at position {i}: {series.iloc[i]!r}; {len(bad)} value(s) in all)"


def _numeric(series: pd.Series) -> pd.Series:
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        try:
            return pd.to_numeric(series, errors="raise")
        except (TypeError, ValueError) as exc:
            ok = (
                pd.to_numeric(series, errors="coerce").notna().to_numpy() | series.isna().to_numpy()
            )
            raise ValueProblem(f"not a number{_first_bad(series, ok)}") from exc
    return series


def to_sql(series: pd.Series, dtype: str) -> list[Any]:
    """Values of ``series`` as a list of Python scalars / None for a column of ``dtype``.

    Raises
    ------
    ValueProblem
        A value that does not fit (text in a number column, 1.5 in an integer column...).
    """
    if dtype == "str":
        return series.astype("string").to_numpy(dtype=object, na_value=None).tolist()
    if dtype == "codes":
        return [_codes(v) for v in series.to_numpy(dtype=object)]
    if dtype == "float":
        arr = _numeric(series).to_numpy(dtype="float64", na_value=np.nan)
        return _with_none(arr.tolist(), np.isnan(arr))
    if dtype == "int":
        num = _numeric(series)
        try:
            ints = pd.array(num, dtype="Int64")
        except (TypeError, ValueError) as exc:
            as_float = pd.to_numeric(num, errors="coerce").to_numpy(
                dtype="float64", na_value=np.nan
            )
            ok = np.isnan(as_float) | (np.mod(as_float, 1) == 0)
            raise ValueProblem(f"not an integer{_first_bad(series, ok)}") from exc
        mask = ints.isna()
        return _with_none(ints.to_numpy(dtype="int64", na_value=0).tolist(), mask)
    if dtype == "bool":
        try:
            flags = pd.array(series.to_numpy(dtype=object), dtype="boolean")
        except (TypeError, ValueError) as exc:
            obj = series.to_numpy(dtype=object)
            ok = np.array([_missing(v) or v in (True, False, 0, 1) for v in obj], dtype=bool)
            raise ValueProblem(f"not a boolean{_first_bad(series, ok)}") from exc
        mask = flags.isna()
        return _with_none(flags.to_numpy(dtype="int64", na_value=0).tolist(), mask)
    if dtype == "date":
        return _dates(series)
    raise ValueProblem(f"unknown field type {dtype!r}")


def _codes(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return " ".join(value.split())
    if _missing(value):
        return None
    if isinstance(value, (set, frozenset)):
        return " ".join(sorted(str(v) for v in value))
    if isinstance(value, (list, tuple, np.ndarray)):
        return " ".join(str(v) for v in value)
    raise ValueProblem(f"codes must be text or a list of codes, got {value!r}")


def _dates(series: pd.Series) -> list[str | None]:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        stamps = series.dt.tz_localize(None)
    elif pd.api.types.is_datetime64_dtype(series.dtype):
        stamps = series
    else:
        try:
            stamps = pd.to_datetime(series, format="ISO8601", errors="raise")
        except (TypeError, ValueError, OverflowError) as exc:
            coerced = pd.to_datetime(series, format="ISO8601", errors="coerce")
            ok = coerced.notna().to_numpy() | series.isna().to_numpy()
            raise ValueProblem(f"not an ISO date{_first_bad(series, ok)}") from exc
        if isinstance(stamps.dtype, pd.DatetimeTZDtype):
            stamps = stamps.dt.tz_localize(None)
    days = stamps.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    # few distinct days: format each once (datetime64 -> str is slow per element)
    unique, inverse = np.unique(days, return_inverse=True)
    text = np.asarray(unique.astype(str), dtype=object)[inverse]
    return _with_none(text.tolist(), np.isnat(days))


def attributes_to_sql(series: pd.Series) -> list[str | None]:
    """JSON text of the unmapped source columns (dicts are serialised, text kept as is).

    Raises
    ------
    ValueProblem
        A text value that is not JSON, or a value that is neither a mapping nor text.
    """
    out: list[str | None] = []
    for i, value in enumerate(series.to_numpy(dtype=object)):
        if _missing(value):
            out.append(None)
        elif isinstance(value, Mapping):
            out.append(
                orjson.dumps(dict(value), option=_JSON_OPTIONS, default=str).decode()
                if value
                else None
            )
        elif isinstance(value, str):
            try:
                orjson.loads(value)
            except orjson.JSONDecodeError as exc:
                raise ValueProblem(f"position {i}: attributes text is not JSON") from exc
            out.append(value)
        else:
            raise ValueProblem(f"position {i}: attributes must be a dict or JSON text")
    return out


def from_sql(values: Sequence[Any], dtype: str) -> pd.api.extensions.ExtensionArray | np.ndarray:
    """Column values read from SQLite as a typed array (nullable Int64 / boolean, str...)."""
    if dtype in ("str", "codes"):
        return pd.array(values, dtype="str")
    if dtype == "int":
        return pd.array(values, dtype="Int64")
    if dtype == "float":
        return np.array(values, dtype="float64")
    if dtype == "bool":
        return pd.array(values, dtype="boolean")
    if dtype == "date":  # few distinct days: parse each once
        codes, uniques = pd.factorize(pd.Series(values, dtype=object))
        days = pd.to_datetime(pd.Series(uniques, dtype=object), format="ISO8601")
        return days.array.take(codes, allow_fill=True)
    raise ValueProblem(f"unknown field type {dtype!r}")


def csv_safe(series: pd.Series) -> pd.Series:
    """Text cells starting with ``= + - @ TAB CR`` prefixed with ``'`` (CSV injection).

    Spreadsheets execute such cells as formulas; OWASP "CSV Injection" recommends prefixing
    them with a single quote so they are shown as text. Non-text columns are returned as is.

    Examples
    --------
    >>> csv_safe(pd.Series(["=cmd()", "ok", None])).tolist()
    ["'=cmd()", 'ok', nan]
    """
    if not (series.dtype == object or pd.api.types.is_string_dtype(series.dtype)):
        return series
    text = series.astype("str")
    risky = text.str.startswith(_CSV_TRIGGERS).fillna(False).astype(bool)
    if not risky.any():
        return text
    return text.where(~risky, "'" + text)
