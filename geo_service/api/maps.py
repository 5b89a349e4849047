"""Interactive HTML maps (Leaflet, built with folium) of a city and of one settlement.

The pages load only the vendored Leaflet / Leaflet.markercluster files served here at
``/maps/static/`` (no CDN, no tiles by default). What a page shows follows the caller, with
the scope rules of the rest of the API (:mod:`geo_service.access`).

Every map response carries a Content-Security-Policy (:data:`CSP`). folium writes the map
as inline ``<script>`` blocks, so ``script-src`` needs ``'unsafe-inline'``; every value shown
in a tooltip or popup is HTML-escaped before it reaches the page
(:mod:`geo_service.maps.layers`), and nothing may be loaded from elsewhere.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from geo_service.access import Principal, can_read_layer
from geo_service.api.deps import Caller, Services, audit, get_services, settlement_scope
from geo_service.indicator_service import CACHE
from geo_service.maps.assets import STATIC_DIR, Assets
from geo_service.maps.builders import (
    COLOR_BY,
    DEFAULT_INDICATOR,
    KEY_INDICATORS,
    Audience,
    MapNotFound,
    city_map,
    indicator_names,
    settlement_map,
)
from geo_service.servicedb import Role
from profiling.indicators import catalogue_records

__all__ = ["CSP", "router"]

router = APIRouter(tags=["maps"])
router.mount("/maps/static", StaticFiles(directory=STATIC_DIR), name="maps-static")

ServicesDep = Annotated[Services, Depends(get_services)]

CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
"""Content-Security-Policy of map pages (``'unsafe-inline'`` scripts: folium's inline map
code)."""

_CITY_ONLY = frozenset(
    str(r["id"]) for r in catalogue_records() if r["family"] == "urban_expansion"
)
IndicatorId = StrEnum(  # type: ignore[misc]
    "IndicatorId", {i: i for i in sorted(indicator_names()) if i not in _CITY_ONLY}
)
"""Catalogue indicator ids with settlement values (the choropleth choices; the expansion
family is about the whole city's land)."""

_DEFAULT = IndicatorId(DEFAULT_INDICATOR)

ColorBy = Literal["deprivation_count", "hazard_class", "water_distance"]

_FULL_ROLES = frozenset({Role.admin, Role.planner})

_HTML_EXAMPLE = (
    '<!DOCTYPE html><html><head><meta name="geo-service-map-var" content="map_1a2b">...'
    '<script type="application/json" id="geo-service-map-layers">["Flood depth", '
    '"Settlements: Population living in slum households", ...]</script>...</html>'
)
_RESPONSES = {
    200: {
        "description": "The map page (HTML; vendored Leaflet from `/maps/static/`).",
        "content": {"text/html": {"example": _HTML_EXAMPLE}},
    },
}


def _tiles(services: Services) -> tuple[str | None, str | None]:
    """Optional base-map tile URL template and attribution (settings ``map_tiles`` /
    ``map_tiles_attribution`` when a deployment defines them; default none)."""
    tiles = getattr(services.settings, "map_tiles", None)
    return (tiles or None), getattr(services.settings, "map_tiles_attribution", None)


def _headers(tiles: str | None) -> dict[str, str]:
    csp = CSP
    if tiles:
        parts = urlsplit(tiles)
        origin = f"{parts.scheme}://{parts.netloc.replace('{s}.', '*.')}"
        csp = csp.replace("img-src 'self' data:", f"img-src 'self' data: {origin}")
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "private, no-store",
    }


def _audience(
    services: Services, principal: Principal, *, settlement: str | None = None
) -> Audience:
    scope = settlement_scope(services, principal, household_level=False)
    owners = services.db.owners()
    mapping = CACHE.settlement_cities(services.store, CACHE.version(services.store))
    hidden = frozenset(s for s in {*mapping, *owners} if not scope.allows(s))
    k = None if principal.role in _FULL_ROLES else services.settings.small_cell_k
    detailed = False
    if settlement is not None and can_read_layer(principal, "households"):
        detailed = settlement_scope(services, principal, household_level=True).allows(settlement)
    full = principal.role in _FULL_ROLES
    return Audience(hidden=hidden, k=k, detailed=detailed, informality=full)


@router.get(
    "/maps/cities/{city}",
    response_class=HTMLResponse,
    summary="Map of a city (HTML)",
    description=(
        "An interactive Leaflet map: the settlements as a choropleth of `indicator` (default "
        "SDG 11.1.1, slum population share; tooltips with population, slum share, basic "
        "water share, people per working tap; popups link to the settlement profile and "
        "map), the flood-depth raster, ~100 m hexagons of households beyond 500 m of a "
        "water point, service points by type (filled: functional, hollow: not), street "
        "blocks by complexity k, the built-up epochs and, when the models are loaded, the "
        "expansion forecast and (admins and planners only) the cells the informality model "
        "flags. Settlements you may not see are left out; callers other than admins and "
        "planners get suppressed figures and no hexagon of fewer than `k` households. "
        "Household positions never appear on this page.\n\n"
        'The page declares its overlays in `<script type="application/json" '
        'id="geo-service-map-layers">` and the Leaflet map variable in `<meta '
        'name="geo-service-map-var">`.'
    ),
    responses={**_RESPONSES, 404: {"description": "No such city, or nothing of it visible."}},
)
def city_page(
    request: Request,
    services: ServicesDep,
    principal: Caller,
    city: Annotated[str, Path(description="City name (`settlements.city`).", examples=["Mto Mji"])],
    indicator: Annotated[
        IndicatorId,
        Query(
            description="Indicator id of the choropleth. Offered in the page: "
            + ", ".join(f"`{i}`" for i in KEY_INDICATORS),
            examples=["sdg_6_1_1_basic_water"],
        ),
    ] = _DEFAULT,
) -> HTMLResponse:
    """The city map for the caller (cached per data version and audience)."""
    store = services.store
    version = CACHE.version(store)
    audience = _audience(services, principal)
    base = request.scope.get("root_path", "")
    tiles, attribution = _tiles(services)
    key = ("map-city", city, indicator.value, audience, base, tiles)

    def build() -> str:
        return city_map(
            store,
            city,
            audience=audience,
            indicator=indicator.value,
            assets=Assets("served", base),
            api_base=base,
            tiles=tiles,
            tiles_attribution=attribution,
            models=services.models,
            informality_threshold=services.settings.informality_threshold,
        ).html

    try:
        page = CACHE.payload(store, version, key, build)
    except MapNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except KeyError:
        raise HTTPException(400, f"unknown indicator id: {indicator}") from None
    return HTMLResponse(page, headers=_headers(tiles))


@router.get(
    "/maps/settlements/{settlement_id}",
    response_class=HTMLResponse,
    summary="Map of one settlement (HTML)",
    description=(
        "An interactive Leaflet map of one settlement: its outline (tooltip: key figures), "
        "streets, services, the flood-depth raster, its street blocks by complexity k. "
        "Planners, admins and the owning "
        "federation also see its structures coloured by `color` (aggregated from their "
        "households: most deprivations, worst flood class, mean distance to a water point) "
        "and the households as points (the read is audited); everyone else sees the "
        "settlement aggregates and ~100 m access hexagons (small cells dropped). A "
        "settlement you may not see is 404."
    ),
    responses={
        **_RESPONSES,
        404: {"description": "No such settlement, or not visible to the caller."},
    },
)
def settlement_page(
    request: Request,
    services: ServicesDep,
    principal: Caller,
    settlement_id: Annotated[str, Path(description="Settlement id.", examples=["mtoni"])],
    color: Annotated[
        ColorBy,
        Query(
            description="Structure colouring: " + ", ".join(f"`{c}`" for c in COLOR_BY),
            examples=["hazard_class"],
        ),
    ] = "deprivation_count",
) -> HTMLResponse:
    """The settlement map for the caller (cached per data version and audience)."""
    store = services.store
    version = CACHE.version(store)
    audience = _audience(services, principal, settlement=settlement_id)
    base = request.scope.get("root_path", "")
    tiles, attribution = _tiles(services)
    key = ("map-settlement", settlement_id, color, audience, base, tiles)

    def build() -> str:
        return settlement_map(
            store,
            settlement_id,
            audience=audience,
            color=color,
            assets=Assets("served", base),
            api_base=base,
            tiles=tiles,
            tiles_attribution=attribution,
        ).html

    try:
        page = CACHE.payload(store, version, key, build)
    except MapNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    if audience.detailed:
        audit(
            services,
            principal,
            "read",
            f"maps/settlements/{settlement_id}",
            {"color": color, "layers": "structures,households"},
        )
    return HTMLResponse(page, headers=_headers(tiles))
