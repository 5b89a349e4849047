"""Cities Alliance Tier III: community infrastructure projects and their direct beneficiaries.

Two figures of the Corporate Results Framework (CRF) Tier III are produced from the
``projects`` and ``households`` layers (:mod:`profiling.schema`):

* :func:`projects_by_type`: projects delivered or under way, by type (and status /
  settlement on request), with a city total (indicator ``tier3_projects``).
* :func:`project_beneficiaries`: the people living in each project's catchment, female /
  male, **each person counted once** in every total (indicators
  ``tier3_direct_beneficiaries``, ``..._female``, ``..._male``).

Catchments
----------
A project's catchment is its geometry buffered by ``catchment_m`` metres: a household is in
it when its point lies within ``catchment_m`` of the project geometry (exact distance,
``shapely.dwithin``; no polygonal approximation of the buffer). Without ``catchment_m`` a
polygon project's catchment is the polygon itself, and a point / line project uses
``default_catchment_m`` if given, else its **settlement** (every household with the same
``settlement_id``); without a settlement either there is no spatial estimate (``catchment``
= ``"none"``). Projects and households must be in one metric CRS
(:func:`profiling.crs.require_metric`); households are reprojected to the projects' CRS.

Counting once
-------------
A household in several catchments counts in the figure of each of those projects, but once
only in any total (by type, city). Totals are taken over the **union** of the households of
the projects they cover.

Implementers often report a figure of their own (``beneficiaries_reported``: people, no sex
split). Two projects whose catchments overlap may count the same people, and how many is
uncertain, so their figures may not be added. The projects are therefore grouped into the
connected components of the *catchment-overlap graph* (an edge joins two projects whose
catchments intersect, that share an enumerated household, or of which one falls back on the
settlement the other is in). Per component :math:`c`,

.. math::

    B_c = \\max\\Big(\\sum_{h \\in \\bigcup_{p \\in c} H_p} \\text{people}_h,\\;
    \\max_{p \\in c} R_p\\Big)

the larger of the enumerated people in the union of its catchments and the largest
reported figure of its projects: "take the larger estimate, never the sum". Components do
not overlap, so a total is :math:`\\sum_c B_c`. The female / male figures are enumerated
only (reported figures have no sex split): where a component takes its reported figure,
female + male + sex unknown is less than the total.

People per household: ``household_size``; else ``females + males``; else the number of
members in the ``members`` roster. Females / males: the household's ``females`` / ``males``
columns, else its members counted by ``sex`` (``female`` / ``male`` of
:data:`profiling.codelists.HEAD_SEX`); the household's people not so counted (unknown sex,
``other``) are ``sex_unknown``. A household whose size cannot be found counts 0 people and
is reported in ``unknown``.

References
----------
.. [CRF2021] Cities Alliance, *Corporate Results Framework* (2021) and the annual
   *Corporate Scorecard*: Tier III counts community infrastructure projects and the people
   who directly benefit from them; direct beneficiaries are counted once, however many
   projects reach them. "Where overlap is uncertain, take the larger estimate, never the
   sum" is the rule this module applies to reported figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from profiling.codelists import PROJECT_STATUS
from profiling.crs import require_metric
from profiling.indicators.registry import Indicator, Registry
from profiling.indicators.rollup import tidy_table

__all__ = [
    "DEFAULT_STATUSES",
    "PROJECT_INDICATORS",
    "PROJECT_REGISTRY",
    "Beneficiaries",
    "project_beneficiaries",
    "projects_by_type",
]

DEFAULT_STATUSES: tuple[str, ...] = ("ongoing", "completed")
"""Statuses counted by default: projects under way or delivered (planned and cancelled ones
reach nobody yet)."""

_CITY: tuple[str, ...] = ()


def _one(units: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
    """1 per project (a count of projects)."""
    return pd.Series(1.0, index=units.index)


_BENEFICIARY_PARAMETERS: dict[str, Any] = {
    "statuses": list(DEFAULT_STATUSES),
    "default_catchment_m": None,
}

PROJECT_INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        id="tier3_projects",
        name="Community infrastructure projects",
        description=(
            "Number of community infrastructure projects with a status in `statuses` "
            "(default ongoing or completed; cancelled and planned ones are left out), by "
            "project type. The unit counted is a project (unit 'projects'); population "
            "'structures' only means one per row, with no size weighting."
        ),
        reference="Cities Alliance CRF Tier III [CRF2021]",
        unit="projects",
        population="structures",
        numerator=_one,
        denominator="none: a count (value = numerator)",
        parameters={"statuses": list(DEFAULT_STATUSES)},
        version="1",
        statistic="total",
    ),
    Indicator(
        id="tier3_direct_beneficiaries",
        name="Direct beneficiaries of community infrastructure projects",
        description=(
            "People living in the catchment of a project, each counted once: the union of "
            "the households of the projects, with overlapping projects grouped and the "
            "larger of the enumerated and the reported figure taken per group, never the "
            "sum. Households without a known size count 0 people (column unknown)."
        ),
        reference="Cities Alliance CRF Tier III [CRF2021]",
        unit="people",
        population="people",
        numerator="people",
        denominator="none: a count of distinct people (value = numerator)",
        parameters=_BENEFICIARY_PARAMETERS,
        version="1",
        statistic="total",
    ),
    Indicator(
        id="tier3_direct_beneficiaries_female",
        name="Female direct beneficiaries of community infrastructure projects",
        description=(
            "Females living in the catchment of a project, each counted once (union of "
            "households). Enumerated only: reported figures have no sex split. Households "
            "whose sex split is not known are counted in unknown."
        ),
        reference="Cities Alliance CRF Tier III [CRF2021]",
        unit="people",
        population="people",
        numerator="females",
        denominator="none: a count of distinct people (value = numerator)",
        parameters=_BENEFICIARY_PARAMETERS,
        version="1",
        statistic="total",
    ),
    Indicator(
        id="tier3_direct_beneficiaries_male",
        name="Male direct beneficiaries of community infrastructure projects",
        description=(
            "Males living in the catchment of a project, each counted once (union of "
            "households). Enumerated only: reported figures have no sex split. Households "
            "whose sex split is not known are counted in unknown."
        ),
        reference="Cities Alliance CRF Tier III [CRF2021]",
        unit="people",
        population="people",
        numerator="males",
        denominator="none: a count of distinct people (value = numerator)",
        parameters=_BENEFICIARY_PARAMETERS,
        version="1",
        statistic="total",
    ),
)
"""Tier III definitions (computed by :func:`projects_by_type` and
:func:`project_beneficiaries`, not by :func:`profiling.indicators.roll_up`)."""

PROJECT_REGISTRY = Registry(PROJECT_INDICATORS)
"""Registry of :data:`PROJECT_INDICATORS` (kept apart: they read project rows)."""


@dataclass(frozen=True)
class Beneficiaries:
    """Result of :func:`project_beneficiaries`.

    Attributes
    ----------
    per_project : pandas.DataFrame
        One row per counted project: ``project_id``, ``project_type``, ``status``,
        ``settlement_id``, ``catchment`` (``"buffer"``, ``"polygon"``, ``"settlement"`` or
        ``"none"``), ``catchment_m`` (distance used, m), ``households``, ``people``,
        ``females``, ``males``, ``sex_unknown`` (enumerated, in the project's own catchment;
        shared households count in each project), ``beneficiaries_reported``,
        ``component``.
    table : pandas.DataFrame
        Tidy rows (:func:`profiling.indicators.rollup.tidy_table`) of the three beneficiary
        indicators for the city and per grouping, each person counted once.
    components : pandas.DataFrame
        One row per component of the city's overlap graph: ``component``, ``project_ids``,
        ``households``, ``people_enumerated``, ``reported_max``, ``beneficiaries`` and
        ``estimate`` (``"enumerated"`` or ``"reported"``, the estimate taken).
    """

    per_project: pd.DataFrame
    table: pd.DataFrame
    components: pd.DataFrame


# -- Helpers -----------------------------------------------------------------------------------


def _require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"{what} lack the column(s) {missing} (see profiling.schema)")


def _statuses(statuses: Sequence[str] | str | None) -> list[str] | None:
    if statuses is None:
        return None
    chosen = [statuses] if isinstance(statuses, str) else list(statuses)
    unknown = sorted(set(chosen) - set(PROJECT_STATUS))
    if unknown:
        raise ValueError(f"status {unknown} not in PROJECT_STATUS {sorted(PROJECT_STATUS)}")
    return chosen


def _status_mask(projects: pd.DataFrame, statuses: list[str] | None) -> np.ndarray:
    """True for projects kept by the ``statuses`` filter (``None``: every project)."""
    if statuses is None:
        return np.ones(len(projects), dtype=bool)
    _require(projects, ["status"], "projects")
    kept = projects["status"].astype("string").isin(statuses).fillna(False)
    return kept.to_numpy(dtype=bool)


def _number(frame: pd.DataFrame, column: str) -> np.ndarray:
    """``column`` as float (``NaN`` when absent, missing or not a number)."""
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(pd.NA, index=frame.index, dtype="string")
    return frame[column].astype("string")


def _objects(values: pd.Series) -> np.ndarray:
    """Object array with ``None`` for missing values."""
    return np.asarray(values.astype(object).where(values.notna(), None), dtype=object)


def _geometries(frame: pd.DataFrame) -> np.ndarray:
    """The geometry array (``None`` everywhere when the frame has no geometry)."""
    name = getattr(frame, "_geometry_column_name", None)
    if isinstance(frame, gpd.GeoDataFrame) and name is not None and name in frame.columns:
        return np.asarray(frame.geometry.array, dtype=object)
    return np.full(len(frame), None, dtype=object)


def _ids_text(*values: Iterable[Any]) -> str:
    return ",".join(sorted({str(v) for vals in values for v in vals if pd.notna(v)}))


def _upload_ids(frame: pd.DataFrame, rows: np.ndarray) -> list[Any]:
    if "upload_id" not in frame.columns:
        return []
    return list(frame["upload_id"].to_numpy()[rows])


# -- Projects by type --------------------------------------------------------------------------


def projects_by_type(
    projects: pd.DataFrame,
    *,
    by: Sequence[str] = ("project_type",),
    statuses: Sequence[str] | None = DEFAULT_STATUSES,
    computed_at: datetime | None = None,
) -> pd.DataFrame:
    """Count projects per type (indicator ``tier3_projects``), with a city total row.

    Parameters
    ----------
    projects : pandas.DataFrame
        The ``projects`` layer (``project_id``, the ``by`` columns, ``status`` when
        filtering; ``upload_id`` for provenance when present). Geometry is not read.
    by : sequence of str, keyword-only
        Group keys: ``("project_type",)``, ``("project_type", "status")``,
        ``("settlement_id", "project_type")``... Missing keys form their own group (label
        ``NA``) so the groups add up to the city row.
    statuses : sequence of str or None, keyword-only
        Statuses counted (codes of :data:`profiling.codelists.PROJECT_STATUS`); default
        :data:`DEFAULT_STATUSES` (ongoing, completed). Projects without a status are left
        out by a filter. ``None``: every project. Recorded in ``parameters``.
    computed_at : datetime, optional, keyword-only
        Timestamp to record (default: now, UTC).

    Returns
    -------
    pandas.DataFrame
        Tidy rows (:func:`profiling.indicators.rollup.tidy_table`): first the city row
        (``group`` ``""``, no group columns), then one row per group; ``value`` =
        ``numerator`` = ``n_units`` = number of projects (``unit`` ``"projects"``),
        ``ci_method`` ``"none"``, ``source`` ``"projects"``.

    Raises
    ------
    KeyError
        A ``by`` column, ``project_id`` or (when filtering) ``status`` is missing.
    ValueError
        A status is not a code of ``PROJECT_STATUS``.

    Examples
    --------
    >>> p = pd.DataFrame({"project_id": ["a", "b", "c", "d"],
    ...                   "project_type": ["water", "water", None, "waste"],
    ...                   "status": ["ongoing", "completed", "ongoing", "cancelled"]})
    >>> projects_by_type(p)[["group", "value"]].to_dict("records")
    [{'group': '', 'value': 3.0}, {'group': 'project_type=water', 'value': 2.0}, \
{'group': 'project_type=NA', 'value': 1.0}]
    """
    by = list(by)
    _require(projects, ["project_id", *by], "projects")
    chosen_statuses = _statuses(statuses)
    keep = _status_mask(projects, chosen_statuses)
    indicator = PROJECT_REGISTRY.get("tier3_projects")
    params = indicator.resolve_parameters({"statuses": chosen_statuses})
    stamp = computed_at or datetime.now(UTC)
    chosen = projects.loc[keep]
    rows = np.flatnonzero(keep)
    n = float(len(chosen))
    tables = [
        tidy_table(
            indicator,
            pd.DataFrame(index=range(1)),
            {"value": n, "numerator": n, "n_units": n},
            ci_method="none",
            parameters=params,
            upload_ids=_ids_text(_upload_ids(projects, rows)),
            source="projects",
            computed_at=stamp,
        )
    ]
    if by and len(chosen):
        grouped = chosen.groupby(by, dropna=False, sort=True, observed=True)
        counts = grouped.size()
        keys = counts.index.to_frame(index=False)
        if "upload_id" in chosen.columns:
            uploads: Any = grouped["upload_id"].agg(_ids_text).to_numpy()
        else:
            uploads = ""
        count = counts.to_numpy(dtype=float)
        tables.append(
            tidy_table(
                indicator,
                keys,
                {"value": count, "numerator": count, "n_units": count},
                ci_method="none",
                parameters=params,
                upload_ids=uploads,
                source="projects",
                computed_at=stamp,
            )
        )
    return pd.concat(tables, ignore_index=True, sort=False)


# -- Beneficiaries -----------------------------------------------------------------------------


def _household_people(
    households: pd.DataFrame, members: pd.DataFrame | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per household: people, females, males (``NaN`` unknown), size known, sex known."""
    size = _number(households, "household_size")
    size = np.where(size >= 0, size, np.nan)
    females = _number(households, "females")
    males = _number(households, "males")
    females = np.where(females >= 0, females, np.nan)
    males = np.where(males >= 0, males, np.nan)
    size = np.where(np.isnan(size), females + males, size)
    if members is not None and len(households):
        hid = households["household_id"].astype("string")
        member_of = members["household_id"].astype("string").reset_index(drop=True)
        sex = members["sex"].astype("string").str.lower().reset_index(drop=True)
        n_all = member_of.groupby(member_of).size()
        n_female = sex.eq("female").fillna(False).astype(int).groupby(member_of).sum()
        n_male = sex.eq("male").fillna(False).astype(int).groupby(member_of).sum()

        def lookup(counts: pd.Series) -> np.ndarray:
            return hid.map(counts).to_numpy(dtype=float, na_value=np.nan)

        size = np.where(np.isnan(size), lookup(n_all), size)
        females = np.where(np.isnan(females), lookup(n_female), females)
        males = np.where(np.isnan(males), lookup(n_male), males)
    size_known = np.isfinite(size)
    sex_known = size_known & np.isfinite(females) & np.isfinite(males)
    return size, females, males, size_known, sex_known


def _catchment_plan(
    projects: pd.DataFrame, geoms: np.ndarray, default_catchment_m: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Per project: the catchment method and its distance (m; ``NaN`` when not spatial)."""
    radius = _number(projects, "catchment_m")
    if "catchment_m" in projects.columns:
        raw = projects["catchment_m"]
        bad = raw.notna().to_numpy() & np.isnan(radius)
        if bad.any():
            raise ValueError("projects: catchment_m is not a number for some projects")
    negative = radius < 0
    if negative.any():
        ids = projects["project_id"].to_numpy()[negative].tolist()
        raise ValueError(f"projects: catchment_m is negative for {ids} (metres, >= 0)")
    has_geom = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    polygonal = has_geom & (shapely.get_dimensions(geoms) == 2)
    dist = np.where(has_geom, radius, np.nan)
    dist = np.where(has_geom & np.isnan(dist) & polygonal, 0.0, dist)
    if default_catchment_m is not None:
        dist = np.where(has_geom & np.isnan(dist), float(default_catchment_m), dist)
    spatial = np.isfinite(dist)
    settlement = _text(projects, "settlement_id").notna().to_numpy(dtype=bool)
    method = np.where(
        spatial,
        np.where(np.isfinite(radius) | ~polygonal, "buffer", "polygon"),
        np.where(settlement, "settlement", "none"),
    ).astype(object)
    return method, dist


def _membership(
    projects: pd.DataFrame,
    pgeoms: np.ndarray,
    method: np.ndarray,
    dist: np.ndarray,
    households: pd.DataFrame,
    hgeoms: np.ndarray,
) -> sparse.csr_matrix:
    """Projects × households 0/1 matrix: household in the project's catchment."""
    n_p, n_h = len(projects), len(households)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    spatial = np.flatnonzero(np.isfinite(dist))
    h_ok = ~(shapely.is_missing(hgeoms) | shapely.is_empty(hgeoms))
    if len(spatial) and h_ok.any():
        h_pos = np.flatnonzero(h_ok)
        tree = shapely.STRtree(hgeoms[h_ok])
        hit = tree.query(pgeoms[spatial], predicate="dwithin", distance=dist[spatial])
        rows.append(spatial[hit[0]])
        cols.append(h_pos[hit[1]])
    fallback = np.flatnonzero(method == "settlement")
    if len(fallback) and n_h:
        left = pd.DataFrame(
            {"p": fallback, "s": _text(projects, "settlement_id").to_numpy()[fallback]}
        )
        right = pd.DataFrame({"h": np.arange(n_h), "s": _text(households, "settlement_id")})
        pairs = left.merge(right.dropna(subset=["s"]), on="s", how="inner")
        rows.append(pairs["p"].to_numpy(dtype=np.int64))
        cols.append(pairs["h"].to_numpy(dtype=np.int64))
    r = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    matrix = sparse.csr_matrix((np.ones(len(r)), (r, c)), shape=(n_p, n_h))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def _overlap_graph(
    projects: pd.DataFrame,
    pgeoms: np.ndarray,
    method: np.ndarray,
    dist: np.ndarray,
    membership: sparse.csr_matrix,
) -> sparse.csr_matrix:
    """Projects × projects adjacency: catchments intersect, share a household, or one falls
    back on the settlement the other is in."""
    n_p = len(projects)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    spatial = np.flatnonzero(np.isfinite(dist))
    if len(spatial):
        # Two buffers intersect iff the geometries are within the sum of the radii.
        d = dist[spatial]
        tree = shapely.STRtree(pgeoms[spatial])
        hit = tree.query(pgeoms[spatial], predicate="dwithin", distance=d + d.max())
        i, j = spatial[hit[0]], spatial[hit[1]]
        close = shapely.dwithin(pgeoms[i], pgeoms[j], dist[i] + dist[j])
        rows.append(i[close])
        cols.append(j[close])
    shared = (membership @ membership.T).tocoo()
    rows.append(shared.row.astype(np.int64))
    cols.append(shared.col.astype(np.int64))
    fallback = np.flatnonzero(method == "settlement")
    if len(fallback):
        settlement = _text(projects, "settlement_id").to_numpy()
        left = pd.DataFrame({"p": fallback, "s": settlement[fallback]})
        right = pd.DataFrame({"q": np.arange(n_p), "s": settlement}).dropna(subset=["s"])
        pairs = left.merge(right, on="s", how="inner")
        rows.append(pairs["p"].to_numpy(dtype=np.int64))
        cols.append(pairs["q"].to_numpy(dtype=np.int64))
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    return sparse.csr_matrix((np.ones(len(r)), (r, c)), shape=(n_p, n_p))


@dataclass(frozen=True)
class _Total:
    people: float
    females: float
    males: float
    households: int
    unknown_size: int
    unknown_sex: int
    source: str
    household_rows: np.ndarray
    labels: np.ndarray
    enumerated: np.ndarray
    reported: np.ndarray
    taken_reported: np.ndarray
    component_households: np.ndarray


def _total(
    selected: np.ndarray,
    membership: sparse.csr_matrix,
    graph: sparse.csr_matrix,
    reported: np.ndarray,
    people: np.ndarray,
    females: np.ndarray,
    males: np.ndarray,
    size_known: np.ndarray,
    sex_known: np.ndarray,
) -> _Total:
    """Beneficiaries of the projects ``selected`` (positions), each person counted once."""
    sub_graph = graph[selected][:, selected]
    if len(selected):
        n_comp, labels = connected_components(sub_graph, directed=False)
    else:
        n_comp, labels = 0, np.zeros(0, dtype=np.int64)
    pairs = membership[selected].tocoo()
    # A household in several selected catchments joins them in one component (shared
    # households are edges), so any of its projects gives its component.
    rows, first = np.unique(pairs.col, return_index=True)
    comp = labels[pairs.row[first]] if len(rows) else np.zeros(0, dtype=np.int64)
    enumerated = np.bincount(comp, weights=people[rows], minlength=n_comp)[:n_comp]
    counted = np.bincount(comp, minlength=n_comp)[:n_comp]
    best = np.full(n_comp, np.nan)
    np.fmax.at(best, labels, reported[selected])
    take = best > enumerated
    beneficiaries = np.where(take, best, enumerated)
    if take.all() and n_comp:
        source = "reported"
    elif take.any():
        source = "enumeration+reported"
    else:
        source = "enumeration"
    return _Total(
        people=float(beneficiaries.sum()),
        females=float(np.nan_to_num(females[rows]).sum()),
        males=float(np.nan_to_num(males[rows]).sum()),
        households=len(rows),
        unknown_size=int((~size_known[rows]).sum()),
        unknown_sex=int((~sex_known[rows]).sum()),
        source=source,
        household_rows=rows,
        labels=labels,
        enumerated=enumerated,
        reported=best,
        taken_reported=take,
        component_households=counted,
    )


def project_beneficiaries(
    projects: pd.DataFrame,
    households: pd.DataFrame,
    *,
    members: pd.DataFrame | None = None,
    statuses: Sequence[str] | None = DEFAULT_STATUSES,
    default_catchment_m: float | None = None,
    groupings: Sequence[Sequence[str]] = (_CITY, ("project_type",)),
    computed_at: datetime | None = None,
) -> Beneficiaries:
    """Direct beneficiaries of community infrastructure projects, each person counted once.

    See the module docstring for the catchment and counting rules [CRF2021]_.

    Parameters
    ----------
    projects : geopandas.GeoDataFrame
        The ``projects`` layer: ``project_id``, ``project_type``, ``status`` (when
        filtering), optionally ``settlement_id``, ``catchment_m`` (m, >= 0),
        ``beneficiaries_reported`` (people), ``upload_id``; geometry of any type in a metric
        CRS. A plain DataFrame (no geometry) uses the settlement fallback only.
    households : geopandas.GeoDataFrame
        The ``households`` layer: ``household_id``, ``household_size`` (unless ``members``
        is given), optionally ``females``, ``males``, ``settlement_id``, ``upload_id``;
        points, reprojected to the projects' CRS when it differs.
    members : pandas.DataFrame, optional, keyword-only
        The ``members`` roster (``household_id``, ``sex``): fills a household's missing
        size and female / male counts.
    statuses : sequence of str or None, keyword-only
        Statuses counted; default :data:`DEFAULT_STATUSES` (ongoing, completed). ``None``:
        every project.
    default_catchment_m : float, optional, keyword-only
        Catchment radius (m) of point / line projects without ``catchment_m``; ``None``:
        they fall back on their settlement.
    groupings : sequence of sequences of str, keyword-only
        Project columns to total by, ``()`` being the city; default city and project type.
        Each group counts its people once; groups of one grouping may share households, so
        **the per-type rows may add up to more than the city row** (a household reached by
        a water and a drainage project counts in both types, once in the city).
    computed_at : datetime, optional, keyword-only
        Timestamp to record (default: now, UTC).

    Returns
    -------
    Beneficiaries
        ``per_project`` (enumerated, per project's own catchment), ``table`` (tidy rows of
        ``tier3_direct_beneficiaries``, ``..._female``, ``..._male`` per grouping:
        ``value`` = ``numerator`` = people, ``n_units`` = distinct households counted,
        ``unknown`` = those of unknown size (total) or sex split (female / male),
        ``ci_method`` ``"none"``, ``source`` ``"enumeration"``, ``"reported"`` or
        ``"enumeration+reported"`` as the components' estimates went) and ``components``.

    Raises
    ------
    KeyError
        A required column is missing (the message names it).
    ValueError
        ``catchment_m`` or ``default_catchment_m`` negative, an unknown status.
    profiling.crs.GeographicCRSError
        Projects (or households without a CRS) are not in a metric CRS.

    Examples
    --------
    >>> from shapely import Point
    >>> p = gpd.GeoDataFrame({"project_id": ["a", "b"], "project_type": ["water", "water"],
    ...     "status": ["ongoing", "ongoing"], "catchment_m": [100.0, 100.0]},
    ...     geometry=[Point(0, 0), Point(150, 0)], crs=32737)
    >>> h = gpd.GeoDataFrame({"household_id": ["h1", "h2"], "household_size": [4, 3]},
    ...     geometry=[Point(75, 0), Point(10, 0)], crs=32737)
    >>> b = project_beneficiaries(p, h)
    >>> b.per_project["people"].tolist()
    [7.0, 4.0]
    >>> float(b.table.loc[b.table["group"].eq("")
    ...     & b.table["indicator_id"].eq("tier3_direct_beneficiaries"), "value"].iloc[0])
    7.0
    """
    _require(projects, ["project_id", "project_type"], "projects")
    if members is None:
        _require(households, ["household_size"], "households (without a members roster)")
    else:
        _require(households, ["household_id"], "households")
        _require(members, ["household_id", "sex"], "members")
    grouping_lists: list[list[str]] = [list(g) for g in groupings]
    for grouping in grouping_lists:
        _require(projects, grouping, "projects (groupings)")
    if default_catchment_m is not None and not (float(default_catchment_m) >= 0):
        raise ValueError(f"default_catchment_m must be >= 0 metres, got {default_catchment_m}")
    chosen_statuses = _statuses(statuses)
    keep = _status_mask(projects, chosen_statuses)
    proj = projects.loc[keep].reset_index(drop=True)
    hh = households.reset_index(drop=True)

    pgeoms = _geometries(proj)
    method, dist = _catchment_plan(proj, pgeoms, default_catchment_m)
    if np.isfinite(dist).any():
        require_metric(proj, what="project catchments")
        if isinstance(hh, gpd.GeoDataFrame) and len(hh):
            if hh.crs is None:
                require_metric(hh, what="households in project catchments")
            elif not hh.crs.equals(proj.crs):
                hh = hh.to_crs(proj.crs)
    hgeoms = _geometries(hh)

    membership = _membership(proj, pgeoms, method, dist, hh, hgeoms)
    graph = _overlap_graph(proj, pgeoms, method, dist, membership)
    size, females, males, size_known, sex_known = _household_people(hh, members)
    people = np.nan_to_num(size)
    fem = np.nan_to_num(females)
    mal = np.nan_to_num(males)
    sex_unknown = np.clip(people - fem - mal, 0.0, None)
    reported = _number(proj, "beneficiaries_reported")
    reported = np.where(reported >= 0, reported, np.nan)

    def total(selected: np.ndarray) -> _Total:
        return _total(
            selected, membership, graph, reported, people, females, males, size_known, sex_known
        )

    city = total(np.arange(len(proj)))
    per_project = pd.DataFrame(
        {
            "project_id": proj["project_id"].to_numpy(),
            "project_type": proj["project_type"].to_numpy(),
            "status": _objects(_text(proj, "status")),
            "settlement_id": _objects(_text(proj, "settlement_id")),
            "catchment": method,
            "catchment_m": dist,
            "households": np.asarray(membership.sum(axis=1)).ravel().astype(np.int64),
            "people": membership @ people,
            "females": membership @ fem,
            "males": membership @ mal,
            "sex_unknown": membership @ sex_unknown,
            "beneficiaries_reported": reported,
            "component": city.labels.astype(np.int64),
        }
    )
    ids = proj["project_id"].astype(str).to_numpy()
    components = pd.DataFrame(
        {
            "component": np.arange(len(city.enumerated), dtype=np.int64),
            "project_ids": [",".join(ids[city.labels == c]) for c in range(len(city.enumerated))],
            "households": city.component_households.astype(np.int64),
            "people_enumerated": city.enumerated,
            "reported_max": city.reported,
            "beneficiaries": np.where(city.taken_reported, city.reported, city.enumerated),
            "estimate": np.where(city.taken_reported, "reported", "enumerated").astype(object),
        }
    )

    stamp = computed_at or datetime.now(UTC)
    params = PROJECT_REGISTRY.get("tier3_direct_beneficiaries").resolve_parameters(
        {
            "statuses": chosen_statuses,
            "default_catchment_m": None
            if default_catchment_m is None
            else float(default_catchment_m),
        }
    )
    tables: list[pd.DataFrame] = []
    for grouping in grouping_lists:
        if grouping:
            if not len(proj):
                continue
            codes = proj.groupby(grouping, dropna=False, sort=True, observed=True).ngroup()
            keys = (
                proj[grouping]
                .assign(_g=codes.to_numpy())
                .drop_duplicates("_g")
                .sort_values("_g")[grouping]
                .reset_index(drop=True)
            )
            members_of = [np.flatnonzero(codes.to_numpy() == g) for g in range(len(keys))]
            totals = [total(sel) for sel in members_of]
        else:
            keys = pd.DataFrame(index=range(1))
            members_of = [np.arange(len(proj))]
            totals = [city]
        uploads = np.array(
            [
                _ids_text(_upload_ids(proj, sel), _upload_ids(hh, t.household_rows))
                for sel, t in zip(members_of, totals, strict=True)
            ],
            dtype=object,
        )
        n_units = np.array([t.households for t in totals], dtype=float)
        for indicator_id, attr, unknown_attr in (
            ("tier3_direct_beneficiaries", "people", "unknown_size"),
            ("tier3_direct_beneficiaries_female", "females", "unknown_sex"),
            ("tier3_direct_beneficiaries_male", "males", "unknown_sex"),
        ):
            value = np.array([getattr(t, attr) for t in totals], dtype=float)
            unknown = np.array([getattr(t, unknown_attr) for t in totals], dtype=float)
            table = tidy_table(
                PROJECT_REGISTRY.get(indicator_id),
                keys,
                {"value": value, "numerator": value, "n_units": n_units, "unknown": unknown},
                ci_method="none",
                parameters=params,
                upload_ids=uploads,
                source="enumeration",
                computed_at=stamp,
            )
            if attr == "people":
                # The total is the only figure that can take a reported estimate.
                table["source"] = [t.source for t in totals]
            tables.append(table)
    table = pd.concat(tables, ignore_index=True, sort=False) if tables else pd.DataFrame()
    return Beneficiaries(per_project=per_project, table=table, components=components)
