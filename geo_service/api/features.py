"""OGC API - Features - Part 1: Core (landing page, conformance, collections, items).

Conformance classes: Core, GeoJSON and OpenAPI 3.0 (OGC 17-069r4). Every canonical layer of
the store the caller's role may read is a collection (``id`` = layer name); the ``members``
table, which has no geometry, is a collection whose features have ``geometry: null``. Items
are also served as CSV (``f=csv`` or ``Accept: text/csv``), an extra output format.

Access (see :mod:`geo_service.access`)
    Rows of settlements outside the caller's :class:`~geo_service.access.SettlementScope`
    never appear: they are removed *before* paging, so ``numberMatched`` and the pages are
    consistent. A ``settlement=`` naming a settlement the caller may not see is a 404, as is
    a feature ``fid`` outside the scope. Personal fields, the raw ``attributes`` and
    ``source_sha256`` are served only to admins and to a federation reading its own
    settlements (household-level layers, whose scope is exactly its own settlements).
    Household-level layers need a key (401 without one) and a staff role (403 for MEL);
    every read of one is written to the audit log.

Paging cost
    The caller's scope is pushed into SQL with the other filters (``settlement_id IN (...)``
    or ``settlement_id IS NULL OR settlement_id NOT IN (...)``), so an items request is one
    ``ORDER BY fid LIMIT / OFFSET`` read of the page plus one ``SELECT count(*)`` for
    ``numberMatched`` (skipped on a short last page, whose count is ``offset + returned``).
    With ``bbox`` the RTree candidates' geometries are decoded for the exact test (for the
    count and to find the page's fids); the page's columns are then read by fid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.responses import Response

from geo_service.access import (
    HOUSEHOLD_LEVEL_LAYERS,
    Principal,
    SettlementScope,
    can_read_layer,
    personal_allowed,
)
from geo_service.api.deps import Caller, Services, audit, get_services, settlement_scope
from geo_service.api.geojson import feature_bytes, feature_collection_bytes, frame_csv_bytes
from geo_service.api.responses import GEOJSON, PROBLEM, JSONBytes
from geo_service.servicedb import Role
from geo_service.storage.base import LayerInfo
from profiling.schema import LayerSchema

__all__ = ["CONFORMANCE", "router"]

router = APIRouter(tags=["features"])

CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
)
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
CSV = "text/csv"
_JSON = "application/json"
_SENSITIVE_PROVENANCE = ("attributes", "source_sha256")
_ITEMS_PARAMETERS = frozenset({"bbox", "limit", "offset", "properties", "settlement", "round", "f"})
_ITEM_PARAMETERS = frozenset({"f"})

ServicesDep = Annotated[Services, Depends(get_services)]
Format = Literal["json", "geojson", "csv"]


# ------------------------------------------------------------------------------- examples
def _problem_example(status_code: int, detail: str) -> dict[str, Any]:
    from http import HTTPStatus  # noqa: PLC0415 - only at import, for the examples

    return {
        "description": HTTPStatus(status_code).phrase,
        "content": {
            PROBLEM: {
                "example": {
                    "status": status_code,
                    "title": HTTPStatus(status_code).phrase,
                    "detail": detail,
                }
            }
        },
    }


_LINK = {"href": "http://localhost:8000/collections", "rel": "data", "type": _JSON}
_COLLECTION_EXAMPLE = {
    "id": "service_points",
    "title": "Service points",
    "description": "Service points: water points, toilets, waste points, clinics...",
    "itemType": "feature",
    "crs": [CRS84],
    "extent": {
        "spatial": {"bbox": [[37.6273, -1.9169, 37.6732, -1.8795]], "crs": CRS84},
        "temporal": {"interval": [["2024-02-05T00:00:00Z", "2024-02-05T00:00:00Z"]]},
    },
    "links": [
        {
            "href": "http://localhost:8000/collections/service_points",
            "rel": "self",
            "type": _JSON,
        },
        {
            "href": "http://localhost:8000/collections/service_points/items",
            "rel": "items",
            "type": GEOJSON,
        },
    ],
}
_FEATURE_EXAMPLE = {
    "type": "Feature",
    "id": 17,
    "geometry": {"type": "Point", "coordinates": [37.6385, -1.9059]},
    "properties": {"service_id": "WP-017", "settlement_id": "mtoni", "kind": "water_point"},
}
_ITEMS_EXAMPLE = {
    "type": "FeatureCollection",
    "numberMatched": 73,
    "numberReturned": 1,
    "timeStamp": "2024-05-01T12:00:00Z",
    "links": [
        {
            "href": "http://localhost:8000/collections/service_points/items?limit=1",
            "rel": "self",
            "type": GEOJSON,
        },
        {
            "href": "http://localhost:8000/collections/service_points/items?limit=1&offset=1",
            "rel": "next",
            "type": GEOJSON,
        },
        {
            "href": "http://localhost:8000/collections/service_points/items?limit=1&f=csv",
            "rel": "alternate",
            "type": CSV,
        },
    ],
    "features": [_FEATURE_EXAMPLE],
}
_LAYER_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _problem_example(401, "an API key is needed"),
    403: _problem_example(403, "role 'mel' may not read collection 'households'"),
    404: _problem_example(404, "no collection 'roads'"),
}


# -------------------------------------------------------------------------------- helpers
def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _href(request: Request, path: str, **query: Any) -> str:
    url = request.url.replace(path=path, query="")
    params = {k: v for k, v in query.items() if v is not None}
    return str(url.include_query_params(**params)) if params else str(url)


def _link(href: str, rel: str, media_type: str, title: str | None = None) -> dict[str, str]:
    link = {"href": href, "rel": rel, "type": media_type}
    if title:
        link["title"] = title
    return link


def _reject_unknown(request: Request, allowed: frozenset[str]) -> None:
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"unknown query parameter(s) {unknown}; allowed: {sorted(allowed)}",
        )


def _schema(services: Services, collection_id: str) -> LayerSchema:
    schema = services.store.layers.get(collection_id)
    if schema is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no collection {collection_id!r}")
    return schema


def _check_layer(services: Services, principal: Principal, collection_id: str) -> LayerSchema:
    """The layer's schema; 404 unknown, 401 / 403 when the role may not read it."""
    schema = _schema(services, collection_id)
    if not can_read_layer(principal, collection_id):
        if principal.role is Role.public:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                f"collection {collection_id!r} needs an API key",
                headers={"WWW-Authenticate": 'Bearer realm="geo-service"'},
            )
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"role {principal.role.value!r} may not read collection {collection_id!r}",
        )
    return schema


@dataclass(frozen=True)
class _Access:
    """What a caller may see of one layer."""

    scope: SettlementScope
    owners: Mapping[str, tuple[str, bool]]
    sensitive: bool  # personal fields, attributes, source_sha256

    def visible(self, settlement_ids: np.ndarray) -> np.ndarray:
        """Boolean mask of the rows whose settlement is in scope (vectorised ``allows``)."""
        values = pd.Series(settlement_ids, dtype=object)
        if self.scope.only is not None:
            return values.isin(self.scope.only).to_numpy(dtype=bool)
        if not self.scope.hidden:
            return np.ones(len(values), dtype=bool)
        return ~values.isin(self.scope.hidden).to_numpy(dtype=bool)

    def filters(self) -> dict[str, Any]:
        """The scope as :meth:`~geo_service.storage.base.Store.read_layer` filters (SQL)."""
        if self.scope.only is not None:
            return {"settlements_in": sorted(self.scope.only)}
        if self.scope.hidden:
            return {"settlements_not_in": sorted(self.scope.hidden)}
        return {}


def _owner(owners: Mapping[str, tuple[str, bool]], settlement: str) -> str | None:
    entry = owners.get(settlement)
    return entry[0] if entry else None


def _access(services: Services, principal: Principal, layer: str) -> _Access:
    household_level = layer in HOUSEHOLD_LEVEL_LAYERS
    owners = services.db.owners()
    scope = settlement_scope(services, principal, household_level=household_level)
    if principal.is_admin:
        sensitive = True
    else:
        # a federation's scope on household-level layers is exactly its own settlements
        sensitive = (
            scope.only is not None
            and principal.role is Role.federation
            and all(
                personal_allowed(principal, owners.get(s, (None, False))[0]) for s in scope.only
            )
        )
    return _Access(scope=scope, owners=owners, sensitive=sensitive)


def _field_names(schema: LayerSchema, access: _Access) -> list[str]:
    """Properties the caller may receive, in order (schema fields then provenance)."""
    names = [f.name for f in schema.fields if access.sensitive or not f.personal]
    provenance = ["settlement_id", "upload_id", "round", "source_row"]
    if access.sensitive:
        provenance += list(_SENSITIVE_PROVENANCE)
    return names + [p for p in provenance if p not in names]


def _parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None:
        return None
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(parts) == 6:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "bbox: only 2D boxes (4 numbers) are supported"
        )
    if len(values) != 4 or not all(np.isfinite(values)):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"bbox must be 4 comma-separated numbers minlon,minlat,maxlon,maxlat; got {text!r}",
        )
    minx, miny, maxx, maxy = values
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"bbox must be lon/lat (CRS84) with minlat <= maxlat; got {text!r}",
        )
    if minx > maxx:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"bbox crossing the antimeridian (minlon > maxlon) is not supported; got {text!r}",
        )
    return minx, miny, maxx, maxy


def _parse_properties(
    text: str | None, schema: LayerSchema, allowed: Sequence[str]
) -> list[str] | None:
    if text is None:
        return None
    wanted = [p.strip() for p in text.split(",") if p.strip()]
    known = set(schema.names) | {"settlement_id", "upload_id", "round", "source_row"}
    known |= set(_SENSITIVE_PROVENANCE)
    unknown = sorted(set(wanted) - known)
    if unknown:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"collection {schema.name!r} has no properties {unknown}",
        )
    refused = sorted(set(wanted) - set(allowed))
    if refused:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"properties {refused} of collection {schema.name!r} are not available to you "
            "(personal or raw source data)",
        )
    return list(dict.fromkeys(wanted))


def _known_settlements(services: Services) -> set[str]:
    known = set(services.db.owners()) | {r.settlement_id for r in services.store.rounds()}
    frame = services.store.read_layer("settlements", columns=["settlement_id"])
    known |= set(frame["settlement_id"].dropna().astype(str))
    return known


def _check_settlement(services: Services, access: _Access, settlement: str | None) -> None:
    """404 for a settlement the caller may not see or that does not exist (indistinguishable)."""
    if settlement is None:
        return
    if not access.scope.allows(settlement) or settlement not in _known_settlements(services):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no settlement {settlement!r}")


def _wants_csv(request: Request, f: str | None) -> bool:
    if f is not None:
        return f == "csv"
    accept = request.headers.get("accept", "")
    return CSV in accept and GEOJSON not in accept and _JSON not in accept


@dataclass(frozen=True)
class _Page:
    frame: pd.DataFrame
    matched: int


def _read_page(
    services: Services,
    layer: str,
    access: _Access,
    *,
    filters: Mapping[str, Any],
    columns: Sequence[str],
    offset: int,
    limit: int,
) -> _Page:
    """One page of visible rows (scope applied in SQL before paging; see the module docstring)."""
    store = services.store
    scoped = {**filters, **access.filters()}
    frame = store.read_layer(
        layer,
        columns=columns,
        include_personal=access.sensitive,
        limit=limit,
        offset=offset,
        **scoped,
    )
    if 0 < len(frame) < limit:  # the last page: nothing matches beyond it
        return _Page(frame=frame, matched=offset + len(frame))
    return _Page(frame=frame, matched=store.count(layer, **scoped))


def _temporal(services: Services, settlements: Sequence[str], access: _Access) -> list[Any]:
    dates = sorted(
        r.date
        for r in services.store.rounds()
        if r.date and r.settlement_id in settlements and access.scope.allows(r.settlement_id)
    )
    if not dates:
        return [[None, None]]
    return [[f"{dates[0]}T00:00:00Z", f"{dates[-1]}T00:00:00Z"]]


def _extent_bbox(services: Services, info: LayerInfo, access: _Access) -> list[float] | None:
    """The layer's lon/lat extent; computed from the visible rows when some are hidden."""
    if info.bbox is None:
        return None
    hidden = access.scope.only is not None or bool(access.scope.hidden & set(info.settlements))
    if not hidden:
        return [float(v) for v in info.bbox]
    frame = services.store.read_layer(info.name, columns=["settlement_id"], **access.filters())
    if len(frame) == 0 or frame.geometry.is_empty.all():
        return None
    return [float(v) for v in frame.total_bounds]


def _collection(
    request: Request, services: Services, info: LayerInfo, access: _Access
) -> dict[str, Any]:
    schema = services.store.layers[info.name]
    base = f"/collections/{info.name}"
    extent: dict[str, Any] = {
        "temporal": {"interval": _temporal(services, info.settlements, access), "trs": GREGORIAN}
    }
    bbox = _extent_bbox(services, info, access) if schema.geometry is not None else None
    if bbox is not None:
        extent["spatial"] = {"bbox": [bbox], "crs": CRS84}
    return {
        "id": info.name,
        "title": info.name.replace("_", " ").capitalize(),
        "description": schema.description,
        "itemType": "feature",
        "crs": [CRS84],
        "extent": extent,
        "links": [
            _link(_href(request, base), "self", _JSON, "this collection"),
            _link(_href(request, base + "/items"), "items", GEOJSON, "items as GeoJSON"),
            _link(_href(request, base + "/items", f="csv"), "items", CSV, "items as CSV"),
        ],
    }


def _layer_infos(services: Services) -> dict[str, LayerInfo]:
    return {info.name: info for info in services.store.list_layers()}


# ------------------------------------------------------------------------------ endpoints
@router.get(
    "/",
    summary="Landing page",
    description="OGC API - Features landing page: links to the API definition "
    "(`/openapi.json`), its documentation (`/docs`), the conformance declaration and the "
    "collections.",
    responses={
        200: {
            "content": {
                _JSON: {
                    "example": {
                        "title": "geo-service",
                        "description": "Slum-profiling layers as OGC API - Features.",
                        "links": [_LINK],
                    }
                }
            }
        }
    },
)
def landing(request: Request) -> JSONBytes:
    """Landing page (OGC 17-069r4, 7.2)."""
    app = request.app
    body = {
        "title": app.title,
        "description": "Slum-profiling and planning layers of the city as OGC API - Features "
        "(Part 1: Core; GeoJSON and CSV). Household-level layers need an API key.",
        "links": [
            _link(_href(request, "/"), "self", _JSON, "this document"),
            _link(
                _href(request, "/openapi.json"),
                "service-desc",
                "application/vnd.oai.openapi+json;version=3.0",
                "the API definition",
            ),
            _link(_href(request, "/docs"), "service-doc", "text/html", "the API documentation"),
            _link(_href(request, "/conformance"), "conformance", _JSON, "conformance classes"),
            _link(_href(request, "/collections"), "data", _JSON, "the collections (layers)"),
        ],
    }
    return JSONBytes(body)


@router.get(
    "/conformance",
    summary="Conformance declaration",
    description="The OGC API - Features conformance classes implemented: Core, GeoJSON and "
    "OpenAPI 3.0. (CSV is offered as an extra output format, not a conformance class.)",
    responses={200: {"content": {_JSON: {"example": {"conformsTo": list(CONFORMANCE)}}}}},
)
def conformance() -> JSONBytes:
    """Conformance declaration (OGC 17-069r4, 7.4)."""
    return JSONBytes({"conformsTo": list(CONFORMANCE)})


@router.get(
    "/collections",
    summary="Collections (layers) you may read",
    description="One collection per canonical layer your role may read, with its spatial "
    "extent (of the rows you may see) and temporal extent (enumeration round dates). Without "
    "a key household-level layers (`households`, `members`, `structures`) are not listed.",
    responses={
        200: {
            "content": {
                _JSON: {
                    "example": {
                        "links": [_LINK | {"rel": "self"}],
                        "collections": [_COLLECTION_EXAMPLE],
                    }
                }
            }
        }
    },
)
def collections(request: Request, services: ServicesDep, principal: Caller) -> JSONBytes:
    """The collections (OGC 17-069r4, 7.13)."""
    infos = _layer_infos(services)
    body = {
        "links": [_link(_href(request, "/collections"), "self", _JSON, "this document")],
        "collections": [
            _collection(request, services, info, _access(services, principal, name))
            for name, info in infos.items()
            if can_read_layer(principal, name)
        ],
    }
    return JSONBytes(body)


@router.get(
    "/collections/{collection_id}",
    summary="One collection",
    description="A collection's description, extent and links. Unknown collection: 404; a "
    "household-level layer without a key: 401; with a role that may not read it: 403.",
    responses={200: {"content": {_JSON: {"example": _COLLECTION_EXAMPLE}}}, **_LAYER_ERRORS},
)
def collection(
    request: Request,
    services: ServicesDep,
    principal: Caller,
    collection_id: Annotated[str, Path(description="Layer name, e.g. `households`")],
) -> JSONBytes:
    """One collection (OGC 17-069r4, 7.14)."""
    _check_layer(services, principal, collection_id)
    info = _layer_infos(services)[collection_id]
    return JSONBytes(_collection(request, services, info, _access(services, principal, info.name)))


@router.get(
    "/collections/{collection_id}/items",
    summary="Features of a collection (GeoJSON or CSV)",
    description=(
        "A page of features as a GeoJSON FeatureCollection (RFC 7946, lon/lat; feature `id` "
        "is the store's `fid`) with `numberMatched`, `numberReturned`, `timeStamp` and "
        "`self` / `next` / `prev` / `alternate` links; or as CSV (`f=csv` or "
        "`Accept: text/csv`; points as `lon`, `lat`, other geometries as `wkt`; cells "
        "starting with `= + - @` are prefixed with `'`).\n\n"
        "Only rows of settlements you may see are matched, before paging. `limit` above the "
        "server's maximum page size is **clamped** to it (OGC allows this; `numberReturned` "
        "and the `next` link tell). Personal fields, `attributes` and `source_sha256` are "
        "served only to admins and to the federation that owns the settlements. Reads of "
        "household-level layers are audited."
    ),
    responses={
        200: {
            "content": {
                GEOJSON: {"example": _ITEMS_EXAMPLE},
                CSV: {
                    "example": "fid,service_id,settlement_id,kind,lon,lat\r\n"
                    "17,WP-017,mtoni,water_point,37.6385,-1.9059\r\n"
                },
            }
        },
        400: _problem_example(400, "bbox must be 4 comma-separated numbers ..."),
        **_LAYER_ERRORS,
    },
)
def items(
    request: Request,
    services: ServicesDep,
    principal: Caller,
    collection_id: Annotated[str, Path(description="Layer name, e.g. `households`")],
    bbox: Annotated[
        str | None,
        Query(
            description="`minlon,minlat,maxlon,maxlat` (CRS84): features intersecting the box",
            examples=["37.63,-1.91,37.65,-1.89"],
        ),
    ] = None,
    limit: Annotated[
        int,
        Query(ge=1, description="Page size (default 100; clamped to the server maximum)"),
    ] = 100,
    offset: Annotated[int, Query(ge=0, description="Features to skip")] = 0,
    properties: Annotated[
        str | None,
        Query(
            description="Comma-separated properties to return (default: all you may see)",
            examples=["settlement_id,household_size"],
        ),
    ] = None,
    settlement: Annotated[
        str | None, Query(description="Only this settlement", examples=["mtoni"])
    ] = None,
    round: Annotated[
        str | None, Query(description="Only this enumeration round", examples=["2024-02-05"])
    ] = None,
    f: Annotated[
        Format | None, Query(description="Output format (default GeoJSON, or by `Accept`)")
    ] = None,
) -> Response:
    """Items of a collection (OGC 17-069r4, 7.15)."""
    _reject_unknown(request, _ITEMS_PARAMETERS)
    schema = _check_layer(services, principal, collection_id)
    box = _parse_bbox(bbox)
    if box is not None and schema.geometry is None:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"collection {collection_id!r} has no geometry (bbox)"
        )
    access = _access(services, principal, collection_id)
    allowed = _field_names(schema, access)
    wanted = _parse_properties(properties, schema, allowed)
    _check_settlement(services, access, settlement)
    page_size = min(limit, services.settings.max_page_size)
    filters = {"settlement": settlement, "round": round, "bbox": box}
    page = _read_page(
        services,
        collection_id,
        access,
        filters=filters,
        columns=wanted if wanted is not None else allowed,
        offset=offset,
        limit=page_size,
    )
    returned = len(page.frame)
    query = dict(request.query_params)
    if collection_id in HOUSEHOLD_LEVEL_LAYERS:
        audit(
            services,
            principal,
            "read",
            f"collections/{collection_id}/items",
            {
                **query,
                "numberReturned": returned,
                "numberMatched": page.matched,
                "settlements": _settlements_read(services, collection_id, page.frame),
            },
        )
    point_layer = schema.geometry == "Point"
    if _wants_csv(request, f):
        return Response(
            frame_csv_bytes(page.frame, point_layer=point_layer),
            media_type=f"{CSV}; charset=utf-8",
            headers={"OGC-NumberMatched": str(page.matched), "OGC-NumberReturned": str(returned)},
        )
    path = f"/collections/{collection_id}/items"
    base = {k: v for k, v in query.items() if k not in ("offset", "limit", "f")}
    links = [
        _link(_href(request, path, **query), "self", GEOJSON, "this page"),
        _link(_href(request, path, **{**query, "f": "csv"}), "alternate", CSV, "this page as CSV"),
    ]
    if offset + returned < page.matched:
        next_query = {**base, "limit": page_size, "offset": offset + page_size}
        links.append(_link(_href(request, path, **next_query), "next", GEOJSON, "next page"))
    if offset > 0:
        prev_query = {**base, "limit": page_size, "offset": max(0, offset - page_size)}
        links.append(_link(_href(request, path, **prev_query), "prev", GEOJSON, "previous page"))
    links.append(
        _link(_href(request, f"/collections/{collection_id}"), "collection", _JSON, "collection")
    )
    members = {
        "numberMatched": page.matched,
        "numberReturned": returned,
        "timeStamp": _now(),
        "links": links,
    }
    return Response(feature_collection_bytes(page.frame, members), media_type=GEOJSON)


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    summary="One feature",
    description="One feature by its `id` (the store's `fid`), as GeoJSON (or CSV with "
    "`f=csv`). 404 when it does not exist or belongs to a settlement you may not see.",
    responses={
        200: {
            "content": {
                GEOJSON: {
                    "example": _FEATURE_EXAMPLE
                    | {
                        "links": [
                            {
                                "href": "http://localhost:8000/collections/service_points/items/17",
                                "rel": "self",
                                "type": GEOJSON,
                            }
                        ]
                    }
                }
            }
        },
        **_LAYER_ERRORS,
    },
)
def item(
    request: Request,
    services: ServicesDep,
    principal: Caller,
    collection_id: Annotated[str, Path(description="Layer name, e.g. `households`")],
    feature_id: Annotated[int, Path(description="Feature id (`fid`)")],
    f: Annotated[Format | None, Query(description="Output format")] = None,
) -> Response:
    """One feature (OGC 17-069r4, 7.16)."""
    _reject_unknown(request, _ITEM_PARAMETERS)
    schema = _check_layer(services, principal, collection_id)
    access = _access(services, principal, collection_id)
    frame = services.store.read_layer(
        collection_id,
        columns=_field_names(schema, access),
        include_personal=access.sensitive,
        fids=[feature_id],
        **access.filters(),
    )
    if len(frame) != 1:  # no such feature, or in a settlement the caller may not see
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no feature {feature_id} in {collection_id!r}"
        )
    if collection_id in HOUSEHOLD_LEVEL_LAYERS:
        audit(
            services,
            principal,
            "read",
            f"collections/{collection_id}/items",
            {
                "fid": feature_id,
                **dict(request.query_params),
                "settlements": _settlements_read(services, collection_id, frame),
            },
        )
    if _wants_csv(request, f):
        return Response(
            frame_csv_bytes(frame, point_layer=schema.geometry == "Point"),
            media_type=f"{CSV}; charset=utf-8",
        )
    path = f"/collections/{collection_id}/items/{feature_id}"
    links = [
        _link(_href(request, path), "self", GEOJSON, "this feature"),
        _link(_href(request, path, f="csv"), "alternate", CSV, "this feature as CSV"),
        _link(_href(request, f"/collections/{collection_id}"), "collection", _JSON, "collection"),
    ]
    return Response(feature_bytes(frame, {"links": links}), media_type=GEOJSON)


def _settlements_read(services: Services, collection_id: str, frame: pd.DataFrame) -> list[str]:
    """The distinct settlements of the rows a caller received (for the audit log), read back
    by feature id when the page's ``properties`` left ``settlement_id`` out."""
    if "settlement_id" in frame.columns:
        ids = frame["settlement_id"]
    elif len(frame):
        ids = services.store.read_layer(
            collection_id, fids=frame.index.tolist(), columns=["settlement_id"], geometry=False
        )["settlement_id"]
    else:
        return []
    return sorted(ids.dropna().astype(str).unique().tolist())
