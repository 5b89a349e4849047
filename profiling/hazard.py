"""Hazard exposure: raster hazards sampled per point and summarised per polygon, vector hazard
zones measured per structure / settlement, hazard classes, exposure tables and the
"hazardous location" flag that the durable-housing deprivation uses.

Every function is pure: a GeoDataFrame / GeoSeries (and an open raster) in, a Series or
DataFrame indexed like the input out; the input is never modified.

Rasters
    A raster is a :class:`rasterio.io.DatasetReader` (an open GeoTIFF, or a
    :class:`rasterio.io.MemoryFile` dataset built from stored bytes) or a path to one. Vectors
    are reprojected to the raster's CRS, never the raster to the vectors (no resampling, so
    cell values and cell coverage stay exact). Nodata cells (the band's nodata value, its
    mask, or NaN) are excluded from every statistic.

Exact coverage
    Zonal statistics weight each cell by the exact fraction of it covered by the polygon
    (exactextract, Baston 2022), rather than counting the cells whose centre falls inside
    (rasterstats' default), which is badly biased for structures of a few cells.

Vector hazards
    Areas and distances are planar in the metric CRS of the structures (or settlements); hazard
    zones are reprojected to it and unioned first, so overlapping zones are not counted twice.

References
----------
- InaSAFE flood hazard classes (depth): low 0.1-0.7 m, medium 0.7-1.5 m, high > 1.5 m.
  InaSAFE 4 documentation, "Hazard classifications", https://docs.inasafe.org
- D. Baston, exactextract: fast and accurate raster zonal statistics,
  https://github.com/isciences/exactextract
- UN-Habitat, SDG 11.1.1 metadata: durable housing includes "a non-hazardous location".
"""

from __future__ import annotations

import multiprocessing
import os
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import rasterio
import shapely
from affine import Affine
from exactextract import exact_extract
from exactextract.feature import Feature, FeatureSource
from exactextract.operation import Operation
from exactextract.raster import NumPyRasterSource
from exactextract.writer import Writer
from rasterio.enums import MaskFlags
from rasterio.io import DatasetReader
from rasterio.windows import Window

from profiling.crs import require_metric
from profiling.errors import MissingCRS

__all__ = [
    "HazardClasses",
    "RasterLike",
    "distance_to_hazard",
    "exposure_table",
    "hazardous_location",
    "sample_raster",
    "share_inside",
    "structure_hazard_class",
    "zonal_stats",
]

RasterLike: TypeAlias = DatasetReader | str | os.PathLike[str]
"""An open rasterio dataset or a path to a raster file."""

Geoms: TypeAlias = gpd.GeoDataFrame | gpd.GeoSeries

_STATS = ("mean", "max", "min", "sum", "count")
_TILE = 4096  # cells per side of a read window in zonal_stats (bounded memory)


# ---------------------------------------------------------------------------------------------
# adapters at the edge


class _Raster:
    """An open dataset plus whether we opened it (and must close it)."""

    def __init__(self, raster: RasterLike) -> None:
        if isinstance(raster, DatasetReader):
            self.ds, self.owned = raster, False
        elif isinstance(raster, str | os.PathLike):
            self.ds, self.owned = rasterio.open(raster), True
        else:
            raise TypeError(
                f"raster must be a rasterio DatasetReader or a path, not {type(raster).__name__}"
            )
        if self.ds.crs is None:
            raise MissingCRS("the raster has no CRS: cannot place vectors on it")

    def __enter__(self) -> DatasetReader:
        return self.ds

    def __exit__(self, *exc: object) -> None:
        if self.owned:
            self.ds.close()


def _geoseries(frame: Geoms) -> gpd.GeoSeries:
    geoms = frame.geometry if isinstance(frame, gpd.GeoDataFrame) else frame
    if geoms.crs is None:
        raise MissingCRS("the layer has no CRS: set it (e.g. set_crs(4326)) before analysis")
    return geoms


def _to_raster_crs(frame: Geoms, ds: DatasetReader) -> gpd.GeoSeries:
    geoms = _geoseries(frame)
    target = pyproj.CRS.from_user_input(ds.crs.to_wkt())
    return geoms if pyproj.CRS(geoms.crs) == target else geoms.to_crs(target)


def _read(ds: DatasetReader, band: int, window: Window) -> np.ndarray:
    """Read ``window`` of ``band`` as floats, NaN where there is no data.

    No data: the band's nodata value, cells outside a per-dataset / alpha mask, and NaN.
    Float rasters keep their precision (no copy to float64); integer rasters become float64.
    """
    arr = ds.read(band, window=window)
    if arr.dtype.kind != "f":
        arr = arr.astype("float64")
    nodata = ds.nodatavals[band - 1]
    if nodata is not None and not np.isnan(nodata):
        arr[arr == nodata] = np.nan
    flags = ds.mask_flag_enums[band - 1]
    if MaskFlags.per_dataset in flags or MaskFlags.alpha in flags:
        arr[ds.read_masks(band, window=window) == 0] = np.nan
    return arr


def _cell_window(ds: DatasetReader, bounds: np.ndarray) -> Window | None:
    """The window of cells touched by ``bounds`` (xmin, ymin, xmax, ymax), clipped, or None."""
    inv = ~ds.transform
    xs = np.array([bounds[0], bounds[2], bounds[0], bounds[2]])
    ys = np.array([bounds[1], bounds[1], bounds[3], bounds[3]])
    cols, rows = _apply(inv, xs, ys)
    c0 = max(int(np.floor(np.min(cols))), 0)
    r0 = max(int(np.floor(np.min(rows))), 0)
    c1 = min(int(np.floor(np.max(cols))) + 1, ds.width)
    r1 = min(int(np.floor(np.max(rows))) + 1, ds.height)
    if c1 <= c0 or r1 <= r0:
        return None
    return Window(c0, r0, c1 - c0, r1 - r0)


def _apply(t: Affine, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply an affine transform to coordinate arrays (no deprecated ``*`` on tuples)."""
    return t.a * xs + t.b * ys + t.c, t.d * xs + t.e * ys + t.f


def _is_rectilinear(transform: Affine) -> bool:
    return transform.b == 0 and transform.d == 0 and transform.a > 0 and transform.e < 0


class _Feature(Feature):
    """A WKB feature with its row number (cheaper than GeoJSON round trips)."""

    def __init__(self, row: int, wkb: bytes) -> None:
        Feature.__init__(self)
        self.row = row
        self.wkb = wkb
        self.out: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        return self.row if name == "_row" else self.out[name]

    def set(self, name: str, value: Any) -> None:
        self.out[name] = value

    def geometry(self) -> bytes:
        return self.wkb

    def set_geometry(self, wkb: bytes | None) -> None:
        self.wkb = wkb or b""

    def set_geometry_format(self) -> str:
        return "wkb"

    def fields(self) -> list[str]:
        return ["_row", *self.out]


class _Features(FeatureSource):
    def __init__(self, rows: np.ndarray, wkbs: np.ndarray, srs_wkt: str) -> None:
        super().__init__()
        self.rows, self.wkbs, self.wkt = rows, wkbs, srs_wkt

    def count(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[_Feature]:
        for row, wkb in zip(self.rows.tolist(), self.wkbs.tolist(), strict=True):
            yield _Feature(row, wkb)

    def srs_wkt(self) -> str:
        return self.wkt


class _Collect(Writer):
    """Collects ``_row`` and the operation results straight into lists (no GeoJSON copies)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.names = names
        self.rows: list[int] = []
        self.values: list[list[float]] = []

    def add_operation(self, op: Any) -> None:
        pass

    def add_column(self, col_name: str) -> None:
        pass

    def add_geometry(self) -> None:
        pass

    def write(self, feature: Any) -> None:
        sink = _Feature(-1, b"")
        feature.copy_to(sink)
        out = sink.out
        self.rows.append(int(out["_row"]))
        self.values.append([_float(out.get(n)) for n in self.names])

    def features(self) -> None:
        return None

    def frame(self) -> pd.DataFrame:
        data = np.array(self.values, dtype="float64").reshape(len(self.rows), len(self.names))
        out = pd.DataFrame(data, columns=self.names)
        out.insert(0, "_row", np.array(self.rows, dtype="int64"))
        return out


def _float(value: Any) -> float:
    return np.nan if value is None else float(value)


def _extract_block(
    block: np.ndarray,
    ext: tuple[float, float, float, float],
    wkt: str,
    rows: np.ndarray,
    wkbs: np.ndarray,
    ops: tuple[str, ...],
    threshold: float | None,
    min_coverage: float,
) -> pd.DataFrame:
    """exactextract over one in-memory window (module level so worker processes can run it)."""
    src = NumPyRasterSource(block, *ext, nodata=np.nan, name="v", srs_wkt=wkt)
    extreme = {"min_coverage_frac": min_coverage}
    operations = [
        Operation(op, op, src, options=extreme if op in {"max", "min"} else None) for op in ops
    ]
    if threshold is not None:
        above = np.where(np.isnan(block), np.nan, block >= threshold).astype(block.dtype)
        src_a = NumPyRasterSource(above, *ext, nodata=np.nan, name="a", srs_wkt=wkt)
        operations.append(Operation("sum", "above", src_a))
    writer = _Collect([op.name for op in operations])
    feats = _Features(rows, wkbs, wkt)
    exact_extract(None, feats, operations, include_cols=["_row"], output=writer)
    return writer.frame()


def _extract_window(
    path: str,
    band: int,
    window: Window,
    t: Affine,
    wkt: str,
    rows: np.ndarray,
    wkbs: np.ndarray,
    ops: tuple[str, ...],
    threshold: float | None,
    min_coverage: float,
) -> pd.DataFrame:
    """Worker: read one window of the raster file, then :func:`_extract_block`."""
    with rasterio.open(path) as ds:
        block = _read(ds, band, window)
    x0, y1 = t.c + t.a * window.col_off, t.f + t.e * window.row_off
    x1 = t.c + t.a * (window.col_off + window.width)
    y0 = t.f + t.e * (window.row_off + window.height)
    ext = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    return _extract_block(block, ext, wkt, rows, wkbs, ops, threshold, min_coverage)


def _pool(n_jobs: int) -> ProcessPoolExecutor:
    """Worker processes forked from a clean, single-threaded server (``forkserver``) that has
    imported this module once: later pools start in milliseconds, and no lock held by a
    thread of the caller (a web server's pool, our reader thread) is inherited."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["profiling.hazard"])
    return ProcessPoolExecutor(n_jobs, mp_context=ctx)


# ---------------------------------------------------------------------------------------------
# raster hazards


def sample_raster(points: Geoms, raster: RasterLike, *, band: int = 1) -> pd.Series:
    """Raster value under each point.

    The points are reprojected to the raster's CRS; the value is that of the cell containing
    the point, ``v = B[row, col]`` with ``(col, row) = floor(~T · (x, y))`` for the raster's
    affine transform ``T`` (a point on a cell edge takes the cell to its right / below, as
    GDAL does). Points outside the raster, on nodata cells, empty or missing geometries give
    NaN. One read of the window that holds all the points.

    Parameters
    ----------
    points : GeoDataFrame or GeoSeries
        Point geometries (households, structure points), any CRS. Non-point geometries are
        sampled at their representative point, with a warning.
    raster : rasterio DatasetReader or path
    band : int, keyword-only
        1-based band index.

    Returns
    -------
    Series
        float64, in the raster's units, indexed like ``points``, named ``"hazard_value"``.

    Examples
    --------
    >>> import numpy as np, shapely
    >>> from affine import Affine
    >>> from rasterio.io import MemoryFile
    >>> mem = MemoryFile()
    >>> with mem.open(driver="GTiff", width=2, height=1, count=1, dtype="float32",
    ...               crs="EPSG:32737", transform=Affine(10, 0, 0, 0, -10, 10)) as dst:
    ...     dst.write(np.array([[0.5, 2.0]], dtype="float32"), 1)
    >>> pts = gpd.GeoSeries([shapely.Point(15, 5)], crs=32737)
    >>> sample_raster(pts, mem.open()).tolist()
    [2.0]
    """
    with _Raster(raster) as ds:
        geoms = _to_raster_crs(points, ds)
        values = np.full(len(geoms), np.nan)
        arr = geoms.to_numpy()
        valid = ~(shapely.is_missing(arr) | shapely.is_empty(arr))
        kinds = shapely.get_type_id(arr)
        not_point = valid & (kinds != 0)
        if not_point.any():
            warnings.warn(
                f"{int(not_point.sum())} non-point geometries sampled at their representative "
                "point",
                UserWarning,
                stacklevel=2,
            )
            arr = arr.copy()
            arr[not_point] = shapely.point_on_surface(arr[not_point])
        if valid.any():
            xs = shapely.get_x(arr[valid])
            ys = shapely.get_y(arr[valid])
            cols_f, rows_f = _apply(~ds.transform, xs, ys)
            cols = np.floor(cols_f).astype("int64")
            rows = np.floor(rows_f).astype("int64")
            inside = (cols >= 0) & (cols < ds.width) & (rows >= 0) & (rows < ds.height)
            if inside.any():
                c0, c1 = int(cols[inside].min()), int(cols[inside].max()) + 1
                r0, r1 = int(rows[inside].min()), int(rows[inside].max()) + 1
                block = _read(ds, band, Window(c0, r0, c1 - c0, r1 - r0))
                got = block[rows[inside] - r0, cols[inside] - c0]
                sub = np.full(len(xs), np.nan)
                sub[inside] = got
                values[valid] = sub
    return pd.Series(values, index=points.index, name="hazard_value", dtype="float64")


def zonal_stats(
    polygons: Geoms,
    raster: RasterLike,
    *,
    stats: Sequence[str] = ("mean", "max"),
    threshold: float | None = None,
    band: int = 1,
    min_coverage: float = 1e-6,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Zonal statistics of a raster over polygons, with exact cell-coverage fractions.

    Each polygon is reprojected to the raster's CRS and every cell it touches is weighted by
    the exact covered fraction ``c_i`` in (0, 1] (exactextract). Over the cells with data:

    - ``mean = Σ c_i v_i / Σ c_i`` (area-weighted mean)
    - ``max`` / ``min``: extreme value over the cells the polygon touches, ``c_i > 0`` up to a
      numerical tolerance: cells covered less than ``min_coverage`` (default 1e-6 of a cell,
      4 mm² of a 2 m cell) are ignored, so a shared edge moved by reprojection round-off
      does not pull in the neighbouring cell
    - ``sum = Σ c_i v_i``; ``count = Σ c_i`` (cells with data, in cell units)
    - ``data_fraction = Σ c_i · A_cell / A_polygon``: share of the polygon's area over cells
      with data (1 inside the raster away from nodata; less at edges / over holes)
    - with ``threshold``: ``fraction_above = Σ_{v_i ≥ t} c_i · A_cell / A_polygon``, the share
      of the polygon's *whole* area over cells whose value is at least ``t`` (nodata and
      off-raster parts count as not above; read it with ``data_fraction``).

    ``A_cell`` and ``A_polygon`` are planar in the raster's CRS. For a raster in degrees that
    is the ratio in degree² space, an excellent approximation for polygons the size of a
    settlement. Polygons with no data (outside the raster, empty, missing geometry) give NaN.

    The raster is read in windows of at most 4096 × 4096 cells around groups of nearby
    polygons, so memory stays bounded while each block is decompressed once.

    Parameters
    ----------
    polygons : GeoDataFrame or GeoSeries
        Polygon / MultiPolygon geometries (structures, settlements) in any CRS.
    raster : rasterio DatasetReader or path
    stats : sequence of {"mean", "max", "min", "sum", "count"}, keyword-only
    threshold : float, optional, keyword-only
        Adds ``fraction_above`` (value ≥ threshold, raster units).
    band : int, keyword-only
    min_coverage : float, keyword-only
        Tolerance for ``max`` / ``min`` (fraction of a cell); 0 takes every touched cell.
    n_jobs : int, keyword-only
        Worker processes for the coverage computation (exactextract holds the GIL). The default
        1 computes in this process. With more, and a raster file on disk, the windows are read
        and summarised by worker processes (``forkserver``; the first call in a process also
        starts the server, about a second).

    Returns
    -------
    DataFrame
        One row per polygon, indexed like ``polygons``: the requested ``stats`` (raster
        units; ``count`` in cells), ``data_fraction`` and, with a threshold, ``fraction_above``
        (both 0-1).

    References
    ----------
    D. Baston, exactextract, https://github.com/isciences/exactextract ("cell coverage
    fraction"); compare rasterstats, which counts cells by centre (or ``all_touched``).

    Examples
    --------
    >>> import numpy as np, shapely
    >>> from affine import Affine
    >>> from rasterio.io import MemoryFile
    >>> mem = MemoryFile()
    >>> with mem.open(driver="GTiff", width=2, height=1, count=1, dtype="float32",
    ...               crs="EPSG:32737", transform=Affine(10, 0, 0, 0, -10, 10)) as dst:
    ...     dst.write(np.array([[0.0, 1.0]], dtype="float32"), 1)
    >>> poly = gpd.GeoSeries([shapely.box(5, 0, 20, 10)], crs=32737)  # half cell + one cell
    >>> zonal_stats(poly, mem.open(), threshold=0.5).round(4).to_dict("records")
    [{'mean': 0.6667, 'max': 1.0, 'data_fraction': 1.0, 'fraction_above': 0.6667}]
    """
    unknown = [s for s in stats if s not in _STATS]
    if unknown:
        raise ValueError(f"unknown statistics {unknown}; choose from {_STATS}")
    stats = list(dict.fromkeys(stats))
    columns = [*stats, "data_fraction"] + (["fraction_above"] if threshold is not None else [])
    out = pd.DataFrame(np.nan, index=polygons.index, columns=columns, dtype="float64")
    if not len(polygons):
        return out

    with _Raster(raster) as ds:
        if not _is_rectilinear(ds.transform):
            raise ValueError("only north-up rasters are supported (no rotation); warp it first")
        geoms = _to_raster_crs(polygons, ds).to_numpy()
        ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        rows = np.flatnonzero(ok)
        if not len(rows):
            return out
        wkt = ds.crs.to_wkt()
        bounds = shapely.bounds(geoms[rows])
        cell_area = abs(ds.transform.a * ds.transform.e)
        poly_area = shapely.area(geoms)

        # group polygons by the raster tile of their first corner: one read per group
        inv = ~ds.transform
        col0, row0 = _apply(inv, bounds[:, 0], bounds[:, 3])
        tile = _TILE if n_jobs <= 1 else max(_TILE // 2, 1)  # smaller: balances the workers
        tile_row = np.floor(row0 / tile).astype("int64")
        tile_col = np.floor(col0 / tile).astype("int64")
        key = tile_row * (ds.width // tile + 2) + tile_col
        order = np.argsort(key, kind="stable")
        splits = np.flatnonzero(np.diff(key[order])) + 1
        ops = [s for s in stats if s != "count"] + ["count"]
        results: list[pd.DataFrame] = []
        jobs: list[tuple[np.ndarray, Window]] = []
        for group in np.split(order, splits):
            gb = bounds[group]
            window = _cell_window(
                ds,
                np.array([gb[:, 0].min(), gb[:, 1].min(), gb[:, 2].max(), gb[:, 3].max()]),
            )
            if window is not None:
                jobs.append((group, window))
        t = ds.transform
        pool = _pool(n_jobs) if n_jobs > 1 and len(jobs) > 1 else None
        path = ds.name if pool is not None and Path(ds.name).is_file() else None
        if pool is not None and path is not None:  # workers read their own windows too
            jobs_args = [
                (path, band, window, t, wkt, rows[group], shapely.to_wkb(geoms[rows[group]]))
                for group, window in jobs
            ]
            try:
                futures = [
                    pool.submit(_extract_window, *a, tuple(ops), threshold, float(min_coverage))
                    for a in jobs_args
                ]
                results.extend(f.result() for f in futures)
            finally:
                pool.shutdown(cancel_futures=True)
            jobs = []
            pool = None
        pending: list[Future[pd.DataFrame]] = []
        try:
            # one reader thread decompresses the next window (rasterio releases the GIL) while
            # exactextract works on the current one; only that thread touches the dataset.
            with ThreadPoolExecutor(max_workers=1) as reader:
                ahead = reader.submit(_read, ds, band, jobs[0][1]) if jobs else None
                for i, (group, window) in enumerate(jobs):
                    assert ahead is not None
                    block = ahead.result()
                    if i + 1 < len(jobs):  # at most one window read ahead: bounded memory
                        ahead = reader.submit(_read, ds, band, jobs[i + 1][1])
                    x0, y1 = t.c + t.a * window.col_off, t.f + t.e * window.row_off
                    x1 = t.c + t.a * (window.col_off + window.width)
                    y0 = t.f + t.e * (window.row_off + window.height)
                    ext = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
                    args = (
                        block,
                        ext,
                        wkt,
                        rows[group],
                        shapely.to_wkb(geoms[rows[group]]),
                        tuple(ops),
                        threshold,
                        float(min_coverage),
                    )
                    if pool is None:
                        results.append(_extract_block(*args))
                        continue
                    while len(pending) > n_jobs:  # bounded: blocks in flight ≤ n_jobs + 1
                        results.append(pending.pop(0).result())
                    pending.append(pool.submit(_extract_block, *args))
            results.extend(f.result() for f in pending)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)

    empty = pd.DataFrame({c: np.array([], "float64") for c in ["_row", *ops, "above"]})
    res = pd.concat(results, ignore_index=True) if results else empty
    at = res["_row"].to_numpy(dtype="int64")
    count = res["count"].to_numpy(dtype="float64")
    has = count > 0
    cols: dict[str, np.ndarray] = {c: out[c].to_numpy(copy=True) for c in columns}
    # every polygon with a geometry starts with no data under it (count 0, fractions 0)
    for name in ("count", "data_fraction", "fraction_above"):
        if name in cols:
            zero = np.where(poly_area[rows] > 0, 0.0, np.nan) if name != "count" else 0.0
            cols[name][rows] = zero
    for s in stats:
        cols[s][at] = count if s == "count" else np.where(has, res[s].to_numpy("float64"), np.nan)
    area_at = poly_area[at]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.clip(count * cell_area / area_at, 0.0, 1.0)
        cols["data_fraction"][at] = np.where(area_at > 0, frac, np.nan)
        if threshold is not None:
            above = np.nan_to_num(res["above"].to_numpy(dtype="float64"))
            fa = np.clip(above * cell_area / area_at, 0.0, 1.0)
            cols["fraction_above"][at] = np.where(area_at > 0, fa, np.nan)
    return pd.DataFrame(cols, index=polygons.index, columns=columns)
    return out


@dataclass(frozen=True)
class HazardClasses:
    """Ordered hazard classes from a hazard value.

    ``labels`` run from the least to the most hazardous class; ``breaks`` are the boundaries
    between consecutive classes (``len(labels) == len(breaks) + 1``).

    - ``higher_is_worse=True`` (depth, velocity): ``breaks`` ascending, each the *inclusive
      lower bound* of the next class: class ``k`` holds ``breaks[k-1] ≤ v < breaks[k]``.
    - ``higher_is_worse=False`` (terrain height, relative elevation bands): ``breaks``
      descending, each the *inclusive upper bound* of the next class: class ``k`` holds
      ``breaks[k] < v ≤ breaks[k-1]``.

    The default, :meth:`flood_depth`, is InaSAFE's flood depth classification in metres:
    none < 0.1 ≤ low < 0.7 ≤ medium < 1.5 ≤ high.

    References
    ----------
    InaSAFE 4 documentation, "Hazard classifications: flood (depth)", https://docs.inasafe.org

    Examples
    --------
    >>> HazardClasses.flood_depth().classify([0.05, 0.1, 0.7, 1.5, float("nan")]).tolist()
    ['none', 'low', 'medium', 'high', nan]
    """

    breaks: tuple[float, ...]
    labels: tuple[str, ...]
    higher_is_worse: bool = True
    name: str = field(default="hazard_class")

    def __post_init__(self) -> None:
        if len(self.labels) != len(self.breaks) + 1:
            raise ValueError("HazardClasses needs exactly one more label than breaks")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("HazardClasses labels must be distinct")
        b = np.asarray(self.breaks, dtype="float64")
        steps = np.diff(b)
        if (self.higher_is_worse and (steps <= 0).any()) or (
            not self.higher_is_worse and (steps >= 0).any()
        ):
            order = "ascending" if self.higher_is_worse else "descending"
            raise ValueError(f"breaks must be strictly {order}")

    @classmethod
    def flood_depth(cls) -> HazardClasses:
        """InaSAFE flood depth classes (m): none < 0.1 ≤ low < 0.7 ≤ medium < 1.5 ≤ high."""
        return cls(breaks=(0.1, 0.7, 1.5), labels=("none", "low", "medium", "high"))

    @property
    def dtype(self) -> pd.CategoricalDtype:
        """The ordered categorical dtype of the classes (least to most hazardous)."""
        return pd.CategoricalDtype(list(self.labels), ordered=True)

    def classify(self, values: Any) -> pd.Series:
        """Class of each value (ordered categorical; NaN stays missing).

        Returns a Series indexed like ``values`` when it is a Series, named ``self.name``.
        """
        index = values.index if isinstance(values, pd.Series) else None
        v = np.asarray(values, dtype="float64")
        b = np.asarray(self.breaks, dtype="float64")
        if self.higher_is_worse:
            codes = np.searchsorted(b, v, side="right")
        else:
            codes = np.searchsorted(-b, -v, side="right")
        codes = np.where(np.isnan(v), -1, codes)
        cat = pd.Categorical.from_codes(codes, dtype=self.dtype)
        return pd.Series(cat, index=index, name=self.name)

    def at_least(self, classes: pd.Series, label: str) -> pd.Series:
        """Boolean (nullable) Series: the class is ``label`` or more hazardous."""
        if label not in self.labels:
            raise ValueError(f"unknown class {label!r}; classes are {self.labels}")
        codes = pd.Series(classes.astype(self.dtype).cat.codes, index=classes.index)
        out = (codes >= self.labels.index(label)).astype("boolean")
        return out.mask(codes < 0, pd.NA)


def structure_hazard_class(
    structures: Geoms,
    raster: RasterLike,
    *,
    classes: HazardClasses | None = None,
    band: int = 1,
    min_coverage: float = 1e-6,
) -> pd.Series:
    """Hazard class of each structure: an indivisible structure takes the worst class it
    touches.

    For a footprint polygon the worst value over every cell it covers (any coverage > 0):
    ``max_i v_i`` when higher is worse (flood depth), ``min_i v_i`` otherwise (terrain bands);
    a point takes the value of its cell. The value is then classified with ``classes``.
    Structures over no data give a missing class.

    Parameters
    ----------
    structures : GeoDataFrame or GeoSeries
        Footprint polygons and / or points, any CRS.
    raster : rasterio DatasetReader or path
    classes : HazardClasses, keyword-only
        Defaults to :meth:`HazardClasses.flood_depth` (InaSAFE, metres).
    band : int, keyword-only
    min_coverage : float, keyword-only
        Cells covered less than this fraction are not "touched" (numerical tolerance, see
        :func:`zonal_stats`); 0 for strictly any coverage.

    Returns
    -------
    Series
        Ordered categorical, indexed like ``structures``, named ``classes.name``.

    References
    ----------
    InaSAFE 4, structure impact functions: a building is affected by the highest hazard
    class it intersects.
    """
    classes = classes or HazardClasses.flood_depth()
    geoms = _geoseries(structures)
    arr = geoms.to_numpy()
    kinds = shapely.get_type_id(arr)
    is_point = np.isin(kinds, (0, 4))  # Point, MultiPoint (sampled at the first point)
    worst = np.full(len(arr), np.nan)
    stat = "max" if classes.higher_is_worse else "min"
    with _Raster(raster) as ds:
        if is_point.any():
            pts = gpd.GeoSeries(shapely.get_geometry(arr[is_point], 0), crs=geoms.crs)
            worst[is_point] = sample_raster(pts, ds, band=band).to_numpy()
        if (~is_point).any():
            polys = gpd.GeoSeries(arr[~is_point], crs=geoms.crs)
            zs = zonal_stats(polys, ds, stats=(stat,), band=band, min_coverage=min_coverage)
            worst[~is_point] = zs[stat].to_numpy()
    return classes.classify(pd.Series(worst, index=structures.index))


# ---------------------------------------------------------------------------------------------
# vector hazards


def _zone_parts(hazard_zones: Geoms, crs: pyproj.CRS) -> np.ndarray:
    """The union of the zones, in ``crs``, as non-overlapping polygon parts."""
    zones = _geoseries(hazard_zones)
    if pyproj.CRS(zones.crs) != pyproj.CRS(crs):
        zones = zones.to_crs(crs)
    arr = zones.to_numpy()
    arr = arr[~(shapely.is_missing(arr) | shapely.is_empty(arr))]
    if not len(arr):
        return np.array([], dtype=object)
    union = shapely.union_all(shapely.make_valid(arr))
    parts = shapely.get_parts(union)
    return parts[np.isin(shapely.get_type_id(parts), (3, 6))]


def share_inside(polygons: Geoms, hazard_zones: Geoms) -> pd.Series:
    """Share of each polygon's area inside the union of the hazard zones.

    ``share = area(P ∩ ⋃ Z) / area(P)``, planar in the (metric) CRS of ``polygons``; the
    zones are reprojected to it and unioned once, so overlapping zones count once. Vectorised:
    an STRtree over the union's parts, one intersection per intersecting pair. Zero-area or
    missing polygons give NaN.

    Parameters
    ----------
    polygons : GeoDataFrame or GeoSeries
        Structures or settlements in a projected CRS in metres.
    hazard_zones : GeoDataFrame or GeoSeries
        Flood extents, erosion gullies... (``hazard_zones`` layer), any CRS.

    Returns
    -------
    Series
        float64 in [0, 1], indexed like ``polygons``, named ``"hazard_share"``.

    Raises
    ------
    profiling.crs.GeographicCRSError
        If ``polygons`` is in degrees.
    """
    geoms = _geoseries(polygons)
    require_metric(geoms, what="share_inside")
    parts = _zone_parts(hazard_zones, geoms.crs)
    arr = geoms.to_numpy()
    area = shapely.area(arr)
    inside: np.ndarray = np.zeros(len(arr))
    if len(parts):
        tree = shapely.STRtree(parts)
        src, dst = tree.query(arr, predicate="intersects")
        if len(src):
            pieces = shapely.area(shapely.intersection(arr[src], parts[dst]))
            inside = np.bincount(src, weights=pieces, minlength=len(arr))
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(area > 0, np.clip(inside / area, 0.0, 1.0), np.nan)
    return pd.Series(share, index=polygons.index, name="hazard_share", dtype="float64")


def distance_to_hazard(geoms: Geoms, hazard_zones: Geoms) -> pd.Series:
    """Distance (m) from each geometry to the nearest hazard zone; 0 when inside or touching.

    Planar Euclidean distance in the metric CRS of ``geoms`` (zones reprojected to it), from an
    STRtree nearest query. NaN for missing geometries, or when there are no zones.

    Parameters
    ----------
    geoms : GeoDataFrame or GeoSeries
        Households, structures or settlements in a projected CRS in metres.
    hazard_zones : GeoDataFrame or GeoSeries

    Returns
    -------
    Series
        float64 metres, indexed like ``geoms``, named ``"distance_to_hazard_m"``.
    """
    g = _geoseries(geoms)
    require_metric(g, what="distance_to_hazard")
    parts = _zone_parts(hazard_zones, g.crs)
    arr = g.to_numpy()
    dist = np.full(len(arr), np.nan)
    ok = ~(shapely.is_missing(arr) | shapely.is_empty(arr))
    if len(parts) and ok.any():
        tree = shapely.STRtree(parts)
        (src, _dst), d = tree.query_nearest(arr[ok], return_distance=True, all_matches=False)
        sub = np.full(int(ok.sum()), np.nan)
        sub[src] = d
        dist[ok] = sub
    return pd.Series(dist, index=geoms.index, name="distance_to_hazard_m", dtype="float64")


# ---------------------------------------------------------------------------------------------
# exposure


NO_DATA = "no data"


def exposure_table(
    units: pd.DataFrame,
    classes: pd.Series,
    *,
    population_column: str | None = "population",
    by: str | None = "settlement_id",
) -> pd.DataFrame:
    """People and structures (or households) exposed per hazard class and settlement.

    ``units`` are structures (``population_column="population"``) or households
    (``population_column="household_size"``); ``classes`` is their class, aligned on the
    index (e.g. from :func:`structure_hazard_class`). Each unit is counted once, in one class;
    units whose class is missing are counted under ``"no data"``, never dropped. Missing
    populations count as 0 people and are reported in ``people_missing``.

    Returns
    -------
    DataFrame
        Indexed by (``by``, ``hazard_class``) (or ``hazard_class`` alone when ``by`` is
        None), every class present (0 when empty), columns ``units`` (count), ``people``
        (sum of ``population_column``, float) and ``people_missing`` (units without a
        population).
    """
    if not classes.index.equals(units.index):
        raise ValueError("classes must be indexed like units (use the same frame's index)")
    cat = classes if isinstance(classes.dtype, pd.CategoricalDtype) else classes.astype("category")
    labels = [*map(str, cat.cat.categories), NO_DATA]
    cls = pd.Categorical(
        cat.astype(object).where(cat.notna(), NO_DATA).astype(str), categories=labels, ordered=True
    )
    frame = pd.DataFrame({"hazard_class": cls}, index=units.index)
    if population_column is not None:
        pop = pd.to_numeric(units[population_column], errors="coerce")
        frame["people"] = pop.fillna(0.0).astype("float64")
        frame["people_missing"] = pop.isna().astype("int64")
    else:
        frame["people"] = np.nan
        frame["people_missing"] = 0
    frame["units"] = 1
    keys = ["hazard_class"] if by is None else [by, "hazard_class"]
    if by is not None:
        frame[by] = units[by].to_numpy()
    table = frame.groupby(keys, observed=False, dropna=False)[
        ["units", "people", "people_missing"]
    ].sum(min_count=0)
    if population_column is None:
        table["people"] = np.nan
    table["units"] = table["units"].astype("int64")
    table["people_missing"] = table["people_missing"].astype("int64")
    return table


def hazardous_location(
    units: Geoms,
    *,
    classes: pd.Series | None = None,
    hazard_classes: HazardClasses | None = None,
    min_class: str = "high",
    hazard_zones: Geoms | None = None,
    min_share: float = 0.0,
) -> pd.Series:
    """Whether each structure / household stands in a hazardous location.

    Rule: a unit is in a hazardous location if **either**

    - its raster hazard class (``classes``, from :func:`structure_hazard_class`) is
      ``min_class`` or worse (default ``"high"``: flood depth ≥ 1.5 m, InaSAFE), **or**
    - it lies in a vector hazard zone: for polygons, the share of its area inside the zones
      is > ``min_share`` (default 0: any overlap); for points, the point is inside or on a
      zone (distance 0).

    It is not hazardous when every source given says so. When the raster class is missing
    (no data under the unit) and no zone flags it, the answer is unknown (``<NA>``), so the
    durable-housing deprivation can apply and report its own missing-answer rule instead of
    silently counting the unit as safe.

    Parameters
    ----------
    units : GeoDataFrame or GeoSeries
        Structures or households; a projected CRS in metres when ``hazard_zones`` is given.
    classes : Series, keyword-only
        Raster hazard class per unit (aligned on the index), or None to use zones only.
    hazard_classes : HazardClasses, keyword-only
        The classification ``classes`` came from (default InaSAFE flood depth).
    min_class : str, keyword-only
    hazard_zones : GeoDataFrame or GeoSeries, optional, keyword-only
    min_share : float, keyword-only

    Returns
    -------
    Series
        Nullable boolean, indexed like ``units``, named ``"hazardous_location"``.

    References
    ----------
    UN-Habitat, SDG 11.1.1 metadata, durable housing: "a permanent and adequate structure in a
    non-hazardous location".
    """
    if classes is None and hazard_zones is None:
        raise ValueError("give raster classes, hazard zones, or both")
    flag = pd.Series(False, index=units.index, dtype="boolean")
    if classes is not None:
        if not classes.index.equals(units.index):
            raise ValueError("classes must be indexed like units")
        hc = hazard_classes or HazardClasses.flood_depth()
        flag = hc.at_least(classes, min_class)
    if hazard_zones is not None:
        geoms = _geoseries(units)
        kinds = shapely.get_type_id(geoms.to_numpy())
        is_point = np.isin(kinds, (0, 4))
        in_zone = np.zeros(len(geoms), dtype=bool)
        if is_point.any():
            d = distance_to_hazard(geoms[is_point], hazard_zones).to_numpy()
            in_zone[is_point] = d == 0
        if (~is_point).any():
            s = share_inside(geoms[~is_point], hazard_zones).to_numpy()
            in_zone[~is_point] = np.nan_to_num(s) > min_share
        flag = flag.mask(pd.Series(in_zone, index=units.index, dtype=bool), True)
    return flag.rename("hazardous_location")
