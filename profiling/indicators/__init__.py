"""Indicators: a registry of definitions, roll-ups with disaggregation, privacy, provenance.

Per-unit facts from the analyses (:mod:`profiling.deprivation`, :mod:`profiling.tenure`, ...)
become indicator values per settlement, city and disaggregation cell, per enumeration round,
with their exact denominator, unknowns, a 95 % interval and their provenance.

>>> from profiling.indicators import DEFAULT_REGISTRY
>>> "sdg_11_1_1_slum_population" in DEFAULT_REGISTRY
True
"""

from profiling.indicators.privacy import (
    PERSONAL_COLUMNS,
    PersonalDataError,
    assert_no_personal_columns,
    suppress_small_cells,
)
from profiling.indicators.registry import (
    DEFAULT_INDICATORS,
    DEFAULT_REGISTRY,
    Indicator,
    Registry,
)
from profiling.indicators.rollup import (
    change_between_rounds,
    progress_to_target,
    roll_up,
    roll_up_many,
    to_csv_bytes,
    to_json_bytes,
    to_parquet_bytes,
    wilson_interval,
)

__all__ = [
    "DEFAULT_INDICATORS",
    "DEFAULT_REGISTRY",
    "PERSONAL_COLUMNS",
    "Indicator",
    "PersonalDataError",
    "Registry",
    "assert_no_personal_columns",
    "change_between_rounds",
    "progress_to_target",
    "roll_up",
    "roll_up_many",
    "suppress_small_cells",
    "to_csv_bytes",
    "to_json_bytes",
    "to_parquet_bytes",
    "wilson_interval",
]
