"""Access to services: distances, walking times, coverage, people per tap / seat, catchments.

Distances from households or structures to the nearest service of a type are measured either
straight-line (a ``cKDTree``, vectorised) or along the street / footpath network
(:mod:`profiling.network`, one multi-source Dijkstra per service type). Walking minutes use a
configurable speed; coverage flags use configurable thresholds whose defaults come from the
standards below. All functions are pure: frames in, new frames / Series indexed like the
input out; distances need a metric CRS (:class:`profiling.crs.GeographicCRSError` otherwise).

References
----------
Sphere Association (2018). *The Sphere Handbook*, Water supply standard 2.1 and Excreta
management standard 3.2: a water point within 500 m of every household, at most 250 people
per tap (flow 7.5 l/min), at most 20 people per toilet, toilets within 50 m of dwellings.
WHO/UNICEF JMP (2017). *Safely managed drinking water*: basic drinking water = an improved
source with a collection round trip of no more than 30 minutes, including queuing.
UN-Habitat (2018). SDG 11.2.1 metadata: convenient access to public transport = a stop within
500 m walking distance; SDG 11.7.1 metadata: open public space within 400 m walking distance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from profiling.crs import require_metric
from profiling.errors import ProfilingError
from profiling.network import StreetNetwork, _xy, nearest_along_network

__all__ = [
    "DEFAULT_SERVICE_TYPES",
    "WALKING_SPEED_M_PER_MIN",
    "AccessThresholds",
    "access_table",
    "catchments",
    "jmp_water_round_trip",
    "nearest_service_distance",
    "people_per_service",
]

#: 5 km/h, the walking speed commonly assumed in accessibility studies (metres per minute).
WALKING_SPEED_M_PER_MIN = 5000.0 / 60.0

DEFAULT_SERVICE_TYPES: tuple[str, ...] = (
    "water_point",
    "toilet",
    "waste_point",
    "health",
    "school",
    "transit_stop",
    "open_space",
)

Method = Literal["straight", "network"]


@dataclass(frozen=True)
class AccessThresholds:
    """Coverage thresholds; ``None`` means no standard (no flag is produced).

    Defaults: Sphere 2018 (water point 500 m, toilet 50 m, 250 people per tap, 20 people per
    toilet seat), JMP (30 min water collection round trip), SDG 11.2.1 (transit stop 500 m
    walk) and SDG 11.7.1 (open space 400 m walk).
    """

    water_point_m: float | None = 500.0
    toilet_m: float | None = 50.0
    waste_point_m: float | None = None
    health_m: float | None = None
    school_m: float | None = None
    transit_stop_m: float | None = 500.0
    open_space_m: float | None = 400.0
    water_round_trip_min: float = 30.0
    people_per_tap: float = 250.0
    people_per_toilet_seat: float = 20.0

    def distance_m(self, service_type: str) -> float | None:
        """The distance threshold (metres) of a service type, or ``None``."""
        value = getattr(self, f"{service_type}_m", None)
        return None if value is None else float(value)


def _select_services(
    services: gpd.GeoDataFrame,
    *,
    service_type: str | None,
    functional_only: bool,
    include_unknown: bool,
) -> gpd.GeoDataFrame:
    """Services of one type, dropping those recorded as not functional.

    ``functional`` is True / False / NA (unknown). With ``functional_only``, rows with
    ``functional == False`` are dropped, and unknown ones too unless ``include_unknown``.
    """
    keep = pd.Series(True, index=services.index)
    if service_type is not None:
        keep &= services["service_type"].astype("string").eq(service_type).fillna(False)
    if functional_only and "functional" in services.columns:
        func = services["functional"].astype("boolean")
        keep &= func.fillna(include_unknown).astype(bool)
    geoms = services.geometry
    keep &= ~(geoms.isna() | geoms.is_empty)
    return services.loc[keep.to_numpy(dtype=bool)]


def _ids(services: gpd.GeoDataFrame) -> pd.Series:
    if "service_id" in services.columns:
        return services["service_id"].astype("string")
    return pd.Series(services.index.astype(str), index=services.index, dtype="string")


def _nearest(
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    chosen: gpd.GeoDataFrame,
    *,
    method: Method,
    network: StreetNetwork | None,
    max_distance_m: float | None,
    cache: dict[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Distance (metres) and position in ``chosen`` of the nearest service, per point.

    ``cache`` keeps the point coordinates and their network attachment between calls on the
    same points (one attachment for all service types in :func:`access_table`).
    """
    cache = {} if cache is None else cache
    if "xy" not in cache:
        cache["xy"] = _xy(points, None, what="distance to services")
        cache["valid"] = np.isfinite(cache["xy"]).all(axis=1)
    xy, valid = cache["xy"], cache["valid"]
    n = len(points)
    dist = np.full(n, np.inf)
    which = np.full(n, -1, dtype=np.int64)
    dist[~valid] = np.nan
    if method == "network":
        if network is None:
            raise ProfilingError('method="network" needs a StreetNetwork (network=...)')
        sxy = _xy(chosen, network.crs, what="network distance")
    else:
        sxy = _xy(chosen, None, what="straight-line distance")
    if len(chosen) == 0 or not valid.any():
        return dist, which
    if method == "network":
        assert network is not None
        key = f"attached:{id(network)}"
        if key not in cache:
            _xy(points, network.crs, what="network distance")  # CRS check
            cache[key] = network.attach(xy[valid])
        result = nearest_along_network(cache[key], sxy, network, max_distance_m=max_distance_m)
        dist[valid] = result.distance_m
        which[valid] = result.target
        return dist, which
    tree = cKDTree(sxy)
    bound = np.inf if max_distance_m is None else float(max_distance_m)
    d, i = tree.query(xy[valid], k=1, distance_upper_bound=bound, workers=-1)
    hit = np.isfinite(d)
    dist[valid] = d
    which[valid] = np.where(hit, i, -1)
    return dist, which


def nearest_service_distance(
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    services: gpd.GeoDataFrame,
    *,
    service_type: str | None = None,
    functional_only: bool = True,
    include_unknown: bool = True,
    method: Method = "straight",
    network: StreetNetwork | None = None,
    max_distance_m: float | None = None,
) -> pd.DataFrame:
    """Distance to the nearest (functional) service of a type, and which one it is.

    Straight-line: Euclidean distance ``√((x_p - x_s)² + (y_p - y_s)²)`` to the nearest
    service (``cKDTree``). Network: walking distance along the streets (offset to the
    nearest street point, then along the graph; :func:`profiling.network.nearest_along_network`,
    one Dijkstra for all points).

    Parameters
    ----------
    points : GeoDataFrame or GeoSeries
        Households or structures in a metric CRS; non-point geometries use their centroid.
    services : GeoDataFrame
        Service points (``profiling.schema.SERVICE_POINTS``) in the same CRS.
    service_type : str, optional
        Keep only this ``service_type`` (all services when ``None``).
    functional_only : bool, default True
        Drop services recorded as not functional (``functional == False``).
    include_unknown : bool, default True
        With ``functional_only``, keep services whose ``functional`` is unknown (NA).
    method : {"straight", "network"}
    network : StreetNetwork, optional
        Required for ``method="network"``.
    max_distance_m : float, optional
        Search radius; farther points get ``inf`` and no service.

    Returns
    -------
    DataFrame
        Indexed like ``points``: ``distance_m`` (metres; ``inf`` when no service is found or
        reachable, NaN for missing geometries) and ``service_id`` (categorical over the
        selected services' ids, or strings when ids repeat; missing when none).

    Examples
    --------
    >>> import shapely
    >>> hh = gpd.GeoDataFrame(geometry=[shapely.Point(0, 0), shapely.Point(300, 400)],
    ...                       crs=32737)
    >>> wp = gpd.GeoDataFrame({"service_id": ["w1"], "service_type": ["water_point"]},
    ...                       geometry=[shapely.Point(0, 0)], crs=32737)
    >>> nearest_service_distance(hh, wp, service_type="water_point")["distance_m"].tolist()
    [0.0, 500.0]
    """
    chosen = _checked_selection(
        points,
        services,
        service_type=service_type,
        functional_only=functional_only,
        include_unknown=include_unknown,
        method=method,
    )
    dist, which = _nearest(
        points, chosen, method=method, network=network, max_distance_m=max_distance_m
    )
    return _frame(points, chosen, dist, which)


def _checked_selection(
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    services: gpd.GeoDataFrame,
    *,
    service_type: str | None,
    functional_only: bool,
    include_unknown: bool,
    method: str,
) -> gpd.GeoDataFrame:
    require_metric(points, what="distance to services")
    require_metric(services, what="distance to services")
    if method not in ("straight", "network"):
        raise ValueError(f'method must be "straight" or "network", got {method!r}')
    if points.crs != services.crs:
        raise ProfilingError(
            f"points ({points.crs}) and services ({services.crs}) are in different CRS"
        )
    return _select_services(
        services,
        service_type=service_type,
        functional_only=functional_only,
        include_unknown=include_unknown,
    )


def _frame(
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    chosen: gpd.GeoDataFrame,
    dist: np.ndarray,
    which: np.ndarray,
) -> pd.DataFrame:
    ids = _ids(chosen)
    if ids.is_unique and not ids.isna().any():
        # A categorical over the service ids: no million Python strings to build.
        codes = np.where(which >= 0, which, -1)
        cat = pd.Categorical.from_codes(codes, categories=pd.Index(ids))
        sid = pd.Series(cat, index=points.index)
    else:
        values = ids.to_numpy(dtype=object)
        sid_values = np.full(len(which), None, dtype=object)
        hit = which >= 0
        sid_values[hit] = values[which[hit]]
        sid = pd.Series(sid_values, index=points.index, dtype="string")
    return pd.DataFrame({"distance_m": dist, "service_id": sid}, index=points.index)


def _within(distance: pd.Series, threshold: float) -> pd.Series:
    flag = pd.Series(distance <= threshold, index=distance.index, dtype="boolean")
    return flag.mask(distance.isna().to_numpy())


def access_table(
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    services: gpd.GeoDataFrame,
    *,
    types: Sequence[str] = DEFAULT_SERVICE_TYPES,
    network: StreetNetwork | None = None,
    walking_speed_m_per_min: float = WALKING_SPEED_M_PER_MIN,
    thresholds: AccessThresholds = AccessThresholds(),
    functional_only: bool = True,
    include_unknown: bool = True,
) -> pd.DataFrame:
    """Per point and service type: distance, walking minutes and coverage flags.

    For each type ``T`` in ``types`` the columns are:

    - ``T_m``: straight-line distance to the nearest (functional) service, metres;
    - ``T_network_m``: walking distance along ``network`` (only when a network is given);
    - ``T_min``: walking time ``distance / walking_speed_m_per_min`` in minutes, from the
      network distance when there is one, else from the straight-line distance;
    - ``T_within``: ``distance <= threshold`` (network distance when available), only for
      types with a threshold in ``thresholds`` (nullable boolean; NA for missing points).

    ``inf`` distances mean no such service (or none reachable).

    Parameters
    ----------
    points : GeoDataFrame or GeoSeries
        Households or structures, metric CRS.
    services : GeoDataFrame
        Service points in the same CRS.
    types : sequence of str
        Service types to measure.
    network : StreetNetwork, optional
        Street / footpath network for walking distances.
    walking_speed_m_per_min : float, default 83.3 (5 km/h)
    thresholds : AccessThresholds
        Sphere / SDG defaults.
    functional_only, include_unknown : bool
        See :func:`nearest_service_distance`.

    Returns
    -------
    DataFrame indexed like ``points``.

    References
    ----------
    Sphere Handbook (2018), WASH standards 2.1 and 3.2; UN-Habitat SDG 11.2.1 and 11.7.1
    metadata.
    """
    if walking_speed_m_per_min <= 0:
        raise ValueError("walking_speed_m_per_min must be > 0")
    columns: dict[str, pd.Series] = {}
    cache: dict[str, Any] = {}
    for service_type in types:
        chosen = _checked_selection(
            points,
            services,
            service_type=service_type,
            functional_only=functional_only,
            include_unknown=include_unknown,
            method="straight" if network is None else "network",
        )
        dist, _ = _nearest(
            points, chosen, method="straight", network=None, max_distance_m=None, cache=cache
        )
        straight = pd.Series(dist, index=points.index)
        columns[f"{service_type}_m"] = straight
        walked = straight
        if network is not None:
            dist, _ = _nearest(
                points, chosen, method="network", network=network, max_distance_m=None,
                cache=cache,
            )  # fmt: skip
            walked = pd.Series(dist, index=points.index)
            columns[f"{service_type}_network_m"] = walked
        columns[f"{service_type}_min"] = walked / walking_speed_m_per_min
        threshold = thresholds.distance_m(service_type)
        if threshold is not None:
            columns[f"{service_type}_within"] = _within(walked, threshold)
    return pd.DataFrame(columns, index=points.index)


def jmp_water_round_trip(
    households: pd.DataFrame,
    water_distance_m: pd.Series | np.ndarray,
    *,
    speed_m_per_min: float = WALKING_SPEED_M_PER_MIN,
    queue_column: str = "water_queue_min",
    reported_column: str = "water_trip_min",
    threshold_min: float = 30.0,
    missing_queue_min: float | None = 0.0,
) -> pd.Series:
    """Whether water is collected within the JMP 30-minute round trip (incl. queuing).

    Rule, per household:

    1. when ``reported_column`` is present (not NA) it is taken as the round trip including
       queuing, as the JMP question asks ("how long does it take to go there, get water
       and come back?"): ``reported <= threshold_min``;
    2. otherwise the trip is estimated as ``2 × distance / speed + queue`` minutes, with the
       reported queue time (``queue_column``), or ``missing_queue_min`` where the queue is
       unknown (``None`` makes those households NA instead of assuming a queue).

    A NaN distance (no location) with no reported time gives NA; an infinite distance (no
    reachable water point) gives False.

    Parameters
    ----------
    households : DataFrame
        Household rows (``profiling.schema.HOUSEHOLDS``).
    water_distance_m : Series or array
        Distance to the nearest water point, metres, aligned with ``households``.
    speed_m_per_min : float, default 83.3 (5 km/h)
    queue_column, reported_column : str
        Columns of queuing minutes and reported round-trip minutes (absent → unknown).
    threshold_min : float, default 30
    missing_queue_min : float or None, default 0

    Returns
    -------
    Series of nullable booleans named ``water_within_30min`` (the threshold in the name),
    indexed like ``households``.

    References
    ----------
    WHO/UNICEF JMP (2017), *Progress on drinking water, sanitation and hygiene*, basic
    drinking water service.

    Examples
    --------
    >>> hh = pd.DataFrame({"water_trip_min": [20.0, None], "water_queue_min": [None, 10.0]})
    >>> jmp_water_round_trip(hh, [5000.0, 500.0], speed_m_per_min=50.0).tolist()
    [True, True]
    """
    if speed_m_per_min <= 0:
        raise ValueError("speed_m_per_min must be > 0")
    index = households.index
    distance = pd.Series(np.asarray(water_distance_m, dtype=np.float64), index=index)

    def column(name: str) -> pd.Series:
        if name in households.columns:
            return pd.to_numeric(households[name], errors="coerce").astype("Float64")
        return pd.Series(pd.NA, index=index, dtype="Float64")

    reported = column(reported_column)
    queue = column(queue_column)
    if missing_queue_min is not None:
        queue = queue.fillna(missing_queue_min)
    walk = pd.Series(2.0 * distance / speed_m_per_min, index=index).astype("Float64")
    walk = walk.mask(distance.isna().to_numpy())
    estimated = walk + queue
    trip = reported.where(reported.notna(), estimated)
    flag = (trip <= threshold_min).astype("boolean")
    flag = flag.mask(trip.isna().to_numpy())
    label = f"{threshold_min:g}".replace(".", "_")
    return flag.rename(f"water_within_{label}min")


def _working_units(services: gpd.GeoDataFrame, working: str, total: str) -> pd.Series:
    """Working taps / seats per service: ``working``; else ``total`` when functional; else
    1 when the point is functional or unknown and the count is missing; 0 when not
    functional."""

    def num(name: str) -> pd.Series:
        if name in services.columns:
            return pd.to_numeric(services[name], errors="coerce").astype("Float64")
        return pd.Series(pd.NA, index=services.index, dtype="Float64")

    func = (
        services["functional"].astype("boolean")
        if "functional" in services.columns
        else pd.Series(pd.NA, index=services.index, dtype="boolean")
    )
    units = num(working)
    units = units.where(units.notna(), num(total).where(func.fillna(False)))
    units = units.where(units.notna(), func.fillna(True).astype("Float64"))
    return units.fillna(0.0).astype(float)


def people_per_service(
    households: pd.DataFrame,
    services: pd.DataFrame,
    *,
    settlement_column: str = "settlement_id",
    size_column: str = "household_size",
    thresholds: AccessThresholds = AccessThresholds(),
) -> pd.DataFrame:
    """People per working tap and per working toilet seat, per settlement, with Sphere flags.

    ``people_per_tap = Σ household_size / Σ working taps`` over the settlement's water points,
    ``people_per_seat = Σ household_size / Σ working seats`` over its toilets. Working units
    are ``taps_working`` / ``seats_working``; where missing, ``taps_total`` / ``seats_total``
    of points recorded as functional; where still missing, one unit per point not recorded
    as broken (the counts of such estimated points are reported). Services are assigned to
    settlements by their ``settlement_id``.

    Returns
    -------
    DataFrame indexed by settlement: ``households``, ``households_without_size``, ``people``,
    ``water_points``, ``taps_working``, ``taps_estimated`` (points whose tap count was
    estimated), ``people_per_tap``, ``tap_sphere_ok`` (≤ 250), ``toilets``, ``seats_working``,
    ``seats_estimated``, ``people_per_seat``, ``seat_sphere_ok`` (≤ 20). Ratios are ``inf``
    with people and no working unit, NaN with no people.

    References
    ----------
    Sphere Handbook (2018), Water supply standard 2.1 (250 people per tap) and Excreta
    management standard 3.2 (20 people per toilet).
    """
    size = pd.to_numeric(households[size_column], errors="coerce")
    settle = households[settlement_column].astype("string")
    hh = pd.DataFrame({"settlement": settle, "size": size})
    per = hh.groupby("settlement", dropna=True).agg(
        households=("size", "size"),
        sized=("size", "count"),
        people=("size", "sum"),
    )
    per.insert(1, "households_without_size", per.pop("households") - per.pop("sized"))
    per.insert(0, "households", hh.groupby("settlement", dropna=True).size())
    stype = services["service_type"].astype("string")
    s_settle = services[settlement_column].astype("string")
    frames = [per]
    for kind, prefix, working, total in (
        ("water_point", "tap", "taps_working", "taps_total"),
        ("toilet", "seat", "seats_working", "seats_total"),
    ):
        sel = services.loc[stype.eq(kind).fillna(False).to_numpy(dtype=bool)]
        units = _working_units(sel, working, total)
        estimated = (
            pd.to_numeric(sel[working], errors="coerce").isna()
            if working in sel.columns
            else pd.Series(True, index=sel.index)
        )
        g = pd.DataFrame(
            {"settlement": s_settle.loc[sel.index], "units": units, "est": estimated}
        ).groupby("settlement", dropna=True)
        plural = "water_points" if kind == "water_point" else "toilets"
        frames.append(
            pd.DataFrame(
                {
                    plural: g.size(),
                    f"{prefix}s_working": g["units"].sum(),
                    f"{prefix}s_estimated": g["est"].sum(),
                }
            )
        )
    out = pd.concat(frames, axis=1)
    count_cols = [c for c in out.columns if c != "people"]
    out[count_cols] = out[count_cols].fillna(0).astype(np.int64)
    out["people"] = out["people"].fillna(0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ppt = np.where(out["people"] > 0, out["people"] / out["taps_working"], np.nan)
        pps = np.where(out["people"] > 0, out["people"] / out["seats_working"], np.nan)
    out["people_per_tap"] = ppt
    out["tap_sphere_ok"] = _within(out["people_per_tap"], thresholds.people_per_tap)
    out["people_per_seat"] = pps
    out["seat_sphere_ok"] = _within(out["people_per_seat"], thresholds.people_per_toilet_seat)
    out.index.name = settlement_column
    order = [
        "households", "households_without_size", "people",
        "water_points", "taps_working", "taps_estimated", "people_per_tap", "tap_sphere_ok",
        "toilets", "seats_working", "seats_estimated", "people_per_seat", "seat_sphere_ok",
    ]  # fmt: skip
    return out[order]


def catchments(
    points: gpd.GeoDataFrame,
    services: gpd.GeoDataFrame,
    *,
    service_type: str | None = None,
    functional_only: bool = True,
    include_unknown: bool = True,
    method: Method = "straight",
    network: StreetNetwork | None = None,
    size_column: str | None = "household_size",
) -> pd.DataFrame:
    """The catchment of each service point: the points for which it is the nearest one.

    Every point is assigned to its nearest selected service (straight-line or along the
    network, as :func:`nearest_service_distance`); the catchment of a service is the set of
    points assigned to it.

    Returns
    -------
    DataFrame indexed like the selected services (those of ``service_type`` that pass the
    functional filter): ``service_id``, ``households`` (count), ``people`` (sum of
    ``size_column``; NaN sizes count as 0 and are counted in ``households_without_size``),
    ``median_distance_m`` and ``max_distance_m`` of the assigned points.
    """
    chosen = _checked_selection(
        points,
        services,
        service_type=service_type,
        functional_only=functional_only,
        include_unknown=include_unknown,
        method=method,
    )
    dist, which = _nearest(points, chosen, method=method, network=network, max_distance_m=None)
    if size_column is not None and size_column in points.columns:
        size = pd.to_numeric(points[size_column], errors="coerce").to_numpy(dtype=float)
    else:
        size = np.full(len(points), np.nan)
    hit = which >= 0
    frame = pd.DataFrame({"pos": which[hit], "d": dist[hit], "size": size[hit]})
    g = frame.groupby("pos")
    stats = pd.DataFrame(
        {
            "households": g.size(),
            "people": g["size"].sum(),
            "households_without_size": g.size() - g["size"].count(),
            "median_distance_m": g["d"].median(),
            "max_distance_m": g["d"].max(),
        }
    ).reindex(np.arange(len(chosen)))
    stats.index = chosen.index
    out = pd.concat([pd.DataFrame({"service_id": _ids(chosen)}, index=chosen.index), stats], axis=1)
    counts = ["households", "households_without_size"]
    out[counts] = out[counts].fillna(0).astype(np.int64)
    out["people"] = out["people"].fillna(0.0)
    return out
