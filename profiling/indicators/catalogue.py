"""Every indicator definition the service knows, by family, and their documentation table.

The README's indicator section is generated from here (``make docs``) and a test checks it is
current, so the published definitions never drift from the code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from profiling.indicators.city_statistics import CITY_STATISTICS_REGISTRY
from profiling.indicators.definitions import DEFAULT_REGISTRY
from profiling.indicators.expansion import EXPANSION_REGISTRY
from profiling.indicators.profiles import PROFILE_REGISTRY
from profiling.indicators.projects import PROJECT_REGISTRY
from profiling.indicators.registry import Indicator, Registry
from profiling.indicators.structures import STRUCTURE_REGISTRY
from profiling.indicators.urban_form import URBAN_FORM_REGISTRY

__all__ = [
    "CATALOGUE",
    "README_MARKERS",
    "all_indicators",
    "catalogue_records",
    "definitions_markdown",
    "readme_section",
    "write_readme",
]

README_MARKERS = ("<!-- indicator-definitions:start -->", "<!-- indicator-definitions:end -->")
"""The README lines between which :func:`definitions_markdown` is written."""

CATALOGUE: Mapping[str, tuple[Registry, str]] = MappingProxyType(
    {
        "households": (
            DEFAULT_REGISTRY,
            "Rolled up from households: `indicator_table` / `roll_up` "
            "(`profiling.indicators.definitions`).",
        ),
        "structures": (
            STRUCTURE_REGISTRY,
            "Rolled up from structure enumerations with household counts (Kianda shape): "
            "`roll_up_structures`.",
        ),
        "settlement_profiles": (
            PROFILE_REGISTRY,
            "One row per settlement from its enumeration or, where only a profile exists, "
            "from the profile counts (`source` says which): `settlement_profile_table`.",
        ),
        "projects": (
            PROJECT_REGISTRY,
            "Tier III, from the projects layer and the households in their catchments: "
            "`projects_by_type`, `project_beneficiaries`.",
        ),
        "urban_expansion": (
            EXPANSION_REGISTRY,
            "Per epoch of a built-up raster (GHSL style), for the city: "
            "`profiling.expansion.expansion_table` then `expansion_indicator_table`.",
        ),
        "urban_form": (
            URBAN_FORM_REGISTRY,
            "Block street access per settlement and for the city, from building footprints and "
            "the street + footpath network: `profiling.morphology.street_access_by_area` then "
            "`urban_form_indicator_table`.",
        ),
        "city_statistics": (
            CITY_STATISTICS_REGISTRY,
            "Entered by MEL staff as a dated table: `read_city_statistics`, "
            "`city_statistics_table`.",
        ),
    }
)
"""Family name -> (registry, how its values are produced)."""


def all_indicators() -> list[Indicator]:
    """Every definition of every family, in catalogue order (ids are unique)."""
    out = [i for registry, _ in CATALOGUE.values() for i in registry]
    ids = [i.id for i in out]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ValueError(f"indicator ids defined twice: {duplicated}")
    return out


def catalogue_records() -> list[dict[str, Any]]:
    """Every definition as plain data with its ``family`` (for the API)."""
    return [
        {"family": family, **indicator.to_record()}
        for family, (registry, _) in CATALOGUE.items()
        for indicator in registry
    ]


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def definitions_markdown() -> str:
    """The README's indicator definitions: one table per family.

    Examples
    --------
    >>> "sdg_11_1_1_slum_population" in definitions_markdown()
    True
    """
    lines: list[str] = []
    for family, (registry, how) in CATALOGUE.items():
        lines += [f"### {family.replace('_', ' ').capitalize()}", "", how, ""]
        lines += [
            "| id (version) | definition | population, unit | denominator | parameters "
            "| reference |",
            "|---|---|---|---|---|---|",
        ]
        for ind in registry:
            rec = ind.to_record()
            params = ", ".join(f"`{k}`={v}" for k, v in rec["parameters"].items()) or "-"
            scope = f" Scope: {rec['universe']}." if rec["universe"] else ""
            kind = " (total)" if ind.statistic == "total" else ""
            lines.append(
                f"| `{ind.id}` ({ind.version}) | **{_cell(ind.name)}**. "
                f"{_cell(ind.description)}{_cell(scope)} | {ind.population}, "
                f"{_cell(ind.unit)}{kind} | {_cell(ind.denominator)} | {_cell(params)} "
                f"| {_cell(ind.reference)} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def readme_section(text: str) -> str:
    """The text between :data:`README_MARKERS` (``ValueError`` when they are missing)."""
    start, end = README_MARKERS
    if start not in text or end not in text:
        raise ValueError(f"README lacks the markers {README_MARKERS}")
    return text.split(start, 1)[1].split(end, 1)[0].strip("\n") + "\n"


def write_readme(path: Path) -> None:
    """Rewrite the definitions section of the README at ``path`` (``make docs``)."""
    text = path.read_text(encoding="utf-8")
    readme_section(text)  # checks the markers
    start, end = README_MARKERS
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    body = f"{start}\n\n{definitions_markdown()}\n{end}"
    path.write_text(before + body + after, encoding="utf-8")
