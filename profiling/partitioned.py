"""The analyses partition by partition on Dask: access, raster hazard and the indicator roll-up.

Country-scale inputs (tens of millions of building footprints or households) do not fit one
process. This module runs the *same* functions as the single-machine path on spatial partitions
of a `dask-geopandas <https://dask-geopandas.readthedocs.io>`_ GeoDataFrame, on whatever Dask
scheduler is active (threads, a ``distributed.LocalCluster`` or a multi-machine cluster), and
gives the same answers:

Spatial partitions (:func:`spatial_partitions`)
    Units are sorted along a Hilbert curve through the midpoints of their bounding boxes
    (level 16: a 65,536 × 65,536 grid over the total bounds) and cut into ``npartitions`` runs
    of the curve: sorted in place for a frame in memory, by dask-geopandas'
    ``spatial_shuffle(by="hilbert")`` for a Dask frame. A Hilbert curve keeps points that are
    close on the curve close in the plane [Skilling2004]_, so each partition covers a compact
    area: a small raster window, few groups. Rows without a location (households stored
    without GPS) come last: still counted, with unknown analyses.

Access (:func:`partitioned_access`)
    The service points (a few thousand, even for a country) are *broadcast*: sent once to
    every worker (``client.scatter(..., broadcast=True)`` when a ``distributed`` client is the
    default, one key of the task graph otherwise), and :func:`profiling.access.access_table`
    runs on each partition against all of them. The nearest service is therefore found even
    when it lies in another partition: no halo, no boundary effect, the same ``cKDTree``
    answers.

Raster hazard (:func:`partitioned_hazard_class`)
    Each partition opens the raster (a path every worker can read, or GeoTIFF bytes broadcast
    like the services) and calls :func:`profiling.hazard.sample_raster` or
    :func:`profiling.hazard.structure_hazard_class`, which read only the window of cells under
    the partition's geometries (one window from the points' total bounds; tiles of at most
    4096 × 4096 cells around groups of polygons). The raster never has to fit in memory, and
    the cells read, hence the classes, are those of the single-machine path.

Roll-up (:func:`rollup_partial`, :func:`combine_partials`, :func:`finish_rollup`)
    Every statistic of a census roll-up (:func:`profiling.indicators.roll_up`) is a sum over
    the units of a group: the numerator :math:`N_g = \\sum w_i m_i x_i`, the denominator
    :math:`D_g = \\sum w_i m_i`, and the counts of units, known units, known 0/1 units and
    known ones. Each partition computes these sums per (round, grouping cell) and the set of
    upload ids per cell; partials are added (a tree reduction, ``split_every`` at a time) and
    the values, Wilson intervals [Wilson1927]_, labels and provenance are computed once, after
    the reduce, exactly as the single-machine roll-up does. Rows and their order are the same.
    Sums of integers (people, households: every default indicator in a census) are exact in
    any order, so the tables are equal; non-integer contributions (sample weights, fractional
    shares) can differ in the last bits, the order of a floating-point sum being different.
    Design-based intervals of samples need the group ratios before their second pass and are
    not supported here (use :func:`profiling.indicators.indicator_table`).

Nothing here reads the store or writes files; a raster path given by the caller is opened on
the workers. Object string columns are kept as they are (Dask's automatic conversion to
pyarrow strings is turned off while collections are built and computed), so partition frames
have the single-machine dtypes.

References
----------
.. [Skilling2004] J. Skilling, "Programming the Hilbert curve", *AIP Conference Proceedings*
   707 (2004) 381-387 (the transpose algorithm dask-geopandas uses).
.. [DaskGeopandas] dask-geopandas documentation, "Spatial partitioning and the Hilbert
   distance", https://dask-geopandas.readthedocs.io/en/stable/guide/spatial-partitioning.html
.. [Rocklin2015] M. Rocklin, "Dask: parallel computation with blocked algorithms and task
   scheduling", *Proceedings of the 14th Python in Science Conference* (2015) 130-136.
.. [Wilson1927] E. B. Wilson, "Probable inference, the law of succession, and statistical
   inference", *JASA* 22 (1927) 209-212.

Examples
--------
>>> import dask, shapely
>>> taps = gpd.GeoDataFrame({"service_type": ["water_point"]},
...                         geometry=[shapely.Point(0, 0)], crs=32737)
>>> homes = gpd.GeoDataFrame(geometry=[shapely.Point(30, 40), shapely.Point(300, 400)],
...                          crs=32737)
>>> parts = spatial_partitions(homes, npartitions=2)
>>> done = partitioned_access(parts, taps, types=("water_point",), columns=("water_point_m",))
>>> with dask.config.set(scheduler="synchronous"):
...     collect(done)["water_point_m"].tolist()
[50.0, 500.0]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeAlias

import dask
import dask.dataframe as dd
import dask_geopandas
import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from dask.delayed import Delayed, delayed
from rasterio.io import DatasetReader, MemoryFile

from profiling._memo import shared_work
from profiling.access import DEFAULT_SERVICE_TYPES, WALKING_SPEED_M_PER_MIN, AccessThresholds
from profiling.access import access_table as _access_table
from profiling.hazard import HazardClasses, sample_raster, structure_hazard_class
from profiling.indicators.definitions import DEFAULT_REGISTRY
from profiling.indicators.privacy import assert_no_personal_columns
from profiling.indicators.registry import POPULATION_SIZE_COLUMNS, Indicator, Registry
from profiling.indicators.rollup import (
    _group_codes,
    _group_label,
    _sorted_text,
    _unit_arrays,
    tidy_table,
    wilson_interval,
)
from profiling.indicators.table import IndicatorTable

__all__ = [
    "ROW_COLUMN",
    "RasterSource",
    "RollupPartial",
    "broadcast",
    "collect",
    "combine_partials",
    "finish_rollup",
    "partition_tasks",
    "partitioned_access",
    "partitioned_hazard_class",
    "partitioned_indicator_table",
    "plan_rollup",
    "rollup_partial",
    "spatial_partitions",
]

ROW_COLUMN = "_row"
"""Column :func:`spatial_partitions` adds: each unit's position in the input frame (int64),
with which :func:`collect` puts results back in input order."""

RasterSource: TypeAlias = str | os.PathLike[str] | bytes
"""A raster every worker can read: a path (local disk, shared file system) or GeoTIFF bytes
(sent once to every worker by :func:`broadcast`: keep them to a few tens of MB)."""

_HILBERT_LEVEL = 16
_UPLOAD = "_upload"
_BITS = np.arange(16)


@contextmanager
def _plain_strings() -> Iterator[None]:
    """Keep object string columns as they are (no automatic pyarrow string conversion)."""
    with dask.config.set({"dataframe.convert-string": False}):
        yield


def _distributed_client() -> Any | None:
    """The default ``distributed.Client``, when distributed is in use (else ``None``)."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        return distributed.default_client()
    except ValueError:  # no client
        return None


def broadcast(value: Any) -> Any:
    """``value`` shared by every partition's task, to pass to ``map_partitions``.

    Sent once to every worker of the default ``distributed`` client
    (``client.scatter(value, broadcast=True)``: a future), else one key of the task graph (a
    :class:`dask.delayed.Delayed`). Either way the object is not copied into every task.
    """
    client = _distributed_client()
    if client is not None:
        return client.scatter(value, broadcast=True, hash=True)
    return delayed(value, pure=True)


def _boxed(part: pd.DataFrame, func: Callable[..., Any], options: dict[str, Any]) -> pd.Series:
    return pd.Series([func(part, **options)], dtype=object)


def _unboxed(boxed: pd.Series) -> Any:
    return boxed.iloc[0]


def partition_tasks(frame: dd.DataFrame, func: Callable[..., Any], **options: Any) -> list[Delayed]:
    """``func(partition, **options)`` for every partition, as :class:`dask.delayed.Delayed`.

    The call runs in the same task as the work that makes the partition (generation, access,
    hazard... fused by Dask), so a worker never holds a finished partition while it waits
    for its consumer: memory stays at about one partition per worker thread, and only
    ``func``'s (small) result leaves the task.

    Parameters
    ----------
    frame : dask.dataframe.DataFrame
    func : callable
        ``func(partition, **options)``; any picklable result.
    **options
        Keyword arguments of ``func``.

    Returns
    -------
    list of Delayed
        One per partition, in partition order.
    """
    with _plain_strings():
        boxed = frame.map_partitions(
            _boxed, func, options, meta=pd.Series(dtype=object), align_dataframes=False
        )
        return [delayed(_unboxed)(part) for part in boxed.to_delayed()]


# -- partitions ------------------------------------------------------------------------------


def _ones(part: pd.DataFrame) -> pd.Series:
    return pd.Series(np.ones(len(part), dtype=np.int64), index=part.index)


def spatial_partitions(
    frame: gpd.GeoDataFrame | dask_geopandas.GeoDataFrame,
    *,
    npartitions: int,
    level: int = _HILBERT_LEVEL,
) -> dask_geopandas.GeoDataFrame:
    """Spatially compact Dask partitions of ``frame``, sorted along a Hilbert curve.

    Rows are ordered by the Hilbert distance of their bounding-box midpoints over the total
    bounds (:meth:`geopandas.GeoSeries.hilbert_distance`, the dask-geopandas algorithm
    [DaskGeopandas]_, [Skilling2004]_), which becomes the index, and cut into ``npartitions``
    runs of the curve. A frame already in memory is sorted here and split (no shuffle: its
    rows are in this process anyway), and with a default ``distributed`` client its partitions
    are scattered to the workers rather than sent inside the task graph; its rows without a
    location (households stored without GPS) are kept, after the located ones: they are
    counted, with unknown analyses. A Dask frame is shuffled by the workers (dask-geopandas
    ``spatial_shuffle(by="hilbert")``) and must have a geometry on every row.

    A column :data:`ROW_COLUMN` records each row's position in ``frame`` (for a Dask frame,
    its position in the partition order of the input).

    Parameters
    ----------
    frame : geopandas.GeoDataFrame or dask_geopandas.GeoDataFrame
        Units (households, structures, footprints), any CRS; distances later need metres.
    npartitions : int, keyword-only
        Partitions (>= 1; fewer when there are fewer distinct Hilbert distances). A few
        100,000 footprints per partition keep a worker's memory to a few hundred MB.
    level : int, keyword-only
        Hilbert curve order (1-16): the curve has :math:`2^{level}` cells a side.

    Returns
    -------
    dask_geopandas.GeoDataFrame
        Lazy, indexed by Hilbert distance (uint32); the input is not modified.

    Examples
    --------
    >>> import dask, shapely
    >>> pts = gpd.GeoDataFrame(geometry=[shapely.Point(x, 0) for x in range(6)], crs=32737)
    >>> parts = spatial_partitions(pts, npartitions=3)
    >>> parts.npartitions
    3
    >>> with dask.config.set(scheduler="synchronous"):
    ...     collect(parts).geometry.x.tolist()
    [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    """
    if npartitions < 1:
        raise ValueError(f"npartitions must be >= 1, got {npartitions}")
    if ROW_COLUMN in frame.columns:
        raise ValueError(f"column {ROW_COLUMN!r} is reserved for the row positions")
    with _plain_strings():
        if not isinstance(frame, gpd.GeoDataFrame):  # a Dask frame: shuffled by the workers
            ones = frame.map_partitions(_ones, meta=pd.Series(dtype=np.int64))
            numbered = frame.assign(**{ROW_COLUMN: ones.cumsum() - 1})
            return numbered.spatial_shuffle(
                by="hilbert", level=level, npartitions=npartitions, calculate_partitions=False
            )
        geoms = frame.geometry.to_numpy()
        located = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        distance = np.full(len(frame), 2 ** (2 * level) - 1, dtype=np.uint32)  # the last cell
        if located.any():
            distance[located] = frame.geometry[located].hilbert_distance(level=level).to_numpy()
        order = np.argsort(distance, kind="stable")
        data = frame.iloc[order].assign(**{ROW_COLUMN: order.astype(np.int64)})
        data = data.set_axis(pd.Index(distance[order], name="hilbert_distance"))
        parts = dask_geopandas.from_geopandas(
            data, npartitions=min(npartitions, max(len(data), 1)), sort=True
        )
        client = _distributed_client()
        if client is None:
            return parts
        # straight to the workers, not inside the task graph (that would be sent whole)
        pieces = [
            parts.get_partition(i).compute(scheduler="sync") for i in range(parts.npartitions)
        ]
        futures = client.scatter(pieces)
        return dd.from_delayed(futures, meta=parts._meta, divisions=parts.divisions)


def collect(frame: dd.DataFrame, *, index: pd.Index | None = None) -> pd.DataFrame:
    """Compute ``frame`` and put its rows back in input order (by :data:`ROW_COLUMN`).

    Parameters
    ----------
    frame : dask.dataframe.DataFrame
        Made from :func:`spatial_partitions` (it has :data:`ROW_COLUMN`).
    index : pandas.Index, optional, keyword-only
        The input's index, restored on the result (default: ``0 .. n-1``).

    Returns
    -------
    pandas.DataFrame or geopandas.GeoDataFrame
        Without :data:`ROW_COLUMN`.
    """
    with _plain_strings():
        done = frame.compute()
    rows = done[ROW_COLUMN].to_numpy(dtype=np.int64)
    done = done.iloc[np.argsort(rows, kind="stable")].drop(columns=ROW_COLUMN)
    labels = np.sort(rows)
    return done.set_axis(pd.RangeIndex(len(done)) if index is None else index[labels])


# -- access ----------------------------------------------------------------------------------


def _access_partition(
    part: gpd.GeoDataFrame,
    services: gpd.GeoDataFrame,
    *,
    columns: tuple[str, ...] | None,
    options: dict[str, Any],
) -> gpd.GeoDataFrame:
    table = _access_table(part, services, **options)
    chosen = table if columns is None else table[list(columns)]
    return part.assign(**{c: chosen[c] for c in chosen.columns})


def partitioned_access(
    units: dask_geopandas.GeoDataFrame,
    services: gpd.GeoDataFrame,
    *,
    types: Sequence[str] = DEFAULT_SERVICE_TYPES,
    columns: Sequence[str] | None = None,
    walking_speed_m_per_min: float = WALKING_SPEED_M_PER_MIN,
    thresholds: AccessThresholds | None = None,
    functional_only: bool = True,
    include_unknown: bool = True,
) -> dask_geopandas.GeoDataFrame:
    """:func:`profiling.access.access_table` per partition, the services broadcast.

    Straight-line distance (metres) to the nearest functional service of each type, walking
    minutes and coverage flags, exactly as :func:`~profiling.access.access_table` computes
    them: every partition searches *all* the services (one ``cKDTree`` per type and
    partition), so a service across a partition boundary is still found.

    Parameters
    ----------
    units : dask_geopandas.GeoDataFrame
        Partitioned households / footprints in a metric CRS (non-points use their centroid).
    services : geopandas.GeoDataFrame
        Service points in the same CRS; held in memory and broadcast to every worker.
    types : sequence of str, keyword-only
        Service types to measure.
    columns : sequence of str, optional, keyword-only
        The columns of the access table to add (default: all of them, ``<type>_m``,
        ``<type>_min``, ``<type>_within``).
    walking_speed_m_per_min, thresholds, functional_only, include_unknown
        As for :func:`profiling.access.access_table` (``thresholds`` ``None``: its Sphere /
        SDG defaults).

    Returns
    -------
    dask_geopandas.GeoDataFrame
        ``units`` with the access columns (lazy).
    """
    options: dict[str, Any] = {
        "types": tuple(types),
        "walking_speed_m_per_min": walking_speed_m_per_min,
        "thresholds": thresholds or AccessThresholds(),
        "functional_only": functional_only,
        "include_unknown": include_unknown,
    }
    chosen = None if columns is None else tuple(columns)
    meta = _access_partition(units._meta, services, columns=chosen, options=options)
    with _plain_strings():
        return units.map_partitions(
            _access_partition,
            broadcast(services),
            columns=chosen,
            options=options,
            meta=meta,
            align_dataframes=False,
        )


# -- raster hazard ---------------------------------------------------------------------------


@contextmanager
def _open_raster(raster: RasterSource) -> Iterator[DatasetReader]:
    if isinstance(raster, bytes):
        with MemoryFile(raster) as memfile, memfile.open() as ds:
            yield ds
    else:
        with rasterio.open(raster) as ds:
            yield ds


def _hazard_partition(
    part: gpd.GeoDataFrame,
    raster: RasterSource,
    *,
    classes: HazardClasses,
    method: str,
    band: int,
    column: str,
) -> gpd.GeoDataFrame:
    if not len(part):
        empty = pd.Series(pd.Categorical([], dtype=classes.dtype), index=part.index)
        return part.assign(**{column: empty})
    with _open_raster(raster) as ds:
        if method == "worst":
            got = structure_hazard_class(part, ds, classes=classes, band=band)
        else:
            got = classes.classify(sample_raster(part, ds, band=band))
    return part.assign(**{column: got})


def partitioned_hazard_class(
    units: dask_geopandas.GeoDataFrame,
    raster: RasterSource,
    *,
    classes: HazardClasses | None = None,
    method: Literal["worst", "point"] = "worst",
    band: int = 1,
    column: str | None = None,
) -> dask_geopandas.GeoDataFrame:
    """Hazard class of every unit from a raster read by window in each partition.

    ``method="worst"``: :func:`profiling.hazard.structure_hazard_class`, the worst value over
    every cell a footprint touches (exact coverage, exactextract), a point its cell's value;
    ``method="point"``: :func:`profiling.hazard.sample_raster` at each point (non-points at a
    representative point, with a warning). The value is then classed by ``classes``
    (default :meth:`HazardClasses.flood_depth`, InaSAFE depths in metres). Each partition
    reads only the cells under its own geometries (see the module docstring).

    Parameters
    ----------
    units : dask_geopandas.GeoDataFrame
        Partitioned footprints or points, any CRS (reprojected to the raster's per partition).
    raster : str, os.PathLike or bytes
        A GeoTIFF path every worker can open, or its bytes (broadcast once per worker).
    classes : HazardClasses, optional, keyword-only
    method : {"worst", "point"}, keyword-only
    band : int, keyword-only
        1-based band.
    column : str, optional, keyword-only
        Name of the added column (default ``classes.name``, ``"hazard_class"``).

    Returns
    -------
    dask_geopandas.GeoDataFrame
        ``units`` with an ordered categorical class column (missing where no data; lazy).
    """
    if method not in ("worst", "point"):
        raise ValueError(f'method must be "worst" or "point", got {method!r}')
    if not isinstance(raster, bytes | str | os.PathLike):
        raise TypeError(f"raster must be a path or GeoTIFF bytes, not {type(raster).__name__}")
    classes = classes or HazardClasses.flood_depth()
    name = column or classes.name
    source: Any = broadcast(raster) if isinstance(raster, bytes) else os.fspath(raster)
    options = {"classes": classes, "method": method, "band": band, "column": name}
    meta = units._meta.assign(
        **{name: pd.Series(pd.Categorical([], dtype=classes.dtype), index=units._meta.index)}
    )
    with _plain_strings():
        return units.map_partitions(
            _hazard_partition, source, **options, meta=meta, align_dataframes=False
        )


# -- roll-up ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RollupPartial:
    """Sums of a census roll-up over some units, to be added to the sums of other units.

    Attributes
    ----------
    indicators : tuple of str
        Ids of the indicators summed, in order: the columns of indicator ``indicators[i]``
        are prefixed ``"{i}:"``.
    keys : tuple of tuple of str
        Group keys of each grouping: the round column (when rolled up per round), then the
        grouping's columns.
    sums : tuple of pandas.DataFrame
        Per grouping, one row per group present: the key columns (missing keys as missing
        values), then per indicator ``{i}:num`` (:math:`\\sum w_i m_i x_i`), ``{i}:den``
        (:math:`\\sum w_i m_i`), and the counts ``{i}:units`` (units in scope), ``{i}:known``,
        ``{i}:binary`` (known with :math:`x_i \\in \\{0, 1\\}`) and ``{i}:ones``.
    uploads : tuple of pandas.DataFrame, or None
        Per grouping: the key columns, ``_upload`` (an upload id present in the group) and
        ``{i}:scope`` (a unit of that upload in the group is in indicator ``i``'s scope);
        ``None`` when the units have no upload column.
    """

    indicators: tuple[str, ...]
    keys: tuple[tuple[str, ...], ...]
    sums: tuple[pd.DataFrame, ...]
    uploads: tuple[pd.DataFrame, ...] | None


def plan_rollup(
    columns: Sequence[str],
    *,
    registry: Registry = DEFAULT_REGISTRY,
    indicators: Sequence[str] | None = None,
) -> tuple[list[Indicator], dict[str, str]]:
    """The indicators that can be rolled up from ``columns``, and why the others cannot.

    The rule of :func:`profiling.indicators.indicator_table`: an indicator whose
    ``requires`` or size column is absent is skipped with the reason.

    Returns
    -------
    (list of Indicator, dict)
        The computable definitions in registry order; id -> reason for the skipped ones.
    """
    chosen = [registry.get(i) for i in indicators] if indicators else list(registry)
    present = set(columns)
    kept: list[Indicator] = []
    skipped: dict[str, str] = {}
    for indicator in chosen:
        size = POPULATION_SIZE_COLUMNS[indicator.population]
        needed = [*indicator.requires, *([size] if size else [])]
        absent = [c for c in needed if c not in present]
        if absent:
            skipped[indicator.id] = f"needs column(s) {absent} (join the analysis first)"
        else:
            kept.append(indicator)
    return kept, skipped


def _group_keys(
    groupings: Sequence[Sequence[str]], round_column: str | None
) -> tuple[tuple[str, ...], ...]:
    out = []
    for by in groupings:
        assert_no_personal_columns(list(by))
        out.append(((round_column,) if round_column is not None else ()) + tuple(by))
    return tuple(out)


def _plain(units: pd.DataFrame) -> pd.DataFrame:
    if isinstance(units, gpd.GeoDataFrame):
        return pd.DataFrame(units.drop(columns=units.geometry.name))
    return units


def rollup_partial(
    units: pd.DataFrame,
    *,
    indicators: Sequence[Indicator],
    groupings: Sequence[Sequence[str]] = ((), ("settlement_id",)),
    round_column: str | None = "round",
    upload_column: str | None = "upload_id",
) -> RollupPartial:
    """The roll-up sums of one partition (or of any set of units).

    Per unit, each indicator's value, scope, size and known flag are those of
    :func:`profiling.indicators.roll_up` (census: no sample weights); they are summed per
    round and grouping cell (:class:`RollupPartial`). Units of different partitions add up
    with :func:`combine_partials`; :func:`finish_rollup` turns the total into table rows.

    Parameters
    ----------
    units : pandas.DataFrame
        One partition of units with the columns the indicators read (a geometry column is
        dropped).
    indicators : sequence of Indicator, keyword-only
        Computable definitions (:func:`plan_rollup`).
    groupings : sequence of sequences of str, keyword-only
        As for :func:`profiling.indicators.roll_up_many`.
    round_column, upload_column : str or None, keyword-only
        As for :func:`profiling.indicators.roll_up`.

    Returns
    -------
    RollupPartial
    """
    plain = _plain(units)
    keys_all = _group_keys(groupings, round_column)
    missing = sorted({c for keys in keys_all for c in keys} - set(plain.columns))
    if missing:
        raise KeyError(f"grouping columns missing from units: {missing}")
    with_uploads = upload_column is not None and upload_column in plain.columns
    sums: list[pd.DataFrame] = []
    uploads: list[pd.DataFrame] = []
    with shared_work():
        arrays: list[tuple[np.ndarray, ...]] = []
        for indicator in indicators:
            if not len(plain):  # an empty partition (a shuffle may leave some)
                empty = np.zeros(0)
                arrays.append((empty, empty, empty, empty, np.zeros(0, dtype=np.int64)))
                continue
            params = indicator.resolve_parameters(None)
            values = (
                indicator.values(plain, params).to_numpy(dtype=float),
                indicator.in_scope(plain, params).to_numpy(dtype=float),
            )
            arrays.append(_unit_arrays(plain, indicator, params, None, None, values))
        for keys in keys_all:
            codes, table = _group_codes(plain, list(keys))
            n = len(table)
            columns: dict[str, np.ndarray] = {}
            for i, (_, _, contribution, size, flags) in enumerate(arrays):
                columns[f"{i}:num"] = np.bincount(codes, weights=contribution, minlength=n)[:n]
                columns[f"{i}:den"] = np.bincount(codes, weights=size, minlength=n)[:n]
                combos = np.bincount(codes * 16 + flags, minlength=16 * n).reshape(n, 16)
                for name, bit in (("units", 1), ("known", 2), ("binary", 4), ("ones", 8)):
                    columns[f"{i}:{name}"] = combos[:, (_BITS & bit) > 0].sum(axis=1)
            keyed = table.reset_index(drop=True)
            sums.append(pd.concat([keyed, pd.DataFrame(columns)], axis=1))
            if with_uploads:
                assert upload_column is not None
                scope = {f"{i}:scope": a[0] > 0 for i, a in enumerate(arrays)}
                pairs = pd.DataFrame({"_g": codes, **scope})
                pairs[_UPLOAD] = plain[upload_column].reset_index(drop=True)
                seen = pairs.groupby(["_g", _UPLOAD], dropna=False, sort=False).max()
                seen = seen.reset_index()
                at = seen["_g"].to_numpy(dtype=np.int64)
                found = keyed.iloc[at].reset_index(drop=True)
                uploads.append(pd.concat([found, seen.drop(columns="_g")], axis=1))
    return RollupPartial(
        indicators=tuple(i.id for i in indicators),
        keys=keys_all,
        sums=tuple(sums),
        uploads=tuple(uploads) if with_uploads else None,
    )


def _add_up(frames: Sequence[pd.DataFrame], keys: Sequence[str], how: str) -> pd.DataFrame:
    """Rows with equal keys merged (``how``: "sum" or "max"); empty frames are left out so
    that a categorical key keeps its dtype."""
    kept = [f for f in frames if len(f)]
    if not kept:
        return frames[0]
    frame = kept[0] if len(kept) == 1 else pd.concat(kept, ignore_index=True)
    if not keys:
        return pd.DataFrame({c: [getattr(frame[c], how)()] for c in frame.columns})
    grouped = frame.groupby(list(keys), dropna=False, observed=True, sort=False)
    return (grouped.sum() if how == "sum" else grouped.max()).reset_index()


def combine_partials(partials: Sequence[RollupPartial]) -> RollupPartial:
    """The sums of several :class:`RollupPartial` (of disjoint sets of units) added up.

    Addition is associative and commutative, so partials can be combined in any tree; a
    combined partial is again a partial.
    """
    if not partials:
        raise ValueError("no partial to combine")
    first = partials[0]
    for other in partials[1:]:
        if other.indicators != first.indicators or other.keys != first.keys:
            raise ValueError("partials of different indicators or groupings cannot be added")
        if (other.uploads is None) != (first.uploads is None):
            raise ValueError("partials with and without upload ids cannot be added")
    sums = tuple(
        _add_up([p.sums[g] for p in partials], keys, "sum") for g, keys in enumerate(first.keys)
    )
    uploads = None
    if first.uploads is not None:
        uploads = tuple(
            _add_up(
                [p.uploads[g] for p in partials if p.uploads is not None], (*keys, _UPLOAD), "max"
            )
            for g, keys in enumerate(first.keys)
        )
    return RollupPartial(first.indicators, first.keys, sums, uploads)


def _finish_one(
    indicator: Indicator,
    i: int,
    frame: pd.DataFrame,
    order: np.ndarray,
    upload_codes: np.ndarray | None,
    uploads: pd.DataFrame | None,
    key_frame: pd.DataFrame,
    labels: np.ndarray,
    stamp: datetime,
) -> pd.DataFrame:
    """Rows of one indicator and grouping from the summed columns (roll_up's census rules)."""
    n = len(order)

    def column(name: str) -> np.ndarray:
        return frame[f"{i}:{name}"].to_numpy(dtype=float)[order]

    num, den = column("num"), column("den")
    n_units, n_known, n_binary, n_ones = (column(c) for c in ("units", "known", "binary", "ones"))
    totals_only = indicator.statistic == "total"
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(den > 0, num / den, np.nan)
    value = num.copy() if totals_only else ratio
    if totals_only:
        lo = hi = np.full(n, np.nan)
        method = "census_exact"
    elif indicator.statistic == "ratio_of_sums":
        integral = (num == np.round(num)) & (den == np.round(den)) & (num <= den)
        lo, hi = wilson_interval(num, den)
        lo, hi = np.where(integral, lo, np.nan), np.where(integral, hi, np.nan)
        method = "wilson_counts"
    else:
        all_binary = n_binary == n_known
        lo, hi = wilson_interval(n_ones, n_known)
        lo, hi = np.where(all_binary, lo, np.nan), np.where(all_binary, hi, np.nan)
        method = "wilson_unweighted_households"
    upload_ids: Any = ""
    if uploads is not None and upload_codes is not None and n:
        mask = uploads[f"{i}:scope"].to_numpy(dtype=bool)
        pairs = pd.DataFrame({"g": upload_codes[mask], "u": uploads[_UPLOAD].to_numpy()[mask]})
        per_group = pairs.drop_duplicates().groupby("g")["u"].agg(_sorted_text)
        upload_ids = per_group.reindex(range(n), fill_value="").to_numpy()
    stats = {
        "value": value,
        "numerator": num,
        "denominator": den,
        "n_units": n_units,
        "unknown": n_units - n_known,
        "ci_low": lo,
        "ci_high": hi,
    }
    return tidy_table(
        indicator,
        key_frame,
        stats,
        ci_method=method,
        parameters=indicator.resolve_parameters(None),
        upload_ids=upload_ids,
        computed_at=stamp,
        labels=labels,
    )


def finish_rollup(
    partial: RollupPartial,
    *,
    indicators: Sequence[Indicator],
    groupings: Sequence[Sequence[str]],
    round_column: str | None = "round",
    computed_at: datetime | None = None,
) -> pd.DataFrame:
    """Indicator rows from the sums of all the units (after :func:`combine_partials`).

    Groups are sorted as :func:`profiling.indicators.roll_up` sorts them (each key in sorted
    order, missing keys last); values, Wilson intervals, labels and provenance follow its
    census rules, so the table equals :func:`profiling.indicators.indicator_table`'s
    (the rows of each indicator, grouping by grouping, in registry order).

    Parameters
    ----------
    partial : RollupPartial
        Sums over every unit.
    indicators : sequence of Indicator, keyword-only
        The definitions summed (same order as in ``partial``).
    groupings : sequence of sequences of str, keyword-only
        The groupings summed.
    round_column : str or None, keyword-only
    computed_at : datetime, optional, keyword-only
        Timestamp recorded on every row (default: now, UTC).

    Returns
    -------
    pandas.DataFrame
        Tidy rows (:func:`profiling.indicators.tidy_table` layout).
    """
    if tuple(i.id for i in indicators) != partial.indicators:
        raise ValueError("the partial sums were computed for other indicators")
    if _group_keys(groupings, round_column) != partial.keys:
        raise ValueError("the partial sums were computed for other groupings or rounds")
    stamp = computed_at or datetime.now(UTC)
    prepared = []
    for g, (keys, by) in enumerate(zip(partial.keys, groupings, strict=True)):
        frame = partial.sums[g]
        uploads = partial.uploads[g] if partial.uploads is not None else None
        both = frame[list(keys)]
        if uploads is not None:
            both = pd.concat([both, uploads[list(keys)]], ignore_index=True)
        codes, key_table = _group_codes(both, list(keys))
        n = len(key_table)
        if n != len(frame):
            raise ValueError("upload ids of a group without units: partials do not match")
        order = np.empty(n, dtype=np.int64)
        order[codes[: len(frame)]] = np.arange(len(frame))
        by_cols = list(by)
        key_frame = key_table[by_cols].copy() if n else pd.DataFrame(columns=by_cols)
        if round_column and n:
            key_frame["round"] = key_table[round_column].to_numpy()
        labels = _group_label(key_frame[by_cols]).to_numpy()
        upload_codes = codes[len(frame) :] if uploads is not None else None
        prepared.append((frame, order, upload_codes, uploads, key_frame, labels))
    tables = [
        _finish_one(indicator, i, *prepared[g], stamp)
        for i, indicator in enumerate(indicators)
        for g in range(len(prepared))
    ]
    return pd.concat(tables, ignore_index=True, sort=False) if tables else pd.DataFrame()


def _combine_all(*partials: RollupPartial) -> RollupPartial:
    return combine_partials(partials)


def partitioned_indicator_table(
    units: dd.DataFrame,
    *,
    registry: Registry = DEFAULT_REGISTRY,
    indicators: Sequence[str] | None = None,
    groupings: Sequence[Sequence[str]] = ((), ("settlement_id",)),
    computed_at: datetime | None = None,
    round_column: str | None = "round",
    upload_column: str | None = "upload_id",
    split_every: int = 8,
) -> IndicatorTable:
    """:func:`profiling.indicators.indicator_table` of a census, partition by partition.

    Each partition's sums (:func:`rollup_partial`) are added in a tree of ``split_every``
    partials per task (:func:`combine_partials`), so no task holds more than a few small
    tables; the rows are computed once at the end (:func:`finish_rollup`). Runs on the active
    Dask scheduler.

    Parameters
    ----------
    units : dask.dataframe.DataFrame
        Partitioned units with the joined analysis columns.
    registry, indicators, groupings, computed_at, round_column, upload_column
        As for :func:`profiling.indicators.indicator_table` (census only: no sample design).
    split_every : int, keyword-only
        Partials added per reduction task (>= 2).

    Returns
    -------
    IndicatorTable
        The same rows as the single-machine table (see the module docstring).
    """
    if split_every < 2:
        raise ValueError("split_every must be >= 2")
    chosen, skipped = plan_rollup(list(units.columns), registry=registry, indicators=indicators)
    keys = _group_keys(groupings, round_column)
    missing = sorted({c for k in keys for c in k} - set(units.columns))
    if missing:
        raise KeyError(f"grouping columns missing from units: {missing}")
    if not chosen:
        return IndicatorTable(table=pd.DataFrame(), skipped=skipped)
    options = {
        "indicators": chosen,
        "groupings": [tuple(g) for g in groupings],
        "round_column": round_column,
        "upload_column": upload_column,
    }
    level = partition_tasks(units, rollup_partial, **options)
    with _plain_strings():
        while len(level) > 1:
            level = [
                delayed(_combine_all)(*level[k : k + split_every])
                for k in range(0, len(level), split_every)
            ]
        (total,) = dask.compute(level[0])
    table = finish_rollup(
        total,
        indicators=chosen,
        groupings=groupings,
        round_column=round_column,
        computed_at=computed_at,
    )
    return IndicatorTable(table=table, skipped=skipped)
