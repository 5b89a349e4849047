"""Indicators: a registry of definitions, roll-ups with disaggregation, privacy, provenance.

Per-unit facts from the analyses (:mod:`profiling.deprivation`, :mod:`profiling.tenure`, ...)
become indicator values per settlement, city and disaggregation cell, per enumeration round,
with their exact denominator, unknowns, a 95 % interval and their provenance.

>>> from profiling.indicators import DEFAULT_REGISTRY
>>> "sdg_11_1_1_slum_population" in DEFAULT_REGISTRY
True
"""

from profiling._memo import shared_work
from profiling.indicators.definitions import (
    DEFAULT_INDICATORS,
    DEFAULT_REGISTRY,
    FLOOD_DEPTH_CLASSES,
)
from profiling.indicators.privacy import (
    PERSONAL_COLUMNS,
    PersonalDataError,
    assert_no_personal_columns,
    suppress_small_cells,
)
from profiling.indicators.registry import Indicator, Registry
from profiling.indicators.rollup import (
    change_between_rounds,
    progress_to_target,
    roll_up,
    roll_up_many,
    tidy_table,
    to_csv_bytes,
    to_json_bytes,
    to_parquet_bytes,
    wilson_interval,
)
from profiling.indicators.table import IndicatorTable, adults_from_members, indicator_table

__all__ = [
    "DEFAULT_INDICATORS",
    "DEFAULT_REGISTRY",
    "FLOOD_DEPTH_CLASSES",
    "PERSONAL_COLUMNS",
    "Indicator",
    "IndicatorTable",
    "PersonalDataError",
    "Registry",
    "adults_from_members",
    "assert_no_personal_columns",
    "change_between_rounds",
    "indicator_table",
    "progress_to_target",
    "roll_up",
    "roll_up_many",
    "shared_work",
    "suppress_small_cells",
    "tidy_table",
    "to_csv_bytes",
    "to_json_bytes",
    "to_parquet_bytes",
    "wilson_interval",
]
