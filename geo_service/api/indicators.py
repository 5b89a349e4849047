"""Indicators, city figures, settlement profiles, MEL targets and progress.

Computation and caching live in :mod:`geo_service.indicator_service`; these routes pick the
caller's audience (suppressed or not, which settlements are left out of the computation) and
send the cached bytes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import orjson
import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from fastapi.responses import Response
from pydantic import BaseModel, Field

from geo_service.access import Principal
from geo_service.api.deps import Caller, Services, get_services, require, settlement_scope
from geo_service.api.responses import JSONBytes, json_bytes
from geo_service.indicator_service import (
    CACHE,
    DISAGGREGATIONS,
    Version,
    group_columns_of,
    settlement_profile,
)
from geo_service.servicedb import Role, Target
from profiling.indicators import catalogue_records, progress_to_target, to_csv_bytes, to_json_bytes

__all__ = ["router"]

router = APIRouter(tags=["indicators"])

ServicesDep = Annotated[Services, Depends(get_services)]

_FULL_ROLES = frozenset({Role.admin, Role.planner})
"""Roles that read unsuppressed rows."""

_INTERNAL = ["family", "grouping"]
"""Bookkeeping columns of the cached tables, never sent."""


class Disaggregation(StrEnum):
    """How rows are broken down (absent: city rows)."""

    settlement = "settlement"
    sex = "sex"
    tenure = "tenure"
    migration = "migration"
    hazard_class = "hazard_class"
    project_type = "project_type"


class Format(StrEnum):
    """Response format of the indicator rows."""

    json = "json"
    csv = "csv"


class TargetIn(BaseModel):
    """A baseline and target for one indicator and group of a city."""

    indicator_id: str = Field(examples=["sdg_6_1_1_basic_water"])
    group: str = Field("", description='Group label of the rows (`""` for the city row).')
    baseline: float = Field(examples=[0.62])
    baseline_year: int = Field(ge=1900, le=2200, examples=[2024])
    target: float = Field(examples=[0.9])
    target_year: int = Field(ge=1900, le=2200, examples=[2030])


_ROW_EXAMPLE = {
    "indicator_id": "sdg_6_1_1_basic_water",
    "indicator_version": "1",
    "group": "",
    "round": "2024-02-05",
    "value": 0.857,
    "numerator": 4795.0,
    "denominator": 5595.0,
    "n_units": 1491,
    "unknown": 96,
    "ci_low": 0.84,
    "ci_high": 0.87,
    "ci_method": "wilson_unweighted_households",
    "unit": "share",
    "population": "people",
    "source": "enumeration",
    "upload_ids": "4",
    "computed_at": "2026-01-01T00:00:00+00:00",
    "suppressed": "",
}


# -- helpers ---------------------------------------------------------------------------------


def _known_ids() -> frozenset[str]:
    return frozenset(r["id"] for r in catalogue_records())


def _city_settlements(
    services: Services, principal: Principal, city: str, version: Version
) -> frozenset[str]:
    """The city's settlements; 404 when no settlement has that city, or none the caller may
    see (a city of hidden settlements only is not revealed)."""
    mapping = CACHE.settlement_cities(services.store, version)
    ids = frozenset(s for s, c in mapping.items() if c == city)
    scope = settlement_scope(services, principal, household_level=False)
    if not any(scope.allows(s) for s in ids):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no city {city!r} in the store")
    return ids


def _audience(
    services: Services, principal: Principal, settlements: frozenset[str]
) -> tuple[frozenset[str], int | None]:
    """Settlements left out of the computation for this caller, and the suppression k."""
    scope = settlement_scope(services, principal, household_level=False)
    hidden = frozenset(s for s in settlements if not scope.allows(s))
    k = None if principal.role in _FULL_ROLES else services.settings.small_cell_k
    return hidden, k


def _rows(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=[c for c in _INTERNAL if c in table.columns])


def _select(
    table: pd.DataFrame,
    *,
    disaggregate: Disaggregation | None,
    indicators: tuple[str, ...],
    round_: str | None,
) -> pd.DataFrame:
    grouping = ",".join(DISAGGREGATIONS[disaggregate.value]) if disaggregate else ""
    if table.empty:
        return table
    keep = table["grouping"].to_numpy() == grouping
    if indicators:
        keep &= table["indicator_id"].isin(indicators).to_numpy()
    if round_ is not None:
        keep &= (table["round"].astype("string") == round_).fillna(False).to_numpy(dtype=bool)
    chosen = _rows(table[keep])
    dims = set(grouping.split(",")) - {""}
    others = [c for c in group_columns_of(chosen) if c not in dims]
    return chosen.drop(columns=others)


# -- catalogue and cities --------------------------------------------------------------------


@router.get(
    "/indicators",
    summary="Indicator definitions",
    description=(
        "Every indicator definition the service knows, of every family (households, "
        "structures, settlement profiles, projects, city statistics): id, name, description, "
        "reference, unit, population, parameters, numerator and denominator rules. Public."
    ),
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": [
                        {
                            "family": "households",
                            "id": "sdg_11_1_1_slum_population",
                            "name": "Population living in slum households",
                            "unit": "share",
                        }
                    ]
                }
            }
        }
    },
)
def list_indicators() -> JSONBytes:
    """Every definition (:func:`profiling.indicators.catalogue_records`)."""
    return JSONBytes(_CATALOGUE_BYTES)


_CATALOGUE_BYTES = json_bytes(catalogue_records())


@router.get(
    "/cities",
    summary="Cities in the store",
    description="The cities named by the `city` field of the settlements layer, with their "
    "settlement counts. Public (names only); a city whose settlements the caller may not see "
    "is left out.",
    responses={
        200: {"content": {"application/json": {"example": [{"city": "Mto Mji"}]}}},
    },
)
def list_cities(services: ServicesDep, principal: Caller) -> JSONBytes:
    """Distinct ``settlements.city`` values of the settlements the caller may see, sorted."""
    version = CACHE.version(services.store)
    mapping = CACHE.settlement_cities(services.store, version)
    scope = settlement_scope(services, principal, household_level=False)
    return JSONBytes(
        [{"city": c} for c in sorted({c for s, c in mapping.items() if scope.allows(s)})]
    )


# -- city indicators -------------------------------------------------------------------------


@router.get(
    "/cities/{city}/indicators",
    summary="Indicator values of a city",
    description=(
        "Tidy rows: one per indicator, group and round, with `value`, `numerator`, "
        "`denominator`, `n_units` (households behind the cell), `unknown`, the 95 % interval "
        "(`ci_low`, `ci_high`, `ci_method`) and provenance (`upload_ids`, `source`, "
        "`computed_at`, `code_version`).\n\n"
        "Without `disaggregate` the city rows are returned; `settlement` gives one row per "
        "settlement; `sex`, `tenure`, `migration` give settlement × head-of-household sex / "
        "tenure type / migration status; `hazard_class` the city by flood class; "
        "`project_type` the Tier III rows by project type.\n\n"
        "Admins and planners read every cell. Everyone else reads cells built from fewer than "
        "`k` households blanked (`value` null, `suppressed` says why, complementary cells "
        "too), and settlements they may not see (unpublished, not their own) are left out of "
        "the computation: the city rows are the city without them."
    ),
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "city": "Mto Mji",
                        "suppression_k": 5,
                        "rounds": ["2024-02-05"],
                        "skipped": {},
                        "rows": [_ROW_EXAMPLE],
                    }
                },
                "text/csv": {"example": "indicator_id,indicator_version,group,round,value,...\n"},
            }
        },
        404: {"description": "No such city."},
        422: {"description": "Unknown indicator id or parameter value."},
    },
)
def city_indicators(
    services: ServicesDep,
    principal: Caller,
    city: Annotated[str, Path(description="City name (`settlements.city`).")],
    indicator: Annotated[
        list[str] | None,
        Query(description="Indicator ids to return (repeatable); default all."),
    ] = None,
    round: Annotated[
        str | None, Query(description="Enumeration round (e.g. `2024-02-05`); default all.")
    ] = None,
    disaggregate: Annotated[
        Disaggregation | None, Query(description="Breakdown of the rows (default: city).")
    ] = None,
    format: Annotated[Format, Query(description="`json` (default) or `csv`.")] = Format.json,
) -> Response:
    """The city's indicator rows for the caller's audience (cached bytes)."""
    store = services.store
    version = CACHE.version(store)
    settlements = _city_settlements(services, principal, city, version)
    wanted = tuple(sorted(set(indicator or ())))
    unknown = sorted(set(wanted) - _known_ids())
    if unknown:
        raise HTTPException(422, f"unknown indicator id(s): {', '.join(unknown)}")
    hidden, k = _audience(services, principal, settlements)
    key = ("rows", city, hidden, k, disaggregate, format, round, wanted)

    def build() -> bytes:
        result, table = CACHE.audience_table(store, city, version, hidden, k)
        rows = _select(table, disaggregate=disaggregate, indicators=wanted, round_=round)
        if format is Format.csv:
            return to_csv_bytes(rows)
        head = {
            "city": city,
            "suppression_k": k,
            "rounds": list(result.rounds),
            "computed_at": result.computed_at,
            "skipped": result.skipped,
        }
        return json_bytes(head)[:-1] + b',"rows":' + to_json_bytes(rows) + b"}"

    body = CACHE.payload(store, version, key, build)
    if format is Format.csv:
        return Response(body, media_type="text/csv; charset=utf-8")
    return JSONBytes(body)


# -- settlement profile ----------------------------------------------------------------------


@router.get(
    "/settlements/{settlement_id}/profile",
    summary="Profile of one settlement",
    description=(
        "Population and households; services (working taps and toilet seats, people per "
        "tap / seat); access shares (people within the Sphere / SDG distance of a water "
        "point, toilet, transit stop, open space); hazard exposure (people per flood class); "
        "tenure (owner-occupier / renter shares, documented and perceived security, eviction "
        "threat, legal status); deprivations (share of households per UN-Habitat "
        "deprivation, slum household and slum population shares). `source` says whether the "
        "figures come from the enumeration (latest round) or, for a settlement known only "
        "from its profile, from the profile counts. Each figure is a cell `{value, numerator, "
        "denominator, n_units, suppressed}`; for callers other than admins and planners cells "
        "of fewer than `k` households are blanked. A settlement the caller may not see is "
        "404."
    ),
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "settlement_id": "mtoni",
                        "source": "enumeration",
                        "round": "2024-02-05",
                        "population": {"value": 1418.0, "n_units": 342.0, "suppressed": ""},
                    }
                }
            }
        },
        404: {"description": "No such settlement, or not visible to the caller."},
    },
)
def profile(
    services: ServicesDep,
    principal: Caller,
    settlement_id: Annotated[str, Path(description="Settlement id.")],
) -> JSONBytes:
    """One settlement's profile (cached per data version and audience)."""
    store = services.store
    version = CACHE.version(store)
    mapping = CACHE.settlement_cities(store, version)
    scope = settlement_scope(services, principal, household_level=False)
    if settlement_id not in mapping or not scope.allows(settlement_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no settlement {settlement_id!r}")
    city = mapping[settlement_id]
    settlements = frozenset(s for s, c in mapping.items() if c == city)
    hidden, k = _audience(services, principal, settlements)
    key = ("profile", settlement_id, hidden, k)

    def build() -> bytes:
        _, table = CACHE.audience_table(store, city, version, hidden, k)
        data = CACHE.city_data(store, city, version)
        return json_bytes(settlement_profile(data, table, settlement_id, k=k))

    return JSONBytes(CACHE.payload(store, version, key, build))


# -- targets and progress --------------------------------------------------------------------


def _target_records(targets: list[Target]) -> list[dict[str, Any]]:
    return [dict(t.__dict__) for t in targets]


@router.get(
    "/cities/{city}/targets",
    summary="Baselines and targets of a city",
    description="The baselines and targets set by MEL, per indicator and group. MEL, "
    "planners and admins.",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": [
                        {
                            "city": "Mto Mji",
                            "indicator_id": "sdg_6_1_1_basic_water",
                            "group": "",
                            "baseline": 0.62,
                            "baseline_year": 2024,
                            "target": 0.9,
                            "target_year": 2030,
                        }
                    ]
                }
            }
        }
    },
)
def get_targets(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require(Role.mel, Role.planner))],
    city: Annotated[str, Path(description="City name.")],
) -> JSONBytes:
    """Targets of ``city``."""
    _city_settlements(services, principal, city, CACHE.version(services.store))
    return JSONBytes(_target_records(services.db.targets(city)))


@router.put(
    "/cities/{city}/targets",
    summary="Set baselines and targets of a city",
    description=(
        "Insert or replace the baseline and target of each (indicator, group) given; "
        'targets not named are kept. `group` is the row\'s group label (`""` for the city '
        "row, e.g. `settlement_id=mtoni`). An unknown indicator id is a 422 naming it. MEL "
        "and admins."
    ),
    responses={422: {"description": "Unknown indicator id(s) or a malformed body."}},
)
def put_targets(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require(Role.mel))],
    city: Annotated[str, Path(description="City name.")],
    targets: list[TargetIn],
) -> JSONBytes:
    """Store the targets and return every target of the city."""
    _city_settlements(services, principal, city, CACHE.version(services.store))
    unknown = sorted({t.indicator_id for t in targets} - _known_ids())
    if unknown:
        raise HTTPException(422, f"unknown indicator id(s): {', '.join(unknown)}")
    for t in targets:
        services.db.set_target(
            Target(
                city=city,
                indicator_id=t.indicator_id,
                group=t.group,
                baseline=t.baseline,
                baseline_year=t.baseline_year,
                target=t.target,
                target_year=t.target_year,
                set_by=principal.key_id,
            )
        )
    return JSONBytes(_target_records(services.db.targets(city)))


@router.get(
    "/cities/{city}/progress",
    summary="Progress toward the targets",
    description=(
        "For each target, the latest value of its indicator and group (latest round) and "
        "`progress = (value - baseline) / (target - baseline)`: 1 reached, 0 no change, "
        "negative moving away, null when target equals baseline or the value is suppressed. "
        "Values are those of the caller's audience. MEL, planners and admins."
    ),
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": [
                        {
                            "indicator_id": "sdg_6_1_1_basic_water",
                            "group": "",
                            "round": "2024-02-05",
                            "value": 0.857,
                            "baseline": 0.62,
                            "target": 0.9,
                            "progress": 0.846,
                        }
                    ]
                }
            }
        }
    },
)
def progress(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require(Role.mel, Role.planner))],
    city: Annotated[str, Path(description="City name.")],
) -> JSONBytes:
    """``progress_to_target`` of the latest values against the city's targets."""
    store = services.store
    version = CACHE.version(store)
    settlements = _city_settlements(services, principal, city, version)
    targets = services.db.targets(city)
    if not targets:
        return JSONBytes(b"[]")
    hidden, k = _audience(services, principal, settlements)
    _, table = CACHE.audience_table(store, city, version, hidden, k)
    rows = _rows(table)
    ordered = rows.assign(_r=rows["round"].astype("string").fillna("")).sort_values(
        "_r", kind="stable"
    )
    latest = ordered.drop_duplicates(subset=["indicator_id", "group"], keep="last")
    frame = pd.DataFrame(_target_records(targets))
    merged = progress_to_target(latest.drop(columns="_r"), frame)
    columns = [
        "indicator_id",
        "group",
        "round",
        "value",
        "baseline",
        "baseline_year",
        "target",
        "target_year",
        "progress",
    ]
    if "suppressed" in merged.columns:
        columns.append("suppressed")
    out = merged[columns]
    records = out.astype(object).where(out.notna(), None).to_dict("records")
    return JSONBytes(orjson.dumps(records, option=orjson.OPT_SERIALIZE_NUMPY))
