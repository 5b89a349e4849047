"""Analyse a city on one machine, or partition by partition on a Dask cluster.

:func:`analyse_city` reads a city's layers from the store and returns its households with the
analysis columns the indicators need, and the household indicator table (every round, every
grouping of :data:`geo_service.indicator_service.GROUPINGS`):

``engine="local"``
    The single-machine path of :mod:`geo_service.indicator_service` (``_read_city`` then the
    household roll-up of ``_compute``), in this process.
``engine="dask"``
    The same analyses on Hilbert-sorted spatial partitions of the households
    (:mod:`profiling.partitioned`): the service points and the flood-depth raster are
    broadcast to every partition, structure footprints are classed on their own spatial
    partitions, and the roll-up is summed per partition and reduced. The results are the same
    (``tests/service/test_analyse_dask.py`` asserts it on the demo city).

The layers are read from the store by this process (the driver); the work runs on the Dask
scheduler given: a ``distributed.Client``, the address of a running scheduler
(``tcp://host:8786``), or else whatever scheduler is active (the default client if one exists,
otherwise Dask's local threads). :func:`local_cluster` starts worker processes on this machine.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import dask
import geopandas as gpd
import numpy as np
import pandas as pd
from dask.callbacks import Callback
from dask.delayed import Delayed

from geo_service.indicator_service import (
    ACCESS_TYPES,
    GROUPINGS,
    city_services,
    city_settlements,
    flood_raster,
    units_hazard_class,
)
from profiling.access import access_table
from profiling.crs import to_metric
from profiling.hazard import HazardClasses
from profiling.indicators import DEFAULT_REGISTRY, adults_from_members, indicator_table
from profiling.indicators.registry import Indicator
from profiling.partitioned import (
    ROW_COLUMN,
    RollupPartial,
    broadcast,
    combine_partials,
    finish_rollup,
    partition_tasks,
    partitioned_access,
    partitioned_hazard_class,
    plan_rollup,
    rollup_partial,
    spatial_partitions,
)

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

    from geo_service.storage import Store

__all__ = [
    "ENGINES",
    "CityAnalysis",
    "Engine",
    "analyse_city",
    "default_partitions",
    "local_cluster",
]

Engine = Literal["local", "dask"]
ENGINES: tuple[str, ...] = ("local", "dask")

Progress = Callable[[int, int], None]
"""``progress(done, total)``: partitions analysed so far, out of all of them."""

ROWS_PER_PARTITION = 100_000
"""Target households (or structures) per partition when none is given: a few hundred MB of a
worker's memory at most."""

_POINT_CLASS = "_point_hazard_class"


@dataclass(frozen=True)
class CityAnalysis:
    """A city's households with their analysis columns, and its household indicator table.

    Attributes
    ----------
    city : str
    engine : {"local", "dask"}
    units : geopandas.GeoDataFrame
        The city's households in a metric CRS, with ``water_point_m``, ``toilet_m``,
        ``transit_stop_m``, ``open_space_m`` (metres, straight line), ``hazard_class`` (when a
        flood-depth raster is stored) and ``adults`` / ``adult_females`` / ``adult_males``
        (when a members roster is stored): :func:`geo_service.indicator_service.city_units`.
    table : pandas.DataFrame
        Tidy rows of every household indicator, per round, for each grouping.
    skipped : dict
        Indicator (or ``grouping:...``) -> why it was not computed.
    npartitions : int
        Household partitions (1 for the local engine).
    seconds : float
        Wall time of the analysis, reading included.
    """

    city: str
    engine: str
    units: gpd.GeoDataFrame
    table: pd.DataFrame
    skipped: dict[str, str] = field(default_factory=dict)
    npartitions: int = 1
    seconds: float = 0.0

    @property
    def analysis_columns(self) -> list[str]:
        """The columns the analyses added (or replaced, ``adults``) on the households."""
        names = [f"{kind}_m" for kind in ACCESS_TYPES]
        names += ["hazard_class", "adults", "adult_females", "adult_males"]
        return [c for c in names if c in self.units.columns]


@dataclass(frozen=True)
class _Inputs:
    households: gpd.GeoDataFrame
    services: gpd.GeoDataFrame
    structures: gpd.GeoDataFrame
    tiff: bytes | None
    members: pd.DataFrame | None


def _read_inputs(store: Store, city: str) -> _Inputs:
    """The layers ``_read_city`` reads, filtered to the city, in its metric CRS."""
    outlines = city_settlements(store, city)
    settlements = pd.DataFrame(outlines.drop(columns=outlines.geometry.name))
    ids = set(settlements["settlement_id"].astype(str))
    households = store.read_layer("households")
    households = households[households["settlement_id"].astype("string").isin(ids).to_numpy()]
    if not len(households):
        raise LookupError(f"no enumerated households in city {city!r}")
    services = city_services(store, ids)
    structures = store.read_layer("structures")
    structures = structures[structures["settlement_id"].astype("string").isin(ids).fillna(False)]
    units, services_m, structures_m = (
        gpd.GeoDataFrame(f) for f in to_metric(households, services, structures)
    )
    members = store.read_layer("members")
    if len(members):
        wanted = units["household_id"].astype("string")
        members = members[members["household_id"].astype("string").isin(wanted).fillna(False)]
    return _Inputs(
        households=units,
        services=services_m,
        structures=structures_m,
        tiff=flood_raster(store),
        members=pd.DataFrame(members) if len(members) else None,
    )


def _groupings(columns: Sequence[str]) -> tuple[list[tuple[str, ...]], dict[str, str]]:
    """The groupings of :data:`GROUPINGS` whose columns exist (as ``_compute`` chooses)."""
    present = set(columns)
    kept = [g for g in GROUPINGS if all(c in present for c in g)]
    skipped = {
        f"grouping:{'x'.join(g)}": f"columns {list(g)} not available"
        for g in GROUPINGS
        if g not in kept
    }
    return kept, skipped


# -- one machine -----------------------------------------------------------------------------


def _analyse_local(inputs: _Inputs, stamp: datetime) -> tuple[gpd.GeoDataFrame, Any]:
    units = inputs.households.copy()
    access = access_table(units, inputs.services, types=ACCESS_TYPES)
    for kind in ACCESS_TYPES:
        units[f"{kind}_m"] = access[f"{kind}_m"]
    if inputs.tiff is not None:
        units["hazard_class"] = units_hazard_class(units, inputs.structures, inputs.tiff)
    if inputs.members is not None:
        units = gpd.GeoDataFrame(adults_from_members(units, inputs.members))
    plain = pd.DataFrame(units.drop(columns=units.geometry.name))
    groupings, skipped = _groupings(list(plain.columns))
    result = indicator_table(
        plain,
        registry=DEFAULT_REGISTRY,
        groupings=groupings,
        computed_at=stamp,
        round_column="round",
        upload_column="upload_id",
    )
    return units, (result.table, {**skipped, **result.skipped})


# -- Dask ------------------------------------------------------------------------------------


def default_partitions(rows: int, workers: int) -> int:
    """Partitions for ``rows`` units: two per worker at least, about
    :data:`ROWS_PER_PARTITION` rows each, never more than the rows."""
    wanted = max(2 * max(workers, 1), math.ceil(rows / ROWS_PER_PARTITION))
    return max(1, min(rows, wanted))


def _active_client() -> Client | None:
    try:
        from distributed import default_client  # noqa: PLC0415  (distributed is optional here)

        return default_client()
    except (ImportError, ValueError):
        return None


class _Counter(Callback):  # type: ignore[misc]
    """Counts the finished tasks among ``keys`` (local schedulers: threads, synchronous)."""

    def __init__(self, keys: set[Any], tick: Callable[[], None]) -> None:
        super().__init__()
        self.keys, self.tick = keys, tick

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        if key in self.keys:
            self.tick()


def _compute(tasks: list[Delayed], client: Client | None, tick: Callable[[], None]) -> list[Any]:
    """Compute ``tasks`` on ``client`` (or the active scheduler), ticking as each finishes."""
    if not tasks:
        return []
    with dask.config.set({"dataframe.convert-string": False}):
        if client is not None:
            from distributed import as_completed  # noqa: PLC0415

            futures = client.compute(tasks)
            for _ in as_completed(futures):
                tick()
            return list(client.gather(futures))
        with _Counter({t.key for t in tasks}, tick):
            return list(dask.compute(*tasks))


def _structure_classes(part: gpd.GeoDataFrame) -> pd.DataFrame:
    return pd.DataFrame(part[[ROW_COLUMN, "hazard_class"]])


def _prefer_structure(
    part: gpd.GeoDataFrame, keyed: pd.Series, *, classes: HazardClasses
) -> gpd.GeoDataFrame:
    """The household's structure's class where known, else its own point's (as
    ``indicator_service.units_hazard_class``)."""
    ids = part["structure_id"].astype(object)
    of_structure = pd.Series(
        pd.Categorical(ids.map(keyed).astype(object), dtype=classes.dtype), index=part.index
    )
    chosen = of_structure.fillna(part[_POINT_CLASS])
    return part.drop(columns=_POINT_CLASS).assign(hazard_class=chosen)


def _partition_result(
    part: gpd.GeoDataFrame,
    *,
    columns: list[str],
    indicators: list[Indicator],
    groupings: list[tuple[str, ...]],
) -> tuple[pd.DataFrame, RollupPartial]:
    """A partition's analysis columns (with row positions) and its roll-up sums."""
    analysed = pd.DataFrame(part[[ROW_COLUMN, *columns]])
    partial = rollup_partial(
        part,
        indicators=indicators,
        groupings=groupings,
        round_column="round",
        upload_column="upload_id",
    )
    return analysed, partial


def _analyse_dask(
    inputs: _Inputs,
    stamp: datetime,
    *,
    client: Client | None,
    npartitions: int | None,
    progress: Progress | None,
) -> tuple[gpd.GeoDataFrame, Any, int]:
    households, structures = inputs.households, inputs.structures
    workers = len(client.scheduler_info()["workers"]) if client is not None else os.cpu_count()
    n = npartitions or default_partitions(len(households), workers or 1)
    flood = HazardClasses.flood_depth()
    by_structure = (
        inputs.tiff is not None and len(structures) > 0 and "structure_id" in households.columns
    )
    access_columns = [f"{kind}_m" for kind in ACCESS_TYPES]
    parts = spatial_partitions(households, npartitions=n)
    total = parts.npartitions
    if by_structure:
        footprints = spatial_partitions(
            structures[["structure_id", structures.geometry.name]],
            npartitions=default_partitions(len(structures), workers or 1),
        )
        total += footprints.npartitions
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    if progress is not None:
        progress(0, total)
    parts = partitioned_access(parts, inputs.services, types=ACCESS_TYPES, columns=access_columns)
    columns = list(access_columns)
    if by_structure:
        footprints = partitioned_hazard_class(footprints, inputs.tiff, classes=flood)
        found = _compute(partition_tasks(footprints, _structure_classes), client, tick)
        ordered = pd.concat(found).sort_values(ROW_COLUMN, kind="stable")
        keyed = pd.Series(
            ordered["hazard_class"].to_numpy(), index=structures["structure_id"].astype(str)
        )
        keyed = keyed[~keyed.index.duplicated(keep="first")]
        parts = partitioned_hazard_class(
            parts, inputs.tiff, classes=flood, method="point", column=_POINT_CLASS
        )
        meta = _prefer_structure(parts._meta, keyed.iloc[:0], classes=flood)
        parts = parts.map_partitions(_prefer_structure, broadcast(keyed), classes=flood, meta=meta)
        columns.append("hazard_class")
    elif inputs.tiff is not None:
        parts = partitioned_hazard_class(parts, inputs.tiff, classes=flood, method="point")
        columns.append("hazard_class")
    if inputs.members is not None:
        members = inputs.members
        meta = adults_from_members(parts._meta, members.iloc[:0])
        parts = parts.map_partitions(adults_from_members, broadcast(members), meta=meta)
        columns += ["adults", "adult_females", "adult_males"]
    plain_columns = [c for c in parts.columns if c != parts._meta.geometry.name]
    groupings, skipped_groupings = _groupings(plain_columns)
    chosen, skipped = plan_rollup(plain_columns, registry=DEFAULT_REGISTRY)
    options = {"columns": columns, "indicators": chosen, "groupings": groupings}
    tasks = partition_tasks(parts, _partition_result, **options)
    results = _compute(tasks, client, tick)
    analysed = pd.concat([r[0] for r in results]).sort_values(ROW_COLUMN, kind="stable")
    rows = analysed[ROW_COLUMN].to_numpy(dtype=np.int64)
    analysed = analysed.set_axis(households.index[rows])
    units = households.copy()
    for column in columns:
        units[column] = analysed[column]
    partial = combine_partials([r[1] for r in results])
    table = finish_rollup(partial, indicators=chosen, groupings=groupings, computed_at=stamp)
    return units, (table, {**skipped_groupings, **skipped}), len(tasks)


@contextmanager
def _scheduler(client: Client | None, address: str | None) -> Iterator[Client | None]:
    if client is not None:
        yield client
        return
    if address is not None:
        from distributed import Client  # noqa: PLC0415

        with Client(address) as connected:
            yield connected
        return
    yield _active_client()


def analyse_city(
    store: Store,
    city: str,
    *,
    engine: Engine = "local",
    client: Client | None = None,
    address: str | None = None,
    npartitions: int | None = None,
    progress: Progress | None = None,
    computed_at: datetime | None = None,
) -> CityAnalysis:
    """Access, hazard and the household indicators of ``city``, locally or on Dask.

    Parameters
    ----------
    store : Store
        The store holding the city's layers.
    city : str
        Value of the ``city`` field of the ``settlements`` layer.
    engine : {"local", "dask"}, keyword-only
        One process, or spatial partitions on a Dask scheduler (the same results).
    client : distributed.Client, optional, keyword-only
        The Dask cluster to use (``engine="dask"``).
    address : str, optional, keyword-only
        Or the address of a running scheduler, e.g. ``"tcp://10.0.0.5:8786"``; without either,
        the active scheduler (the default client, else Dask's local threads).
    npartitions : int, optional, keyword-only
        Household partitions (default: :func:`default_partitions`).
    progress : callable, optional, keyword-only
        ``progress(done, total)`` as partitions finish (``engine="dask"``).
    computed_at : datetime, optional, keyword-only
        Timestamp recorded on every row (default: now, UTC).

    Returns
    -------
    CityAnalysis

    Raises
    ------
    LookupError
        The city has no enumerated households.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    if npartitions is not None and npartitions < 1:
        raise ValueError(f"npartitions must be >= 1, got {npartitions}")
    stamp = computed_at or datetime.now(UTC)
    start = time.perf_counter()
    inputs = _read_inputs(store, city)
    if engine == "local":
        units, (table, skipped) = _analyse_local(inputs, stamp)
        parts = 1
    else:
        with _scheduler(client, address) as active:
            units, (table, skipped), parts = _analyse_dask(
                inputs, stamp, client=active, npartitions=npartitions, progress=progress
            )
    return CityAnalysis(
        city=city,
        engine=engine,
        units=units,
        table=table,
        skipped=skipped,
        npartitions=parts,
        seconds=time.perf_counter() - start,
    )


def local_cluster(
    n_workers: int = 2, *, memory_fraction: float = 0.6, dashboard: bool = False
) -> LocalCluster:
    """A Dask cluster of worker processes on this machine, one thread each.

    Processes, not threads: exactextract (zonal statistics) and much of pandas hold the GIL.
    Each worker may use ``memory_fraction`` of the machine's memory divided among the workers
    (on a 2-core 24 GiB machine with 2 workers: 7.2 GiB each), leaving the rest to the driver
    and the system; Dask spills to disk at 60 % of that limit and pauses a worker at 80 %.

    Parameters
    ----------
    n_workers : int
        Worker processes (the cores to use).
    memory_fraction : float, keyword-only
        Share of the machine's memory the workers may use together.
    dashboard : bool, keyword-only
        Serve the Dask dashboard on a free port (needs bokeh).

    Returns
    -------
    distributed.LocalCluster
        Started; close it (or use it as a context manager) when done.
    """
    import psutil  # noqa: PLC0415  (a dependency of distributed)
    from distributed import LocalCluster  # noqa: PLC0415

    if n_workers < 1:
        raise ValueError(f"n_workers must be >= 1, got {n_workers}")
    limit = int(psutil.virtual_memory().total * memory_fraction / n_workers)
    return LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        memory_limit=limit,
        dashboard_address=":0" if dashboard else None,
    )
