"""Indicator definitions: what is counted, over whom, with which parameters.

An :class:`Indicator` is declared once and rolled up by :func:`profiling.indicators.roll_up`.
Its *numerator* gives one value per unit (household, structure): ``True``/``False`` (or 1/0, or a
number) when known, missing (``<NA>``/``NaN``) when the answers cannot decide it. The roll-up
computes, per group,

.. math::

    \\hat R = \\frac{\\sum_{i \\in K} w_i m_i x_i}{\\sum_{i \\in K} w_i m_i}

where :math:`K` are the units with a known value (and known size), :math:`x_i` the numerator
value, :math:`m_i` the unit's size in the indicator's *population* (1 per household or
structure, ``household_size`` people, ``adults`` adults) and :math:`w_i` the sample weight (1
in a census). Units with an unknown value are **excluded from numerator and denominator** and
counted in the ``unknown`` column: never silently counted as either answer.

The *denominator* of every definition is therefore "the population of the units in scope
whose value is known"; an optional ``universe`` narrows the scope (e.g. slum households only).

The definitions themselves live in :mod:`profiling.indicators.definitions` (households),
:mod:`profiling.indicators.structures`, ``profiles``, ``projects`` and ``city_statistics``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import pandas as pd

__all__ = [
    "POPULATION_SIZE_COLUMNS",
    "Indicator",
    "NumeratorFn",
    "Population",
    "Registry",
]

Population = Literal["households", "people", "adults", "structures", "land"]
"""Whom an indicator counts. Households and structures count 1 per unit; people and adults
are weighted by the unit's size column (:data:`POPULATION_SIZE_COLUMNS`); ``land`` marks
figures about the city's land (urban extent, growth), computed from rasters, not units."""

POPULATION_SIZE_COLUMNS: Mapping[str, str | None] = MappingProxyType(
    {
        "households": None,
        "structures": None,
        "people": "household_size",
        "adults": "adults",
        "land": None,
    }
)
"""Column giving the size :math:`m_i` of each unit in the population (``None``: 1 per unit)."""

NumeratorFn = Callable[[pd.DataFrame, Mapping[str, Any]], pd.Series]
"""``f(units, parameters) -> Series`` aligned to ``units``: bool/number, missing = unknown."""


def _json_safe(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [_json_safe(v) for v in items]
    return str(value)


def _describe(rule: Callable[..., Any] | str) -> str:
    """A column name as is; a function by its docstring (else its name)."""
    if isinstance(rule, str):
        return rule
    doc = inspect.getdoc(rule)
    return " ".join(doc.split()) if doc else getattr(rule, "__name__", repr(rule))


@dataclass(frozen=True, slots=True)
class Indicator:
    """One indicator definition.

    Attributes
    ----------
    id : str
        Stable identifier (``snake_case``), e.g. ``sdg_11_1_1_slum_population``.
    name : str
        Short human name.
    description : str
        What it measures, the rule for unknowns, caveats (e.g. household- vs adult-based).
    reference : str
        Where the definition comes from: ``"SDG 11.1.1"``, ``"CRF Tier II"``...
    unit : str
        Unit of the value: ``"share"`` (0..1), ``"count"``, ``"people per tap"``...
    population : {"households", "people", "adults", "structures"}
        Whom the value counts; sets the size :math:`m_i` of each unit.
    numerator : callable or str
        ``f(units, parameters) -> Series`` or the name of a column of ``units``; per unit a
        boolean / number, missing when unknown.
    denominator : str
        The denominator rule in words (always restricted to units with a known value).
    parameters : mapping
        Parameters and their defaults, passed to ``numerator`` (overridable at roll-up).
    version : str
        Bumped whenever the rule or a default changes, so stored figures stay traceable.
    universe : callable or str or None
        Optional scope: ``f(units, parameters)`` or a column, ``True`` for units in scope.
        Units out of scope (``False``) are left out entirely; unknown scope counts as unknown.
    statistic : {"ratio", "total", "ratio_of_sums"}
        ``"ratio"`` (default): the value is :math:`N/D` (a share, a mean). ``"total"``: the
        value is the total :math:`N` (people exposed, structures in a class), with the
        design-based variance of a total for samples. ``"ratio_of_sums"``: the numerator
        gives each unit's own count :math:`n_i` (households with water in a structure), so
        :math:`N = \\sum w_i n_i` and :math:`D = \\sum w_i m_i`; a unit with
        :math:`m_i = 0` and :math:`n_i > 0` still adds its count, as the source's own sums do.
    requires : tuple of str
        Columns that must be present (joined from an analysis: ``hazard_class``, distances);
        :func:`profiling.indicators.indicator_table` skips the indicator, saying why, when
        they are absent. Answers the canonical schema holds are not listed: a missing one
        makes every value unknown instead.
    """

    id: str
    name: str
    description: str
    reference: str
    unit: str
    population: Population
    numerator: NumeratorFn | str = field(hash=False, compare=False)
    denominator: str
    parameters: Mapping[str, Any] = field(default_factory=dict, hash=False)
    version: str = "1"
    universe: NumeratorFn | str | None = field(default=None, hash=False, compare=False)
    statistic: Literal["ratio", "total", "ratio_of_sums"] = "ratio"
    requires: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.population not in POPULATION_SIZE_COLUMNS:
            raise ValueError(
                f"indicator {self.id!r}: population {self.population!r} not one of "
                f"{sorted(POPULATION_SIZE_COLUMNS)}"
            )
        if self.statistic not in ("ratio", "total", "ratio_of_sums"):
            raise ValueError(
                f"indicator {self.id!r}: statistic must be 'ratio', 'total' or 'ratio_of_sums'"
            )
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))

    def resolve_parameters(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults updated with ``overrides``; unknown names raise ``KeyError``."""
        params = dict(self.parameters)
        for key, value in (overrides or {}).items():
            if key not in params:
                raise KeyError(f"indicator {self.id!r} has no parameter {key!r}")
            params[key] = value
        return params

    @staticmethod
    def _apply(
        rule: NumeratorFn | str, units: pd.DataFrame, params: Mapping[str, Any]
    ) -> pd.Series:
        if isinstance(rule, str):
            if rule not in units.columns:
                raise KeyError(f"column {rule!r} needed by the indicator is missing")
            return units[rule]
        return rule(units, params)

    def values(self, units: pd.DataFrame, parameters: Mapping[str, Any] | None = None) -> pd.Series:
        """Numerator value per unit as ``float64`` (``NaN`` = unknown or out of scope).

        Booleans become 1.0 / 0.0. Units outside the ``universe`` are ``NaN`` too; use
        :meth:`in_scope` to tell them from unknowns.
        """
        params = self.resolve_parameters(parameters)
        raw = self._apply(self.numerator, units, params)
        out = pd.to_numeric(pd.Series(raw, index=units.index), errors="coerce")
        return out.astype("Float64").astype("float64").rename(self.id)

    def in_scope(
        self, units: pd.DataFrame, parameters: Mapping[str, Any] | None = None
    ) -> pd.Series:
        """Per unit: ``1.0`` in scope, ``0.0`` out of scope, ``NaN`` scope unknown."""
        if self.universe is None:
            return pd.Series(1.0, index=units.index)
        params = self.resolve_parameters(parameters)
        raw = self._apply(self.universe, units, params)
        return (
            pd.to_numeric(pd.Series(raw, index=units.index), errors="coerce")
            .astype("Float64")
            .astype("float64")
        )

    def to_record(self) -> dict[str, Any]:
        """The definition as plain data (for the API and the README)."""
        size = POPULATION_SIZE_COLUMNS[self.population]
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "reference": self.reference,
            "unit": self.unit,
            "population": self.population,
            "population_size_column": size,
            "numerator": _describe(self.numerator),
            "denominator": self.denominator,
            "universe": None if self.universe is None else _describe(self.universe),
            "statistic": self.statistic,
            "requires": list(self.requires),
            "parameters": {k: _json_safe(v) for k, v in self.parameters.items()},
            "version": self.version,
        }


class Registry:
    """Indicator definitions by id.

    Examples
    --------
    >>> reg = Registry()
    >>> x = reg.register(Indicator("x", "X", "d", "test", "share", "households", "flag", "all"))
    >>> [i.id for i in reg]
    ['x']
    """

    def __init__(self, indicators: tuple[Indicator, ...] | list[Indicator] = ()) -> None:
        self._items: dict[str, Indicator] = {}
        for indicator in indicators:
            self.register(indicator)

    def register(self, indicator: Indicator, *, replace: bool = False) -> Indicator:
        """Add ``indicator``; an existing id raises ``ValueError`` unless ``replace``."""
        if indicator.id in self._items and not replace:
            raise ValueError(f"indicator {indicator.id!r} is already registered")
        self._items[indicator.id] = indicator
        return indicator

    def get(self, indicator_id: str) -> Indicator:
        """The definition with id ``indicator_id`` (``KeyError`` listing known ids)."""
        try:
            return self._items[indicator_id]
        except KeyError:
            raise KeyError(
                f"unknown indicator {indicator_id!r}; known: {sorted(self._items)}"
            ) from None

    def __iter__(self) -> Iterator[Indicator]:
        return iter(self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, indicator_id: object) -> bool:
        return indicator_id in self._items

    def to_records(self) -> list[dict[str, Any]]:
        """Every definition as plain data, in registration order."""
        return [i.to_record() for i in self]
