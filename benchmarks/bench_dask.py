"""Benchmark: access, flood hazard and the indicator roll-up of 10,000,000 footprints on Dask.

Not a test: ``python benchmarks/bench_dask.py [--n 10000000] [--workers 2] [--compare 1000000]
[--partition-size 250000] [--scheduler tcp://host:8786]``.

Generated data, built **inside the partitions** (the driver never holds the footprints):

- footprints: one per 10 m grid cell, axis-aligned rectangles of 3-8 m sides jittered in their
  cell, EPSG:32737; partition ``p`` is a square tile of ``--partition-size`` cells (500 × 500 =
  5 km × 5 km by default) generated from seed ``(seed, p)``; tiles fill a square region
  (10M: 7 × 6 tiles, 35 km × 30 km). Each footprint is one household of 1-9 people, in one of
  two rounds, in the settlement of its 1 km block (about 1,000 settlements);
- services: 1,000 each of water points (10 % broken), toilets, transit stops and open spaces,
  uniform over the region, built in the driver and broadcast;
- flood depth: a GeoTIFF of 5 m cells over the region (a smooth surface with noise, tiled and
  deflate-compressed), written once to ``benchmarks/out/`` and read by window in each partition.

The run (:mod:`profiling.partitioned` on a ``distributed.LocalCluster`` of ``--workers``
processes, one thread each, as ``geo-service analyse --engine dask`` starts it): straight-line
distance to the nearest service of each type (``access_table`` per partition), the worst flood
class under each footprint (``structure_hazard_class``, exact cell coverage), then 7 indicators
(people, households, people in high hazard, the four access shares) rolled up for the city,
per settlement, per hazard class and per settlement × hazard class, as partition sums reduced
in a tree. Printed: wall time, throughput, peak resident memory of each worker process
(``VmHWM``) and of the driver, and the machine's load average (other work on the machine skews
the times).

With ``--compare N`` (default 1,000,000) ``N`` footprints generated the same way run through the
single-machine path in this process (footprints concatenated in memory, then ``access_table``,
``structure_hazard_class``, ``indicator_table``) and again on a fresh Dask cluster; the two
tables are checked equal and the time ratio printed. ``--scheduler`` runs on an existing
cluster instead (every worker must reach the raster path: use a shared file system).
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from affine import Affine
from distributed import Client

from geo_service.analyse import local_cluster
from profiling.access import access_table
from profiling.hazard import structure_hazard_class
from profiling.indicators import DEFAULT_REGISTRY, Registry, indicator_table
from profiling.partitioned import (
    partitioned_access,
    partitioned_hazard_class,
    partitioned_indicator_table,
)

OUT = Path(__file__).resolve().parent / "out"
CRS = "EPSG:32737"
X0, Y0 = 200_000.0, 9_900_000.0  # top-left corner of the region
SPACING_M = 10.0  # one footprint per 10 m cell
CELL_M = 5.0  # raster resolution
NODATA = -9999.0
SERVICE_TYPES = ("water_point", "toilet", "transit_stop", "open_space")
ACCESS_COLUMNS = tuple(f"{kind}_m" for kind in SERVICE_TYPES)
REGISTRY = Registry(
    [
        DEFAULT_REGISTRY.get(i)
        for i in (
            "people_count",
            "households_count",
            "people_in_hazard_class",
            *(f"access_{kind}_within" for kind in SERVICE_TYPES),
        )
    ]
)
GROUPINGS = ((), ("settlement_id",), ("hazard_class",), ("settlement_id", "hazard_class"))
ROUNDS = np.array(["2024-01-15", "2025-01-15"], dtype=object)


class Layout:
    """Square tiles of ``side × side`` footprints, one tile per partition, in a square region."""

    def __init__(self, n: int, partition_size: int) -> None:
        self.n = n
        self.side = max(1, math.isqrt(partition_size))
        per_tile = self.side * self.side
        self.tiles = math.ceil(n / per_tile)
        self.tile_cols = math.ceil(math.sqrt(self.tiles))
        self.tile_rows = math.ceil(self.tiles / self.tile_cols)
        self.per_tile = per_tile
        self.width_m = self.tile_cols * self.side * SPACING_M
        self.height_m = self.tile_rows * self.side * SPACING_M

    def count(self, p: int) -> int:
        return min(self.per_tile, self.n - p * self.per_tile)


def footprints(p: int, layout: Layout, seed: int) -> gpd.GeoDataFrame:
    """The footprints of tile ``p`` (deterministic: seed ``(seed, p)``)."""
    m = layout.count(p)
    rng = np.random.default_rng([seed, p])
    k = np.arange(m)
    row = (p // layout.tile_cols) * layout.side + k // layout.side
    col = (p % layout.tile_cols) * layout.side + k % layout.side
    cx = X0 + col * SPACING_M + rng.uniform(4, 6, m)
    cy = Y0 - row * SPACING_M - rng.uniform(4, 6, m)
    half_w, half_h = rng.uniform(1.5, 4, m), rng.uniform(1.5, 4, m)
    geoms = shapely.box(cx - half_w, cy - half_h, cx + half_w, cy + half_h)
    block_x = ((cx - X0) // 1000).astype(np.int64)
    block_y = ((Y0 - cy) // 1000).astype(np.int64)
    blocks = block_y * 1000 + block_x
    codes, uniques = pd.factorize(blocks)
    names = np.array([f"b{u // 1000:02d}_{u % 1000:02d}" for u in uniques], dtype=object)
    return gpd.GeoDataFrame(
        {
            "structure_id": np.char.add(f"p{p}-", k.astype(str)).astype(object),
            "settlement_id": names[codes],
            "round": ROUNDS[rng.integers(0, 2, m)],
            "household_size": pd.array(rng.integers(1, 10, m), dtype="Int64"),
            "upload_id": pd.array(np.full(m, 1 + p % 3), dtype="Int64"),
        },
        geometry=geoms,
        crs=CRS,
        index=pd.RangeIndex(p * layout.per_tile, p * layout.per_tile + m),
    )


def services(layout: Layout, seed: int, per_type: int = 1000) -> gpd.GeoDataFrame:
    rng = np.random.default_rng([seed, 10**6])
    n = per_type * len(SERVICE_TYPES)
    kinds = np.repeat(np.array(SERVICE_TYPES, dtype=object), per_type)
    working = pd.array(~((kinds == "water_point") & (rng.random(n) < 0.1)), dtype="boolean")
    x = X0 + rng.uniform(0, layout.width_m, n)
    y = Y0 - rng.uniform(0, layout.height_m, n)
    return gpd.GeoDataFrame(
        {"service_id": [f"s{i}" for i in range(n)], "service_type": kinds, "functional": working},
        geometry=gpd.points_from_xy(x, y),
        crs=CRS,
    )


def flood_raster(layout: Layout, seed: int) -> Path:
    """A flood-depth GeoTIFF over the region (written once per region size)."""
    width = math.ceil(layout.width_m / CELL_M)
    height = math.ceil(layout.height_m / CELL_M)
    path = OUT / f"dask_flood_{width}x{height}_{seed}.tif"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 2])
    profile = {
        "driver": "GTiff", "width": width, "height": height, "count": 1, "dtype": "float32",
        "crs": CRS, "transform": Affine(CELL_M, 0.0, X0, 0.0, -CELL_M, Y0), "nodata": NODATA,
        "tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "deflate",
        "predictor": 3,
    }  # fmt: skip
    x = np.arange(width, dtype="float32")
    tmp = path.with_suffix(".part")
    with rasterio.open(tmp, "w", **profile) as dst:
        for r0 in range(0, height, 512):
            rows = np.arange(r0, min(r0 + 512, height), dtype="float32")[:, None]
            depth = 0.6 + 0.8 * np.sin(x / 900.0) * np.cos(rows / 1100.0)
            depth += 0.4 * np.sin(rows / 170.0) + rng.normal(0, 0.05, (len(rows), width))
            depth = np.clip(depth, 0, None).astype("float32")
            if (r0 // 512) % 9 == 4:  # a band of missing data
                depth[:, 3000:3200] = NODATA
            dst.write(depth, 1, window=rasterio.windows.Window(0, r0, width, len(rows)))
    tmp.rename(path)
    return path


def peak_rss() -> int:
    """Peak resident memory of this process (bytes): ``VmHWM`` of ``/proc/self/status``.

    Not ``ru_maxrss``: Linux keeps it across ``execve``, so a worker process spawned by the
    driver would report the driver's peak. ``VmHWM`` belongs to the process's own address
    space. Elsewhere than Linux, ``ru_maxrss`` (KiB on Linux and BSD) is the fallback.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def load() -> str:
    """The 1, 5 and 15 minute load averages of this machine."""
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.2f} GiB"


def dask_run(
    layout: Layout, seed: int, svc: gpd.GeoDataFrame, raster: Path, client: Client
) -> tuple[float, pd.DataFrame, dict[str, int]]:
    """The partitioned path on ``client``: seconds, the table, peak RSS per worker."""
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    start = time.perf_counter()
    with dask.config.set({"dataframe.convert-string": False}):
        meta = footprints(0, layout, seed).iloc[:0]
        parts = dd.from_map(footprints, range(layout.tiles), layout=layout, seed=seed, meta=meta)
        parts = partitioned_access(parts, svc, types=SERVICE_TYPES, columns=ACCESS_COLUMNS)
        parts = partitioned_hazard_class(parts, raster)
        result = partitioned_indicator_table(
            parts, registry=REGISTRY, groupings=GROUPINGS, computed_at=stamp
        )
    seconds = time.perf_counter() - start
    peaks = client.run(peak_rss)
    return seconds, result.table, peaks


def local_run(layout: Layout, seed: int, svc: gpd.GeoDataFrame, raster: Path) -> tuple[Any, ...]:
    """The single-machine path in this process: seconds per step and the table."""
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    times: dict[str, float] = {}
    t = time.perf_counter()
    units = pd.concat([footprints(p, layout, seed) for p in range(layout.tiles)])
    times["generate"] = time.perf_counter() - t
    t = time.perf_counter()
    access = access_table(units, svc, types=SERVICE_TYPES)
    units = units.assign(**{c: access[c] for c in ACCESS_COLUMNS})
    times["access"] = time.perf_counter() - t
    t = time.perf_counter()
    units["hazard_class"] = structure_hazard_class(units, raster)
    times["hazard"] = time.perf_counter() - t
    t = time.perf_counter()
    plain = pd.DataFrame(units.drop(columns="geometry"))
    table = indicator_table(plain, registry=REGISTRY, groupings=GROUPINGS, computed_at=stamp).table
    times["roll-up"] = time.perf_counter() - t
    return times, table


def run_on_cluster(args: argparse.Namespace, n: int, svc_layout: Layout) -> tuple[Any, ...]:
    layout = Layout(n, args.partition_size)
    svc = services(svc_layout, args.seed)
    raster = flood_raster(svc_layout, args.seed)
    if args.scheduler:
        with Client(args.scheduler) as client:
            workers = len(client.scheduler_info()["workers"])
            return (*dask_run(layout, args.seed, svc, raster, client), workers, layout)
    with local_cluster(args.workers) as cluster, Client(cluster) as client:
        return (*dask_run(layout, args.seed, svc, raster, client), args.workers, layout)


def report(label: str, n: int, result: tuple[Any, ...]) -> float:
    seconds, table, peaks, workers, layout = result
    print(
        f"{label}: {n:,} footprints in {layout.tiles} partitions on {workers} worker(s): "
        f"{seconds:.1f} s, {n / seconds:,.0f} footprints/s, {len(table):,} indicator rows"
    )
    for address, peak in sorted(peaks.items()):
        print(f"  peak memory of worker {address}: {gib(peak)}")
    return float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000, help="footprints")
    parser.add_argument("--workers", type=int, default=2, help="local cluster processes")
    parser.add_argument("--partition-size", type=int, default=250_000)
    parser.add_argument("--compare", type=int, default=1_000_000, help="0: no comparison")
    parser.add_argument("--scheduler", default=None, help="address of an existing cluster")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    region = Layout(args.n, args.partition_size)  # the services and raster cover it
    print(f"load average before: {load()} ({os.cpu_count()} cores: other work skews the times)")
    t = time.perf_counter()
    raster = flood_raster(region, args.seed)
    print(
        f"region {region.width_m / 1000:.1f} km x {region.height_m / 1000:.1f} km, "
        f"{len(SERVICE_TYPES)} x 1,000 services, flood raster "
        f"{raster.stat().st_size / 1e6:.0f} MB ready in {time.perf_counter() - t:.1f} s"
    )
    big = run_on_cluster(args, args.n, region)
    report("dask", args.n, big)
    print(f"  driver peak memory: {gib(peak_rss())}; load average: {load()}")
    if not args.compare:
        return
    n = min(args.compare, args.n)
    times, local_table = local_run(Layout(n, args.partition_size), args.seed,
                                   services(region, args.seed), raster)  # fmt: skip
    local_seconds = sum(times.values())
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in times.items())
    print(
        f"single machine: {n:,} footprints in this process: {local_seconds:.1f} s "
        f"({steps}), {n / local_seconds:,.0f} footprints/s; driver peak memory "
        f"{gib(peak_rss())}"
    )
    small = run_on_cluster(args, n, region)
    dask_seconds = report("dask", n, small)
    pd.testing.assert_frame_equal(small[1], local_table, check_exact=True)
    print(
        f"same table ({len(local_table):,} rows); single machine / dask: "
        f"{local_seconds / dask_seconds:.2f}x; load average: {load()}"
    )


if __name__ == "__main__":
    main()
