"""City indicators for the API: computation from the store, per-audience tables and a cache.

No web framework here: the routes (:mod:`geo_service.api.indicators`) ask
:data:`CACHE` for ready-made bytes, and the upload job calls
:func:`recompute_for_settlements` after storing new data.

Computation (:func:`compute_city`)
----------------------------------
The city's households (settlements whose ``city`` matches) are joined with the analysis
columns the default registry needs (:func:`city_units`): ``hazard_class`` (flood-depth class
of the household's structure, else of its own point, from the store's ``flood_depth``
raster), the straight-line distances to the nearest functional water point, toilet, transit
stop and open space, and ``adults`` counted from the members roster when there is one. Every
household indicator is rolled up per enumeration round for the groupings of
:data:`GROUPINGS`; the settlement-profile table (enumerated and profile-only settlements)
and, when a projects layer exists, the Tier III project rows are appended. The indicators
that could not be computed are kept with their reason (``skipped``).

Audiences
---------
Admins and planners read unsuppressed rows. Everyone else reads
:func:`profiling.indicators.suppress_small_cells` output (``k`` = ``Settings.small_cell_k``),
suppression applied per table (one grouping of one family), so that the cells of a
disaggregation are siblings and the totals published beside them protect nothing by
subtraction. Settlements the caller may not see are **left out of the computation** (the
city rows are recomputed without them), never just hidden afterwards: each distinct hidden
set has its own table.

Cache
-----
Everything is keyed on the store file and its *data version*: the number of uploads and the
latest upload id (:meth:`IndicatorCache.version`, one indexed query). The layers of a city
are read and analysed once per version (:class:`CityData`), the tables computed once per
hidden set, suppressed once per audience, and the serialised response bytes kept per request
shape (city, audience, hidden set, disaggregation, format, round, indicators) in a bounded
LRU. A new upload changes the version, so nothing stale is ever served; the upload hook
(:func:`recompute_for_settlements`) only warms the cache ahead of the first request, and so
does :func:`warm_cache` for every city when the service starts.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rasterio.io import MemoryFile

from geo_service.storage import Store, StoreError
from geo_service.urban_analyses import UrbanData, read_urban
from profiling.access import access_table, people_per_service
from profiling.crs import to_metric
from profiling.deprivation import deprivations
from profiling.hazard import HazardClasses, sample_raster, structure_hazard_class
from profiling.indicators import (
    DEFAULT_REGISTRY,
    URBAN_FORM_REGISTRY,
    adults_from_members,
    indicator_table,
    project_beneficiaries,
    projects_by_type,
    settlement_profile_table,
    suppress_small_cells,
    urban_form_indicator_table,
)
from profiling.indicators.expansion import EXPANSION_REGISTRY, expansion_indicator_table
from profiling.tenure import owner_renter_shares

if TYPE_CHECKING:
    from geo_service.api.deps import Services
    from geo_service.jobs import Progress

__all__ = [
    "ACCESS_TYPES",
    "CACHE",
    "DISAGGREGATIONS",
    "GROUPINGS",
    "CityData",
    "CityIndicators",
    "IndicatorCache",
    "Version",
    "city_services",
    "city_settlements",
    "city_units",
    "compute_city",
    "flood_raster",
    "group_columns_of",
    "recompute_for_settlements",
    "settlement_profile",
    "suppress_by_table",
    "units_hazard_class",
    "warm_cache",
]

ACCESS_TYPES: tuple[str, ...] = ("water_point", "toilet", "transit_stop", "open_space")
"""Service types whose distance columns (``<type>_m``) the access indicators read."""

GROUPINGS: tuple[tuple[str, ...], ...] = (
    (),
    ("settlement_id",),
    ("settlement_id", "head_sex"),
    ("settlement_id", "tenure_type"),
    ("settlement_id", "migration_status"),
    ("hazard_class",),
    ("settlement_id", "hazard_class"),
)
"""Household groupings rolled up: the city, settlements, the disaggregations (the last one
feeds the settlement profile's hazard exposure)."""

DISAGGREGATIONS: dict[str, tuple[str, ...]] = {
    "settlement": ("settlement_id",),
    "sex": ("settlement_id", "head_sex"),
    "tenure": ("settlement_id", "tenure_type"),
    "migration": ("settlement_id", "migration_status"),
    "hazard_class": ("hazard_class",),
    "project_type": ("project_type",),
}
"""API ``disaggregate`` value -> the grouping whose rows are returned (absent: the city)."""

_NOT_SUPPRESSED = frozenset({"tier3_projects"})
"""Counts of projects, not of households: small counts reveal nobody."""

_UNSUPPRESSED_FAMILIES = frozenset({"urban_form", "urban_expansion"})
"""Figures about buildings, blocks and land, not households: never suppressed."""

_PROFILE_FAMILY = "settlement_profiles"


# -- Reading and joining ---------------------------------------------------------------------


@dataclass(frozen=True)
class CityData:
    """The layers of one city, read and analysed once per data version.

    Attributes
    ----------
    city : str
    settlements : pandas.DataFrame
        The city's rows of the ``settlements`` layer (no geometry).
    units : geopandas.GeoDataFrame
        :func:`city_units`: households with the analysis columns, metric CRS.
    services : pandas.DataFrame
        The city's service points (no geometry).
    projects : geopandas.GeoDataFrame or None
        The city's projects in the units' metric CRS (``None`` without a projects layer).
    urban : UrbanData or None
        Block street access and expansion (:func:`geo_service.urban_analyses.read_urban`);
        ``None`` when no settlement has a boundary.
    """

    city: str
    settlements: pd.DataFrame
    units: gpd.GeoDataFrame
    services: pd.DataFrame
    projects: gpd.GeoDataFrame | None
    urban: UrbanData | None = None

    @property
    def settlement_ids(self) -> tuple[str, ...]:
        """Ids of the city's settlements, sorted."""
        return tuple(sorted(self.settlements["settlement_id"].astype(str)))


def city_settlements(store: Store, city: str) -> gpd.GeoDataFrame:
    """The settlements (outlines and attributes) whose ``city`` is ``city``."""
    frame = store.read_layer("settlements")
    chosen = frame[frame["city"].astype("string").eq(city).fillna(False).to_numpy(dtype=bool)]
    return gpd.GeoDataFrame(chosen.reset_index(drop=True))


CITY_SERVICE_MARGIN_DEG = 0.02
"""Services without a settlement (transit stops, open spaces) count for a city when they lie
within this margin (degrees, about 2 km) of its settlements' extent."""


def city_services(store: Store, ids: set[str]) -> gpd.GeoDataFrame:
    """Service points of the city's settlements, and city-wide ones near them."""
    services = store.read_layer("service_points")
    settlement = services["settlement_id"].astype("string")
    own = settlement.isin(ids).fillna(False).to_numpy(dtype=bool)
    shared = settlement.isna().to_numpy(dtype=bool).copy()
    if shared.any() and ids:
        places = store.read_layer("settlements", columns=["settlement_id"])
        places = places[places["settlement_id"].astype(str).isin(ids).to_numpy()]
        if len(places):
            minx, miny, maxx, maxy = places.total_bounds
            m = CITY_SERVICE_MARGIN_DEG
            shared &= services.geometry.intersects(
                shapely.box(minx - m, miny - m, maxx + m, maxy + m)
            ).to_numpy(dtype=bool)
    return services[own | shared]


def flood_raster(store: Store) -> bytes | None:
    """GeoTIFF bytes of the latest flood-depth raster, or ``None``."""
    floods = [r for r in store.rasters() if r.kind == "flood_depth"]
    if not floods:
        return None
    _, tiff = store.read_raster(floods[-1].raster_id)
    return tiff


def units_hazard_class(
    households: gpd.GeoDataFrame, structures: gpd.GeoDataFrame, tiff: bytes
) -> pd.Series:
    """Flood class per household: its structure's (worst cell touched), else its point's."""
    flood = HazardClasses.flood_depth()
    with MemoryFile(tiff) as memfile, memfile.open() as raster:
        by_point = flood.classify(sample_raster(households, raster))
        if len(structures) and "structure_id" in households.columns:
            classes = structure_hazard_class(structures, raster, classes=flood)
            keyed = pd.Series(classes.to_numpy(), index=structures["structure_id"].astype(str))
            keyed = keyed[~keyed.index.duplicated(keep="first")]
            ids = households["structure_id"].astype(object)
            of_structure = pd.Series(
                pd.Categorical(ids.map(keyed).astype(object), dtype=flood.dtype),
                index=households.index,
            )
            return of_structure.fillna(by_point).rename("hazard_class")
    return by_point.rename("hazard_class")


def city_units(store: Store, city: str) -> gpd.GeoDataFrame:
    """The city's households joined with the analysis columns the registry needs.

    Parameters
    ----------
    store : Store
    city : str
        Value of the ``city`` field of the ``settlements`` layer.

    Returns
    -------
    geopandas.GeoDataFrame
        Households of the city's settlements (no personal fields) in a metric CRS, with
        ``hazard_class`` (when a flood-depth raster is stored), ``water_point_m``,
        ``toilet_m``, ``transit_stop_m``, ``open_space_m`` (straight line, ``inf`` when the
        city has no such service) and, when a members roster is stored, ``adults`` /
        ``adult_females`` / ``adult_males`` counted from it.
    """
    return _read_city(store, city).units


def _read_city(store: Store, city: str) -> CityData:
    outlines = city_settlements(store, city)
    has_outline = outlines.geometry.notna() & ~outlines.geometry.is_empty
    urban = read_urban(store, outlines[has_outline.to_numpy()]) if has_outline.any() else None
    settlements = pd.DataFrame(outlines.drop(columns=outlines.geometry.name))
    ids = set(settlements["settlement_id"].astype(str))
    households = store.read_layer("households")
    households = households[households["settlement_id"].astype("string").isin(ids).to_numpy()]
    services = city_services(store, ids)
    structures = store.read_layer("structures")
    structures = structures[structures["settlement_id"].astype("string").isin(ids).fillna(False)]
    projects = store.read_layer("projects")
    if "settlement_id" in projects.columns and len(projects):
        projects = projects[projects["settlement_id"].astype("string").isin(ids).fillna(False)]
    if len(households):
        metric = to_metric(households, services, structures, projects)
        units, services_m, structures_m, projects_m = (
            gpd.GeoDataFrame(f) for f in metric
        )  # fmt: skip
    else:
        units, services_m, structures_m, projects_m = households, services, structures, projects
    units = units.copy()
    if len(units):
        access = access_table(units, services_m, types=ACCESS_TYPES)
        for kind in ACCESS_TYPES:
            units[f"{kind}_m"] = access[f"{kind}_m"]
        tiff = flood_raster(store)
        if tiff is not None:
            units["hazard_class"] = units_hazard_class(units, structures_m, tiff)
        members = store.read_layer("members")
        if len(members):
            members = members[members["household_id"].astype("string").isin(
                units["household_id"].astype("string")
            ).fillna(False)]  # fmt: skip
            if len(members):
                units = gpd.GeoDataFrame(adults_from_members(units, pd.DataFrame(members)))
    return CityData(
        city=city,
        settlements=settlements,
        units=units,
        services=pd.DataFrame(services.drop(columns=services.geometry.name)),
        projects=projects_m if len(projects) else None,
        urban=urban,
    )


# -- Computing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CityIndicators:
    """Every indicator row of a city (all rounds), before any suppression.

    Attributes
    ----------
    city : str
    table : pandas.DataFrame
        Tidy rows (:func:`profiling.indicators.tidy_table` layout) of the household,
        settlement-profile and project families, plus two bookkeeping columns: ``family``
        and ``grouping`` (the group columns joined by ``","``; ``""`` for the city).
    skipped : dict
        Indicator id -> why it was not computed.
    settlements : tuple of str
        Settlements whose data went into the table.
    excluded : frozenset of str
        Settlements of the city left out of the computation.
    computed_at : str
        UTC ISO timestamp.
    """

    city: str
    table: pd.DataFrame
    skipped: dict[str, str]
    settlements: tuple[str, ...]
    excluded: frozenset[str] = frozenset()
    computed_at: str = ""
    rounds: tuple[str, ...] = field(default=())


def _grouping_of(labels: pd.Series) -> np.ndarray:
    """``"settlement_id=a; head_sex=NA"`` -> ``"settlement_id,head_sex"`` (``""``: city)."""
    uniques = {
        label: ",".join(part.split("=", 1)[0] for part in label.split("; ")) if label else ""
        for label in pd.unique(labels.astype(str))
    }
    return labels.astype(str).map(uniques).to_numpy(dtype=object)


def _tag(table: pd.DataFrame, family: str) -> pd.DataFrame:
    if table.empty:
        return table
    out = table.copy()
    out["family"] = family
    out["grouping"] = _grouping_of(out["group"])
    return out


def _compute(data: CityData, exclude: frozenset[str], stamp: datetime) -> CityIndicators:
    units = data.units
    settlements = data.settlements
    if exclude:
        keep = ~units["settlement_id"].astype("string").isin(exclude).fillna(False).to_numpy()
        units = units[keep]
        settlements = settlements[~settlements["settlement_id"].astype(str).isin(exclude)]
    services = data.services
    services = services[~services["settlement_id"].astype("string").isin(exclude).fillna(False)]
    tables: list[pd.DataFrame] = []
    skipped: dict[str, str] = {}
    plain = pd.DataFrame(units.drop(columns=units.geometry.name)) if len(units) else None
    if plain is not None:
        groupings = [g for g in GROUPINGS if all(c in plain.columns for c in g)]
        for g in GROUPINGS:
            if g not in groupings:
                skipped[f"grouping:{'x'.join(g)}"] = f"columns {list(g)} not available"
        result = indicator_table(
            plain,
            registry=DEFAULT_REGISTRY,
            groupings=groupings,
            computed_at=stamp,
            round_column="round",
            upload_column="upload_id",
        )
        tables.append(_tag(result.table, "households"))
        skipped.update(result.skipped)
    profile = settlement_profile_table(
        settlements, plain, services, round_column="round", computed_at=stamp
    )
    tables.append(_tag(profile, _PROFILE_FAMILY))
    projects = data.projects
    if projects is not None and "settlement_id" in projects.columns:
        projects = projects[
            ~projects["settlement_id"].astype("string").isin(exclude).fillna(False).to_numpy()
        ]
    if projects is not None and len(projects):
        tables.append(_tag(projects_by_type(projects, computed_at=stamp), "projects"))
        if len(units):
            beneficiaries = project_beneficiaries(projects, units, computed_at=stamp)
            tables.append(_tag(beneficiaries.table, "projects"))
    elif data.projects is None:
        skipped["tier3_projects"] = "no projects layer for this city"
    tables.extend(_urban_tables(data.urban, exclude, stamp, skipped))
    kept = [t for t in tables if not t.empty]
    table = pd.concat(kept, ignore_index=True, sort=False) if kept else pd.DataFrame()
    rounds = tuple(sorted({str(r) for r in table["round"].dropna()})) if "round" in table else ()
    return CityIndicators(
        city=data.city,
        table=table,
        skipped=skipped,
        settlements=tuple(sorted(set(data.settlement_ids) - exclude)),
        excluded=frozenset(exclude) & set(data.settlement_ids),
        computed_at=stamp.astimezone(UTC).isoformat(timespec="seconds"),
        rounds=rounds,
    )


def _urban_tables(
    urban: UrbanData | None,
    exclude: frozenset[str],
    stamp: datetime,
    skipped: dict[str, str],
) -> list[pd.DataFrame]:
    """Block street access rows (without ``exclude``) and the city's expansion rows."""
    reasons = {"urban_form": "no settlement outlines", "urban_expansion": "no settlement outlines"}
    out: list[pd.DataFrame] = []
    if urban is not None:
        reasons = dict(urban.skipped)
    if urban is not None and urban.form is not None:
        form = urban.form
        blocks = pd.DataFrame(form.blocks.drop(columns=form.blocks.geometry.name))
        rows = urban_form_indicator_table(
            form.buildings[~form.buildings["settlement_id"].isin(exclude)],
            blocks[~blocks["settlement_id"].isin(exclude)],
            computed_at=stamp,
            source=f"{form.footprints} layer",
        )
        out.append(_tag(rows, "urban_form"))
    if urban is not None and urban.expansion is not None:
        rows = expansion_indicator_table(urban.expansion.table, city=None, computed_at=stamp)
        out.append(_tag(rows, "urban_expansion"))
        reasons["urban_expansion"] = "needs the population of each epoch (not in the store)"
    done = {i for t in out if not t.empty for i in t["indicator_id"].unique()}
    for family, registry in (
        ("urban_form", URBAN_FORM_REGISTRY),
        ("urban_expansion", EXPANSION_REGISTRY),
    ):
        for indicator in registry:
            if indicator.id not in done:
                skipped[indicator.id] = reasons.get(family, "no rows")
    return [t for t in out if not t.empty]


def compute_city(
    store: Store,
    city: str,
    *,
    computed_at: datetime | None = None,
    exclude: Iterable[str] = (),
) -> CityIndicators:
    """The full tidy indicator table of a city, for every round.

    Parameters
    ----------
    store : Store
    city : str
    computed_at : datetime, optional, keyword-only
        Timestamp recorded on every row (default: now, UTC).
    exclude : iterable of str, keyword-only
        Settlements left out of the computation (those the audience may not see).

    Returns
    -------
    CityIndicators
    """
    stamp = computed_at or datetime.now(UTC)
    return _compute(_read_city(store, city), frozenset(exclude), stamp)


# -- Suppression -----------------------------------------------------------------------------


def suppress_by_table(table: pd.DataFrame, *, k: int) -> pd.DataFrame:
    """:func:`profiling.indicators.suppress_small_cells` applied table by table.

    A *table* is the rows of one family and one grouping; its group columns are the sibling
    dimensions (e.g. the settlements of one ``head_sex`` and the sexes of one settlement).
    Project counts (:data:`_NOT_SUPPRESSED`) are never suppressed.

    Parameters
    ----------
    table : pandas.DataFrame
        A :class:`CityIndicators` table (with ``family`` and ``grouping``).
    k : int, keyword-only
        Minimum households per published cell.

    Returns
    -------
    pandas.DataFrame
        The rows in their order, statistics blanked where suppressed, with ``suppressed``.
    """
    if table.empty:
        return table.assign(suppressed=pd.Series(dtype=object))
    parts: list[pd.DataFrame] = []
    all_groups = group_columns_of(table)
    free = (
        table["indicator_id"].isin(_NOT_SUPPRESSED).to_numpy()
        | table["family"].isin(_UNSUPPRESSED_FAMILIES).to_numpy()
    )
    if free.any():
        parts.append(table[free].assign(suppressed=""))
    rest = table[~free]
    for (_, grouping), part in rest.groupby(["family", "grouping"], sort=False):
        dims = [c for c in str(grouping).split(",") if c]
        others = [c for c in all_groups if c not in dims]
        sub = part.drop(columns=[*others, "family", "grouping"])
        done = suppress_small_cells(sub, k=k, group_columns=dims)
        parts.append(done.assign(family=part["family"].to_numpy(), grouping=str(grouping)))
    out = pd.concat(parts, sort=False)
    return out.loc[table.index, [*table.columns, "suppressed"]]


_STANDARD = {
    "indicator_id",
    "indicator_version",
    "group",
    "round",
    "value",
    "numerator",
    "denominator",
    "n_units",
    "unknown",
    "ci_low",
    "ci_high",
    "ci_method",
    "unit",
    "population",
    "parameters",
    "rounds",
    "upload_ids",
    "source",
    "computed_at",
    "code_version",
    "family",
    "grouping",
    "suppressed",
}


def group_columns_of(table: pd.DataFrame) -> list[str]:
    """The group columns of a (tagged, possibly suppressed) city table."""
    return [c for c in table.columns if c not in _STANDARD]


# -- Cache -----------------------------------------------------------------------------------

Version = tuple[int, int]


class IndicatorCache:
    """Per-store, per-data-version cache of city data, tables and response bytes.

    Thread-safe: a lock guards the dictionaries, and one lock per city makes concurrent
    first requests compute once.

    Parameters
    ----------
    max_payloads : int
        Serialised responses kept (least recently used dropped first).
    """

    def __init__(self, max_payloads: int = 2048) -> None:
        self.max_payloads = max_payloads
        self._lock = threading.Lock()
        self._city_locks: dict[tuple[str, str], threading.Lock] = {}
        self._data: dict[tuple[Hashable, ...], CityData] = {}
        self._cities: dict[tuple[Hashable, ...], dict[str, str]] = {}
        self._tables: dict[tuple[Hashable, ...], CityIndicators] = {}
        self._audience: dict[tuple[Hashable, ...], pd.DataFrame] = {}
        self._payloads: OrderedDict[tuple[Hashable, ...], Any] = OrderedDict()
        self.computations = 0
        """How many city tables were computed (for tests and metrics)."""

    @staticmethod
    def _path(store: Store) -> str:
        return store.location

    @staticmethod
    def version(store: Store) -> Version:
        """The store's data version: (number of uploads, latest upload id)."""
        return store.data_version()

    def _city_lock(self, path: str, city: str) -> threading.Lock:
        with self._lock:
            return self._city_locks.setdefault((path, city), threading.Lock())

    def _forget_old(self, path: str, version: Version) -> None:
        """Drop entries of older versions of the store at ``path`` (lock held)."""
        for cache in (self._data, self._cities, self._tables, self._audience, self._payloads):
            stale = [key for key in cache if key[0] == path and key[1] != version]
            for key in stale:
                del cache[key]

    def settlement_cities(self, store: Store, version: Version) -> dict[str, str]:
        """Settlement id -> city, for every settlement with a city."""
        path = self._path(store)
        with self._lock:
            found = self._cities.get((path, version))
        if found is not None:
            return found
        frame = store.read_layer("settlements", columns=["settlement_id", "city"])
        pairs = pd.DataFrame(frame.drop(columns=frame.geometry.name)).dropna()
        mapping = dict(
            zip(pairs["settlement_id"].astype(str), pairs["city"].astype(str), strict=True)
        )
        with self._lock:
            self._forget_old(path, version)
            self._cities[(path, version)] = mapping
        return mapping

    def city_data(self, store: Store, city: str, version: Version) -> CityData:
        """The layers of ``city`` read and analysed (once per version)."""
        path = self._path(store)
        key = (path, version, city)
        with self._lock:
            found = self._data.get(key)
        if found is not None:
            return found
        with self._city_lock(path, city):
            with self._lock:
                found = self._data.get(key)
            if found is None:
                found = _read_city(store, city)
                with self._lock:
                    self._data[key] = found
        return found

    def indicators(
        self,
        store: Store,
        city: str,
        version: Version,
        exclude: frozenset[str] = frozenset(),
    ) -> CityIndicators:
        """The city's table without the ``exclude`` settlements (once per version and set)."""
        path = self._path(store)
        key = (path, version, city, exclude)
        with self._lock:
            found = self._tables.get(key)
        if found is not None:
            return found
        data = self.city_data(store, city, version)
        with self._city_lock(path, city):
            with self._lock:
                found = self._tables.get(key)
            if found is None:
                found = _compute(data, exclude, datetime.now(UTC))
                with self._lock:
                    self._tables[key] = found
                    self.computations += 1
        return found

    def audience_table(
        self,
        store: Store,
        city: str,
        version: Version,
        exclude: frozenset[str],
        k: int | None,
    ) -> tuple[CityIndicators, pd.DataFrame]:
        """The table an audience reads: ``k`` ``None`` unsuppressed, else suppressed."""
        result = self.indicators(store, city, version, exclude)
        key = (self._path(store), version, city, exclude, k)
        with self._lock:
            found = self._audience.get(key)
        if found is None:
            found = result.table if k is None else suppress_by_table(result.table, k=k)
            with self._lock:
                self._audience[key] = found
        return result, found

    def payload(
        self,
        store: Store,
        version: Version,
        key: tuple[Hashable, ...],
        build: Callable[[], Any],
    ) -> Any:
        """A serialised response, built once per ``key`` and data version."""
        full = (self._path(store), version, *key)
        with self._lock:
            found = self._payloads.get(full)
            if found is not None:
                self._payloads.move_to_end(full)
                return found
        built = build()
        with self._lock:
            self._payloads[full] = built
            while len(self._payloads) > self.max_payloads:
                self._payloads.popitem(last=False)
        return built

    def clear(self, store: Store | None = None, cities: Sequence[str] = ()) -> None:
        """Forget everything (or what belongs to ``store``'s ``cities``)."""
        with self._lock:
            if store is None:
                for cache in (self._data, self._cities, self._tables, self._audience):
                    cache.clear()
                self._payloads.clear()
                return
            path = self._path(store)
            wanted = set(cities)
            for cache in (self._data, self._tables, self._audience, self._payloads):
                stale = [
                    key
                    for key in cache
                    if key[0] == path and (not wanted or (len(key) > 2 and key[2] in wanted))
                ]
                for key in stale:
                    del cache[key]


CACHE = IndicatorCache()
"""The process-wide cache used by the API and the upload hook."""


def recompute_for_settlements(
    services: Services, settlement_ids: list[str], progress: Progress | None = None
) -> list[str]:
    """Recompute the cities of ``settlement_ids`` and refresh the cache (upload job hook).

    The city data, the full table and the table without the settlements hidden from the
    public are computed for the store's current data version, so that the first request
    after an upload is served from the cache. Entries of older versions are dropped by the
    cache itself; nothing of the current version is thrown away, so when uploads queue up,
    the first follow-up job computes the latest version and the next ones find it ready.

    Parameters
    ----------
    services : Services
        The application's services (store, service database, settings).
    settlement_ids : list of str
        Settlements whose data changed.
    progress : callable, optional
        ``progress(done, total)`` in cities, called before each city.

    Returns
    -------
    list of str
        The cities computed.
    """
    store = services.store
    version = CACHE.version(store)
    try:
        cities_of = CACHE.settlement_cities(store, version)
    except StoreError:
        return []
    cities = sorted({cities_of[s] for s in settlement_ids if s in cities_of})
    owners = services.db.owners()
    for done, city in enumerate(cities):
        if progress is not None:
            progress(done, len(cities))
        data = CACHE.city_data(store, city, version)
        in_city = set(data.settlement_ids)
        hidden = frozenset(s for s, (_, published) in owners.items() if not published) & in_city
        CACHE.audience_table(store, city, version, frozenset(), None)
        CACHE.audience_table(store, city, version, hidden, services.settings.small_cell_k)
    return cities


def warm_cache(services: Services, progress: Progress | None = None) -> list[str]:
    """Compute every city of the store into the cache (the job queued at start when
    ``Settings.warm_cache_on_start``): after a restart or a deployment, the first request
    for a city's indicators, profiles or maps is answered from the cache instead of waiting
    for the city's analyses (seconds to minutes: the parcels of block street access are the
    slow part). A request that arrives while its city is being computed waits for that
    computation rather than starting its own.

    Returns
    -------
    list of str
        The cities computed.
    """
    try:
        settlements = list(CACHE.settlement_cities(services.store, CACHE.version(services.store)))
    except StoreError:
        return []
    return recompute_for_settlements(services, settlements, progress)


# -- Settlement profile ----------------------------------------------------------------------


def _latest(rows: pd.DataFrame) -> pd.DataFrame:
    """Each indicator's row of the latest round."""
    if rows.empty:
        return rows
    ordered = rows.assign(_r=rows["round"].astype("string").fillna(""))
    ordered = ordered.sort_values("_r", kind="stable")
    return ordered.drop_duplicates(subset=["indicator_id", "group"], keep="last").drop(columns="_r")


def _cell(row: pd.Series | None) -> dict[str, Any]:
    if row is None:
        return {"value": None, "suppressed": "not available"}
    out: dict[str, Any] = {}
    for name in ("value", "numerator", "denominator", "n_units", "unknown"):
        value = row.get(name)
        out[name] = None if value is None or pd.isna(value) else float(value)
    out["round"] = None if pd.isna(row.get("round")) else str(row.get("round"))
    out["suppressed"] = str(row.get("suppressed", "") or "")
    return out


def _share_cell(numerator: float, known: float, n_units: float, k: int | None) -> dict[str, Any]:
    value = numerator / known if known > 0 else None
    if k is not None and n_units < k:
        return {
            "value": None,
            "numerator": None,
            "denominator": None,
            "n_units": None,
            "suppressed": f"fewer than {k} households",
        }
    return {
        "value": value,
        "numerator": float(numerator),
        "denominator": float(known),
        "n_units": float(n_units),
        "suppressed": "",
    }


def settlement_profile(
    data: CityData, table: pd.DataFrame, settlement_id: str, *, k: int | None
) -> dict[str, Any]:
    """One settlement's profile from the audience's table and the city's households.

    Parameters
    ----------
    data : CityData
    table : pandas.DataFrame
        The audience table (suppressed or not) the settlement's rows are read from.
    settlement_id : str
    k : int or None, keyword-only
        Suppression threshold (``None``: none) for the figures computed here.

    Returns
    -------
    dict
        ``settlement_id``, ``name``, ``city``, ``source``, ``round``, ``population``,
        ``households``, ``services``, ``access``, ``hazard_exposure``, ``tenure``,
        ``deprivations``; each figure a cell ``{value, numerator, denominator, n_units,
        suppressed}``.
    """
    record = data.settlements[data.settlements["settlement_id"].astype(str) == settlement_id]
    info = record.iloc[0] if len(record) else pd.Series(dtype=object)
    label = f"settlement_id={settlement_id}"
    mine = table[table["group"].astype(str) == label] if not table.empty else table
    latest = _latest(mine)
    by_id = {str(r["indicator_id"]): r for _, r in latest.iterrows()}
    units = data.units
    own = units[units["settlement_id"].astype("string").eq(settlement_id).fillna(False).to_numpy()]
    enumerated = len(own) > 0
    round_value = None
    if enumerated:
        rounds = own["round"].dropna().astype(str)
        round_value = rounds.max() if len(rounds) else None
        own = own[own["round"].astype("string").eq(round_value).fillna(False).to_numpy()]

    def name_of(column: str) -> Any:
        value = info.get(column) if len(info) else None
        return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value

    profile_row = by_id.get("people_per_working_tap")
    if not enumerated and profile_row is not None and not pd.isna(profile_row.get("round")):
        round_value = str(profile_row["round"])
    out: dict[str, Any] = {
        "settlement_id": settlement_id,
        "name": name_of("name"),
        "city": data.city,
        "source": "enumeration" if enumerated else "profile",
        "round": round_value,
    }
    tap, seat = by_id.get("people_per_working_tap"), by_id.get("people_per_working_toilet_seat")
    if enumerated:
        out["population"] = _cell(by_id.get("people_count"))
        out["households"] = _cell(by_id.get("households_count"))
    else:
        population = name_of("population")
        households = name_of("households")
        out["population"] = {
            "value": None if population is None else float(population),
            "suppressed": "",
        }
        out["households"] = {
            "value": None if households is None else float(households),
            "suppressed": "",
        }
    out["services"] = {
        "taps_working": _denominator_cell(tap),
        "people_per_working_tap": _cell(tap),
        "toilet_seats_working": _denominator_cell(seat),
        "people_per_working_toilet_seat": _cell(seat),
    }
    if enumerated and k is None:
        per = people_per_service(
            own, data.services[data.services["settlement_id"] == settlement_id]
        )
        if settlement_id in per.index:
            counts = per.loc[[settlement_id], ["water_points", "toilets"]].to_numpy(dtype=int)
            out["services"]["water_points"] = int(counts[0, 0])
            out["services"]["toilets"] = int(counts[0, 1])
    out["access"] = {kind: _cell(by_id.get(f"access_{kind}_within")) for kind in ACCESS_TYPES}
    hazard_rows = _latest(
        table[table["group"].astype(str).str.startswith(label + "; hazard_class=")]
        if not table.empty
        else table
    )
    hazard_rows = (
        hazard_rows[hazard_rows["indicator_id"] == "people_count"]
        if len(hazard_rows)
        else hazard_rows
    )
    out["hazard_exposure"] = {
        str(r["hazard_class"]) if not pd.isna(r["hazard_class"]) else "unknown": _cell(r)
        for _, r in hazard_rows.iterrows()
    }
    tenure: dict[str, Any] = {
        "documented_share": _cell(by_id.get("sdg_1_4_2_documented")),
        "perceived_secure_share": _cell(by_id.get("sdg_1_4_2_perceived")),
        "people_under_eviction_threat": _cell(by_id.get("people_under_eviction_threat")),
        "people_in_recognised_settlement": _cell(by_id.get("people_in_recognised_settlements")),
        "legal_status": name_of("legal_status"),
        "eviction_threat": name_of("eviction_threat"),
    }
    if enumerated:
        shares = owner_renter_shares(pd.DataFrame(own.drop(columns=own.geometry.name)), by=None)
        row = shares.iloc[0]
        n = float(len(own))
        tenure["owner_occupier_share"] = _share_cell(
            float(row["owner_occupiers"]), float(row["households"]), n, k
        )
        tenure["renter_share"] = _share_cell(float(row["renters"]), float(row["households"]), n, k)
    out["tenure"] = tenure
    if enumerated:
        table_d = deprivations(pd.DataFrame(own.drop(columns=own.geometry.name)))
        n = float(len(own))
        shares_d: dict[str, Any] = {}
        for column in (
            "improved_water_deprived",
            "improved_sanitation_deprived",
            "overcrowded",
            "non_durable_housing",
            "insecure_tenure",
            "slum_household",
        ):
            flags = table_d[column]
            shares_d[column] = _share_cell(
                float(flags.fillna(False).astype(bool).sum()), float(flags.notna().sum()), n, k
            )
        shares_d["slum_population_share"] = _cell(by_id.get("sdg_11_1_1_slum_population"))
        out["deprivations"] = shares_d
    else:
        out["deprivations"] = None
    return out


def _denominator_cell(row: pd.Series | None) -> dict[str, Any]:
    if row is None:
        return {"value": None, "suppressed": "not available"}
    value = row.get("denominator")
    reason = str(row.get("suppressed", "") or "")
    return {"value": None if pd.isna(value) else float(value), "suppressed": reason}
