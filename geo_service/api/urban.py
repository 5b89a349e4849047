"""Urban form, expansion and the models: block street access, the expansion table, the
expansion forecast and the informality flags of a city; the models' metadata.

Everything is computed once per data version (and per model and audience) and cached as
response bytes (:data:`geo_service.indicator_service.CACHE`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import geopandas as gpd
import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status

from geo_service.access import Principal
from geo_service.api.deps import Caller, Services, get_services, require, settlement_scope
from geo_service.api.geojson import feature_collection_bytes
from geo_service.api.responses import JSONBytes, json_bytes
from geo_service.indicator_service import CACHE
from geo_service.model_service import (
    EXPANSION_FORECAST,
    INFORMALITY,
    LoadedModel,
    expansion_forecast,
    informality_cells,
)
from geo_service.servicedb import Role
from geo_service.urban_analyses import UrbanData

__all__ = ["router"]

router = APIRouter(tags=["urban form and models"])
ServicesDep = Annotated[Services, Depends(get_services)]
CityPath = Annotated[str, Path(description="City name (`settlements.city`).", examples=["Mto Mji"])]
GEOJSON = "application/geo+json"
GEOTIFF = "image/tiff; application=geotiff"

_TRAIN_COMMANDS = {
    EXPANSION_FORECAST: "geo-service models train-expansion",
    INFORMALITY: "geo-service models train-informality",
}
_NOT_FOUND = {404: {"description": "No such city or model, or nothing of it to show."}}


class ForecastFormat(StrEnum):
    """Output of the expansion forecast."""

    json = "json"
    geotiff = "geotiff"


def _hidden(services: Services, principal: Principal, city: str) -> tuple[frozenset[str], Any]:
    """Settlements of ``city`` the caller may not see, and the data version (404: no city)."""
    version = CACHE.version(services.store)
    mapping = CACHE.settlement_cities(services.store, version)
    ids = frozenset(s for s, c in mapping.items() if c == city)
    scope = settlement_scope(services, principal, household_level=False)
    visible = frozenset(s for s in ids if scope.allows(s))
    if not visible:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no city {city!r} in the store")
    return ids - visible, version


def _urban(services: Services, city: str, version: Any) -> UrbanData:
    urban = CACHE.city_data(services.store, city, version).urban
    if urban is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"city {city!r} has no settlement outline")
    return urban


def _model(services: Services, name: str) -> LoadedModel:
    loaded = services.models.get(name)
    if loaded is None:
        reason = services.models.refused.get(name)
        command = _TRAIN_COMMANDS.get(name, "geo-service models")
        detail = (
            f"model {name!r} was refused at start: {reason}"
            if reason
            else f"model {name!r} is not loaded: train it (`{command}`) into "
            f"{services.settings.models_folder} and restart the service"
        )
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail)
    return loaded


def _lonlat(frame: gpd.GeoDataFrame, columns: list[str]) -> gpd.GeoDataFrame:
    out = frame[[*columns, frame.geometry.name]].to_crs(4326)
    return gpd.GeoDataFrame(out.reset_index(drop=True).rename_axis("fid"))


# -- models ----------------------------------------------------------------------------------


@router.get(
    "/models",
    summary="The models the service loaded",
    description=(
        "Every model file of the models folder: `status` `loaded` with its metadata (features "
        "in order, training data SHA-256, scikit-learn version, metrics, parameters, when it "
        "was trained, the model file's SHA-256), or `refused` with the reason (the file does "
        "not match its metadata, holds untrusted types...)."
    ),
)
def list_models(services: ServicesDep) -> JSONBytes:
    """Loaded and refused models."""
    return JSONBytes(
        json_bytes({"folder": str(services.models.folder), "models": services.models.describe()})
    )


@router.get("/models/{name}", summary="One model's metadata", responses=_NOT_FOUND)
def get_model(
    services: ServicesDep,
    name: Annotated[str, Path(description="Model name.", examples=[INFORMALITY])],
) -> JSONBytes:
    """The metadata of a loaded model (404 with the reason otherwise)."""
    return JSONBytes(json_bytes(_model(services, name).describe()))


# -- block street access ---------------------------------------------------------------------

_BLOCK_COLUMNS = [
    "settlement_id",
    "block_id",
    "k",
    "buildings",
    "area_ha",
    "buildings_per_ha",
    "off_network_share",
]


@router.get(
    "/cities/{city}/blocks",
    summary="Street blocks and their complexity k",
    description=(
        "GeoJSON: the street blocks of the city's settlements (faces of the street + footpath "
        "network clipped to each settlement) with block complexity `k` (Brelsford et al. "
        "2018: layers of parcels peeled from the street; 1 = every parcel faces a street, "
        "0 = no building), `buildings`, `area_ha`, `buildings_per_ha` and "
        "`off_network_share` (buildings >= 200 m from a street). Settlements you may not see "
        "are left out. The settlement and city figures are the `urban_form` indicators."
    ),
    responses={200: {"content": {GEOJSON: {}}}, **_NOT_FOUND},
)
def city_blocks(
    services: ServicesDep,
    principal: Caller,
    city: CityPath,
    settlement: Annotated[str | None, Query(description="Only this settlement's blocks.")] = None,
) -> Response:
    """Block street access as GeoJSON (cached bytes)."""
    hidden, version = _hidden(services, principal, city)
    key = ("blocks", city, hidden, settlement)

    def build() -> bytes:
        form = _urban(services, city, version).form
        if form is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no blocks for {city!r}")
        blocks = form.blocks[~form.blocks["settlement_id"].isin(hidden)]
        if settlement is not None:
            blocks = blocks[blocks["settlement_id"] == settlement]
            if blocks.empty:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no blocks for {settlement!r}")
        members = {"city": city, "footprints": form.footprints, "numberReturned": len(blocks)}
        return feature_collection_bytes(_lonlat(blocks, _BLOCK_COLUMNS), members)

    body = CACHE.payload(services.store, version, key, build)
    return Response(body, media_type=GEOJSON)


# -- expansion -------------------------------------------------------------------------------


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    clean = table.reset_index().astype(object)
    clean = clean.where(pd.notna(clean), None)
    return [dict(row) for row in clean.to_dict("records")]


@router.get(
    "/cities/{city}/expansion",
    summary="Urban extent and growth per epoch",
    description=(
        "From the latest `built_up_epoch` raster covering the city (cropped to its "
        "settlements plus 5 km): per epoch the urban extent (Atlas of Urban Expansion: urban "
        "and suburban built-up, fringe and captured open space, ha), built-up area, "
        "fullness, compactness (proximity index), annual growth of the extent, and the new "
        "development of each period by type (infill, extension, leapfrog, ha). Density and "
        "SDG 11.3.1 need the population of each epoch (null without it)."
    ),
    responses=_NOT_FOUND,
)
def city_expansion(services: ServicesDep, principal: Caller, city: CityPath) -> JSONBytes:
    """The expansion table of the city (cached bytes)."""
    _, version = _hidden(services, principal, city)

    def build() -> bytes:
        expansion = _urban(services, city, version).expansion
        if expansion is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"no built_up_epoch raster covers {city!r}"
            )
        raster = expansion.raster
        return json_bytes(
            {
                "city": city,
                "epochs": list(expansion.epochs),
                "raster": {
                    "raster_id": raster.info.raster_id,
                    "upload_id": raster.info.upload_id,
                    "pixel_m": raster.pixel_m,
                    "shape": list(raster.array.shape),
                },
                "rows": _records(expansion.table),
            }
        )

    return JSONBytes(CACHE.payload(services.store, version, ("expansion", city), build))


@router.get(
    "/cities/{city}/expansion/forecast",
    summary="Where the city will grow next (expansion model)",
    description=(
        "The `expansion_forecast` model applied from the latest epoch of the city's built-up "
        "raster: per non-built cell, the probability of being built by the next epoch. "
        "`format=json` (default): the expected new built-up area (sum of probabilities, ha), "
        "cells by probability class and the model's evaluation metrics; `format=geotiff`: "
        "the probability raster (float32, NaN where built or outside the data). 404 when the "
        "model is not loaded or no raster covers the city."
    ),
    responses={200: {"content": {"application/json": {}, GEOTIFF: {}}}, **_NOT_FOUND},
)
def city_expansion_forecast(
    services: ServicesDep,
    principal: Caller,
    city: CityPath,
    format: Annotated[ForecastFormat, Query(description="`json` or `geotiff`.")] = (
        ForecastFormat.json
    ),
) -> Response:
    """The forecast summary or raster (cached)."""
    _, version = _hidden(services, principal, city)
    loaded = _model(services, EXPANSION_FORECAST)

    def build() -> bytes:
        forecast = expansion_forecast(_urban(services, city, version), loaded)
        if forecast is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"no built_up_epoch raster covers {city!r}"
            )
        if format is ForecastFormat.geotiff:
            return forecast.geotiff()
        return json_bytes(
            {
                "city": city,
                **forecast.summary(),
                "model": {
                    "trained_at": loaded.meta.trained_at,
                    "model_sha256": loaded.meta.model_sha256,
                    "metrics": loaded.meta.metrics,
                    "notes": loaded.meta.notes,
                },
            }
        )

    body = CACHE.payload(services.store, version, ("forecast", city, format), build)
    if format is ForecastFormat.geotiff:
        name = f"{city}-expansion-forecast.tif".replace(" ", "_")
        return Response(
            body,
            media_type=GEOTIFF,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return JSONBytes(body)


# -- informality -----------------------------------------------------------------------------

_CELL_COLUMNS = ["probability", "known_settlement", "flagged"]


@router.get(
    "/cities/{city}/informality",
    summary="Grid cells that look like informal settlements (model)",
    description=(
        "The `informality` model applied to the building footprints of the city's area "
        "(100 m cells, or the model's own size): per occupied cell the probability of "
        "informal-like fabric (building size and its spread, coverage, orientation spread, "
        "spacing), `known_settlement` (centre in a settlement boundary) and `flagged` "
        "(probability >= the threshold, outside every known settlement: candidates for "
        "profiling). Admins and planners only: a map of places that *look* informal could be "
        "misused for evictions; cells in settlements you may not see are left out."
    ),
    responses={200: {"content": {GEOJSON: {}}}, **_NOT_FOUND},
)
def city_informality(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require(Role.planner))],
    city: CityPath,
    flagged_only: Annotated[bool, Query(description="Only the flagged cells.")] = False,
) -> Response:
    """Informality cells as GeoJSON (cached bytes)."""
    hidden, version = _hidden(services, principal, city)
    loaded = _model(services, INFORMALITY)
    threshold = services.settings.informality_threshold
    key = ("informality", city, hidden, flagged_only, threshold)

    def build() -> bytes:
        cells = informality_cells(
            _urban(services, city, version), loaded, hidden=hidden, threshold=threshold
        )
        if flagged_only:
            cells = cells[cells["flagged"].to_numpy(dtype=bool)]
        frame = _lonlat(cells, _CELL_COLUMNS)
        frame["probability"] = np.round(frame["probability"].to_numpy(dtype=float), 4)
        members = {
            "city": city,
            "threshold": threshold,
            "flagged": int(cells["flagged"].sum()),
            "numberReturned": len(frame),
        }
        return feature_collection_bytes(frame, members)

    body = CACHE.payload(services.store, version, key, build)
    return Response(body, media_type=GEOJSON)
