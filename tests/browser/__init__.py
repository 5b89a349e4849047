"""Browser tests of the map pages (headless Chromium through Selenium), and their harness.

The harness here is shared by ``conftest.py`` (the pytest fixtures) and ``screenshots.py``
(the README's PNGs): a demo store with owners and one API key per role, the service on a
real socket (uvicorn in a thread), a headless Chromium that sends an API key with every
request (Chrome DevTools ``Network.setExtraHTTPHeaders``), and helpers that wait for Leaflet
and read the map object, its layer control and its console.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from geo_service.settings import Settings

__all__ = [
    "ARTIFACTS",
    "CHROMEDRIVER",
    "CHROMIUM",
    "CITY",
    "DEMO_HOUSEHOLDS",
    "OWNED",
    "PUBLISHED",
    "BrowserUnavailable",
    "DemoStore",
    "LiveServer",
    "MapBrowser",
    "build_demo_store",
    "city_path",
    "live_server",
    "missing_browser",
    "settlement_path",
    "warm_up",
]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
WINDOW = (1280, 900)

DEMO_HOUSEHOLDS = 1_500
DEMO_SEED = 7
CITY = "Mto Mji"
OWNED = {"mtoni": "fed_a", "bonde_la_nyota": "fed_a", "kijiji_kipya": "fed_b"}
PUBLISHED = {"mtoni"}

# Runs before any script of every page: records each Leaflet map and layer control as it is
# created (init hooks installed the moment Leaflet assigns ``window.L``) and the time (ms
# since navigation start) at which Leaflet has a loaded map with something drawn in its
# overlay or marker pane.
READY_PROBE = r"""
(() => {
  const maps = (window.__geoServiceMaps = []);
  const controls = (window.__geoServiceLayerControls = []);
  const errors = (window.__geoServiceErrors = []);
  window.addEventListener("error", (e) => {
    const where = `${e.filename || ""}:${e.lineno || 0}:${e.colno || 0}`;
    errors.push(`${where} ${String(e.error || e.message)}`);
  });
  window.addEventListener("unhandledrejection", (e) => {
    errors.push(`unhandled rejection: ${String(e.reason)}`);
  });
  window.__geoServiceReadyMs = null;
  let leaflet;
  Object.defineProperty(window, "L", {
    configurable: true,
    enumerable: true,
    get() { return leaflet; },
    set(value) {
      leaflet = value;
      try {
        if (value && value.Map && value.Map.addInitHook) {
          value.Map.addInitHook(function () { maps.push(this); });
        }
        if (value && value.Control && value.Control.Layers) {
          value.Control.Layers.addInitHook(function () { controls.push(this); });
        }
      } catch (e) { /* not Leaflet */ }
    },
  });
  const drawn = () => document.querySelector(
    ".leaflet-overlay-pane path, .leaflet-overlay-pane canvas, .leaflet-marker-pane > *"
  );
  const start = performance.now();
  const poll = () => {
    if (maps.some((m) => m._loaded) && drawn()) {
      window.__geoServiceReadyMs = performance.now();
    } else if (performance.now() - start < 60000) {
      setTimeout(poll, 10);
    }
  };
  poll();
})();
"""

# The page's main map: the global named by <meta name="geo-service-map-var">, else the map
# whose container is #geo-service-map.
FIND_MAP = r"""
window.__geoServiceMap = (() => {
  const meta = document.querySelector('meta[name="geo-service-map-var"]');
  if (meta) { return window[meta.content] || null; }
  const box = document.getElementById("geo-service-map");
  return (window.__geoServiceMaps || []).find((m) => m.getContainer() === box) || null;
})();
"""


# A point of the viewport inside the polygon of a settlement (arguments: id, name, fit), where
# the polygon is the topmost element. The polygon is looked for in the overlay(s) whose name
# says "settlement", else among every polygon feature of the map.
FIND_POLYGON = r"""
const [id, name, fit] = arguments;
const map = window.__geoServiceMap;
if (!map) { return { error: "no map object" }; }
const text = (html) => {
  const d = document.createElement("div");
  d.innerHTML = html;
  return d.textContent.trim();
};
const overlays = [];
(window.__geoServiceLayerControls || []).forEach((c) =>
  (c._layers || []).forEach((e) => { if (e.overlay) { overlays.push(e); } })
);
const polygons = [];
const seen = new Set();
const visit = (layer) => {
  if (!layer || seen.has(layer)) { return; }
  seen.add(layer);
  const g = layer.feature && layer.feature.geometry;
  if (g && /Polygon/.test(g.type) && layer.getBounds) { polygons.push(layer); }
  if (layer.getLayers) { layer.getLayers().forEach(visit); }
};
overlays.filter((e) => /settlement/i.test(text(e.name))).forEach((e) => visit(e.layer));
if (!polygons.length) { map.eachLayer(visit); }
const names = (l) => {
  const p = l.feature.properties || {};
  return [p.settlement_id, p.id, p.name, l.feature.id];
};
const tip = (l) => {
  const t = l.getTooltip && l.getTooltip();
  if (!t) { return ""; }
  const c = t.getContent();
  return text(typeof c === "function" ? String(c(l)) : c instanceof Node ? c.outerHTML : String(c));
};
const layer = polygons.find((l) => names(l).includes(id)) ||
  polygons.find((l) => names(l).includes(name)) ||
  polygons.find((l) => tip(l).includes(name));
if (!layer) {
  return { error: `no polygon of ${id} among ${polygons.length}`,
           overlays: overlays.map((e) => text(e.name)) };
}
if (fit) { map.fitBounds(layer.getBounds(), { animate: false }); }
const box = map.getContainer().getBoundingClientRect();
if (!layer._path) {  // canvas renderer: the polygon's centre
  const c = map.latLngToContainerPoint(layer.getCenter());
  return { x: box.left + c.x, y: box.top + c.y };
}
const r = layer._path.getBoundingClientRect();
const points = [];
for (let i = 1; i < 16; i++) {
  for (let j = 1; j < 16; j++) {
    points.push([r.left + (r.width * i) / 16, r.top + (r.height * j) / 16]);
  }
}
const cx = r.left + r.width / 2, cy = r.top + r.height / 2;
points.sort((a, b) => Math.hypot(a[0] - cx, a[1] - cy) - Math.hypot(b[0] - cx, b[1] - cy));
for (const [x, y] of points) {
  if (x < box.left || y < box.top || x >= box.right || y >= box.bottom) { continue; }
  if (x >= innerWidth || y >= innerHeight) { continue; }
  if (document.elementFromPoint(x, y) === layer._path) { return { x, y }; }
}
return { error: "polygon hidden", rect: [r.left, r.top, r.width, r.height] };
"""


class BrowserUnavailable(RuntimeError):
    """Chromium or its driver is not installed."""


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or ``None`` when they can."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        return (
            f"headless Chromium needed for the map-page tests: {', '.join(missing)} missing "
            "(apt-get install chromium chromium-driver; .ci/run does)"
        )
    return None


def city_path(city: str = CITY) -> str:
    """The city map page's path."""
    return f"/maps/cities/{quote(city, safe='')}"


def settlement_path(settlement_id: str) -> str:
    """A settlement map page's path."""
    return f"/maps/settlements/{quote(settlement_id, safe='')}"


# -- the store ---------------------------------------------------------------------------------


@dataclass
class DemoStore:
    """A demo-city store with owners, published settlements and one API key per role."""

    settings: Settings
    keys: dict[str, str] = field(default_factory=dict)

    def key(self, who: str) -> str | None:
        """The key of ``who`` (``admin``, ``fed_a``, ``fed_b``, ``planner``, ``mel``), or
        ``None`` for ``public``."""
        return None if who == "public" else self.keys[who]

    def household_points(self) -> list[tuple[float, float]]:
        """Every stored household's (lon, lat)."""
        from geo_service.storage import GeoPackageStore  # noqa: PLC0415

        with GeoPackageStore(self.settings.store_path) as store:
            frame = store.read_layer("households", include_personal=True)
        points = frame.geometry.dropna()
        return list(zip(points.x.tolist(), points.y.tolist(), strict=True))

    def settlement_names(self) -> dict[str, str]:
        """settlement_id → display name."""
        from geo_service.storage import GeoPackageStore  # noqa: PLC0415

        with GeoPackageStore(self.settings.store_path) as store:
            frame = store.read_layer("settlements", columns=["settlement_id", "name"])
        return dict(zip(frame["settlement_id"], frame["name"], strict=True))


def build_demo_store(root: Path, *, store: Path | None = None) -> DemoStore:
    """Generate and ingest the demo city under ``root`` (or use ``store``, copied), then give
    fed_a mtoni (published) and bonde_la_nyota, fed_b kijiji_kipya, and create the keys."""
    from geo_service.demo import run_demo  # noqa: PLC0415
    from geo_service.servicedb import Role, ServiceDB  # noqa: PLC0415

    root.mkdir(parents=True, exist_ok=True)
    settings = Settings(store_path=root / "demo.gpkg", work_dir=root / "jobs")
    if store is not None:
        shutil.copyfile(store, settings.store_path)
    else:
        with warnings.catch_warnings(), open(root / "demo.log", "w") as log:  # noqa: PTH123
            warnings.simplefilter("ignore")
            from rich.console import Console  # noqa: PLC0415

            run_demo(
                root / "city",
                settings=settings,
                households=DEMO_HOUSEHOLDS,
                seed=DEMO_SEED,
                console=Console(file=log),
            )
    db = ServiceDB(settings.service_db)
    keys = {
        "admin": db.create_key(Role.admin, label="browser tests admin")[1],
        "fed_a": db.create_key(Role.federation, org="fed_a")[1],
        "fed_b": db.create_key(Role.federation, org="fed_b")[1],
        "planner": db.create_key(Role.planner, org="city planning")[1],
        "mel": db.create_key(Role.mel, org="cities alliance")[1],
    }
    for settlement, org in OWNED.items():
        db.assign_settlement(settlement, org)
    for settlement in PUBLISHED:
        db.set_published(settlement, True, by="browser tests")
    return DemoStore(settings=settings, keys=keys)


# -- the server --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveServer:
    """The service listening on ``base_url``."""

    base_url: str

    def url(self, path: str) -> str:
        """The absolute URL of ``path``."""
        return self.base_url + path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def live_server(settings: Settings, *, timeout: float = 30.0) -> Iterator[LiveServer]:
    """Serve ``create_app(settings)`` with uvicorn on a free local port, in a thread, until
    the block ends; ``/health`` answers before the block starts."""
    import uvicorn  # noqa: PLC0415

    from geo_service.api import create_app  # noqa: PLC0415

    port = _free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="geo-service-live-server", daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    try:
        while True:
            if not thread.is_alive():
                raise RuntimeError("the live server stopped while starting (see its log)")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base_url + "/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the live server did not answer /health in {timeout:.0f} s")
            time.sleep(0.05)
        yield LiveServer(base_url=base_url)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def warm_up(server: LiveServer, store: DemoStore, city: str = CITY) -> dict[str, float]:
    """Compute the city's analyses and indicator tables once, as ``make demo`` does before it
    serves (``GET /cities/{city}/indicators`` as the public and as a planner); answer the
    seconds each request took. Map pages are then built on their first request only."""
    took: dict[str, float] = {}
    for who in ("public", "planner"):
        key = store.key(who)
        start = time.perf_counter()
        response = httpx.get(
            server.url(f"/cities/{quote(city, safe='')}/indicators"),
            headers={"Authorization": f"Bearer {key}"} if key else {},
            timeout=120,
        )
        response.raise_for_status()
        took[who] = time.perf_counter() - start
    return took


# -- the browser -------------------------------------------------------------------------------


class MapBrowser:
    """A headless Chromium (Selenium) that opens map pages as a given caller.

    The API key goes in an ``Authorization: Bearer`` header added to every request of the
    page (Chrome DevTools ``Network.setExtraHTTPHeaders``); the HTTP cache is off, so a
    page opened as one caller is never served from what another caller was sent.
    """

    def __init__(self, server: LiveServer) -> None:
        from selenium import webdriver  # noqa: PLC0415
        from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

        reason = missing_browser()
        if reason:
            raise BrowserUnavailable(reason)
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.server = server
        self.driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        self.driver.set_page_load_timeout(30)
        self.driver.set_window_size(*WINDOW)
        # the page itself is WINDOW (headless windows count some chrome in their size)
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1, "mobile": False},
        )
        self.driver.execute_cdp_cmd("Network.enable", {})
        self.driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        self.driver.execute_cdp_cmd(
            "Page.addScriptToEvaluateOnNewDocument", {"source": READY_PROBE}
        )

    def close(self) -> None:
        """Quit the browser."""
        self.driver.quit()

    # ---------------------------------------------------------------------------- navigation
    def open(self, path: str, key: str | None = None) -> list[dict[str, Any]]:
        """Open ``path`` sending ``key`` (none: the public); answer the browser log entries
        of earlier pages (dropped, so that :meth:`console` holds this page's only)."""
        earlier = self.driver.get_log("browser")
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        self.driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers})
        self.driver.get(self.server.url(path))
        return earlier

    def wait_ready(self, timeout: float = 15.0) -> float:
        """Wait until Leaflet has a loaded map with something drawn; answer the time (ms
        since navigation start) it took. Raises ``TimeoutError``."""
        deadline = time.monotonic() + timeout
        while True:
            ready = self.js("return window.__geoServiceReadyMs;")
            if ready is not None:
                self.js(FIND_MAP + "return null;")
                return float(ready)
            if time.monotonic() > deadline:
                self.js(FIND_MAP + "return null;")
                raise TimeoutError(
                    f"Leaflet not ready after {timeout:.0f} s on {self.driver.current_url}"
                )
            time.sleep(0.05)

    def js(self, script: str, *args: Any) -> Any:
        """Run ``script`` in the page (``arguments[i]`` are ``args``)."""
        return self.driver.execute_script(script, *args)

    def page_errors(self) -> list[str]:
        """Uncaught errors of the page's scripts, with what was thrown (the browser log says
        only "Uncaught" for a thrown string)."""
        return self.js("return window.__geoServiceErrors || [];")

    def console(self) -> list[dict[str, Any]]:
        """Browser log entries since the last call (or the last :meth:`open`)."""
        return self.driver.get_log("browser")

    def screenshot(self, path: Path) -> Path:
        """Save a PNG of the window to ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if not self.driver.save_screenshot(str(path)):
            raise RuntimeError(f"screenshot not saved: {path}")
        return path

    # -------------------------------------------------------------------------- page content
    def declared_layers(self) -> list[str]:
        """The overlay names the page declares (``#geo-service-map-layers``)."""
        return self.js(
            """
            const el = document.getElementById("geo-service-map-layers");
            return el ? JSON.parse(el.textContent) : null;
            """
        )

    def control_overlays(self) -> list[str]:
        """The overlay labels of the Leaflet layer control(s), in order."""
        return self.js(
            """
            return Array.from(
              document.querySelectorAll(".leaflet-control-layers-overlays label")
            ).map((l) => l.textContent.trim());
            """
        )

    def map_state(self) -> dict[str, Any]:
        """The main map's zoom, bounds and size, and what its panes hold."""
        return self.js(
            """
            const map = window.__geoServiceMap;
            const b = map ? map.getBounds() : null;
            return {
              leaflet: typeof window.L === "object" && !!window.L && !!window.L.Map,
              found: !!map,
              isMap: !!(map && window.L && map instanceof window.L.Map),
              containers: document.querySelectorAll(".leaflet-container").length,
              zoom: map ? map.getZoom() : null,
              bounds: b ? [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()] : null,
              size: map ? [map.getSize().x, map.getSize().y] : null,
              paths: document.querySelectorAll(".leaflet-overlay-pane path").length,
              canvases: document.querySelectorAll(".leaflet-overlay-pane canvas").length,
              markers: document.querySelectorAll(".leaflet-marker-pane > *").length,
              tiles: document.querySelectorAll(".leaflet-tile-pane img").length,
            };
            """
        )

    def resources(self) -> list[str]:
        """Every URL the page loaded (document, scripts, styles, images, fetches)."""
        return self.js(
            """
            return [location.href].concat(
              performance.getEntriesByType("resource").map((e) => e.name)
            );
            """
        )

    def layer_data(self) -> str:
        """Every coordinate the main map holds, as JSON (each layer's ``toGeoJSON`` or
        ``getLatLng``), to search for coordinates that must not be there."""
        return self.js(
            """
            const map = window.__geoServiceMap;
            const out = [];
            const seen = new Set();
            const visit = (layer) => {
              if (!layer || seen.has(layer)) { return; }
              seen.add(layer);
              try {
                if (layer.toGeoJSON) { out.push(layer.toGeoJSON(15)); }
                else if (layer.getLatLng) { const p = layer.getLatLng(); out.push([p.lng, p.lat]); }
              } catch (e) { /* not a vector layer */ }
              if (layer.getLayers) { layer.getLayers().forEach(visit); }
              if (layer._featureGroup) { visit(layer._featureGroup); }  // markercluster
              if (layer._nonPointGroup) { visit(layer._nonPointGroup); }
              if (layer._needsClustering) { layer._needsClustering.forEach(visit); }
            };
            if (map) { map.eachLayer(visit); }
            return JSON.stringify(out);
            """
        )

    def hover_settlement(
        self, settlement_id: str, name: str, timeout: float = 3.0
    ) -> dict[str, Any]:
        """Move the mouse onto the polygon of ``settlement_id`` (in the overlay whose name says
        "settlement", else any polygon feature naming it) and answer the tooltip texts shown,
        with where the mouse went (``point``) or why it could not (``error``)."""
        from selenium.webdriver.common.actions.action_builder import ActionBuilder  # noqa: PLC0415

        target = self.js(FIND_POLYGON, settlement_id, name, False)
        if target.get("error") == "polygon hidden":  # off screen or covered: show it, retry
            target = self.js(FIND_POLYGON, settlement_id, name, True)
        if "error" in target:
            return {"tooltips": [], **target}
        for x, y in ((1, 1), (target["x"], target["y"])):
            actions = ActionBuilder(self.driver)
            actions.pointer_action.move_to_location(int(x), int(y))
            actions.perform()
        deadline = time.monotonic() + timeout
        while True:
            tips = self.js(
                """
                return Array.from(document.querySelectorAll(".leaflet-tooltip"))
                  .map((t) => t.textContent.replace(/\\s+/g, " ").trim());
                """
            )
            if any(name in tip for tip in tips) or time.monotonic() > deadline:
                return {"tooltips": tips, "point": [target["x"], target["y"]]}
            time.sleep(0.05)
