"""Benchmark: urban-form measures (block complexity, urban extent, growth types, tessellation).

Not a test: ``.venv/bin/python benchmarks/bench_urban_form.py [--quick]`` (full run: about
3 minutes on 2 cores; ``--quick``: tiny sizes, a few seconds, for a smoke test).

Each case runs ours and the obvious peer on the same generated input, checks that both give the
same answer (or prints how far they agree, and why not exactly), then prints the times and the
ratio peer / ours (> 1: ours is faster):

1. **Block complexity k** -- :func:`profiling.morphology.block_complexity` (one vectorised
   ``STRtree`` query per layer over all blocks) over parcels from
   :func:`profiling.morphology.parcels`, against the peeling as prclz / Million Neighborhoods
   run it: per block, a Python loop that takes the parcels touching the current boundary
   (block minus the parcels peeled so far; shapely ``intersects`` per parcel), peels them and
   repeats (Brelsford et al. 2018, *Science Advances* 4(8) eaar4644; Mansueto Institute
   ``prclz``, https://github.com/mansueto-institute/prclz, ``prclz/complexity.py``
   ``get_weak_dual_sequence``: one Python step per layer per block, shapely predicates per
   parcel pair). Blocks are ``n × n`` grids of square buildings (n = 1..7, some rotated, some
   two-cell wide), so ``k = ceil(n / 2)`` by construction; both sides must give it.
2. **Urban extent** -- :func:`profiling.expansion.urbanness` (built-up share of the 564 m
   walking circle, edge-corrected) on 1000² and 3000² rasters of 30 m cells, against one
   ``scipy.ndimage.convolve`` with the normalised disk (the direct call; compared where the
   circle lies inside the raster), ``scipy.signal.fftconvolve`` (the same counts by FFT) and a
   naive per-pixel windowed mean on a corner crop (edge-corrected like ours; its time is
   scaled to the whole raster). Shares must agree to 1e-9. :func:`urban_extent` (the full
   classification) is timed too.
3. **Growth types** -- :func:`profiling.expansion.growth_types` (landscape expansion index
   from one distance transform and per-label sums) against World Bank GOSTurban
   ``calculate_LEI`` / ``summarize_LEI`` as written there: ``rasterio.features.shapes`` of the
   new built-up, each patch polygon buffered by 300 m with shapely, its donut rasterised and
   the old built-up share summed, per patch. The definitions differ slightly (see
   :func:`profiling.expansion.landscape_expansion_index`), so the share of new pixels given
   the same class is printed and checked against a floor.
4. **Tessellation** -- :func:`profiling.morphology.parcels` (momepy enclosed tessellation)
   per 10,000 buildings, against the cheap alternative: a plain Voronoi of building centroids
   (``shapely.voronoi_polygons``) clipped to each block. Prints both, the share of footprints
   that stay inside their own cell and how often ``k`` is the same on both parcel sets.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import shapely
from affine import Affine
from scipy import ndimage, signal

from profiling.expansion import (
    EXTENSION,
    INFILL,
    LEAPFROG,
    WALKING_CIRCLE_RADIUS_M,
    circular_kernel,
    growth_types,
    urban_extent,
    urbanness,
)
from profiling.morphology import FRONTAGE_TOLERANCE_M, block_complexity, parcels

CRS = 32737
CELL_M = 12.0  # side of one parcel cell in the block-complexity grids
STREET_M = 8.0  # street width between blocks
X0, Y0 = 250_000.0, 9_860_000.0  # generated cities sit at UTM 37S coordinates (Nairobi)


@dataclass
class Row:
    case: str
    size: str
    ours_s: float
    peer: str
    peer_s: float
    agreement: str


def timed(fn: Callable[[], Any], *, repeat: int = 1) -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls, and the last result."""
    best, result = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


# --- 1. block complexity ------------------------------------------------------------------


def rectangle(cx: float, cy: float, half_w: float, half_h: float, angle: float) -> shapely.Polygon:
    """A ``2 half_w × 2 half_h`` footprint centred on ``(cx, cy)``, rotated by ``angle``."""
    c = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=float) * (half_w, half_h)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return shapely.Polygon(c @ rot.T + (cx, cy))


def grid_city(
    n_blocks: int, rng: np.random.Generator
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, pd.Series]:
    """Blocks of ``n × n`` buildings (n = 1..7), their buildings and ``k = ceil(n / 2)``.

    Each building is a rectangle in its own ``CELL_M`` cell, size, position and angle (up to
    6°, up to 25° in every third block) jittered; every fourth block (n ≥ 3) replaces two edge
    cells by one two-cell building, whose parcel is one irregular, elongated layer-1 parcel.
    """
    sizes = np.arange(1, 8)
    x_off, y_off = X0, Y0
    per_row = math.ceil(math.sqrt(n_blocks))
    slot = sizes.max() * CELL_M + STREET_M
    blocks, k, homes = [], [], []
    for b in range(n_blocks):
        n = int(sizes[b % len(sizes)])
        x0, y0 = x_off + (b % per_row) * slot, y_off + (b // per_row) * slot
        blocks.append(shapely.box(x0, y0, x0 + n * CELL_M, y0 + n * CELL_M))
        k.append(math.ceil(n / 2))
        merged = n >= 3 and b % 4 == 0
        rotate = b % 3 == 0
        for i in range(n):
            for j in range(n):
                if merged and j == 0 and i in (1, 2):
                    if i == 1:  # one building across cells (1, 0) and (2, 0)
                        homes.append(
                            shapely.box(
                                x0 + 1.2 * CELL_M, y0 + 0.2 * CELL_M,
                                x0 + 2.8 * CELL_M, y0 + 0.75 * CELL_M,
                            )
                        )  # fmt: skip
                    continue
                half_w, half_h = CELL_M * rng.uniform(0.2, 0.3, 2)
                cx = x0 + (i + 0.5) * CELL_M + rng.uniform(-0.8, 0.8)
                cy = y0 + (j + 0.5) * CELL_M + rng.uniform(-0.8, 0.8)
                angle = rng.uniform(-0.44, 0.44) if rotate else rng.uniform(-0.1, 0.1)
                homes.append(rectangle(cx, cy, half_w, half_h, angle))
    ids = np.arange(n_blocks)
    block_frame = gpd.GeoDataFrame(
        {"block_id": ids, "area_ha": shapely.area(blocks) / 1e4},
        geometry=blocks,
        index=pd.Index(ids, name="block_id"),
        crs=CRS,
    )
    buildings = gpd.GeoDataFrame(geometry=homes, crs=CRS)
    return block_frame, buildings, pd.Series(k, index=block_frame.index, name="k")


def prclz_style_k(
    parcel_frame: gpd.GeoDataFrame,
    blocks: gpd.GeoDataFrame,
    *,
    tolerance_m: float = FRONTAGE_TOLERANCE_M,
) -> pd.Series:
    """``k`` per block, peeled as prclz does it: a Python loop per block and per layer.

    Per block: the frontier is the boundary of what is left of the block (the block minus the
    parcels peeled so far), widened by the contact tolerance; every remaining parcel is tested
    against it with shapely ``intersects``; those touching form the next layer and are cut
    out of the block. ``k`` is the number of layers.
    """
    by_block: dict[int, list[shapely.Geometry]] = {}
    for bid, geom in zip(parcel_frame["block_id"], parcel_frame.geometry, strict=True):
        by_block.setdefault(int(bid), []).append(geom)
    out = {}
    for bid, block in zip(blocks["block_id"], blocks.geometry, strict=True):
        left = by_block.get(int(bid), [])
        remaining = block
        k = 0
        while left:
            frontier = remaining.boundary.buffer(tolerance_m)
            layer, rest = [], []
            for cell in left:
                (layer if cell.intersects(frontier) else rest).append(cell)
            if not layer:
                break
            k += 1
            remaining = remaining.difference(shapely.union_all(layer))
            left = rest
        out[int(bid)] = k
    return pd.Series(out, name="k").rename_axis("block_id")


def case_block_complexity(sizes: tuple[int, ...], rng: np.random.Generator) -> list[Row]:
    """Parcels made once (momepy) for the largest size; smaller sizes take the first blocks.

    ``k`` is checked against the construction on the blocks whose parcels tile the block
    (cell areas summing to the block area within 0.1 %). On a few blocks momepy returns
    overlapping cells -- GEOS ``voronoi_polygons`` emits self-intersecting cells for
    (near-)cocircular sites (libgeos/geos#955, locationtech/jts#1171), and libpysal's
    ``voronoi_frames`` then joins the repaired pieces to every building they touch -- so ``k``
    there is not the constructed one; ours and the peer must still agree on every block.
    """
    all_blocks, buildings, all_expected = grid_city(max(sizes), rng)
    t_parcels, all_cells = timed(lambda: parcels(buildings, all_blocks))
    assert len(all_cells) == len(buildings), "every building should get a parcel"
    area = all_cells.geometry.area.groupby(all_cells["block_id"]).sum()
    tiled = (area / all_blocks.geometry.area).between(0.999, 1.001).reindex(all_blocks.index)
    print(
        f"  block complexity: {len(all_cells):,} parcels in {max(sizes):,} blocks "
        f"(momepy parcels: {t_parcels:.1f} s), k = "
        + ", ".join(f"{v}: {c}" for v, c in all_expected.value_counts().sort_index().items())
        + f"; momepy parcels overlap in {int((~tiled).sum())} blocks"
    )
    rows = []
    for n_blocks in sorted(sizes):
        blocks = all_blocks.iloc[:n_blocks]
        cells = all_cells[all_cells["block_id"] < n_blocks]
        ours_s, ours = timed(lambda b=blocks, c=cells: block_complexity(c, b), repeat=3)
        peer_s, peer = timed(lambda b=blocks, c=cells: prclz_style_k(c, b))
        ok = tiled.iloc[:n_blocks].to_numpy()
        expected = all_expected.iloc[:n_blocks]
        assert ours.equals(peer.reindex(ours.index)), "ours and the peer differ"
        assert ours[ok].equals(expected[ok]), "k differs from the construction"
        assert ok.mean() >= 0.9, "too many blocks with overlapping momepy parcels"
        rows.append(
            Row(
                "block complexity k",
                f"{n_blocks:,} blocks / {len(cells):,} parcels",
                ours_s,
                "prclz-style loop",
                peer_s,
                f"k equal on all; = construction on {int(ok.sum())}/{n_blocks} tiled",
            )
        )
    return rows


# --- 2. urban extent ----------------------------------------------------------------------


def city_raster(side: int, rng: np.random.Generator, *, pixel_m: float) -> np.ndarray:
    """Built-up mask: smooth noise plus a radial density falloff, a 'city' of ~1/3 built."""
    noise = ndimage.gaussian_filter(rng.standard_normal((side, side)), sigma=300.0 / pixel_m)
    noise /= noise.std()
    yy, xx = np.mgrid[0:side, 0:side]
    r = np.hypot(yy - side / 2, xx - side / 2) / (side / 2)
    return (noise - 2.5 * r + 1.2 + 0.6 * rng.standard_normal((side, side))) > 0


def naive_share(built: np.ndarray, kernel: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Per-pixel windowed mean, edge-corrected: a Python loop over the ``rows × cols`` crop."""
    r = kernel.shape[0] // 2
    h, w = built.shape
    out = np.empty((rows, cols))
    for i in range(rows):
        for j in range(cols):
            i0, i1, j0, j1 = max(i - r, 0), min(i + r + 1, h), max(j - r, 0), min(j + r + 1, w)
            k = kernel[i0 - i + r : i1 - i + r, j0 - j + r : j1 - j + r]
            out[i, j] = (built[i0:i1, j0:j1] * k).sum() / k.sum()
    return out


def case_urban_extent(side: int, crop: int, rng: np.random.Generator) -> list[Row]:
    pixel_m = 30.0
    built = city_raster(side, rng, pixel_m=pixel_m)
    kernel = circular_kernel(WALKING_CIRCLE_RADIUS_M, pixel_m)
    r = kernel.shape[0] // 2
    size = f"{side}² × 30 m, {kernel.shape[0]}² disk"

    ours_s, ours = timed(lambda: urbanness(built, pixel_m))
    ext_s, ext = timed(lambda: urban_extent(built, pixel_m))
    assert np.array_equal(ext.share, ours)

    def direct() -> np.ndarray:
        return ndimage.convolve(built.astype(np.float64), kernel / kernel.sum(), mode="constant")

    nd_s, nd = timed(direct)
    inner = (slice(r, side - r), slice(r, side - r))
    nd_err = float(np.max(np.abs(nd[inner] - ours[inner])))
    assert nd_err <= 1e-9, nd_err

    def fft() -> np.ndarray:
        count = signal.fftconvolve(built.astype(np.float64), kernel, mode="same")
        valid = signal.fftconvolve(np.ones(built.shape), kernel, mode="same")
        return np.rint(count) / np.rint(valid)

    fft_s, ff = timed(fft)
    fft_err = float(np.max(np.abs(ff - ours)))
    assert fft_err <= 1e-9, fft_err

    naive_s, nv = timed(lambda: naive_share(built, kernel, crop, crop))
    naive_err = float(np.max(np.abs(nv - ours[:crop, :crop])))
    assert naive_err <= 1e-9, naive_err
    naive_scaled = naive_s * built.size / (crop * crop)
    print(
        f"  urban extent {side}²: built {built.mean():.0%}, areas (ha) "
        + ", ".join(f"{k} {v:,.0f}" for k, v in ext.areas.items())
    )
    return [
        Row(
            "urbanness",
            size,
            ours_s,
            "ndimage.convolve ×1",
            nd_s,
            f"max |Δ| {nd_err:.0e} (interior)",
        ),
        Row("urbanness", size, ours_s, "signal.fftconvolve", fft_s, f"max |Δ| {fft_err:.0e}"),
        Row(
            "urbanness",
            size,
            ours_s,
            f"naive loop {crop}² crop→all",
            naive_scaled,
            f"max |Δ| {naive_err:.0e} (crop)",
        ),
        Row("urban_extent (all)", size, ext_s, "-", math.nan, "-"),
    ]


# --- 3. growth types ----------------------------------------------------------------------


def two_epochs(side: int, rng: np.random.Generator, *, pixel_m: float) -> tuple[Any, Any]:
    """Old and new built-up: the city grows outwards, fills holes and sprouts small leapfrogs."""
    noise = ndimage.gaussian_filter(rng.standard_normal((side, side)), sigma=200.0 / pixel_m)
    noise /= noise.std()
    yy, xx = np.mgrid[0:side, 0:side]
    r = np.hypot(yy - side / 2, xx - side / 2) / (side / 2)
    field = noise - 3.0 * r + 0.15 * rng.standard_normal((side, side))
    before = field > 0.3
    after = field > -0.2
    seeds = rng.random((side, side)) < 0.0015 * r  # scattered leapfrog seeds, denser outside
    after |= ndimage.binary_dilation(seeds, iterations=1)
    return before, after


def gosturban_lei(
    before: np.ndarray, after: np.ndarray, transform: Affine, *, buffer_dist: float
) -> list[tuple[shapely.Geometry, int, int]]:
    """GOSTurban ``calculate_LEI``: one shapely buffer and one rasterisation per new patch."""
    new_r = (after & ~before).astype("int")
    old_r = before.astype("int")
    all_vals = []
    for geom, value in rasterio.features.shapes(new_r.astype("uint8"), transform=transform):
        if value == 1:
            cur_shape = shapely.geometry.shape(geom)
            donut = cur_shape.buffer(buffer_dist).difference(cur_shape)
            burned = rasterio.features.rasterize(
                [(donut, 1)], fill=0, out_shape=old_r.shape, transform=transform
            )
            all_vals.append((cur_shape, int((old_r * burned).sum()), int(burned.sum())))
    return all_vals


def summarize_classes(
    vals: list[tuple[shapely.Geometry, int, int]],
    shape: tuple[int, int],
    transform: Affine,
    *,
    leap_val: float = 0.05,
    exp_val: float = 0.9,
) -> np.ndarray:
    """GOSTurban ``summarize_LEI`` thresholds, burnt back to a class raster (not timed)."""
    pairs = []
    for geom, old, total in vals:
        lei = old / total
        cls = LEAPFROG if lei <= leap_val else EXTENSION if lei < exp_val else INFILL
        pairs.append((geom, cls))
    return rasterio.features.rasterize(
        pairs, fill=0, out_shape=shape, transform=transform, dtype="uint8"
    )


def case_growth_types(side: int, rng: np.random.Generator) -> list[Row]:
    pixel_m, buffer_m = 30.0, 300.0
    before, after = two_epochs(side, rng, pixel_m=pixel_m)
    transform = Affine(pixel_m, 0.0, 0.0, 0.0, -pixel_m, side * pixel_m)
    ours_s, (ours, areas) = timed(
        lambda: growth_types(before, after, pixel_m, buffer_m=buffer_m), repeat=3
    )
    peer_s, vals = timed(lambda: gosturban_lei(before, after, transform, buffer_dist=buffer_m))
    theirs = summarize_classes(vals, before.shape, transform)
    new = after & ~before
    assert np.array_equal(theirs > 0, new), "GOSTurban patches should cover the new pixels"
    agree = float((ours[new] == theirs[new]).mean())
    n8 = ndimage.label(new, structure=np.ones((3, 3), bool))[1]
    print(
        f"  growth types {side}²: {int(new.sum()):,} new pixels, {n8:,} patches (8-conn., ours)"
        f" / {len(vals):,} (4-conn., GOSTurban); ours (ha) "
        + ", ".join(f"{k} {v:,.0f}" for k, v in areas.items())
    )
    for code, name in ((INFILL, "infill"), (EXTENSION, "extension"), (LEAPFROG, "leapfrog")):
        ours_c, theirs_c = ours[new] == code, theirs[new] == code
        print(
            f"    {name:<9s} pixels: ours {int(ours_c.sum()):>7,}  "
            f"GOSTurban {int(theirs_c.sum()):>7,}  both {int((ours_c & theirs_c).sum()):>7,}"
        )
    assert agree >= 0.85, agree
    return [
        Row(
            "growth types (LEI)",
            f"{side}² × 30 m, {len(vals):,} patches",
            ours_s,
            "GOSTurban per patch",
            peer_s,
            f"{agree:.1%} of new pixels same class",
        )
    ]


# --- 4. tessellation ----------------------------------------------------------------------


def mixed_city(
    n_buildings: int, rng: np.random.Generator
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Blocks of random size holding buildings of mixed size, shape and orientation.

    Buildings sit in jittered 16 m cells (one per cell, about 70 % of cells used): rotated
    rectangles of 4-13 m sides, one in six long (up to 2.5 : 1), kept inside their cell.
    """
    cell = 16.0
    homes, blocks = [], []
    x0, y0 = X0, Y0
    row_h = 0.0
    while len(homes) < n_buildings:
        nx_, ny_ = int(rng.integers(2, 9)), int(rng.integers(2, 9))
        w, h = nx_ * cell, ny_ * cell
        if x0 > X0 + 3000:
            x0, y0, row_h = X0, y0 + row_h + STREET_M, 0.0
        blocks.append(shapely.box(x0, y0, x0 + w, y0 + h))
        for i in range(nx_):
            for j in range(ny_):
                if rng.random() > 0.7:
                    continue
                a = rng.uniform(2.0, 6.5)
                b = a * (rng.uniform(1.5, 2.5) if rng.random() < 1 / 6 else rng.uniform(0.6, 1.0))
                b = min(b, 7.2)
                angle = rng.uniform(0, math.pi)
                c = np.array([[-a, -b], [a, -b], [a, b], [-a, b]])
                rot = np.array(
                    [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
                )
                poly = c @ rot.T
                span = np.abs(poly).max(axis=0)
                room = cell / 2 - 0.8
                poly *= min(1.0, room / span.max())
                free = np.maximum(room - np.abs(poly).max(axis=0), 0.0)
                cx = x0 + (i + 0.5) * cell + rng.uniform(-free[0], free[0])
                cy = y0 + (j + 0.5) * cell + rng.uniform(-free[1], free[1])
                homes.append(shapely.Polygon(poly + np.array([cx, cy])))
        x0 += w + STREET_M
        row_h = max(row_h, h)
    ids = np.arange(len(blocks))
    block_frame = gpd.GeoDataFrame(
        {"block_id": ids, "area_ha": shapely.area(blocks) / 1e4},
        geometry=blocks,
        index=pd.Index(ids, name="block_id"),
        crs=CRS,
    )
    return block_frame, gpd.GeoDataFrame(geometry=homes, crs=CRS)


def voronoi_parcels(buildings: gpd.GeoDataFrame, blocks: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Voronoi cells of building centroids, one diagram per block, clipped to the block."""
    geoms = np.asarray(buildings.geometry.array, dtype=object)
    pts = shapely.centroid(geoms)
    block_geoms = np.asarray(blocks.geometry.array, dtype=object)
    tree = shapely.STRtree(block_geoms)
    pt_idx, blk_idx = tree.query(pts, predicate="within")
    order = np.argsort(blk_idx, kind="stable")
    pt_idx, blk_idx = pt_idx[order], blk_idx[order]
    starts = np.flatnonzero(np.r_[True, np.diff(blk_idx) > 0])
    ends = np.r_[starts[1:], len(blk_idx)]
    cells = np.empty(len(pt_idx), dtype=object)
    for s, e in zip(starts, ends, strict=True):
        block = block_geoms[blk_idx[s]]
        if e - s == 1:
            cells[s] = block
            continue
        diagram = shapely.voronoi_polygons(
            shapely.multipoints(pts[pt_idx[s:e]]), extend_to=block, ordered=True
        )
        cells[s:e] = shapely.intersection(shapely.get_parts(diagram), block)
    return gpd.GeoDataFrame(
        {"block_id": blocks["block_id"].to_numpy()[blk_idx]},
        geometry=cells,
        index=buildings.index[pt_idx],
        crs=blocks.crs,
    ).sort_index()


def case_tessellation(n_buildings: int, rng: np.random.Generator) -> list[Row]:
    blocks, buildings = mixed_city(n_buildings, rng)
    n = len(buildings)
    ours_s, ours = timed(lambda: parcels(buildings, blocks))
    peer_s, peer = timed(lambda: voronoi_parcels(buildings, blocks))
    assert len(ours) == n and len(peer) == n
    foot = np.asarray(buildings.geometry.array, dtype=object)
    # footprint inside its own cell (up to 1 cm² of the footprint outside)
    inside_ours = shapely.area(shapely.difference(foot, ours.geometry.loc[buildings.index])) < 1e-2
    inside_peer = shapely.area(shapely.difference(foot, peer.geometry.loc[buildings.index])) < 1e-2
    k_ours = block_complexity(ours, blocks)
    k_peer = block_complexity(peer, blocks)
    k_same = float((k_ours == k_peer).mean())
    per10k = 10_000 / n
    print(
        f"  tessellation: {n:,} buildings in {len(blocks):,} blocks; footprint inside own cell: "
        f"momepy {inside_ours.mean():.1%}, Voronoi {inside_peer.mean():.1%}; "
        f"k equal in {k_same:.1%} of blocks (max k {int(k_ours.max())})"
    )
    return [
        Row(
            "tessellation /10k bldg",
            f"{n:,} buildings",
            ours_s * per10k,
            "centroid Voronoi",
            peer_s * per10k,
            f"in own cell {inside_ours.mean():.0%} vs {inside_peer.mean():.0%}; "
            f"k same {k_same:.0%}",
        )
    ]


# --- main -------------------------------------------------------------------------------


def print_table(rows: list[Row]) -> None:
    head = (
        f"{'case':<22s} {'size':<34s} {'ours (s)':>9s}  {'peer':<27s} {'peer (s)':>9s} "
        f"{'ratio':>7s}  agreement"
    )
    print("\n" + head)
    print("-" * len(head))
    for r in rows:
        x = r.peer_s / r.ours_s
        ratio = "-" if math.isnan(x) else f"{x:.1f}×" if x >= 10 else f"{x:.2f}×"
        peer_s = f"{r.peer_s:9.3f}" if not math.isnan(r.peer_s) else f"{'-':>9s}"
        print(
            f"{r.case:<22s} {r.size:<34s} {r.ours_s:9.3f}  {r.peer:<27s} {peer_s} "
            f"{ratio:>7s}  {r.agreement}"
        )
    print("ratio = peer / ours (> 1: ours faster)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a few seconds)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    # momepy.enclosed_tessellation concatenates frames with and without a CRS (momepy 0.11)
    warnings.filterwarnings("ignore", "CRS not set for some of the concatenation inputs")
    if args.quick:
        k_blocks, sides, crop, lei_side, n_tess = (14,), (200,), 20, 150, 150
    else:
        k_blocks, sides, crop, lei_side, n_tess = (200, 1000), (1000, 3000), 60, 1000, 10_000
    t0 = time.perf_counter()
    rows: list[Row] = []
    rows += case_block_complexity(k_blocks, rng)
    for side in sides:
        rows += case_urban_extent(side, crop, rng)
    rows += case_growth_types(lei_side, rng)
    rows += case_tessellation(n_tess, rng)
    print_table(rows)
    print(f"total wall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
