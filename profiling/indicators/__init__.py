"""Indicators: a registry of definitions, roll-ups with disaggregation, privacy, provenance.

Per-unit facts from the analyses (:mod:`profiling.deprivation`, :mod:`profiling.tenure`, ...)
become indicator values per settlement, city and disaggregation cell, per enumeration round,
with their exact denominator, unknowns, a 95 % interval and their provenance.

>>> from profiling.indicators import DEFAULT_REGISTRY
>>> "sdg_11_1_1_slum_population" in DEFAULT_REGISTRY
True
"""

from profiling._memo import shared_work
from profiling.indicators.catalogue import (
    CATALOGUE,
    all_indicators,
    catalogue_records,
    definitions_markdown,
)
from profiling.indicators.city_statistics import city_statistics_table, read_city_statistics
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
from profiling.indicators.profiles import settlement_profile_table
from profiling.indicators.projects import project_beneficiaries, projects_by_type
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
from profiling.indicators.structures import roll_up_structures, totals
from profiling.indicators.table import IndicatorTable, adults_from_members, indicator_table
from profiling.indicators.urban_form import URBAN_FORM_REGISTRY, urban_form_indicator_table

__all__ = [
    "CATALOGUE",
    "DEFAULT_INDICATORS",
    "DEFAULT_REGISTRY",
    "FLOOD_DEPTH_CLASSES",
    "PERSONAL_COLUMNS",
    "URBAN_FORM_REGISTRY",
    "Indicator",
    "IndicatorTable",
    "PersonalDataError",
    "Registry",
    "adults_from_members",
    "all_indicators",
    "assert_no_personal_columns",
    "catalogue_records",
    "change_between_rounds",
    "city_statistics_table",
    "definitions_markdown",
    "indicator_table",
    "progress_to_target",
    "project_beneficiaries",
    "projects_by_type",
    "read_city_statistics",
    "roll_up",
    "roll_up_many",
    "roll_up_structures",
    "settlement_profile_table",
    "shared_work",
    "suppress_small_cells",
    "tidy_table",
    "to_csv_bytes",
    "to_json_bytes",
    "to_parquet_bytes",
    "totals",
    "urban_form_indicator_table",
    "wilson_interval",
]
