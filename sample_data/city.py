"""The geometry of the synthetic city Mto Mji, built in metres (EPSG:32737).

Nothing here is real. The city is a perturbed grid of roads around a small core at the local
origin; a meandering river runs west-east south of the core and crosses three informal
settlements; three more settlements lie north of it. Every shape comes from a seeded
:class:`numpy.random.Generator`, one independent stream per component (:func:`stream`), so
the same seed gives the same city and a change to one component does not reshuffle the others.

Local coordinates (``x`` east, ``y`` north, metres from the core) are shifted by
:data:`ORIGIN` to give UTM 37S eastings / northings, a made-up spot near lon 37.65, lat -1.9.

Components, in build order (:func:`build_city`):

settlements
    Irregular star-shaped polygons (a radius function of a few random harmonics), scaled to a
    target area and placed so that no two are closer than 150 m.
flood depth
    Depth = max(0, water level - ground height above the channel); the ground rises with the
    distance to the river at a slope that changes smoothly across the city, so the flooded
    band is irregular, deepest in the channel and 0 a few hundred metres away.
streets
    A rotated 600 m road grid (one primary cross, secondary ring lines, tertiary / residential
    inside, tracks outside) and, in every settlement, a lattice of footpaths along the blocks;
    all lines are noded together, so the network is one connected graph of LineStrings.
structures
    Rectangular footprints (15-60 m², a few degrees off the block axis) in the cells of each
    settlement's block lattice, clear of streets and the river channel, never overlapping.
services, built-up epochs, projects, flood zones
    See the functions of the same names.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import shapely
from rasterio.transform import Affine
from shapely import LineString, Polygon

from sample_data import choices as ch

__all__ = [
    "CITY",
    "COUNTRY",
    "CURRENCY",
    "METRIC_CRS",
    "ORIGIN",
    "PROFILE_ONLY",
    "SETTLEMENTS",
    "City",
    "Raster",
    "SettlementSpec",
    "build_city",
    "make_buildings",
    "make_settlements",
    "material_logits",
    "stream",
    "weighted_choice",
]

CITY = "Mto Mji"
"""Name of the synthetic city (Swahili for "river town")."""
COUNTRY = "KEN"
CURRENCY = "KES"
METRIC_CRS = "EPSG:32737"
ORIGIN = (350_000.0, 9_790_000.0)
"""UTM 37S easting / northing of the local origin (the city core). A made-up location."""
EXTENT = 4_600.0
"""Half-width (m) of the square the rasters cover, centred on the origin."""
CORE = (0.0, 300.0)
"""Local coordinates of the centre of the old core (built up before 2000)."""

FLOOD_CELL = 10.0
BUILT_CELL = 30.0


def stream(seed: int, name: str) -> np.random.Generator:
    """An independent random generator for one component of the city.

    Parameters
    ----------
    seed : int
        The user's seed.
    name : str
        Component name; its CRC-32 is the second word of the seed sequence.

    Returns
    -------
    numpy.random.Generator
        ``default_rng(SeedSequence([seed, crc32(name)]))``.
    """
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode())]))


@dataclass(frozen=True)
class SettlementSpec:
    """The designed character of one settlement; its shape comes from the seed.

    Attributes
    ----------
    settlement_id, name, prefix : str
        Identifier (also the Kobo choice name), display name, structure-number prefix.
    area_ha : float
        Target area of the boundary polygon.
    share : float
        Share of the enumerated households living here.
    anchor : tuple of float
        Local position of the centre; for river settlements only ``x`` counts and the centre
        is put on the river.
    on_river : bool
        The river crosses the settlement.
    legal_status, eviction_threat : str
        Canonical codes (:data:`profiling.codelists.LEGAL_STATUS`, ``EVICTION_THREAT``).
    service : float
        Service level from 0 (worst) to 1: piped water, flush toilets, door-to-door waste
        collection, electricity and formal tenure become likelier as it grows.
    year_established : int
        Year the first structures went up (drives the built-up epoch).
    """

    settlement_id: str
    name: str
    prefix: str
    area_ha: float
    share: float
    anchor: tuple[float, float]
    on_river: bool
    legal_status: str
    eviction_threat: str
    service: float
    year_established: int


SETTLEMENTS: tuple[SettlementSpec, ...] = (
    SettlementSpec(
        "mtoni", "Mtoni", "MTN", 25.0, 0.23, (-1900.0, 0.0), True,
        "not_legal", "rumoured", 0.20, 1994,
    ),
    SettlementSpec(
        "bonde_la_nyota", "Bonde la Nyota", "BLN", 22.0, 0.20, (250.0, 0.0), True,
        "not_legal", "notice", 0.15, 2003,
    ),
    SettlementSpec(
        "kijiji_kipya", "Kijiji Kipya", "KKP", 18.0, 0.16, (2300.0, 0.0), True,
        "partly_legal", "rumoured", 0.35, 2012,
    ),
    SettlementSpec(
        "machimbo", "Machimbo", "MCH", 13.0, 0.11, (-1700.0, 1500.0), False,
        "not_legal", "ongoing", 0.10, 2008,
    ),
    SettlementSpec(
        "soko_mpya", "Soko Mpya", "SKM", 17.0, 0.16, (1300.0, 1000.0), False,
        "partly_legal", "none", 0.50, 1998,
    ),
    SettlementSpec(
        "mwembe_tatu", "Mwembe Tatu", "MWT", 15.0, 0.14, (-400.0, 1900.0), False,
        "legal", "none", 0.80, 1986,
    ),
)  # fmt: skip
"""The enumerated settlements, in enumeration order."""

PROFILE_ONLY: tuple[SettlementSpec, ...] = (
    SettlementSpec(
        "gulioni", "Gulioni", "GUL", 6.5, 0.0, (3200.0, 2600.0), False,
        "not_legal", "rumoured", 0.2, 2015,
    ),
    SettlementSpec(
        "reli_kando", "Reli Kando", "RLK", 4.2, 0.0, (-3300.0, -2200.0), False,
        "not_legal", "notice", 0.1, 2009,
    ),
)  # fmt: skip
"""Settlements known only from a Know Your City profile (no boundary, no enumeration)."""


def _north_up(cell: float) -> Affine:
    """Transform of a north-up grid of ``cell`` metres covering the city square."""
    return Affine(cell, 0.0, ORIGIN[0] - EXTENT, 0.0, -cell, ORIGIN[1] + EXTENT)


@dataclass(frozen=True)
class Raster:
    """A single-band raster in :data:`METRIC_CRS`."""

    array: np.ndarray
    transform: Affine
    nodata: float

    def sample(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Values of the cells holding local points ``(x, y)`` (metres from the origin).

        Points outside the raster get ``nodata``.
        """
        inv = ~self.transform
        ux, uy = np.asarray(x) + ORIGIN[0], np.asarray(y) + ORIGIN[1]
        col = inv.a * ux + inv.b * uy + inv.c
        row = inv.d * ux + inv.e * uy + inv.f
        col = np.floor(col).astype(np.int64)
        row = np.floor(row).astype(np.int64)
        h, w = self.array.shape
        ok = (row >= 0) & (row < h) & (col >= 0) & (col < w)
        out = np.full(len(col), self.nodata, dtype=self.array.dtype)
        out[ok] = self.array[row[ok], col[ok]]
        return out


@dataclass
class City:
    """Every layer of the synthetic city, in local metres (shift by :data:`ORIGIN` for UTM).

    Frames carry canonical column names; :mod:`sample_data.generate` renames them to the
    source names a user's file would have.
    """

    seed: int
    settlements: gpd.GeoDataFrame
    river: LineString
    streets: gpd.GeoDataFrame
    structures: gpd.GeoDataFrame
    service_points: gpd.GeoDataFrame
    flood: Raster
    built_up: Raster
    hazard_zones: gpd.GeoDataFrame
    projects: gpd.GeoDataFrame
    footpath_nodes: dict[str, np.ndarray]


# -- Settlements and river ---------------------------------------------------------------------


def _river_y(x: np.ndarray, params: dict[str, float]) -> np.ndarray:
    p = params
    return (
        p["y0"]
        + p["a1"] * np.sin(2 * np.pi * x / p["l1"] + p["f1"])
        + p["a2"] * np.sin(2 * np.pi * x / p["l2"] + p["f2"])
    )


def make_river(seed: int) -> tuple[LineString, dict[str, float]]:
    """The river: a smooth meander crossing the whole city west to east, south of the core.

    Returns
    -------
    river : LineString
        In local metres, one vertex every 20 m.
    params : dict
        The parameters of ``y(x)``, for placing settlements on it.
    """
    rng = stream(seed, "river")
    params = {
        "y0": -700.0,
        "a1": float(rng.uniform(200, 300)),
        "l1": float(rng.uniform(2800, 3600)),
        "f1": float(rng.uniform(0, 2 * np.pi)),
        "a2": float(rng.uniform(60, 120)),
        "l2": float(rng.uniform(900, 1300)),
        "f2": float(rng.uniform(0, 2 * np.pi)),
    }
    x = np.arange(-EXTENT - 200, EXTENT + 200.1, 20.0)
    return LineString(np.column_stack([x, _river_y(x, params)])), params


def _star_polygon(rng: np.random.Generator, cx: float, cy: float, area_m2: float) -> Polygon:
    """An irregular star-convex polygon of a given area: r(θ) = R (1 + Σ a_k cos(kθ + φ_k))."""
    theta = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    r = np.ones_like(theta)
    for k in range(2, 8):
        r += rng.uniform(0.04, 0.2 / k**0.6) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    rough = rng.normal(0.0, 0.04, theta.size)
    rough = (np.roll(rough, 1) + 2 * rough + np.roll(rough, -1)) / 4  # circular smoothing
    r = np.clip(r + rough, 0.5, None)
    unit = Polygon(np.column_stack([r * np.cos(theta), r * np.sin(theta)]))
    scale = math.sqrt(area_m2 / unit.area)
    return Polygon(
        np.column_stack([cx + scale * r * np.cos(theta), cy + scale * r * np.sin(theta)])
    )


def make_settlements(
    seed: int, river: LineString, river_params: dict[str, float]
) -> gpd.GeoDataFrame:
    """Boundaries of the enumerated settlements (local metres), never closer than 150 m.

    River settlements are centred on the river (within 30 % of their radius); the others stay
    at least 200 m from it.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per :data:`SETTLEMENTS` entry with its spec fields and ``geometry``; no CRS
        (local metres).
    """
    rng = stream(seed, "settlements")
    for _attempt in range(200):
        polys: list[Polygon] = []
        for spec in SETTLEMENTS:
            radius = math.sqrt(spec.area_ha * 10_000 / math.pi)
            if spec.on_river:
                cx = spec.anchor[0] + rng.uniform(-150, 150)
                cy = float(_river_y(np.array([cx]), river_params)[0])
                cy += rng.uniform(-0.3, 0.3) * radius
            else:
                cx = spec.anchor[0] + rng.uniform(-150, 150)
                cy = spec.anchor[1] + rng.uniform(-150, 150)
            polys.append(_star_polygon(rng, cx, cy, spec.area_ha * 10_000))
        ok = all(
            polys[i].distance(polys[j]) > 150
            for i in range(len(polys))
            for j in range(i + 1, len(polys))
        )
        ok = ok and all(
            poly.intersects(river) == spec.on_river
            and (spec.on_river or poly.distance(river) > 200)
            for spec, poly in zip(SETTLEMENTS, polys, strict=True)
        )
        if ok:
            break
    else:  # pragma: no cover - the anchors are far enough apart for this never to happen
        raise RuntimeError("could not place non-overlapping settlements")
    rows = [
        {
            "settlement_id": s.settlement_id,
            "name": s.name,
            "prefix": s.prefix,
            "share": s.share,
            "on_river": s.on_river,
            "legal_status": s.legal_status,
            "eviction_threat": s.eviction_threat,
            "service": s.service,
            "year_established": s.year_established,
        }
        for s in SETTLEMENTS
    ]
    return gpd.GeoDataFrame(rows, geometry=polys)


# -- Flood depth ---------------------------------------------------------------------------------


def _smooth_noise(
    rng: np.random.Generator,
    x: np.ndarray,
    y: np.ndarray,
    *,
    terms: int,
    wavelength: tuple[float, float],
) -> np.ndarray:
    """A smooth field in [-1, 1]: the mean of random plane waves."""
    total = np.zeros(np.broadcast(x, y).shape)
    for _ in range(terms):
        angle = rng.uniform(0, np.pi)
        k = 2 * np.pi / rng.uniform(*wavelength)
        total += np.sin(k * (np.cos(angle) * x + np.sin(angle) * y) + rng.uniform(0, 2 * np.pi))
    return total / terms


def _segments(line: LineString) -> np.ndarray:
    """The segments of a line as an array of 2-vertex LineStrings (for fast STRtree queries)."""
    coords = shapely.get_coordinates(line)
    return shapely.linestrings(np.stack([coords[:-1], coords[1:]], axis=1))


def _river_distance(
    river: LineString, x: np.ndarray, y: np.ndarray, *, max_distance: float
) -> np.ndarray:
    """Distance (m) of points to the river; ``inf`` beyond ``max_distance``.

    The river's vertices have increasing ``x`` at a fixed step, so only the segments whose
    ``x`` range lies within ``max_distance`` of a point can be nearest: a vectorised scan
    over those few segment offsets replaces a spatial index.
    """
    coords = shapely.get_coordinates(river)
    step = float(coords[1, 0] - coords[0, 0])
    base = np.searchsorted(coords[:, 0], x) - 1
    reach = math.ceil(max_distance / step) + 1
    best = np.full(len(x), np.inf)
    last = len(coords) - 2
    for k in range(-reach, reach + 1):
        i = np.clip(base + k, 0, last)
        ax, ay = coords[i, 0], coords[i, 1]
        dx, dy = coords[i + 1, 0] - ax, coords[i + 1, 1] - ay
        t = np.clip(((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
        np.minimum(best, np.hypot(x - ax - t * dx, y - ay - t * dy), out=best)
    best[best > max_distance] = np.inf
    return best


def make_flood(seed: int, river: LineString) -> Raster:
    """Flood depth (m) on a 10 m grid: deepest in the channel, 0 a few hundred metres away.

    The ground height above the channel bed is ``0.25 + slope · d + 0.35 · noise`` with ``d``
    the distance to the river and a slope between 0.010 and 0.022 that varies smoothly; the
    water level is 2.2 m ± 0.5 m along the river. Depth = level - height where positive,
    set to 0 below 5 cm. The channel (``d`` < 8 m) is 1 m deeper.

    Returns
    -------
    Raster
        float32, nodata -9999 (no cell is nodata: the model covers the whole square).
    """
    rng = stream(seed, "flood")
    n = int(2 * EXTENT / FLOOD_CELL)
    transform = _north_up(FLOOD_CELL)
    centres = (np.arange(n) + 0.5) * FLOOD_CELL
    xx, yy = np.meshgrid(centres - EXTENT, EXTENT - centres)
    x, y = xx.ravel(), yy.ravel()
    depth = np.zeros(x.size, dtype=np.float64)
    near = np.abs(y - _river_y_from_line(river, x)) < 900  # vertical distance ≥ true distance
    d = _river_distance(river, x[near], y[near], max_distance=400.0)
    xs, ys = x[near], y[near]
    slope = 0.016 + 0.006 * _smooth_noise(rng, xs, ys, terms=4, wavelength=(900, 2500))
    ground = 0.25 + slope * d + 0.35 * _smooth_noise(rng, xs, ys, terms=6, wavelength=(150, 600))
    ground = np.where(d < 8.0, ground - 1.0, ground)
    level = 2.2 + 0.5 * np.sin(2 * np.pi * xs / rng.uniform(2200, 3000) + rng.uniform(0, 6.3))
    dep = np.where(np.isfinite(d), level - ground, 0.0)
    dep[dep < 0.05] = 0.0
    depth[near] = dep
    return Raster(depth.reshape(n, n).astype(np.float32), transform, -9999.0)


def _river_y_from_line(river: LineString, x: np.ndarray) -> np.ndarray:
    coords = shapely.get_coordinates(river)
    return np.interp(x, coords[:, 0], coords[:, 1])


# -- Streets -------------------------------------------------------------------------------------

_WIDTH = {
    "primary": 12.0,
    "secondary": 9.0,
    "tertiary": 7.0,
    "residential": 6.0,
    "track": 5.0,
    "footpath": 2.0,
    "bridge_foot": 1.5,
}
_SURFACE = {
    "primary": "asphalt",
    "secondary": "asphalt",
    "tertiary": "gravel",
    "residential": "gravel",
    "track": "unpaved",
    "footpath": "ground",
    "bridge_foot": "wood",
}
_ROAD_NAMES = {
    ("x", 0): "Barabara Kuu",
    ("y", 0): "Mto Mji Highway",
    ("x", -3): "Soko Road",
    ("x", 3): "Kanisa Road",
    ("y", -3): "Reli Road",
    ("y", 3): "Shule Road",
}


@dataclass(frozen=True)
class _Frame:
    """The block lattice of one settlement: rotated, gently sheared local (u, v) axes."""

    cx: float
    cy: float
    angle: float
    cells_u: int
    cells_v: int
    amp: float
    wave_u: float
    wave_v: float
    phase_u: float
    phase_v: float

    CELL_U = 9.0
    CELL_V = 7.5
    CORRIDOR = 3.5

    @property
    def period_u(self) -> float:
        return self.cells_u * self.CELL_U + self.CORRIDOR

    @property
    def period_v(self) -> float:
        return self.cells_v * self.CELL_V + self.CORRIDOR

    def to_world(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # A pure shear (u moves with v, v moves with u) keeps neighbouring cells apart.
        uu = u + self.amp * np.sin(2 * np.pi * v / self.wave_u + self.phase_u)
        vv = v + self.amp * np.sin(2 * np.pi * u / self.wave_v + self.phase_v)
        c, s = math.cos(self.angle), math.sin(self.angle)
        return self.cx + c * uu - s * vv, self.cy + s * uu + c * vv

    def local_bounds(self, poly: Polygon) -> tuple[float, float, float, float]:
        xy = shapely.get_coordinates(poly) - (self.cx, self.cy)
        c, s = math.cos(self.angle), math.sin(self.angle)
        u = c * xy[:, 0] + s * xy[:, 1]
        v = -s * xy[:, 0] + c * xy[:, 1]
        m = 3 * self.amp + 10
        return u.min() - m, v.min() - m, u.max() + m, v.max() + m


def _frames(seed: int, settlements: gpd.GeoDataFrame) -> list[_Frame]:
    rng = stream(seed, "frames")
    frames = []
    for row in settlements.itertuples():
        c = row.geometry.centroid
        frames.append(
            _Frame(
                cx=c.x,
                cy=c.y,
                angle=float(rng.uniform(0, np.pi / 2)),
                cells_u=int(rng.integers(2, 5)),
                cells_v=int(rng.integers(3, 7)),
                amp=float(rng.uniform(1.0, 2.0)),
                wave_u=float(rng.uniform(220, 320)),
                wave_v=float(rng.uniform(220, 320)),
                phase_u=float(rng.uniform(0, 2 * np.pi)),
                phase_v=float(rng.uniform(0, 2 * np.pi)),
            )
        )
    return frames


def _road_grid(seed: int) -> tuple[list[LineString], list[str], list[str | None]]:
    """A rotated, perturbed 600 m grid of roads; every edge is a 3-vertex line."""
    rng = stream(seed, "roads")
    spacing, half = 600.0, 7
    angle = math.radians(rng.uniform(-10, 10))
    idx = np.arange(-half, half + 1)
    gi, gj = np.meshgrid(idx, idx, indexing="ij")
    px = gi * spacing + rng.normal(0, 25, gi.shape)
    py = gj * spacing + rng.normal(0, 25, gj.shape)
    c, s = math.cos(angle), math.sin(angle)
    nx, ny = c * px - s * py, s * px + c * py
    lines: list[LineString] = []
    classes: list[str] = []
    names: list[str | None] = []
    for i in range(2 * half + 1):
        for j in range(2 * half + 1):
            for di, dj, axis, line_index in ((1, 0, "y", idx[j]), (0, 1, "x", idx[i])):
                i2, j2 = i + di, j + dj
                if i2 > 2 * half or j2 > 2 * half:
                    continue
                a = np.array([nx[i, j], ny[i, j]])
                b = np.array([nx[i2, j2], ny[i2, j2]])
                normal = np.array([-(b - a)[1], (b - a)[0]]) / np.linalg.norm(b - a)
                mid = (a + b) / 2 + normal * rng.normal(0, 12)
                lines.append(LineString([a, mid, b]))
                radius = float(np.hypot(*mid))
                if line_index == 0:
                    cls = "primary"
                elif abs(line_index) == 3 and radius < 3300:
                    cls = "secondary"
                elif radius < 2600:
                    cls = "tertiary" if line_index % 2 == 0 else "residential"
                else:
                    cls = "track"
                classes.append(cls)
                names.append(
                    _ROAD_NAMES.get((axis, int(line_index)))
                    if cls in {"primary", "secondary"}
                    else None
                )
    return lines, classes, names


def _union_find_components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    parent = np.arange(n)

    def find(i: int) -> int:
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    for i, j in zip(a.tolist(), b.tolist(), strict=True):
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    return np.array([find(i) for i in range(n)])


def _footpaths(frame: _Frame, poly: Polygon) -> tuple[list[LineString], np.ndarray]:
    """Footpaths along the block corridors of one settlement (largest connected piece).

    Returns
    -------
    lines : list of LineString
    nodes : ndarray of shape (n, 2)
        World coordinates of the path junctions kept (for placing services).
    """
    u0, v0, u1, v1 = frame.local_bounds(poly)
    ks = np.arange(math.floor(u0 / frame.period_u), math.ceil(u1 / frame.period_u) + 1)
    ms = np.arange(math.floor(v0 / frame.period_v), math.ceil(v1 / frame.period_v) + 1)
    kk, mm = np.meshgrid(ks, ms, indexing="ij")
    x, y = frame.to_world(kk * frame.period_u, mm * frame.period_v)
    inside = shapely.contains_xy(poly, x, y)
    node_id = -np.ones(kk.shape, dtype=np.int64)
    node_id[inside] = np.arange(int(inside.sum()))
    xs, ys = x[inside], y[inside]
    ea, eb = [], []
    for di, dj in ((1, 0), (0, 1)):
        a = node_id[: kk.shape[0] - di, : kk.shape[1] - dj]
        b = node_id[di:, dj:]
        ok = (a >= 0) & (b >= 0)
        ea.append(a[ok])
        eb.append(b[ok])
    a, b = np.concatenate(ea), np.concatenate(eb)
    segs = shapely.linestrings(
        np.stack([np.column_stack([xs[a], ys[a]]), np.column_stack([xs[b], ys[b]])], axis=1)
    )
    keep = shapely.covered_by(segs, poly.buffer(2.0))
    a, b, segs = a[keep], b[keep], segs[keep]
    comp = _union_find_components(len(xs), a, b)
    sizes = np.bincount(comp, minlength=len(xs))
    main = int(np.argmax(sizes))
    on_main = comp[a] == main
    nodes = np.column_stack([xs, ys])[comp == main]
    return list(segs[on_main]), nodes


def make_streets(
    seed: int,
    settlements: gpd.GeoDataFrame,
    frames: list[_Frame],
    river: LineString,
) -> tuple[gpd.GeoDataFrame, dict[str, np.ndarray]]:
    """The street and footpath network, noded into one connected graph.

    Returns
    -------
    streets : geopandas.GeoDataFrame
        ``street_id``, ``street_class``, ``name``, ``surface``, ``width_m``, ``motorable``,
        geometry (LineString, local metres).
    footpath_nodes : dict of str to ndarray
        Path junctions per settlement id.
    """
    roads, classes, names = _road_grid(seed)
    lines: list[LineString] = list(roads)
    road_union = shapely.union_all(roads)
    road_vertices = shapely.get_coordinates(road_union)
    nodes_by_settlement: dict[str, np.ndarray] = {}
    for row, frame in zip(settlements.itertuples(), frames, strict=True):
        paths, nodes = _footpaths(frame, row.geometry)
        nodes_by_settlement[row.settlement_id] = nodes
        crossing = shapely.intersects(shapely.multilinestrings(paths), river)
        for path in paths:
            lines.append(path)
            classes.append("bridge_foot" if crossing and path.intersects(river) else "footpath")
            names.append(None)
        if not shapely.intersects(shapely.multilinestrings(paths), road_union):
            d = np.hypot(
                nodes[:, None, 0] - road_vertices[None, :, 0],
                nodes[:, None, 1] - road_vertices[None, :, 1],
            )
            i, j = np.unravel_index(int(np.argmin(d)), d.shape)
            lines.append(LineString([nodes[i], road_vertices[j]]))
            classes.append("track")
            names.append(None)
    sources = np.array(lines, dtype=object)
    noded = shapely.get_parts(shapely.union_all(sources, grid_size=0.01))
    noded = noded[shapely.length(noded) > 0.05]
    mids = shapely.line_interpolate_point(noded, 0.5, normalized=True)
    _, src = shapely.STRtree(sources).query_nearest(mids, all_matches=False)
    cls = np.array(classes, dtype=object)[src]
    streets = gpd.GeoDataFrame(
        {
            "street_id": [f"ST-{i + 1:05d}" for i in range(len(noded))],
            "street_class": cls,
            "name": np.array(names, dtype=object)[src],
            "surface": [_SURFACE[c] for c in cls],
            "width_m": [_WIDTH[c] for c in cls],
            "motorable": [c not in {"footpath", "bridge_foot", "steps"} for c in cls],
        },
        geometry=noded,
    )
    return streets, nodes_by_settlement


# -- Structures ----------------------------------------------------------------------------------


def weighted_choice(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """One category per row from unnormalised log-probabilities of shape (n, k)."""
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    cdf = np.cumsum(p, axis=1)
    u = rng.random(len(p))[:, None] * cdf[:, -1:]
    return np.minimum((u > cdf).sum(axis=1), p.shape[1] - 1)


def material_logits(
    table: tuple[ch.Choice, ...], service: np.ndarray, flood: np.ndarray
) -> np.ndarray:
    """Log-weights of wall / roof / floor choices given service level and flood exposure.

    Finished materials (stone, blocks, bricks, concrete, tiles, cement floors) grow with the
    settlement's service level; natural / makeshift ones (mud, polythene, earth floors) with
    the flood depth at the structure (0-1, 1 = 2 m or more).
    """
    better = {"stone", "bricks", "blocks", "concrete", "tiles", "cement", "asbestos"}
    worse = {"mud", "mud_wattle", "polythene", "cardboard", "earth", "timber"}
    base = np.log(np.array(ch.weights(table)))
    up = np.array([1.0 if c[0] in better else 0.0 for c in table])
    down = np.array([1.0 if c[0] in worse else 0.0 for c in table])
    return base[None, :] + 2.0 * service[:, None] * up + 1.2 * flood[:, None] * down


def make_structures(
    seed: int,
    settlements: gpd.GeoDataFrame,
    frames: list[_Frame],
    streets: gpd.GeoDataFrame,
    river: LineString,
    flood: Raster,
    *,
    target: int,
) -> gpd.GeoDataFrame:
    """Building footprints in the block cells of each settlement.

    A footprint is a rectangle of 15-60 m² turned up to 4° off its block axis, inside its own
    9 m × 7.5 m cell (so two never overlap), at least 3.5 m inside the settlement boundary,
    clear of every street by half its width plus 0.5 m and 5 m from the river's centre line.
    Of the cells that qualify, ``target × share`` per settlement are built (all of them when
    fewer qualify).

    Returns
    -------
    geopandas.GeoDataFrame
        ``structure_id``, ``settlement_id``, ``use``, ``storeys``, ``wall_material``,
        ``roof_material``, ``flood_depth_m``, geometry (Polygon, local metres).
    """
    rng = stream(seed, "structures")
    tree = shapely.STRtree(streets.geometry.values)
    river_tree = shapely.STRtree(_segments(river))
    half_width = streets["width_m"].to_numpy() / 2
    frames_out = []
    for row, frame in zip(settlements.itertuples(), frames, strict=True):
        u0, v0, u1, v1 = frame.local_bounds(row.geometry)
        ks = np.arange(math.floor(u0 / frame.period_u), math.ceil(u1 / frame.period_u) + 1)
        ms = np.arange(math.floor(v0 / frame.period_v), math.ceil(v1 / frame.period_v) + 1)
        aa, bb = np.arange(frame.cells_u), np.arange(frame.cells_v)
        m, k, b, a = (g.ravel() for g in np.meshgrid(ms, ks, bb, aa, indexing="ij"))
        half = frame.CORRIDOR / 2
        cu = k * frame.period_u + half + (a + 0.5) * frame.CELL_U
        cv = m * frame.period_v + half + (b + 0.5) * frame.CELL_V
        n = cu.size
        area = 15 + 45 * rng.beta(1.6, 2.2, n)
        aspect = rng.uniform(0.75, 1.6, n)
        w, h = np.sqrt(area * aspect), np.sqrt(area / aspect)
        theta = np.radians(rng.uniform(-4, 4, n))
        cos_t, sin_t = np.abs(np.cos(theta)), np.abs(np.sin(theta))
        lim_u, lim_v = frame.CELL_U / 2 - 0.2, frame.CELL_V / 2 - 0.2
        scale = np.minimum(
            1.0,
            np.minimum(
                lim_u / ((w * cos_t + h * sin_t) / 2), lim_v / ((w * sin_t + h * cos_t) / 2)
            ),
        )
        w, h = w * scale, h * scale
        ex, ey = (w * cos_t + h * sin_t) / 2, (w * sin_t + h * cos_t) / 2
        cu = cu + rng.uniform(-1, 1, n) * (lim_u - ex)
        cv = cv + rng.uniform(-1, 1, n) * (lim_v - ey)
        x, y = frame.to_world(cu, cv)
        rot = frame.angle + theta
        corners_u = np.array([-1, 1, 1, -1, -1]) / 2
        corners_v = np.array([-1, -1, 1, 1, -1]) / 2
        lx = w[:, None] * corners_u[None, :]
        ly = h[:, None] * corners_v[None, :]
        c, s = np.cos(rot)[:, None], np.sin(rot)[:, None]
        px = x[:, None] + c * lx - s * ly
        py = y[:, None] + s * lx + c * ly
        rects = shapely.polygons(np.stack([px, py], axis=-1))
        ok = shapely.contains(row.geometry.buffer(-3.5), rects)
        near_river = river_tree.query(rects, predicate="dwithin", distance=5.0)[0]
        ok[near_river] = False
        pairs = tree.query(rects[ok], predicate="dwithin", distance=6.6)
        idx_ok = np.flatnonzero(ok)
        if pairs.shape[1]:
            d = shapely.distance(rects[idx_ok[pairs[0]]], streets.geometry.values[pairs[1]])
            bad = idx_ok[pairs[0][d < half_width[pairs[1]] + 0.5]]
            ok[bad] = False
        frames_out.append(
            pd.DataFrame(
                {
                    "settlement_id": row.settlement_id,
                    "prefix": row.prefix,
                    "service": row.service,
                    "share": row.share,
                    "area": (w * h)[ok],
                    "geometry": rects[ok],
                }
            )
        )
    cand = pd.concat(frames_out, ignore_index=True)
    geoms = cand["geometry"].to_numpy()
    pairs = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    later = pairs[1][pairs[0] < pairs[1]]
    cand = cand.drop(index=np.unique(later)).reset_index(drop=True)

    chosen = []
    for sid, group in cand.groupby("settlement_id", sort=False):
        want = min(len(group), round(target * group["share"].iloc[0]))
        pick = np.sort(rng.choice(len(group), size=want, replace=False))
        sub = group.iloc[pick].copy()
        prefix = sub["prefix"].iloc[0]
        sub["structure_id"] = [f"{prefix}-{i + 1:05d}" for i in range(want)]
        chosen.append(sub)
        del sid
    out = pd.concat(chosen, ignore_index=True)
    geoms = out["geometry"].to_numpy()
    cent = shapely.centroid(geoms)
    depth = flood.sample(shapely.get_x(cent), shapely.get_y(cent)).astype(np.float64)
    exposure = np.clip(depth / 2.0, 0, 1)
    service = out["service"].to_numpy()
    uses = ch.names(ch.STRUCTURE_USE)
    use_idx = rng.choice(len(uses), size=len(out), p=_norm(ch.weights(ch.STRUCTURE_USE)))
    storeys = 1 + rng.binomial(1, 0.03 + 0.2 * service) + rng.binomial(1, 0.01 + 0.03 * service)
    wall = weighted_choice(rng, material_logits(ch.WALL, service, exposure))
    roof = weighted_choice(rng, material_logits(ch.ROOF, service, exposure))
    return gpd.GeoDataFrame(
        {
            "structure_id": out["structure_id"].to_numpy(),
            "settlement_id": out["settlement_id"].to_numpy(),
            "use": np.array([ch.canonical(ch.STRUCTURE_USE)[uses[i]] for i in use_idx]),
            "storeys": storeys.astype(np.int64),
            "wall_material": np.array(ch.names(ch.WALL))[wall],
            "roof_material": np.array(ch.names(ch.ROOF))[roof],
            "flood_depth_m": depth,
        },
        geometry=geoms,
    )


def _norm(w: list[float]) -> np.ndarray:
    a = np.asarray(w, dtype=float)
    return a / a.sum()


# -- Services ------------------------------------------------------------------------------------


def make_service_points(
    seed: int,
    settlements: gpd.GeoDataFrame,
    footpath_nodes: dict[str, np.ndarray],
    streets: gpd.GeoDataFrame,
    *,
    households: dict[str, int],
) -> gpd.GeoDataFrame:
    """Water points, toilet blocks, waste skips in the settlements; clinics, schools, stops, parks.

    Water points (public taps and kiosks, about one per 110 households, some not working),
    toilet blocks (one per 150 households) and skips stand at footpath junctions; clinics,
    schools, transit stops and open spaces stand 15 m off the roads of the inner city.

    Returns
    -------
    geopandas.GeoDataFrame
        Canonical ``service_points`` columns plus ``kind`` (the source's own type), local
        metres.
    """
    rng = stream(seed, "services")
    rows: list[dict[str, object]] = []
    geoms: list[shapely.Point] = []

    def add(geom: shapely.Point, **values: object) -> None:
        geoms.append(geom)
        rows.append(values)

    day0 = np.datetime64("2024-01-15")
    for row in settlements.itertuples():
        nodes = footpath_nodes[row.settlement_id]
        hh = households.get(row.settlement_id, 0)
        n_water = max(3, round(hh / 110))
        n_toilet = max(2, round(hh / 150))
        n_skip = 1 + hh // 1500
        total = min(len(nodes), n_water + n_toilet + n_skip)
        pick = rng.choice(len(nodes), size=total, replace=False)
        offset = rng.uniform(-0.8, 0.8, (total, 2))
        pts = nodes[pick] + offset
        q = row.service
        for i, (x, y) in enumerate(pts):
            point = shapely.Point(float(x), float(y))
            surveyed = str(day0 + int(rng.integers(0, 26)))
            if i < n_water:
                kiosk = rng.random() < 0.45
                taps = int(rng.integers(1, 3) if kiosk else rng.integers(1, 5))
                working = int(rng.binomial(taps, 0.55 + 0.4 * q))
                utility = rng.random() < (0.6 if kiosk else 0.9)
                add(
                    point,
                    service_id=f"WP-{row.prefix}-{i + 1:03d}",
                    service_type="water_point",
                    kind="kiosk" if kiosk else "standpipe",
                    subtype="water_kiosk" if kiosk else "public_tap",
                    name=f"{row.name} {'kiosk' if kiosk else 'standpipe'} {i + 1}",
                    settlement_id=row.settlement_id,
                    functional=working > 0,
                    taps_total=taps,
                    taps_working=working,
                    fee=bool(kiosk or rng.random() < 0.5),
                    cost_per_use=float(rng.choice([2.0, 3.0, 5.0]) if kiosk else 2.0),
                    operator="Mto Mji Water and Sanitation Co." if utility else "CBO",
                    surveyed_on=surveyed,
                )
            elif i < n_water + n_toilet:
                seats = int(rng.integers(4, 13))
                working = int(rng.binomial(seats, 0.6 + 0.3 * q))
                paid = rng.random() < 0.7
                sewer = rng.random() < 0.2 + 0.5 * q
                add(
                    point,
                    service_id=f"TB-{row.prefix}-{i - n_water + 1:03d}",
                    service_type="toilet",
                    kind="toilet_block",
                    subtype="flush_sewer" if sewer else "pit_vip",
                    name=f"{row.name} toilet block {i - n_water + 1}",
                    settlement_id=row.settlement_id,
                    functional=working > 0,
                    seats_total=seats,
                    seats_working=working,
                    fee=paid,
                    cost_per_use=5.0 if paid else 0.0,
                    operator="CBO" if rng.random() < 0.6 else "Youth group",
                    surveyed_on=surveyed,
                )
            else:
                add(
                    point,
                    service_id=f"SK-{row.prefix}-{i - n_water - n_toilet + 1:02d}",
                    service_type="waste_point",
                    kind="skip",
                    subtype="skip",
                    name=f"{row.name} skip {i - n_water - n_toilet + 1}",
                    settlement_id=row.settlement_id,
                    functional=True,
                    capacity_m3=float(rng.choice([7.0, 14.0])),
                    operator="County environment department",
                    surveyed_on=surveyed,
                )
    inner = streets[
        streets["street_class"].isin(["primary", "secondary", "tertiary", "residential"])
    ]
    mids = shapely.line_interpolate_point(inner.geometry.values, 0.5, normalized=True)
    radius = np.hypot(shapely.get_x(mids), shapely.get_y(mids))
    candidates = np.flatnonzero(radius < 2800)
    others = (
        ("health", "clinic", "HF", 4, "Health centre"),
        ("school", "school", "SC", 8, "Primary school"),
        ("transit_stop", "matatu_stage", "TS", 20, "Matatu stage"),
        ("open_space", "park", "OS", 5, "Open space"),
    )
    pick = rng.choice(candidates, size=sum(o[3] for o in others), replace=False)
    lines = inner.geometry.values
    at = 0
    for service_type, kind, code, count, label in others:
        for j in range(count):
            line = lines[pick[at]]
            at += 1
            p = shapely.line_interpolate_point(line, rng.uniform(0.2, 0.8), normalized=True)
            a, b = shapely.get_coordinates(line)[[0, -1]]
            normal = np.array([-(b - a)[1], (b - a)[0]]) / np.linalg.norm(b - a)
            xy = np.array([p.x, p.y]) + normal * 15.0 * rng.choice([-1.0, 1.0])
            add(
                shapely.Point(*xy),
                service_id=f"{code}-{j + 1:02d}",
                service_type=service_type,
                kind=kind,
                subtype=kind,
                name=f"{label} {j + 1}",
                functional=True,
                fee=service_type == "health",
                operator="County government" if rng.random() < 0.7 else "Faith-based",
                surveyed_on=str(day0 + int(rng.integers(0, 26))),
            )
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms)


# -- Built-up epochs -----------------------------------------------------------------------------


def make_built_up(seed: int, settlements: gpd.GeoDataFrame, streets: gpd.GeoDataFrame) -> Raster:
    """GHSL-style first-built epoch on a 30 m grid: 2000, 2010, 2020, 0 = not built.

    The core grows in rings with wavy edges (radius about 1.1 km by 2000, 1.8 km by 2010,
    2.6 km by 2020), ribbons follow the primary and secondary roads, each settlement is built
    from the epoch after its establishment, and three leapfrog patches appear by 2020. Cells
    beyond 4.5 km of the core lie outside the area of interest: nodata 65535.
    """
    rng = stream(seed, "built_up")
    n = int(2 * EXTENT / BUILT_CELL)
    transform = _north_up(BUILT_CELL)
    centres = (np.arange(n) + 0.5) * BUILT_CELL
    xx, yy = np.meshgrid(centres - EXTENT, EXTENT - centres)
    r = np.hypot(xx - CORE[0], yy - CORE[1])
    theta = np.arctan2(yy - CORE[1], xx - CORE[0])
    wobble = (
        1
        + 0.22 * np.cos(2 * theta + rng.uniform(0, 6.3))
        + 0.1 * np.cos(3 * theta + rng.uniform(0, 6.3))
    )
    noise = 0.12 * _smooth_noise(rng, xx, yy, terms=6, wavelength=(300, 900))
    epoch = np.zeros((n, n), dtype=np.uint16)
    for year, radius in ((2020, 2600.0), (2010, 1800.0), (2000, 1100.0)):
        epoch[r < radius * (wobble + noise)] = year
    speckle = (epoch == 2020) & (rng.random((n, n)) < 0.12)
    epoch[speckle] = 0
    roads = streets[streets["street_class"].isin(["primary", "secondary"])]
    x, y = xx.ravel(), yy.ravel()
    pts = shapely.points(x, y)
    hit = shapely.STRtree(roads.geometry.values).query(pts, predicate="dwithin", distance=60.0)[0]
    ribbon = np.zeros(n * n, dtype=bool)
    ribbon[hit] = True
    ribbon = ribbon.reshape(n, n)
    ribbon_year = np.where(r < 2600, 2010, 2020).astype(np.uint16)
    epoch = np.where(
        ribbon & (r < 3600) & ((epoch == 0) | (epoch > ribbon_year)), ribbon_year, epoch
    )
    for row in settlements.itertuples():
        year = (
            2000
            if row.year_established <= 2000
            else (2010 if row.year_established <= 2010 else 2020)
        )
        inside = shapely.contains_xy(row.geometry, x, y).reshape(n, n)
        epoch = np.where(inside & ((epoch == 0) | (epoch > year)), year, epoch).astype(np.uint16)
    for _ in range(3):
        ang, dist = rng.uniform(0, 2 * np.pi), rng.uniform(3000, 3900)
        bx, by = CORE[0] + dist * np.cos(ang), CORE[1] + dist * np.sin(ang)
        blob = np.hypot(xx - bx, yy - by) < rng.uniform(120, 220) * (1 + noise)
        epoch[blob & (epoch == 0)] = 2020
    epoch[r > 4500] = 65535
    return Raster(epoch.astype(np.uint16), transform, 65535)


# -- Flood zones (vector hazard) ---------------------------------------------------------------

FLOOD_CLASSES = (("low", 0.1, 0.7), ("medium", 0.7, 1.5), ("high", 1.5, np.inf))
"""Depth classes (m) of the vector flood zones, as in the hazard analysis defaults."""


def make_flood_zones(flood: Raster) -> gpd.GeoDataFrame:
    """Flood zones: the flood raster polygonised into low / medium / high depth bands.

    Bands smaller than 400 m² are dropped and edges simplified by 3 m, as a mapper would.

    Returns
    -------
    geopandas.GeoDataFrame
        ``hazard_id``, ``hazard_type`` (flood), ``hazard_level``, ``depth_m`` (mean depth of
        the band's cells), geometry (Polygon, local metres).
    """
    depth = flood.array
    klass = np.zeros(depth.shape, dtype=np.uint8)
    for i, (_, lo, _hi) in enumerate(FLOOD_CLASSES, start=1):
        klass[depth >= lo] = i
    shift = Affine.translation(-ORIGIN[0], -ORIGIN[1]) @ flood.transform
    rows, geoms = [], []
    for geom, value in rasterio.features.shapes(klass, mask=klass > 0, transform=shift):
        poly = shapely.geometry.shape(geom)
        if poly.area < 400:
            continue
        level = FLOOD_CLASSES[int(value) - 1][0]
        geoms.append(shapely.simplify(poly, 3.0, preserve_topology=True))
        rows.append({"hazard_level": level})
    frame = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms)
    means = {
        name: float(depth[klass == i].mean())
        for i, (name, _, _) in enumerate(FLOOD_CLASSES, start=1)
        if (klass == i).any()
    }
    frame["depth_m"] = frame["hazard_level"].map(means).round(2)
    frame["hazard_type"] = "flood"
    code = {"low": "L", "medium": "M", "high": "H"}
    frame["hazard_id"] = [
        f"FLD-{code[lv]}-{i + 1:03d}" for i, lv in enumerate(frame["hazard_level"])
    ]
    return frame[["hazard_id", "hazard_type", "hazard_level", "depth_m", "geometry"]]


# -- Projects --------------------------------------------------------------------------------------


def make_projects(
    seed: int,
    settlements: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame,
    river: LineString,
    service_points: gpd.GeoDataFrame,
) -> gpd.GeoDataFrame:
    """Five community infrastructure projects; the two in Mtoni have overlapping catchments.

    Points carry a catchment radius; the drainage works (a corridor along the river) and the
    footpath paving (the paths of a neighbourhood) are polygons.
    """
    rng = stream(seed, "projects")
    by_id = settlements.set_index("settlement_id")
    water = service_points[
        (service_points["service_type"] == "water_point")
        & (service_points["settlement_id"] == "mtoni")
    ]
    kiosk = water.geometry.iloc[int(rng.integers(len(water)))]
    waste_pt = shapely.Point(kiosk.x + rng.uniform(-180, 180), kiosk.y + rng.uniform(-180, 180))
    if not by_id.geometry["mtoni"].contains(waste_pt):
        waste_pt = by_id.geometry["mtoni"].representative_point()
    bonde = by_id.geometry["bonde_la_nyota"]
    drain = _polygonal(river.intersection(bonde).buffer(12.0).intersection(bonde))
    kijiji = by_id.geometry["kijiji_kipya"]
    soko = by_id.geometry["soko_mpya"]
    paths = streets[
        (streets["street_class"] == "footpath") & streets.geometry.within(soko)
    ].geometry.values
    centre = soko.centroid
    near = paths[shapely.distance(paths, centre) < 110]
    paving = _polygonal(shapely.union_all(shapely.buffer(near, 3.0, cap_style="flat")))
    rows = [
        ("PRJ-001", "Mtoni water kiosk extension", "water", "ongoing", "mtoni",
         "2024-02-01", "2024-09-30", 45_000.0, 250.0, 1200, kiosk),
        ("PRJ-002", "Bonde la Nyota riverbank drainage", "drainage", "completed",
         "bonde_la_nyota", "2023-03-01", "2023-11-15", 180_000.0, None, 3500, drain),
        ("PRJ-003", "Kijiji Kipya ablution block", "sanitation", "planned", "kijiji_kipya",
         "2024-10-01", "2025-03-31", 60_000.0, 150.0, 800, kijiji.representative_point()),
        ("PRJ-004", "Soko Mpya footpath paving and lighting", "street", "ongoing",
         "soko_mpya", "2024-01-15", "2024-12-20", 95_000.0, None, 2000, paving),
        ("PRJ-005", "Mtoni waste transfer point", "waste", "completed", "mtoni",
         "2023-06-01", "2023-08-31", 30_000.0, 400.0, 2500, waste_pt),
    ]  # fmt: skip
    cols = [
        "project_id",
        "name",
        "project_type",
        "status",
        "settlement_id",
        "start_date",
        "end_date",
        "budget_usd",
        "catchment_m",
        "beneficiaries_reported",
        "geometry",
    ]
    return gpd.GeoDataFrame(pd.DataFrame(rows, columns=cols), geometry="geometry")


def _polygonal(geom: shapely.Geometry) -> Polygon:
    """The largest polygon of a geometry (drops slivers, lines and points of an overlay)."""
    parts = [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon"]
    return max(parts, key=lambda g: g.area)


# -- The whole city --------------------------------------------------------------------------------


def build_city(seed: int, *, households: int) -> City:
    """Build every layer of Mto Mji except the households.

    Parameters
    ----------
    seed : int
        Random seed; the same seed gives the same city.
    households : int
        Households that will be enumerated: about ``households / 2.1`` structures are built
        (as many as the settlements hold) and services are sized to them.

    Returns
    -------
    City
    """
    river, params = make_river(seed)
    settlements = make_settlements(seed, river, params)
    flood = make_flood(seed, river)
    frames = _frames(seed, settlements)
    streets, nodes = make_streets(seed, settlements, frames, river)
    structures = make_structures(
        seed, settlements, frames, streets, river, flood, target=round(households / 2.1)
    )
    per_settlement = {s.settlement_id: round(households * s.share) for s in SETTLEMENTS}
    services = make_service_points(seed, settlements, nodes, streets, households=per_settlement)
    built = make_built_up(seed, settlements, streets)
    zones = make_flood_zones(flood)
    projects = make_projects(seed, settlements, streets, river, services)
    return City(
        seed=seed,
        settlements=settlements,
        river=river,
        streets=streets,
        structures=structures,
        service_points=services,
        flood=flood,
        built_up=built,
        hazard_zones=zones,
        projects=projects,
        footpath_nodes=nodes,
    )


# -- City-wide building footprints (open-data style) -----------------------------------------------

FORMAL_PITCH = (34.0, 30.0)
"""Plot pitch (m) of the formal building lattice along and across the road grid."""
FORMAL_GAP = 10.0
"""Smallest gap (m) between two formal buildings of neighbouring plots."""
INFORMAL_CELL = 9.5
"""Cell (m) of the lattice of each unprofiled informal cluster (one footprint per cell)."""
_FORMAL_TAGS = (
    ("yes", 0.42),
    ("house", 0.26),
    ("residential", 0.12),
    ("apartments", 0.06),
    ("commercial", 0.08),
    ("industrial", 0.04),
    ("school", 0.02),
)
_SURVEY_TAGS = {
    "residential": "residential",
    "commercial": "commercial",
    "mixed": "residential;commercial",
    "community": "civic",
    "empty": "construction",
    "other": "yes",
}


def _rectangles(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, h: np.ndarray, rot: np.ndarray
) -> np.ndarray:
    """Rectangles of size ``w`` × ``h`` centred on ``(x, y)``, turned by ``rot`` radians."""
    lx = w[:, None] * (np.array([-1, 1, 1, -1, -1]) / 2)[None, :]
    ly = h[:, None] * (np.array([-1, -1, 1, 1, -1]) / 2)[None, :]
    c, s = np.cos(rot)[:, None], np.sin(rot)[:, None]
    px = x[:, None] + c * lx - s * ly
    py = y[:, None] + s * lx + c * ly
    return shapely.polygons(np.stack([px, py], axis=-1))


def _clear_of_streets(rects: np.ndarray, streets: gpd.GeoDataFrame, setback: float) -> np.ndarray:
    """True where a footprint lies farther than half the street width + ``setback``."""
    half_width = streets["width_m"].to_numpy() / 2
    ok = np.ones(len(rects), dtype=bool)
    tree = shapely.STRtree(streets.geometry.values)
    pairs = tree.query(rects, predicate="dwithin", distance=float(half_width.max()) + setback)
    if pairs.shape[1]:
        d = shapely.distance(rects[pairs[0]], streets.geometry.values[pairs[1]])
        ok[pairs[0][d < half_width[pairs[1]] + setback]] = False
    return ok


def _cluster_sites(
    rng: np.random.Generator, city: City, count: int
) -> list[tuple[float, float, float]]:
    """Centres and areas (m²) of the unprofiled clusters: built up by 2020, 400 m from every
    settlement boundary, 700 m from the profile-only settlements' anchors and from each other,
    100 m from the river."""
    cand = rng.uniform(-3600, 3600, (4000, 2)) + CORE
    x, y = cand[:, 0], cand[:, 1]
    epoch = city.built_up.sample(x, y)
    r = np.hypot(x - CORE[0], y - CORE[1])
    ok = (epoch > 0) & (epoch <= 2020) & (r > 1500) & (r < 3600)
    pts = shapely.points(x, y)
    near = shapely.STRtree(city.settlements.geometry.values).query(
        pts, predicate="dwithin", distance=400.0
    )[0]
    ok[near] = False
    ok &= _river_distance(city.river, x, y, max_distance=100.0) > 100.0
    for spec in PROFILE_ONLY:
        ok &= np.hypot(x - spec.anchor[0], y - spec.anchor[1]) > 700
    sites: list[tuple[float, float, float]] = []
    for i in np.flatnonzero(ok):
        if all(math.hypot(x[i] - sx, y[i] - sy) > 700 for sx, sy, _ in sites):
            sites.append((float(x[i]), float(y[i]), float(rng.uniform(3.5, 7.0) * 10_000)))
        if len(sites) == count:
            break
    return sites


def make_buildings(city: City, *, clusters: int = 3) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Building footprints of the whole city, as an open building dataset would give them.

    * **Formal** (``source = "osm"``): rectangles of 80-400 m² on a plot lattice aligned with
      the road grid (pitch :data:`FORMAL_PITCH`, at least :data:`FORMAL_GAP` between
      neighbours, 1.5° of jitter), on built-up cells (epoch 2000-2020) outside every settlement
      (10 m margin), 4 m back from the streets, 30 m from the river; 12 % of plots are vacant.
    * **Survey** (``source = "survey"``): every enumerated structure footprint, with its
      settlement and storeys.
    * **Unprofiled informal clusters** (``source = "google"``, with a detection confidence):
      ``clusters`` star-shaped areas of 3.5-7 ha outside every settlement, not in the
      settlements layer, filled with small (15-50 m²), randomly oriented footprints on a
      jittered :data:`INFORMAL_CELL` lattice (85 % occupied). Formal plots inside them are
      dropped.

    Every step is vectorised; the random draws come from ``stream(seed, "buildings")``.

    Returns
    -------
    buildings : geopandas.GeoDataFrame
        ``building_id``, ``source``, ``building``, ``levels`` (Int64), ``height_m``,
        ``confidence``, ``settlement_id``, ``kind`` (``formal`` / ``survey`` / ``unprofiled``)
        and geometry (Polygon, local metres).
    unprofiled : geopandas.GeoDataFrame
        One row per cluster: ``cluster_id``, ``buildings``, ``area_ha``, geometry (Polygon,
        local metres).
    """
    rng = stream(city.seed, "buildings")
    angle = math.radians(stream(city.seed, "roads").uniform(-10, 10))  # _road_grid's rotation
    settlement_tree = shapely.STRtree(city.settlements.geometry.values)

    # Unprofiled clusters first: formal plots are then kept out of them.
    sites = _cluster_sites(rng, city, clusters)
    areas = [_star_polygon(rng, cx, cy, a) for cx, cy, a in sites]
    informal = []
    for k, poly in enumerate(areas):
        x0, y0, x1, y1 = poly.bounds
        gx, gy = np.meshgrid(
            np.arange(x0, x1, INFORMAL_CELL) + INFORMAL_CELL / 2,
            np.arange(y0, y1, INFORMAL_CELL) + INFORMAL_CELL / 2,
        )
        n = gx.size
        area = 15 + 35 * rng.beta(1.5, 2.5, n)
        aspect = rng.uniform(1.0, 1.7, n)
        w, h = np.sqrt(area * aspect), np.sqrt(area / aspect)
        rot = rng.uniform(0, np.pi / 2, n)
        cos_t, sin_t = np.abs(np.cos(rot)), np.abs(np.sin(rot))
        ext_x, ext_y = (w * cos_t + h * sin_t) / 2, (w * sin_t + h * cos_t) / 2
        lim = INFORMAL_CELL / 2 - 0.4
        scale = np.minimum(1.0, np.minimum(lim / ext_x, lim / ext_y))
        w, h, ext_x, ext_y = w * scale, h * scale, ext_x * scale, ext_y * scale
        cx = gx.ravel() + rng.uniform(-1, 1, n) * (lim - ext_x)
        cy = gy.ravel() + rng.uniform(-1, 1, n) * (lim - ext_y)
        rects = _rectangles(cx, cy, w, h, rot)
        ok = shapely.contains(poly, rects) & (rng.random(n) < 0.85)
        informal.append((k, rects[ok]))
    informal = [(k, g[_clear_of_streets(g, city.streets, 0.5)]) for k, g in informal if len(g)]

    # Formal plots on a lattice aligned with the road grid.
    pu, pv = FORMAL_PITCH
    u, v = np.meshgrid(np.arange(-EXTENT, EXTENT, pu), np.arange(-EXTENT, EXTENT, pv))
    u, v = u.ravel(), v.ravel()
    c, s = math.cos(angle), math.sin(angle)
    x, y = c * u - s * v, s * u + c * v
    epoch = city.built_up.sample(x, y)
    keep = (epoch > 0) & (epoch <= 2020) & (rng.random(len(x)) >= 0.12)
    x, y = x[keep], y[keep]
    n = len(x)
    area = np.clip(rng.lognormal(math.log(170.0), 0.45, n), 80.0, 400.0)
    aspect = rng.uniform(1.0, 1.8, n)
    w = np.minimum(np.sqrt(area * aspect), pu - FORMAL_GAP)
    h = area / w
    slack_u, slack_v = (pu - FORMAL_GAP - w) / 2, (pv - FORMAL_GAP - h) / 2
    du, dv = rng.uniform(-1, 1, n) * slack_u, rng.uniform(-1, 1, n) * slack_v
    x, y = x + c * du - s * dv, y + s * du + c * dv
    rot = angle + np.radians(rng.uniform(-1.5, 1.5, n))
    rects = _rectangles(x, y, w, h, rot)
    epoch = city.built_up.sample(x, y)  # the footprint's centre is on built-up land
    ok = (epoch > 0) & (epoch <= 2020) & _clear_of_streets(rects, city.streets, 4.0)
    ok[settlement_tree.query(rects, predicate="dwithin", distance=10.0)[0]] = False
    if areas:
        ok[shapely.STRtree(areas).query(rects, predicate="dwithin", distance=15.0)[0]] = False
    ok[
        shapely.STRtree(_segments(city.river)).query(rects, predicate="dwithin", distance=30.0)[0]
    ] = False
    rects, n = rects[ok], int(ok.sum())
    r = np.hypot(
        shapely.get_x(shapely.centroid(rects)) - CORE[0],
        shapely.get_y(shapely.centroid(rects)) - CORE[1],
    )
    tags, weights = zip(*_FORMAL_TAGS, strict=True)
    tag = np.array(tags, dtype=object)[rng.choice(len(tags), size=n, p=_norm(list(weights)))]
    levels = 1 + rng.poisson(0.3 + 2.0 * np.exp(-r / 900.0))
    has_levels = rng.random(n) < 0.4
    has_height = has_levels & (rng.random(n) < 0.5)
    height = np.round(levels * 3.0 + rng.uniform(0.0, 1.5, n), 1)
    levels_col = pd.array(levels, dtype="Int64")
    levels_col[~has_levels] = pd.NA
    formal = pd.DataFrame(
        {
            "building_id": "OSM-" + pd.Series(np.arange(1, n + 1)).astype(str).str.zfill(6),
            "source": "osm",
            "building": tag,
            "levels": levels_col,
            "height_m": np.where(has_height, height, np.nan),
            "confidence": np.nan,
            "settlement_id": None,
            "kind": "formal",
            "geometry": rects,
        }
    )

    st = city.structures
    survey = pd.DataFrame(
        {
            "building_id": st["structure_id"].to_numpy(),
            "source": "survey",
            "building": st["use"].map(_SURVEY_TAGS).to_numpy(),
            "levels": pd.array(st["storeys"].to_numpy(), dtype="Int64"),
            "height_m": np.nan,
            "confidence": np.nan,
            "settlement_id": st["settlement_id"].to_numpy(),
            "kind": "survey",
            "geometry": st.geometry.to_numpy(),
        }
    )

    parts = [g for _, g in informal]
    geoms = np.concatenate(parts) if parts else np.empty(0, dtype=object)
    m = len(geoms)
    unprofiled = pd.DataFrame(
        {
            "building_id": "GOB-" + pd.Series(np.arange(1, m + 1)).astype(str).str.zfill(6),
            "source": "google",
            "building": None,
            "levels": pd.array([pd.NA] * m, dtype="Int64"),
            "height_m": np.nan,
            "confidence": np.round(rng.uniform(0.65, 0.92, m), 3),
            "settlement_id": None,
            "kind": "unprofiled",
            "geometry": geoms,
        }
    )
    buildings = gpd.GeoDataFrame(
        pd.concat([formal, survey, unprofiled], ignore_index=True), geometry="geometry"
    )
    clusters_frame = gpd.GeoDataFrame(
        {
            "cluster_id": [f"U{k + 1}" for k, _ in informal],
            "buildings": [len(g) for _, g in informal],
            "area_ha": [round(areas[k].area / 10_000, 2) for k, _ in informal],
        },
        geometry=[areas[k] for k, _ in informal],
    )
    return buildings, clusters_frame
