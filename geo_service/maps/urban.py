"""Map layers of urban form, expansion and the models: street blocks coloured by complexity
k, the built-up epochs and the expansion forecast as images, informality-flagged cells.

Every function adds its overlay to a folium map and returns its legend section (HTML, values
escaped), or ``None`` when there is nothing to draw.
"""

from __future__ import annotations

from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from geo_service.maps.layers import (
    RasterClasses,
    classed_image,
    classes_legend,
    escape_series,
    feature_collection,
    geojson_layer,
    legend_html,
    simplify_metric,
)
from geo_service.model_service import Forecast
from geo_service.urban_analyses import Expansion

__all__ = [
    "FORECAST_CLASSES",
    "K_COLORS",
    "add_blocks",
    "add_built_up",
    "add_forecast",
    "add_informality",
]

K_COLORS: tuple[tuple[str, str], ...] = (
    ("#d9d9d9", "k = 0 (no building)"),
    ("#1a9850", "k = 1 (every parcel on a street)"),
    ("#fee08b", "k = 2"),
    ("#fc8d59", "k = 3"),
    ("#d73027", "k ≥ 4"),
)
"""Fill colour and legend label per block complexity (``k >= 4`` share the last)."""

FORECAST_CLASSES: RasterClasses = (
    (0.25, 0.5, "25-50 %", (254, 217, 142)),
    (0.5, 0.75, "50-75 %", (254, 153, 41)),
    (0.75, 1.01, "≥ 75 %", (204, 76, 2)),
)
"""Probability classes of the expansion forecast drawn (below 25 %: transparent)."""

_EPOCH_COLORS = ((37, 37, 37), (99, 99, 99), (150, 150, 150), (189, 189, 189), (217, 217, 217))


def add_blocks(m: folium.Map, blocks: gpd.GeoDataFrame, *, show: bool = True) -> str | None:
    """Street blocks (metric CRS, :class:`geo_service.urban_analyses.UrbanForm` rows)
    coloured by ``k``, with a tooltip of their figures."""
    if blocks.empty:
        return None
    k = blocks["k"].to_numpy(dtype=np.int64)
    colour = np.array([c for c, _ in K_COLORS], dtype=object)[np.clip(k, 0, len(K_COLORS) - 1)]
    tip = (
        "<b>Block, k = " + escape_series(blocks["k"]).to_numpy() + "</b><br>"
        + escape_series(blocks["buildings"]).to_numpy() + " buildings, "
        + escape_series(blocks["buildings_per_ha"].round(0).astype("Int64")).to_numpy()
        + " per ha<br>"
        + escape_series((blocks["off_network_share"] * 100).round(0).astype("Int64")).to_numpy()
        + " % of buildings ≥ 200 m from a street"
    )  # fmt: skip
    data = feature_collection(simplify_metric(blocks, 0.5), pd.DataFrame({"tip": tip, "c": colour}))

    def style(feature: dict[str, Any]) -> dict[str, Any]:
        return {
            "color": "#555555",
            "weight": 0.5,
            "fillColor": feature["properties"]["c"],
            "fillOpacity": 0.55,
        }

    geojson_layer(data, "Street blocks: complexity k", style, show=show).add_to(m)
    return legend_html("Block complexity (street access)", list(K_COLORS))


def _epoch_classes(epochs: tuple[int, ...]) -> RasterClasses:
    return tuple(
        (float(e), float(e) + 0.5, f"built by {e}", _EPOCH_COLORS[min(i, len(_EPOCH_COLORS) - 1)])
        for i, e in enumerate(epochs)
    )


def add_built_up(m: folium.Map, expansion: Expansion, *, show: bool = False) -> str | None:
    """The first-built epoch raster as an image (darker: built earlier)."""
    classes = _epoch_classes(expansion.epochs)
    image = classed_image(expansion.raster.geotiff(), classes, alpha=150)
    if image is None:
        return None
    folium.raster_layers.ImageOverlay(
        image=image.url,
        bounds=image.bounds,
        name="Built-up by epoch",
        opacity=1.0,
        interactive=False,
        show=show,
    ).add_to(m)
    return classes_legend("Built-up (first built)", classes)


def add_forecast(m: folium.Map, forecast: Forecast, *, show: bool = False) -> str | None:
    """The expansion forecast's probability of new built-up as an image."""
    image = classed_image(forecast.geotiff(), FORECAST_CLASSES, alpha=170)
    if image is None:
        return None
    folium.raster_layers.ImageOverlay(
        image=image.url,
        bounds=image.bounds,
        name="Expansion forecast",
        opacity=1.0,
        interactive=False,
        show=show,
    ).add_to(m)
    title = f"Built up after {forecast.epoch} (model; expected {forecast.expected_new_ha:,.0f} ha)"
    return classes_legend(title, FORECAST_CLASSES)


def add_informality(
    m: folium.Map, cells: gpd.GeoDataFrame, *, threshold: float, show: bool = True
) -> str | None:
    """Cells the informality model scores at or above ``threshold``: flagged ones (outside
    the known settlements) outlined in red, those inside known settlements in grey."""
    high = cells[cells["probability"].to_numpy(dtype=float) >= threshold]
    if high.empty:
        return None
    flagged = high["flagged"].to_numpy(dtype=bool)
    percent = (high["probability"] * 100).round(0).astype("Int64")
    tip = (
        np.where(flagged, "<b>Looks informal, not profiled</b>", "<b>Known settlement</b>")
        + "<br>model probability "
        + escape_series(percent).to_numpy()
        + " %, "
        + escape_series(high["buildings"].astype("Int64")).to_numpy()
        + " buildings"
    )
    data = feature_collection(
        high.geometry,
        pd.DataFrame({"tip": tip, "f": flagged}),
    )

    def style(feature: dict[str, Any]) -> dict[str, Any]:
        red = bool(feature["properties"]["f"])
        return {
            "color": "#b2182b" if red else "#666666",
            "weight": 2 if red else 1,
            "fillColor": "#ef8a62" if red else "#bbbbbb",
            "fillOpacity": 0.35 if red else 0.15,
        }

    geojson_layer(data, "Looks informal (model)", style, show=show).add_to(m)
    return legend_html(
        f"Informality model (probability ≥ {threshold:.0%})",
        [("#ef8a62", "flagged: not a known settlement"), ("#bbbbbb", "in a known settlement")],
    )
