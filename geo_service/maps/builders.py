"""Interactive HTML maps (folium / Leaflet) of a city and of one settlement.

No web framework here: :mod:`geo_service.api.maps` and the ``geo-service map`` command pick
the viewer's :class:`Audience` and the asset mode, and send / write the HTML.

What a page shows follows the :class:`Audience`:

- settlements in ``hidden`` never appear (polygons, services, hexagons, figures);
- figures come from the cached per-audience indicator table
  (:meth:`geo_service.indicator_service.IndicatorCache.audience_table`, suppressed when ``k``
  is set);
- household positions never reach the page unless ``detailed`` (settlement map, for
  planners, admins and the owning federation): the city map aggregates households into
  ~100 m hexagons (cells of fewer than ``k`` households dropped when ``k`` is set).

Size: polygons are simplified (~1.5 m) and coordinates rounded to 6 decimals; households
are never embedded on the city map, so the demo city (20,000 households) stays well under
3 MB.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import folium
import folium.plugins
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, Figure

from geo_service.indicator_service import CACHE, CITY_SERVICE_MARGIN_DEG, CityData
from geo_service.maps.assets import Assets, apply_assets
from geo_service.maps.hexbin import hex_bin, hex_polygons
from geo_service.maps.layers import (
    NO_DATA,
    Bins,
    add_legend,
    add_links,
    declare_layers,
    escape,
    escape_series,
    feature_collection,
    flood_image,
    flood_legend,
    geojson_layer,
    legend_html,
    quantity_bins,
    share_bins,
    simplify_metric,
)
from geo_service.maps.urban import add_blocks, add_built_up, add_forecast, add_informality
from geo_service.model_service import (
    EXPANSION_FORECAST,
    INFORMALITY,
    ModelShelf,
    expansion_forecast,
    informality_cells,
)
from geo_service.storage import Store
from profiling.deprivation import deprivations
from profiling.hazard import HazardClasses
from profiling.indicators import catalogue_records

__all__ = [
    "COLOR_BY",
    "DEFAULT_INDICATOR",
    "KEY_INDICATORS",
    "Audience",
    "MapNotFound",
    "MapPage",
    "city_map",
    "settlement_map",
]

DEFAULT_INDICATOR = "sdg_11_1_1_slum_population"
"""Choropleth of the city map by default: SDG 11.1.1, population living in slum households."""

KEY_INDICATORS: dict[str, bool] = {
    "sdg_11_1_1_slum_population": True,
    "sdg_6_1_1_basic_water": False,
    "sdg_6_2_1_basic_sanitation": False,
    "access_water_point_within": False,
    "households_three_plus_deprivations": True,
    "sdg_1_4_2_documented": False,
    "people_per_working_tap": True,
    "people_per_working_toilet_seat": True,
}
"""Indicators offered by the city map's selector → whether a higher value is worse."""

ColorBy = Literal["deprivation_count", "hazard_class", "water_distance"]
COLOR_BY: tuple[str, ...] = ("deprivation_count", "hazard_class", "water_distance")
"""Structure colourings of the settlement map."""

HEX_WIDTH_M = 100.0
"""Flat-to-flat width of the access hexagons."""

WATER_DISTANCE_M = 500.0
"""Households beyond this straight-line distance of a functional water point are counted."""

CLUSTER_MIN = 20
"""Service types with at least this many points are clustered (Leaflet.markercluster)."""

SIMPLIFY_M = 1.5
"""Polygon simplification tolerance (metres)."""

_CSS = (
    "<style>html,body{margin:0;padding:0;height:100%;}"
    ".leaflet-container{background:#f2efe9;}"
    ".leaflet-tooltip,.leaflet-popup-content{font:12px/1.4 sans-serif;}</style>"
)

_SERVICE_STYLE: dict[str, tuple[str, str]] = {
    "water_point": ("Water points", "#1f78b4"),
    "toilet": ("Toilets", "#6a3d9a"),
    "transit_stop": ("Transit stops", "#33a02c"),
    "open_space": ("Open spaces", "#b2df8a"),
    "school": ("Schools", "#ff7f00"),
    "health": ("Health facilities", "#e31a1c"),
    "waste_point": ("Waste points", "#8c510a"),
}

_HAZARD_COLORS = {
    "none": "#a1d99b",
    "low": "#9ecae1",
    "medium": "#4292c6",
    "high": "#08306b",
}

_DEPRIVATION_BINS = Bins(
    edges=(-0.5, 0.5, 1.5, 2.5, 3.5, 4.5, 5.5),
    colors=("#1a9850", "#91cf60", "#d9ef8b", "#fee08b", "#fc8d59", "#d73027"),
    labels=("0", "1", "2", "3", "4", "5"),
)
_DISTANCE_BINS = Bins(
    edges=(0.0, 100.0, 250.0, 500.0, 1000.0, np.inf),
    colors=("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"),
    labels=("< 100 m", "100-250 m", "250-500 m", "500-1,000 m", "≥ 1,000 m"),
)

_FIGURES = (
    "people_count",
    "sdg_11_1_1_slum_population",
    "sdg_6_1_1_basic_water",
    "people_per_working_tap",
)


class MapNotFound(LookupError):
    """The city or settlement does not exist, or is not visible to the viewer."""


@dataclass(frozen=True)
class Audience:
    """Who a map is for.

    Attributes
    ----------
    hidden : frozenset of str
        Settlements the viewer may not see: left out of everything.
    k : int or None
        Small-cell threshold (``None``: admins and planners, unsuppressed).
    detailed : bool
        Household-level layers (structures coloured from their households, household points)
        on the settlement map.
    informality : bool
        The informality model's cells (admins and planners only).
    """

    hidden: frozenset[str] = frozenset()
    k: int | None = None
    detailed: bool = False
    informality: bool = False


@dataclass(frozen=True)
class MapPage:
    """A rendered page."""

    html: str
    layers: list[str]
    title: str

    @property
    def size(self) -> int:
        """Size in bytes (UTF-8)."""
        return len(self.html.encode("utf-8"))


def indicator_names() -> dict[str, str]:
    """Indicator id → name (the catalogue)."""
    return {str(r["id"]): str(r["name"]) for r in catalogue_records()}


# -- shared pieces ---------------------------------------------------------------------------


def _new_map(title: str, tiles: str | None, attribution: str | None) -> tuple[Figure, folium.Map]:
    figure = Figure(title=html.escape(title))
    # maxZoom: markercluster needs a finite one, and without tiles Leaflet has none.
    m = folium.Map(tiles=None, control_scale=True, zoom_start=14, location=[0, 0], maxZoom=20)
    if tiles:
        folium.TileLayer(
            tiles=tiles, attr=html.escape(attribution or "tiles"), name="Base map", overlay=False
        ).add_to(m)
    figure.add_child(m)
    figure.header.add_child(Element(_CSS), name="geo_service_css")
    return figure, m


def _finish(
    figure: Figure,
    m: folium.Map,
    *,
    title: str,
    bounds: np.ndarray,
    assets: Assets,
    legend: list[str],
) -> MapPage:
    folium.LayerControl(collapsed=False).add_to(m)
    west, south, east, north = (float(v) for v in bounds)
    if np.all(np.isfinite(bounds)):
        m.fit_bounds([[south, west], [north, east]])
    apply_assets(figure, m, assets, cluster=False)
    layers = declare_layers(figure, m)
    add_legend(figure, title, legend)
    return MapPage(html=figure.render(), layers=layers, title=title)


def _latest_round(units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Households of each settlement's latest round (all of them when rounds are unknown)."""
    if units.empty or "round" not in units.columns:
        return units
    rounds = units["round"].astype("string")
    latest = rounds.groupby(units["settlement_id"].astype("string")).transform("max")
    keep = (rounds == latest).fillna(True).to_numpy(dtype=bool) | latest.isna().to_numpy()
    return units[keep]


def _visible_units(data: CityData, hidden: frozenset[str]) -> gpd.GeoDataFrame:
    units = data.units
    if units.empty:
        return units
    ids = units["settlement_id"].astype("string")
    return _latest_round(units[~ids.isin(hidden).fillna(False).to_numpy(dtype=bool)])


def _figures(table: pd.DataFrame, ids: list[str], wanted: list[str]) -> pd.DataFrame:
    """Latest value per settlement (rows) and indicator (columns); NaN when missing or
    suppressed."""
    out = pd.DataFrame(index=pd.Index(ids, name="settlement_id"), columns=wanted, dtype="float64")
    if table.empty or "settlement_id" not in table.columns:
        return out
    rows = table[
        (table["grouping"].to_numpy() == "settlement_id")
        & table["indicator_id"].isin(wanted).to_numpy()
    ]
    rows = rows.assign(_r=rows["round"].astype("string").fillna("")).sort_values(
        "_r", kind="stable"
    )
    rows = rows.drop_duplicates(subset=["indicator_id", "settlement_id"], keep="last")
    wide = rows.pivot(index="settlement_id", columns="indicator_id", values="value")
    return wide.reindex(index=ids, columns=wanted).astype("float64")


def _share_text(values: pd.Series) -> pd.Series:
    pct = (values * 100).round(0)
    text = pct.map("{:.0f} %".format, na_action="ignore").astype(object)
    return text.fillna("n/a")


def _number_text(values: pd.Series, decimals: int = 0) -> pd.Series:
    text = values.map(lambda v: f"{v:,.{decimals}f}", na_action="ignore").astype(object)
    return text.fillna("n/a")


def _settlement_tips(
    settlements: gpd.GeoDataFrame, figures: pd.DataFrame, *, api_base: str | None
) -> tuple[pd.Series, pd.Series]:
    """Tooltip and popup HTML of each settlement (values escaped)."""
    ids = settlements["settlement_id"].astype(str)
    fig = figures.reindex(ids.to_numpy())
    population = fig["people_count"].fillna(
        pd.Series(
            pd.to_numeric(settlements["population"], errors="coerce").to_numpy(), index=fig.index
        )
    )
    name = escape_series(settlements["name"].fillna(ids).reset_index(drop=True))
    body = (
        "<b>" + name + "</b>"
        + "<br>Population: " + _number_text(population).to_numpy()
        + "<br>Slum population: " + _share_text(fig["sdg_11_1_1_slum_population"]).to_numpy()
        + "<br>Basic water: " + _share_text(fig["sdg_6_1_1_basic_water"]).to_numpy()
        + "<br>People per working tap: " + _number_text(fig["people_per_working_tap"]).to_numpy()
    )  # fmt: skip
    quoted = pd.Series([quote(s, safe="") for s in ids], dtype=object)  # per settlement
    if api_base is not None:
        base = html.escape(api_base, quote=True)
        links = (
            '<br><a href="' + base + "/settlements/" + escape_series(quoted)
            + '/profile" target="_blank" rel="noopener">Settlement profile (JSON)</a>'
            + '<br><a href="' + base + "/maps/settlements/" + escape_series(quoted)
            + '">Settlement map</a>'
        )  # fmt: skip
    else:
        links = "<br>Profile: /settlements/" + escape_series(quoted) + "/profile"
    return body, body + links


def _city_services(store: Store, ids: list[str], hidden: frozenset[str]) -> gpd.GeoDataFrame:
    """Service points of the visible settlements, and city-wide ones near them."""
    services = store.read_layer("service_points", settlements_not_in=sorted(hidden) or None)
    if services.empty:
        return services
    sid = services["settlement_id"].astype("string")
    own = sid.isin(ids).fillna(False).to_numpy(dtype=bool)
    shared = sid.isna().to_numpy(dtype=bool).copy()
    if shared.any() and ids:
        places = store.read_layer("settlements", settlements_in=ids, columns=["settlement_id"])
        minx, miny, maxx, maxy = places.total_bounds
        mg = CITY_SERVICE_MARGIN_DEG
        box = shapely.box(minx - mg, miny - mg, maxx + mg, maxy + mg)
        shared &= services.geometry.intersects(box).to_numpy(dtype=bool)
    return services[own | shared]


def _add_services(m: folium.Map, services: gpd.GeoDataFrame) -> tuple[list[str], bool]:
    """One overlay per service type: filled circles functional, hollow non-functional,
    dashed unknown; clustered from :data:`CLUSTER_MIN` points. Returns legend sections and
    whether a cluster was used."""
    if services.empty:
        return [], False
    kinds = services["service_type"].astype("string").fillna("other")
    functional = services["functional"].astype("boolean")
    status = np.where(
        functional.isna(),
        "unknown",
        np.where(functional.fillna(False), "functional", "not functional"),
    )
    taps = (
        services["taps_working"]
        .astype("Float64")
        .map("{:.0f}".format, na_action="ignore")
        .fillna("?")
        .astype(object)
        + " of "
        + services["taps_total"]
        .astype("Float64")
        .map("{:.0f}".format, na_action="ignore")
        .fillna("?")
        .astype(object)
    )
    seats = (
        services["seats_working"]
        .astype("Float64")
        .map("{:.0f}".format, na_action="ignore")
        .fillna("?")
        .astype(object)
        + " of "
        + services["seats_total"]
        .astype("Float64")
        .map("{:.0f}".format, na_action="ignore")
        .fillna("?")
        .astype(object)
    )
    tip = (
        "<b>" + escape_series(services["name"]).to_numpy() + "</b><br>"
        + escape_series(services["subtype"].fillna(kinds)).to_numpy()
        + "<br>Status: " + status
    )  # fmt: skip
    tip = np.where(
        services["taps_total"].notna().to_numpy(), tip + "<br>Taps working: " + taps.to_numpy(), tip
    )
    tip = np.where(
        services["seats_total"].notna().to_numpy(),
        tip + "<br>Seats working: " + seats.to_numpy(),
        tip,
    )
    props = pd.DataFrame({"tip": tip, "s": status})
    legend: list[str] = []
    clustered = False
    for kind in sorted(pd.unique(kinds.to_numpy())):
        pick = (kinds == kind).to_numpy()
        label, color = _SERVICE_STYLE.get(
            str(kind), (str(kind).replace("_", " ").capitalize(), "#555555")
        )
        data = feature_collection(services.geometry[pick], props[pick])

        def style(feature: dict[str, Any], color: str = color) -> dict[str, Any]:
            state = feature["properties"]["s"]
            return {
                "color": color,
                "fillColor": color,
                "weight": 2,
                "fillOpacity": 0.9 if state == "functional" else 0.0,
                "dashArray": "3,3" if state == "unknown" else None,
            }

        marker = folium.CircleMarker(radius=6)
        count = int(pick.sum())
        if count >= CLUSTER_MIN:
            cluster = folium.plugins.MarkerCluster(
                name=html.escape(label),
                options={"showCoverageOnHover": False, "maxClusterRadius": 40},
            )
            layer = geojson_layer(data, label, style, marker=marker, highlight=False)
            layer.control = False
            layer.add_to(cluster)
            cluster.add_to(m)
            clustered = True
        else:
            geojson_layer(data, label, style, marker=marker, highlight=False).add_to(m)
        legend.append(legend_html(label, [(color, "functional")], hollow=True))
    legend.append(
        '<div style="margin-top:4px;color:#444">Filled circle: functional; hollow: not '
        "functional; dashed: unknown.</div>"
    )
    return legend, clustered


def _hexagons(units: gpd.GeoDataFrame, k: int | None) -> tuple[gpd.GeoSeries, pd.DataFrame] | None:
    """~100 m hexagons: households and households beyond 500 m of a water point; cells of
    fewer than ``k`` households dropped (``k`` None: kept)."""
    if units.empty or "water_point_m" not in units.columns:
        return None
    points = units.geometry.to_numpy()
    x, y = shapely.get_x(points), shapely.get_y(points)
    distance = units["water_point_m"].to_numpy(dtype="float64")
    known = ~np.isnan(distance)
    beyond = known & (distance > WATER_DISTANCE_M)
    bins = hex_bin(x, y, width=HEX_WIDTH_M, weights=np.stack([beyond, known], axis=1))
    keep = np.ones(len(bins), dtype=bool) if k is None else bins.count >= k
    if not keep.any():
        return None
    polygons = hex_polygons(bins)[keep]
    count = bins.count[keep]
    n_beyond = bins.sums[keep, 0]
    n_known = bins.sums[keep, 1]
    share = np.divide(n_beyond, n_known, out=np.full(len(count), np.nan), where=n_known > 0)
    geometry = gpd.GeoSeries(polygons, crs=units.crs)
    frame = pd.DataFrame({"n": count, "b": n_beyond, "share": share})
    return geometry, frame


def _add_hexagons(m: folium.Map, units: gpd.GeoDataFrame, k: int | None) -> str | None:
    found = _hexagons(units, k)
    if found is None:
        return None
    geometry, frame = found
    bins = share_bins(higher_is_worse=True)
    cls = bins.classify(frame["share"].to_numpy())
    tip = (
        "<b>Access to water (~100 m cell)</b><br>Households: " + _number_text(frame["n"])
        + "<br>Beyond 500 m of a water point: " + _number_text(frame["b"])
        + " (" + _share_text(frame["share"]) + ")"
    )  # fmt: skip
    data = feature_collection(geometry, pd.DataFrame({"tip": tip, "c": cls}))

    def style(feature: dict[str, Any]) -> dict[str, Any]:
        return {
            "color": "#666666",
            "weight": 0.5,
            "fillColor": bins.color(int(feature["properties"]["c"])),
            "fillOpacity": 0.6,
        }

    geojson_layer(data, "Households beyond 500 m of water (hexagons)", style).add_to(m)
    title = "Households beyond 500 m of a water point (~100 m hexagons"
    title += ")" if k is None else f"; cells under {k} households not shown)"
    return bins.legend(title, no_data="distance unknown")


def _add_flood(
    m: folium.Map,
    store: Store,
    hidden: frozenset[str],
    within: tuple[float, float, float, float] | None = None,
) -> str | None:
    floods = [
        r for r in store.rasters() if r.kind == "flood_depth" and r.settlement_id not in hidden
    ]
    if not floods:
        return None
    _, tiff = store.read_raster(floods[-1].raster_id)
    image = flood_image(tiff, within=within)
    if image is None:
        return None
    folium.raster_layers.ImageOverlay(
        image=image.url, bounds=image.bounds, name="Flood depth", opacity=1.0, interactive=False
    ).add_to(m)
    return flood_legend()


# -- city map --------------------------------------------------------------------------------


def city_map(
    store: Store,
    city: str,
    *,
    audience: Audience,
    indicator: str = DEFAULT_INDICATOR,
    assets: Assets | None = None,
    api_base: str | None = None,
    tiles: str | None = None,
    tiles_attribution: str | None = None,
    models: ModelShelf | None = None,
    informality_threshold: float = 0.5,
) -> MapPage:
    """The city map: settlements as a choropleth of ``indicator``, the flood-depth image,
    access hexagons, service points, street blocks by complexity k, the built-up epochs, the
    expansion forecast and (admins, planners) the informality model's cells.

    Parameters
    ----------
    store : Store
    city : str
    audience : Audience, keyword-only
    indicator : str, keyword-only
        Catalogue id of the choropleth (default :data:`DEFAULT_INDICATOR`).
    assets : Assets, optional, keyword-only
        ``served`` (default) or ``inline``.
    api_base : str, optional, keyword-only
        URL prefix of the API for links (profile, settlement map, indicator selector);
        ``None`` (exported files): no links.
    tiles, tiles_attribution : str, optional, keyword-only
        A tile URL template (``https://tiles.example/{z}/{x}/{y}.png``) for a base map;
        default none (no internet assumed).
    models : ModelShelf, optional, keyword-only
        The loaded models: the expansion forecast and informality layers when present.
    informality_threshold : float, keyword-only
        Probability from which an informality cell is drawn.

    Returns
    -------
    MapPage

    Raises
    ------
    MapNotFound
        No such city, or none of its settlements is visible.
    KeyError
        Unknown indicator id.
    """
    assets = assets or Assets()
    names = indicator_names()
    if indicator not in names:
        raise KeyError(indicator)
    version = CACHE.version(store)
    mapping = CACHE.settlement_cities(store, version)
    in_city = frozenset(s for s, c in mapping.items() if c == city)
    ids = sorted(in_city - audience.hidden)
    if not ids:
        raise MapNotFound(f"no city {city!r}")
    hidden = in_city & audience.hidden
    _, table = CACHE.audience_table(store, city, version, hidden, audience.k)
    data = CACHE.city_data(store, city, version)
    title = f"{city}: {names[indicator]}"
    figure, m = _new_map(title, tiles, tiles_attribution)
    legend: list[str] = []

    flood = _add_flood(m, store, audience.hidden)

    settlements = store.read_layer(
        "settlements", settlements_in=ids, columns=["settlement_id", "name", "population"]
    ).reset_index(drop=True)
    wanted = list(dict.fromkeys([*_FIGURES, indicator]))
    figures = _figures(table, ids, wanted)
    tip, pop = _settlement_tips(settlements, figures, api_base=api_base)
    value = figures.reindex(settlements["settlement_id"].astype(str).to_numpy())[indicator]
    worse = KEY_INDICATORS.get(indicator, True)
    record = next(r for r in catalogue_records() if r["id"] == indicator)
    is_share = str(record.get("unit")) == "share"
    bins = (
        share_bins(higher_is_worse=worse)
        if is_share
        else quantity_bins(value.to_numpy(), higher_is_worse=worse, unit=str(record.get("unit")))
    )
    shown = _share_text(value) if is_share else _number_text(value, 1)
    tip = tip + "<br><i>" + escape(names[indicator]) + ": " + shown.to_numpy() + "</i>"
    cls = bins.classify(value.to_numpy())
    data_geo = feature_collection(
        simplify_metric(settlements, SIMPLIFY_M),
        pd.DataFrame({"tip": tip, "pop": pop, "c": cls}),
    )

    def style(feature: dict[str, Any]) -> dict[str, Any]:
        return {
            "color": "#333333",
            "weight": 1.5,
            "fillColor": bins.color(int(feature["properties"]["c"])),
            "fillOpacity": 0.7,
        }

    # Hexagons first: drawn below the settlements, whose tooltips stay reachable on hover.
    hexes = _add_hexagons(m, _visible_units(data, audience.hidden), audience.k)
    geojson_layer(data_geo, f"Settlements: {names[indicator]}", style).add_to(m)
    legend.append(bins.legend(names[indicator]))

    services, _ = _add_services(m, _city_services(store, ids, audience.hidden))
    if hexes:
        legend.append(hexes)
    if flood:
        legend.append(flood)
    legend.extend(services)
    legend.extend(_add_urban(m, data, audience, models=models, threshold=informality_threshold))
    if api_base is not None:
        base = api_base + "/maps/cities/" + quote(city, safe="")
        add_links(
            figure,
            "Colour settlements by",
            [(f"{base}?indicator={i}", names[i], i == indicator) for i in KEY_INDICATORS],
        )
    return _finish(
        figure, m, title=title, bounds=settlements.total_bounds, assets=assets, legend=legend
    )


def _add_urban(
    m: folium.Map,
    data: CityData,
    audience: Audience,
    *,
    models: ModelShelf | None,
    threshold: float,
    settlement_id: str | None = None,
) -> list[str]:
    """Blocks by k (one settlement, or the city's visible ones, hidden at first), built-up
    epochs, expansion forecast and informality cells; their legend sections."""
    urban = data.urban
    if urban is None:
        return []
    legend: list[str | None] = []
    if urban.form is not None:
        blocks = urban.form.blocks
        sid = blocks["settlement_id"].astype(str)
        keep = ~sid.isin(audience.hidden) if settlement_id is None else sid.eq(settlement_id)
        legend.append(add_blocks(m, blocks[keep.to_numpy()], show=settlement_id is not None))
    if settlement_id is not None:
        return [section for section in legend if section]
    if urban.expansion is not None:
        legend.append(add_built_up(m, urban.expansion))
        forecaster = models.get(EXPANSION_FORECAST) if models else None
        if forecaster is not None:
            forecast = expansion_forecast(urban, forecaster)
            if forecast is not None:
                legend.append(add_forecast(m, forecast))
    informal = models.get(INFORMALITY) if models else None
    if audience.informality and informal is not None and len(urban.footprints):
        cells = informality_cells(urban, informal, hidden=audience.hidden, threshold=threshold)
        legend.append(add_informality(m, cells, threshold=threshold))
    return [section for section in legend if section]


# -- settlement map --------------------------------------------------------------------------


def _structure_colors(
    units: gpd.GeoDataFrame, color: str
) -> tuple[pd.DataFrame, Bins | None, dict[str, str] | None]:
    """Per-household colour value and class (``c``) and per-structure aggregate."""
    plain = pd.DataFrame(units.drop(columns=units.geometry.name))
    if color == "deprivation_count":
        value = (
            deprivations(plain)["deprivation_count"]
            .astype("Float64")
            .to_numpy(dtype="float64", na_value=np.nan)
        )
        return pd.DataFrame({"v": value}, index=units.index), _DEPRIVATION_BINS, None
    if color == "water_distance":
        value = plain.get("water_point_m", pd.Series(np.nan, index=plain.index)).to_numpy(
            dtype="float64"
        )
        return pd.DataFrame({"v": value}, index=units.index), _DISTANCE_BINS, None
    flood = HazardClasses.flood_depth()
    classes = plain.get("hazard_class", pd.Series(pd.NA, index=plain.index, dtype=object))
    codes = pd.Series(pd.Categorical(classes.astype(object), dtype=flood.dtype).codes)
    value = codes.where(codes >= 0).to_numpy(dtype="float64")
    return pd.DataFrame({"v": value}, index=units.index), None, dict(_HAZARD_COLORS)


def _hazard_label(codes: np.ndarray) -> pd.Series:
    labels = np.array(HazardClasses.flood_depth().labels, dtype=object)
    idx = np.nan_to_num(codes, nan=-1).astype(int)
    return pd.Series(np.where(idx >= 0, labels[np.clip(idx, 0, None)], "unknown"), dtype=object)


def settlement_map(
    store: Store,
    settlement_id: str,
    *,
    audience: Audience,
    color: str = "deprivation_count",
    assets: Assets | None = None,
    api_base: str | None = None,
    tiles: str | None = None,
    tiles_attribution: str | None = None,
) -> MapPage:
    """One settlement: its outline and figures, streets, services, the flood-depth image;
    with ``audience.detailed`` its structures coloured by ``color`` (aggregated from their
    households: the most deprivations, the worst flood class, the mean distance to a water
    point) and its households as points; otherwise the access hexagons.

    Parameters
    ----------
    store : Store
    settlement_id : str
    audience : Audience, keyword-only
    color : {"deprivation_count", "hazard_class", "water_distance"}, keyword-only
    assets, api_base, tiles, tiles_attribution
        As for :func:`city_map`.

    Returns
    -------
    MapPage

    Raises
    ------
    MapNotFound
        No such settlement, or not visible.
    KeyError
        Unknown ``color``.
    """
    assets = assets or Assets()
    if color not in COLOR_BY:
        raise KeyError(color)
    version = CACHE.version(store)
    mapping = CACHE.settlement_cities(store, version)
    if settlement_id not in mapping or settlement_id in audience.hidden:
        raise MapNotFound(f"no settlement {settlement_id!r}")
    city = mapping[settlement_id]
    in_city = frozenset(s for s, c in mapping.items() if c == city)
    _, table = CACHE.audience_table(store, city, version, in_city & audience.hidden, audience.k)
    data = CACHE.city_data(store, city, version)
    outline = store.read_layer(
        "settlements", settlement=settlement_id, columns=["settlement_id", "name", "population"]
    ).reset_index(drop=True)
    if outline.empty:
        raise MapNotFound(f"no settlement {settlement_id!r}")
    name = str(outline["name"].iloc[0]) if pd.notna(outline["name"].iloc[0]) else settlement_id
    color_label = color.replace("_", " ")
    title = f"{name} ({city})" + (f": structures by {color_label}" if audience.detailed else "")
    figure, m = _new_map(title, tiles, tiles_attribution)
    legend: list[str] = []
    west, south, east, north = outline.total_bounds
    margin = 0.002
    box = (west - margin, south - margin, east + margin, north + margin)

    flood = _add_flood(m, store, audience.hidden, within=box)

    figures = _figures(table, [settlement_id], list(_FIGURES))
    tip, pop = _settlement_tips(outline, figures, api_base=api_base)
    outline_geo = feature_collection(
        simplify_metric(outline, SIMPLIFY_M), pd.DataFrame({"tip": tip, "pop": pop})
    )
    geojson_layer(
        outline_geo,
        "Settlement",
        lambda _f: {"color": "#222222", "weight": 2.5, "fillColor": "#ffffff", "fillOpacity": 0.05},
        highlight=False,
    ).add_to(m)

    streets = store.read_layer("streets", bbox=box)
    if not streets.empty:
        sid = streets["settlement_id"].astype("string")
        streets = streets[~sid.isin(audience.hidden).fillna(False).to_numpy(dtype=bool)]
    if not streets.empty:
        s_tip = (
            "<b>" + escape_series(streets["name"], "Street").to_numpy() + "</b><br>"
            + escape_series(streets["street_class"]).to_numpy() + ", "
            + escape_series(streets["surface"]).to_numpy()
        )  # fmt: skip
        geojson_layer(
            feature_collection(simplify_metric(streets, 1.0), pd.DataFrame({"tip": s_tip})),
            "Streets",
            lambda _f: {"color": "#7f7f7f", "weight": 2, "opacity": 0.8},
            highlight=False,
        ).add_to(m)

    units = data.units
    if not units.empty:
        units = _latest_round(
            units[
                units["settlement_id"].astype("string").eq(settlement_id).fillna(False).to_numpy()
            ]
        )
    if audience.detailed:
        legend.extend(_add_structures(m, store, settlement_id, units, color))
    else:
        hexes = _add_hexagons(m, units, audience.k)
        if hexes:
            legend.append(hexes)
    services = store.read_layer("service_points", bbox=box)
    if not services.empty:
        sid = services["settlement_id"].astype("string")
        keep = sid.eq(settlement_id).fillna(False) | sid.isna()
        services = services[keep.to_numpy(dtype=bool)]
    service_legend, _ = _add_services(m, services)
    if flood:
        legend.append(flood)
    legend.extend(service_legend)
    legend.extend(
        _add_urban(m, data, audience, models=None, threshold=1.0, settlement_id=settlement_id)
    )
    if api_base is not None and audience.detailed:
        base = api_base + "/maps/settlements/" + quote(settlement_id, safe="")
        add_links(
            figure,
            "Colour structures by",
            [(f"{base}?color={c}", c.replace("_", " "), c == color) for c in COLOR_BY],
        )
    return _finish(figure, m, title=title, bounds=np.array(box), assets=assets, legend=legend)


def _add_structures(
    m: folium.Map,
    store: Store,
    settlement_id: str,
    units: gpd.GeoDataFrame,
    color: str,
) -> list[str]:
    """Structures coloured from their households, and the households as points."""
    legend: list[str] = []
    color_label = color.replace("_", " ")
    values, bins, _categories = (
        _structure_colors(units, color)
        if not units.empty
        else (pd.DataFrame({"v": []}), None, None)
    )
    if color == "hazard_class":
        bins = None
        dict(_HAZARD_COLORS)
    elif bins is None:
        bins = _DEPRIVATION_BINS if color == "deprivation_count" else _DISTANCE_BINS

    def color_of(v: np.ndarray) -> np.ndarray:
        if bins is not None:
            cls = bins.classify(v)
            palette = np.array([*bins.colors, NO_DATA], dtype=object)
            return palette[np.where(cls < 0, len(bins.colors), cls)]
        labels = _hazard_label(v).to_numpy()
        return (
            np.array([_HAZARD_COLORS.get(x, NO_DATA) for x in labels], dtype=object)
            if len(labels)
            else np.array([], dtype=object)
        )

    def text_of(v: np.ndarray) -> pd.Series:
        s = pd.Series(v)
        if color == "hazard_class":
            return _hazard_label(v)
        if color == "water_distance":
            return _number_text(s) + " m"
        return _number_text(s)

    structures = store.read_layer("structures", settlement=settlement_id)
    if not structures.empty:
        structures = structures.reset_index(drop=True)
        keys = structures["structure_id"].astype("string")
        if not units.empty and "structure_id" in units.columns:
            by = units["structure_id"].astype("string").to_numpy()
            grouped = pd.Series(values["v"].to_numpy(), index=by).groupby(level=0)
            agg = grouped.mean() if color == "water_distance" else grouped.max()
            count = grouped.size()
        else:
            agg, count = pd.Series(dtype="float64"), pd.Series(dtype="int64")
        v = agg.reindex(keys.to_numpy()).to_numpy(dtype="float64")
        n = count.reindex(keys.to_numpy()).fillna(0).to_numpy(dtype="int64")
        fill = np.where(n > 0, color_of(v), "#ffffff")
        how = {"deprivation_count": "most deprivations", "hazard_class": "worst flood class",
               "water_distance": "mean distance to a water point"}[color]  # fmt: skip
        tip = (
            "<b>Structure " + escape_series(structures["structure_id"]).to_numpy() + "</b><br>"
            + "Use: " + escape_series(structures["use"]).to_numpy()
            + "<br>Households enumerated: " + n.astype(str).astype(object)
            + "<br>" + escape(how.capitalize()) + ": " + text_of(v).to_numpy()
        )  # fmt: skip
        data = feature_collection(
            simplify_metric(structures, 0.5), pd.DataFrame({"tip": tip, "f": fill})
        )
        geojson_layer(
            data,
            f"Structures: {color_label}",
            lambda f: {"color": "#444444", "weight": 0.8, "fillColor": f["properties"]["f"],
                       "fillOpacity": 0.85},
        ).add_to(m)  # fmt: skip
    if bins is not None:
        legend.append(bins.legend(f"Structures and households: {color_label}"))
    else:
        items = [(c, label) for label, c in _HAZARD_COLORS.items()] + [(NO_DATA, "unknown")]
        legend.append(legend_html(f"Structures and households: {color_label}", items))
    legend.append(legend_html("", [("#ffffff", "no household enumerated")]))
    if not units.empty:
        v = values["v"].to_numpy(dtype="float64")
        size = pd.to_numeric(units["household_size"], errors="coerce")
        tip = (
            "<b>Household</b><br>People: " + _number_text(size.reset_index(drop=True)).to_numpy()
            + "<br>" + escape(color_label.capitalize()) + ": " + text_of(v).to_numpy()
        )  # fmt: skip
        data = feature_collection(units.geometry, pd.DataFrame({"tip": tip, "f": color_of(v)}))
        geojson_layer(
            data,
            "Households",
            lambda f: {"color": "#000000", "weight": 0.6, "fillColor": f["properties"]["f"],
                       "fillOpacity": 0.95},
            marker=folium.CircleMarker(radius=3),
            highlight=False,
        ).add_to(m)  # fmt: skip
    return legend
