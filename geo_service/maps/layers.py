"""Building blocks of the map pages: escaping, GeoJSON layers with per-feature tooltips,
colour scales, HTML legends, the flood-depth image and the declared-layers contract.

Safety: every value that reaches a tooltip, popup, legend or layer name goes through
:func:`html.escape` (or :func:`escape_series`, its vectorised twin) here, in Python. Tooltip
and popup HTML travel as GeoJSON properties (``tip``, ``pop``) bound by a fixed
``onEachFeature`` function, never through folium's ``Tooltip`` / ``GeoJsonTooltip`` (which
paste unescaped text into JavaScript template literals and HTML).
"""

from __future__ import annotations

import base64
import html
import itertools
import json
import math
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine
from branca.element import Element, Figure
from folium.utilities import JsCode
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.io import MemoryFile
from rasterio.warp import reproject, transform_bounds

__all__ = [
    "FLOOD_CLASSES",
    "LAYERS_SCRIPT_ID",
    "MAP_VAR_META",
    "Bins",
    "FloodImage",
    "RasterClasses",
    "classed_image",
    "classes_legend",
    "declare_layers",
    "escape",
    "escape_series",
    "flood_image",
    "geojson_layer",
    "legend_html",
    "overlay_names",
    "png_bytes",
]

LAYERS_SCRIPT_ID = "geo-service-map-layers"
"""``id`` of the ``<script type="application/json">`` listing the overlay names, in order."""

MAP_VAR_META = "geo-service-map-var"
"""``name`` of the ``<meta>`` whose ``content`` is the Leaflet map's global variable (and the
map container's ``id``)."""

COORD_DECIMALS = 6
"""Decimals kept in coordinates (about 0.1 m)."""

_BIND = JsCode(
    """function(feature, layer) {
    var p = feature.properties || {};
    if (p.tip) { layer.bindTooltip(p.tip, {sticky: true}); }
    if (p.pop) { layer.bindPopup(p.pop, {maxWidth: 320}); }
}"""
)
"""Binds the pre-escaped ``tip`` / ``pop`` HTML of each feature."""


def escape(value: object, missing: str = "n/a") -> str:
    """``value`` as HTML text (``missing`` for None / NaN)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return missing
    return html.escape(str(value), quote=True)


def escape_series(values: pd.Series, missing: str = "n/a") -> pd.Series:
    """:func:`html.escape` (``quote=True``) of every value, vectorised; missing → ``missing``."""
    text = values.astype("string")
    for raw, safe in (
        ("&", "&amp;"),
        ("<", "&lt;"),
        (">", "&gt;"),
        ('"', "&quot;"),
        ("'", "&#x27;"),
    ):
        text = text.str.replace(raw, safe, regex=False)
    return text.fillna(missing).astype(object)


# -- GeoJSON layers --------------------------------------------------------------------------


def _rounded(geoms: np.ndarray) -> np.ndarray:
    return shapely.transform(geoms, lambda c: np.round(c, COORD_DECIMALS))


def simplify_metric(frame: gpd.GeoDataFrame, tolerance_m: float) -> gpd.GeoSeries:
    """Geometries simplified by ``tolerance_m`` metres (in a metric CRS), back in EPSG:4326."""
    if frame.empty:
        return frame.geometry.to_crs(4326) if frame.crs else frame.geometry
    metric = (
        frame.geometry.to_crs(frame.estimate_utm_crs())
        if frame.crs.is_geographic
        else frame.geometry
    )
    simple = metric.simplify(tolerance_m, preserve_topology=True)
    return simple.to_crs(4326)


def feature_collection(geometry: gpd.GeoSeries, properties: pd.DataFrame) -> dict[str, Any]:
    """A GeoJSON FeatureCollection (EPSG:4326, coordinates rounded to 6 decimals), feature
    ids ``0..n-1`` and the given properties only."""
    geoms = geometry.to_crs(4326) if geometry.crs is not None else geometry
    frame = gpd.GeoDataFrame(
        properties.reset_index(drop=True),
        geometry=gpd.GeoSeries(_rounded(geoms.to_numpy()), crs=4326),
    )
    return frame.to_geo_dict(na="null", drop_id=False)


def geojson_layer(
    data: dict[str, Any],
    name: str,
    style: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    marker: folium.CircleMarker | None = None,
    show: bool = True,
    highlight: bool = True,
) -> folium.GeoJson:
    """A GeoJSON overlay named ``name`` (escaped for the layer control), styled per feature,
    with the ``tip`` / ``pop`` properties bound as tooltip / popup."""
    return folium.GeoJson(
        data,
        name=html.escape(name),
        style_function=style,
        highlight_function=(lambda _f: {"weight": 3, "color": "#000000"}) if highlight else None,
        marker=marker,
        show=show,
        on_each_feature=_BIND,
        smooth_factor=0.5,
    )


# -- colour scales and legends ---------------------------------------------------------------

NO_DATA = "#bdbdbd"


@dataclass(frozen=True)
class Bins:
    """A classed colour scale: ``edges`` (ascending, len = len(colors) + 1) and labels."""

    edges: tuple[float, ...]
    colors: tuple[str, ...]
    labels: tuple[str, ...]

    def classify(self, values: np.ndarray) -> np.ndarray:
        """Class index of each value (``-1`` for NaN)."""
        v = np.asarray(values, dtype="float64")
        inner = np.asarray(self.edges[1:-1], dtype="float64")
        out = np.searchsorted(inner, v, side="right")
        return np.where(np.isnan(v), -1, out)

    def color(self, index: int) -> str:
        """Colour of class ``index`` (:data:`NO_DATA` for ``-1``)."""
        return NO_DATA if index < 0 else self.colors[index]

    def legend(self, title: str, *, no_data: str | None = "no data / suppressed") -> str:
        """This scale as a legend section (HTML, escaped)."""
        items = list(zip(self.colors, self.labels, strict=True))
        if no_data:
            items.append((NO_DATA, no_data))
        return legend_html(title, items)


_YLORRD = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")


def share_bins(*, higher_is_worse: bool = True) -> Bins:
    """Five classes of a share (0-1), shown as percentages."""
    colors = _YLORRD if higher_is_worse else _YLORRD[::-1]
    edges = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    labels = tuple(f"{int(a * 100)}-{int(b * 100)} %" for a, b in itertools.pairwise(edges))
    return Bins(edges, colors, labels)


def quantity_bins(values: np.ndarray, *, higher_is_worse: bool = True, unit: str = "") -> Bins:
    """Five equal-interval classes over the finite ``values`` (rounded, nice labels)."""
    v = np.asarray(values, dtype="float64")
    v = v[np.isfinite(v)]
    lo, hi = (float(v.min()), float(v.max())) if len(v) else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1.0
    edges = tuple(float(e) for e in np.linspace(lo, hi, 6))
    colors = _YLORRD if higher_is_worse else _YLORRD[::-1]
    suffix = f" {unit}" if unit else ""
    labels = tuple(f"{a:,.0f}-{b:,.0f}{suffix}" for a, b in itertools.pairwise(edges))
    return Bins(edges, colors, labels)


def legend_html(title: str, items: Sequence[tuple[str, str]], *, hollow: bool = False) -> str:
    """One legend section: a title and colour swatches (all text escaped)."""
    shape = "border-radius:50%;" if hollow else ""
    rows = "".join(
        f'<div><span style="display:inline-block;width:12px;height:12px;margin-right:5px;'
        f'{shape}background:{escape(color)};border:1px solid #555;vertical-align:middle">'
        f"</span>{escape(label)}</div>"
        for color, label in items
    )
    return f'<div style="margin-top:6px"><b>{escape(title)}</b>{rows}</div>'


def add_legend(figure: Figure, title: str, sections: Sequence[str]) -> None:
    """A fixed legend box (bottom left) with ``sections`` (already-escaped HTML)."""
    body = "".join(sections)
    figure.html.add_child(
        Element(
            '<div class="geo-service-legend" style="position:fixed;bottom:24px;left:10px;'
            "z-index:1000;background:rgba(255,255,255,0.92);padding:6px 10px;border-radius:4px;"
            "font:12px/1.4 sans-serif;box-shadow:0 1px 4px rgba(0,0,0,0.3);max-height:60vh;"
            f'overflow:auto;max-width:280px"><div style="font-size:13px"><b>{escape(title)}'
            f"</b></div>{body}</div>"
        ),
        name="geo_service_legend",
    )


def add_links(figure: Figure, title: str, links: Sequence[tuple[str, str, bool]]) -> None:
    """A small box (top left, under the zoom buttons) of links ``(href, label, current)``."""
    items = "".join(
        f'<div>{"<b>" if current else ""}<a href="{escape(href)}">{escape(label)}</a>'
        f"{'</b>' if current else ''}</div>"
        for href, label, current in links
    )
    figure.html.add_child(
        Element(
            '<div class="geo-service-links" style="position:fixed;top:90px;left:10px;'
            "z-index:1000;background:rgba(255,255,255,0.92);padding:6px 10px;border-radius:4px;"
            'font:12px/1.4 sans-serif;box-shadow:0 1px 4px rgba(0,0,0,0.3);max-width:260px">'
            f"<b>{escape(title)}</b>{items}</div>"
        ),
        name="geo_service_links",
    )


# -- declared layers -------------------------------------------------------------------------


def overlay_names(m: folium.Map) -> list[str]:
    """Names of the overlays the map's layer control lists, in order (unescaped)."""
    return [
        html.unescape(item.layer_name)
        for item in m._children.values()
        if isinstance(item, folium.map.Layer) and item.control and item.overlay
    ]


def declare_layers(figure: Figure, m: folium.Map) -> list[str]:
    """Add the browser-test contract to the page and return the overlay names.

    - ``<meta name="geo-service-map-var" content="map_...">``: the global variable of the
      Leaflet map (also the ``id`` of its container ``<div>``);
    - ``<script type="application/json" id="geo-service-map-layers">[...]</script>``: the
      overlay names of the layer control, in order.
    """
    names = overlay_names(m)
    payload = (
        json.dumps(names, ensure_ascii=True)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )
    figure.header.add_child(
        Element(f'<meta name="{MAP_VAR_META}" content="{escape(m.get_name())}">'),
        name="geo_service_map_var",
    )
    figure.html.add_child(
        Element(f'<script type="application/json" id="{LAYERS_SCRIPT_ID}">{payload}</script>'),
        name="geo_service_layers",
    )
    return names


# -- flood depth image -----------------------------------------------------------------------

FLOOD_CLASSES: tuple[tuple[float, float, str, tuple[int, int, int]], ...] = (
    (0.1, 0.7, "low (0.1-0.7 m)", (158, 202, 225)),
    (0.7, 1.5, "medium (0.7-1.5 m)", (66, 146, 198)),
    (1.5, math.inf, "high (≥ 1.5 m)", (8, 48, 107)),
)
"""Flood-depth classes drawn (InaSAFE; below 0.1 m is transparent)."""

FLOOD_ALPHA = 190
_MERCATOR = CRS.from_epsg(3857)
_LONLAT = CRS.from_epsg(4326)


RasterClasses = Sequence[tuple[float, float, str, tuple[int, int, int]]]
"""``(low, high, label, rgb)`` per class: cells with ``low <= value < high`` get ``rgb``."""


@dataclass(frozen=True)
class FloodImage:
    """A PNG data URL and its bounds ``[[south, west], [north, east]]`` (any classed raster,
    not only flood depth)."""

    url: str
    bounds: list[list[float]]


def png_bytes(rgba: np.ndarray) -> bytes:
    """An 8-bit RGBA image ``(h, w, 4)`` as PNG bytes (zlib, filter 0 on every row)."""
    h, w, _ = rgba.shape
    rows = np.concatenate([np.zeros((h, 1), dtype=np.uint8), rgba.reshape(h, w * 4)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
        + chunk(b"IEND", b"")
    )


def flood_image(
    tiff: bytes, *, within: tuple[float, float, float, float] | None = None, max_px: int = 1024
) -> FloodImage | None:
    """The flood-depth raster in :data:`FLOOD_CLASSES` (see :func:`classed_image`)."""
    return classed_image(tiff, FLOOD_CLASSES, within=within, max_px=max_px)


def classed_image(
    tiff: bytes,
    classes: RasterClasses,
    *,
    alpha: int = FLOOD_ALPHA,
    within: tuple[float, float, float, float] | None = None,
    max_px: int = 1024,
) -> FloodImage | None:
    """A single-band raster as a classed, semi-transparent PNG for an ``ImageOverlay``.

    The raster is warped (nearest neighbour) to Web Mercator, so that Leaflet's linear
    stretch of the image between its corners is exact, at no more than ``max_px`` pixels a
    side (never finer than the source).

    Parameters
    ----------
    tiff : bytes
        GeoTIFF bytes (band 1 is drawn).
    classes : sequence of (low, high, label, rgb)
        The drawn classes; other values (and nodata) are transparent.
    alpha : int, keyword-only
        Opacity of the drawn cells (0-255).
    within : (west, south, east, north), optional, keyword-only
        Crop to this lon/lat box.
    max_px : int, keyword-only

    Returns
    -------
    FloodImage or None
        ``None`` when nothing of the raster lies ``within``.
    """
    with MemoryFile(tiff) as memfile, memfile.open() as src:
        west, south, east, north = transform_bounds(src.crs, _LONLAT, *src.bounds)
        if within is not None:
            west, south = max(west, within[0]), max(south, within[1])
            east, north = min(east, within[2]), min(north, within[3])
            if west >= east or south >= north:
                return None
        left, bottom, right, top = transform_bounds(_LONLAT, _MERCATOR, west, south, east, north)
        # source cell size in metres (Web Mercator scale ~1 at these latitudes: never finer)
        cell = abs(src.transform.a) * (111_320.0 if src.crs.is_geographic else 1.0)
        res = max(cell, (right - left) / max_px, (top - bottom) / max_px)
        width = max(1, min(max_px, math.ceil((right - left) / res)))
        height = max(1, min(max_px, math.ceil((top - bottom) / res)))
        dst = np.full((height, width), np.nan, dtype="float32")
        transform = Affine(res, 0.0, left, 0.0, -res, top)
        reproject(
            source=src.read(1).astype("float32"),
            destination=dst,
            src_transform=src.transform,
            src_crs=src.crs,
            src_nodata=src.nodata,
            dst_transform=transform,
            dst_crs=_MERCATOR,
            dst_nodata=np.nan,
            resampling=Resampling.nearest,
        )
    rgba = np.zeros((height, width, 4), dtype=np.uint8)
    for low, high, _, color in classes:
        hit = (dst >= low) & (dst < high)
        rgba[hit, :3] = color
        rgba[hit, 3] = alpha
    w4, s4, e4, n4 = transform_bounds(
        _MERCATOR, _LONLAT, left, top - height * res, left + width * res, top
    )
    url = "data:image/png;base64," + base64.b64encode(png_bytes(rgba)).decode("ascii")
    return FloodImage(url=url, bounds=[[s4, w4], [n4, e4]])


def flood_legend() -> str:
    """Legend section of :func:`flood_image`."""
    return classes_legend("Flood depth", FLOOD_CLASSES)


def classes_legend(title: str, classes: RasterClasses) -> str:
    """Legend section of a :func:`classed_image`."""
    return legend_html(
        title, [("#{:02x}{:02x}{:02x}".format(*color), label) for _, _, label, color in classes]
    )
