"""The browser assets of map pages: vendored Leaflet and Leaflet.markercluster, served or inlined.

No CDN is ever referenced (field offices and CI machines have no internet). Two modes:

``served``
    Pages from the API reference ``<base>/maps/static/...`` (the files of :data:`STATIC_DIR`,
    mounted by :mod:`geo_service.api.maps`).
``inline``
    The JavaScript and CSS are embedded in the page (CLI export): the HTML file works
    offline, alone. Images referenced by ``leaflet.css`` become ``data:`` URLs.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import folium
from branca.element import Element, Figure

__all__ = ["STATIC_DIR", "STATIC_FILES", "Assets", "apply_assets"]

STATIC_DIR = Path(__file__).parent / "static"
"""Folder of the vendored libraries."""

STATIC_FILES: frozenset[str] = frozenset(
    p.relative_to(STATIC_DIR).as_posix() for p in STATIC_DIR.rglob("*") if p.is_file()
)
"""Paths (relative to :data:`STATIC_DIR`) of the vendored files."""

_LEAFLET_CSS = "leaflet/leaflet.css"
_LEAFLET_JS = "leaflet/leaflet.js"
_CLUSTER_CSS = ("markercluster/MarkerCluster.css", "markercluster/MarkerCluster.Default.css")
_CLUSTER_JS = "markercluster/leaflet.markercluster.js"


@dataclass(frozen=True)
class Assets:
    """How a page gets its JavaScript and CSS.

    Attributes
    ----------
    mode : {"served", "inline"}
    base : str
        URL prefix of the application (``request.scope["root_path"]``) in ``served`` mode.
    """

    mode: Literal["served", "inline"] = "served"
    base: str = ""

    def url(self, path: str) -> str:
        """URL of a vendored file in ``served`` mode."""
        return f"{self.base}/maps/static/{path}"


@cache
def _text(path: str) -> str:
    return (STATIC_DIR / path).read_text(encoding="utf-8")


@cache
def _inline_css(path: str) -> str:
    """CSS with ``url(images/x.png)`` replaced by data URLs (relative to the CSS file)."""
    folder = (STATIC_DIR / path).parent

    def data_url(match: re.Match[str]) -> str:
        target = folder / match.group(1)
        if not target.is_file():
            return match.group(0)
        encoded = base64.b64encode(target.read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{encoded})"

    return re.sub(r"url\((images/[A-Za-z0-9_.-]+\.png)\)", data_url, _text(path))


def _inline_js(path: str) -> str:
    text = _text(path)
    if "</script" in text.lower():  # cannot happen with the vendored files; never break out
        raise ValueError(f"{path} cannot be inlined in a <script> element")
    return text


def apply_assets(figure: Figure, m: folium.Map, assets: Assets, *, cluster: bool) -> None:
    """Point ``m`` (and every marker cluster in it) at the vendored files only.

    The map's and the clusters' ``default_js`` / ``default_css`` (folium's CDN URLs: Leaflet,
    jQuery, Bootstrap, Font Awesome, awesome-markers) are replaced at instance level: in
    ``served`` mode by the vendored URLs, in ``inline`` mode by nothing, the files being
    embedded in the page header instead.

    Parameters
    ----------
    figure : branca.element.Figure
        The page holding ``m``.
    m : folium.Map
    assets : Assets
    cluster : bool
        Whether Leaflet.markercluster is needed.
    """
    clusters = [c for c in _walk(m) if isinstance(c, folium.plugins.MarkerCluster)]
    if assets.mode == "served":
        m.default_js = [("leaflet", assets.url(_LEAFLET_JS))]
        m.default_css = [("leaflet_css", assets.url(_LEAFLET_CSS))]
        for c in clusters:
            c.default_js = [("markerclusterjs", assets.url(_CLUSTER_JS))]
            c.default_css = [
                (f"markercluster_css_{i}", assets.url(p)) for i, p in enumerate(_CLUSTER_CSS)
            ]
        return
    m.default_js = []
    m.default_css = []
    for c in clusters:
        c.default_js = []
        c.default_css = []
    css = [_LEAFLET_CSS, *(_CLUSTER_CSS if cluster or clusters else ())]
    js = [_LEAFLET_JS, *((_CLUSTER_JS,) if cluster or clusters else ())]
    for i, path in enumerate(css):
        figure.header.add_child(
            Element(f"<style>\n{_inline_css(path)}\n</style>"), name=f"gs_css_{i}"
        )
    for i, path in enumerate(js):
        figure.header.add_child(
            Element(f"<script>\n{_inline_js(path)}\n</script>"), name=f"gs_js_{i}"
        )


def _walk(element: object) -> list[object]:
    out: list[object] = []
    stack = [element]
    while stack:
        item = stack.pop()
        out.append(item)
        stack.extend(getattr(item, "_children", {}).values())
    return out
