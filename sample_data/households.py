"""A synthetic household enumeration, written as a KoboToolbox export really looks.

The form
--------
A Know Your City style household questionnaire (:data:`QUESTIONS`) in groups ``intro``,
``hh``, ``housing``, ``wash``, ``waste``, ``tenure``, ``notes`` and a ``members`` repeat.
Its export follows formpack, the library KoboToolbox exports with ("XML values and headers",
"include groups in headers"):

- CSV: UTF-8 with a byte-order mark, ``;`` between fields, every field quoted, CRLF line
  ends; headers are group paths joined with ``/``; a ``select_multiple`` gives its
  space-separated summary column then one ``question/choice`` column of ``1`` / ``0`` per
  choice; a ``geopoint`` gives its ``"lat lon alt acc"`` text column then
  ``group/_name_latitude``, ``_longitude``, ``_altitude``, ``_precision`` (formpack
  ``FormGPSField.get_labels`` with the hierarchy in the labels); the submission meta columns
  ``_id``, ``_uuid``, ``_submission_time``, ``_validation_status``, ``_notes``, ``_status``,
  ``_submitted_by``, ``__version__``, ``_tags`` and ``_index`` close the row. Questions not
  asked (relevance) are empty. A CSV export cannot hold a repeat group: members are absent.
- XLSX: the same columns on a first sheet named after the form, typed numbers, and a
  ``members`` sheet with one row per member and ``_index``, ``_parent_table_name``,
  ``_parent_index`` and ``_submission_*`` copies of the parent's meta columns.

What is simulated
-----------------
Household size ~ 1 + Poisson(≈3.2) (mean about 4.2), about 30 % female-headed; public taps and
kiosks dominate drinking water, shared pit latrines dominate sanitation, most tenants rent
without a written agreement, iron sheets and mud are the main wall materials, most waste is
dumped or burned. Answers depend on the settlement's service level, its eviction threat and
the flood depth at the household (riverbank households build with mud and polythene, use
hanging toilets, throw waste into the river, pay lower rents). Water trips grow with the
distance to the nearest working public water point and the queue there.

Injected errors
---------------
A small, documented fraction of rows carries an error a validator must find
(:data:`ERROR_KINDS`); each one is listed in the returned :class:`HouseholdExport` and, by the
generator, in ``injected_errors.json``.

Speed
-----
Answers are simulated column by column with numpy, converted to text with pyarrow compute
kernels and written with pyarrow's CSV writer, chunk by chunk: a million households take
seconds (see the README for measured timings).
"""

from __future__ import annotations

import io
import math
import re
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import shapely
from openpyxl import Workbook
from pyproj import Transformer
from shapely import Polygon

from profiling.codelists import TENURE_TYPES
from sample_data import choices as ch
from sample_data.city import (
    ORIGIN,
    SETTLEMENTS,
    City,
    Raster,
    make_river,
    make_settlements,
    material_logits,
    stream,
    weighted_choice,
)

__all__ = [
    "ERROR_KINDS",
    "FORM_TITLE",
    "KOBO_META",
    "QUESTIONS",
    "UNMAPPED",
    "HouseholdContext",
    "HouseholdExport",
    "Question",
    "csv_columns",
    "generate_households_csv",
    "member_columns",
]

FORM_TITLE = "Mto Mji household enumeration"
"""Title of the (synthetic) deployed form: the first XLSX sheet and ``_parent_table_name``."""
FORM_VERSION = "vR8hKQnB3wYdAFzcu6T5mj"
FORM_VERSION_LATER = "vXa2LqP9fM4tWb7sZc3Ne8"
"""``__version__`` of a later form version that added a choice the mapping does not know."""


@dataclass(frozen=True)
class Question:
    """One question of the form as it appears in the export.

    Attributes
    ----------
    column : str
        Export header (group path joined with ``/``).
    kind : str
        XLSForm type: ``text``, ``integer``, ``decimal``, ``select_one``,
        ``select_multiple``, ``geopoint``, ``date``, ``start``, ``end``, ``today``,
        ``deviceid``.
    choices : tuple or None
        Choice list (:mod:`sample_data.choices`) of a select question.
    field : str or None
        Canonical household field the mapping sends it to; ``None`` when it is intentionally
        left unmapped (it lands in ``attributes``) or handled by ``[geometry]``.
    """

    column: str
    kind: str
    choices: tuple[ch.Choice, ...] | None = None
    field: str | None = None


QUESTIONS: tuple[Question, ...] = (
    Question("start", "start"),
    Question("end", "end"),
    Question("today", "today", field="enumerated_on"),
    Question("deviceid", "deviceid"),
    Question("intro/enumerator", "text"),
    Question("intro/consent", "select_one", ch.YES_NO),
    Question("intro/settlement", "select_one", None, "settlement_id"),
    Question("intro/structure_no", "text", field="structure_id"),
    Question("hh/gps", "geopoint"),
    Question("hh/head_name", "text", field="head_name"),
    Question("hh/phone", "text", field="phone"),
    Question("hh/national_id", "text", field="national_id"),
    Question("hh/head_sex", "select_one", ch.SEX, "head_sex"),
    Question("hh/head_age", "integer", field="head_age"),
    Question("hh/hh_size", "integer", field="household_size"),
    Question("hh/adults", "integer", field="adults"),
    Question("hh/children", "integer", field="children"),
    Question("hh/females", "integer", field="females"),
    Question("hh/males", "integer", field="males"),
    Question("hh/migration", "select_one", ch.MIGRATION, "migration_status"),
    Question("hh/assets", "select_multiple", ch.ASSETS, "assets"),
    Question("housing/sleeping_rooms", "integer", field="sleeping_rooms"),
    Question("housing/wall", "select_one", ch.WALL, "wall_material"),
    Question("housing/roof", "select_one", ch.ROOF, "roof_material"),
    Question("housing/floor", "select_one", ch.FLOOR, "floor_material"),
    Question("housing/electricity", "select_one", ch.YES_NO, "electricity"),
    Question("housing/rent", "integer", field="rent_month"),
    Question("wash/water_source", "select_one", ch.WATER, "water_source"),
    Question("wash/water_trip_min", "integer", field="water_trip_min"),
    Question("wash/water_queue_min", "integer", field="water_queue_min"),
    Question("wash/water_available", "select_one", ch.YES_NO, "water_available"),
    Question("wash/toilet_type", "select_one", ch.TOILET, "sanitation"),
    Question("wash/toilet_shared", "select_one", ch.YES_NO, "toilet_shared"),
    Question("wash/toilet_households", "integer", field="toilet_sharing_households"),
    Question("wash/toilet_users", "integer", field="toilet_users"),
    Question("wash/handwash_place", "select_one", ch.HANDWASH, "handwashing"),
    Question("wash/handwash_water", "select_one", ch.YES_NO, "handwashing_water"),
    Question("wash/handwash_soap", "select_one", ch.YES_NO, "handwashing_soap"),
    Question("waste/disposal", "select_one", ch.WASTE, "waste_disposal"),
    Question("waste/collections_week", "decimal", field="waste_collections_per_week"),
    Question("tenure/tenure_type", "select_one", ch.TENURE, "tenure_type"),
    Question("tenure/document", "select_one", ch.DOCUMENT, "tenure_document"),
    Question("tenure/feel_secure", "select_one", ch.YES_NO, "tenure_secure_perceived"),
    Question("tenure/eviction_threat", "select_one", ch.YES_NO, "eviction_threat"),
    Question("notes/comments", "text"),
)
"""The questions of the main section, in form order (the ``members`` repeat is separate)."""

MEMBER_QUESTIONS: tuple[Question, ...] = (
    Question("members/m_name", "text", field="name"),
    Question("members/m_sex", "select_one", ch.SEX, "sex"),
    Question("members/m_age", "integer", field="age"),
    Question("members/m_relation", "select_one", ch.RELATION, "relation_to_head"),
    Question("members/m_disability", "select_one", ch.YES_NO, "disability"),
    Question("members/m_in_school", "select_one", ch.YES_NO, "in_school"),
    Question("members/m_employed", "select_one", ch.YES_NO, "employed"),
)
"""The questions of the ``members`` repeat group."""

SUBMISSION_META: tuple[str, ...] = (
    "_id",
    "_uuid",
    "_submission_time",
    "_validation_status",
    "_notes",
    "_status",
    "_submitted_by",
    "__version__",
    "_tags",
)
"""Meta columns KoboToolbox appends to every submission row (formpack ``copy_fields``)."""

KOBO_META: frozenset[str] = frozenset(
    {"start", "end", "today", "deviceid", *SUBMISSION_META, "_index"}
)
"""Columns that are KoboToolbox / XForm metadata rather than questions."""

UNMAPPED: tuple[str, ...] = ("intro/enumerator", "intro/consent", "notes/comments")
"""Question columns deliberately left out of the mapping: kept in ``attributes``."""

ERROR_KINDS: dict[str, str] = {
    "swapped_lat_lon": "latitude and longitude swapped in the geopoint and its split columns",
    "outside_settlement": "point 10-45 m outside the settlement the household named",
    "gps_low_precision": "GPS precision (accuracy) between 50 and 200 m",
    "duplicate_uuid": "a submission exported twice: same _uuid and answers, new _id",
    "unknown_code": "a choice name added by a later form version, unknown to the mapping",
    "toilet_users_exceed_size": "toilet users larger than the household size",
    "formula_in_text": "a spreadsheet formula (=HYPERLINK) typed into a free-text answer",
}
"""Kinds of injected errors and what each one looks like."""

# (minimum count, share of rows) per kind; the count is max(minimum, round(share * n)).
_ERROR_RATES: dict[str, tuple[int, float]] = {
    "swapped_lat_lon": (3, 1.5e-4),
    "outside_settlement": (4, 2.0e-4),
    "gps_low_precision": (5, 2.5e-4),
    "duplicate_uuid": (1, 5.0e-5),
    "unknown_code": (2, 1.0e-4),
    "toilet_users_exceed_size": (3, 1.5e-4),
    "formula_in_text": (1, 5.0e-5),
}

_FEMALE_NAMES = (
    "Amani",
    "Achieng",
    "Wanjiru",
    "Neema",
    "Zawadi",
    "Halima",
    "Mwanaisha",
    "Atieno",
    "Nyokabi",
    "Rehema",
    "Imani",
    "Faraja",
    "Subira",
    "Wambui",
    "Akinyi",
    "Mariamu",
)
_MALE_NAMES = (
    "Baraka",
    "Juma",
    "Otieno",
    "Kamau",
    "Hamisi",
    "Mwangi",
    "Omondi",
    "Bakari",
    "Kiprono",
    "Salim",
    "Tumaini",
    "Musa",
    "Onyango",
    "Kariuki",
    "Rashidi",
    "Wekesa",
)
_SURNAMES = (
    "Mtoto",
    "Kilima",
    "Nyumba",
    "Barasa",
    "Chege",
    "Odera",
    "Mwakasege",
    "Kahindi",
    "Ngugi",
    "Wafula",
    "Mutua",
    "Said",
    "Okoth",
    "Njoroge",
    "Makena",
    "Luvai",
    "Kiptoo",
    "Mwinyi",
    "Ochieng",
    "Wairimu",
)
_COMMENTS = (
    "Household head away at work; spouse answered",
    "Structure flooded in the April rains",
    "Landlord lives elsewhere",
    "Respondent asked for follow-up on water kiosk",
    "Shares toilet with plot neighbours",
    "New arrivals, moved in last month",
    "Respondent elderly, neighbour helped",
    "Roof leaking, owner plans repairs",
)

# P(document | tenure), rows in ch.TENURE order, columns in ch.DOCUMENT order:
# title_deed, lease, certificate, allotment_letter, rent_agreement, sale_agreement,
# chief_letter, none, other.
_DOCUMENT_GIVEN_TENURE = np.array(
    [
        [0, 0, 0, 0, 0.05, 0, 0, 0.93, 0.02],  # informal rental
        [0, 0, 0, 0, 0.90, 0, 0, 0.10, 0],  # formal rental
        [0, 0, 0, 0, 0, 0.35, 0.25, 0.38, 0.02],  # occupancy
        [0, 0, 0, 0, 0, 0, 0.20, 0.80, 0],  # perceived
        [0, 0, 0, 0, 0, 0, 0, 1.0, 0],  # none
        [0, 0, 0.20, 0, 0, 0, 0.60, 0.20, 0],  # customary
        [0, 0, 0.50, 0, 0, 0, 0, 0.20, 0.30],  # group tenure
        [0, 0, 0, 0.30, 0, 0, 0, 0.40, 0.30],  # anti-eviction
        [0, 0, 0.50, 0.50, 0, 0, 0, 0, 0],  # certificate of occupancy
        [0, 0.90, 0, 0, 0, 0, 0, 0.10, 0],  # leasehold
        [0.95, 0, 0, 0, 0, 0, 0, 0.05, 0],  # registered freehold
        [0.80, 0.20, 0, 0, 0, 0, 0, 0, 0],  # joint / common
        [0, 0, 0, 0, 0, 0, 0, 0.50, 0.50],  # other
    ]
)
_TENURE_SECURITY = {
    "secure": 0.80,
    "intermediate": 0.55,
    "insecure": 0.40,
    "unknown": 0.50,
}
_EVICTION_EFFECT = {"none": 0.0, "rumoured": 0.10, "notice": 0.25, "ongoing": 0.35, "unknown": 0.1}
_EVICTION_THREATENED = {
    "none": 0.03,
    "rumoured": 0.12,
    "notice": 0.35,
    "ongoing": 0.55,
    "unknown": 0.10,
}


def csv_columns() -> list[str]:
    """Headers of the CSV export (and of the XLSX first sheet), in order."""
    cols: list[str] = []
    for q in QUESTIONS:
        cols.append(q.column)
        if q.kind == "geopoint":
            group, name = q.column.rsplit("/", 1)
            cols += [
                f"{group}/_{name}_{part}"
                for part in ("latitude", "longitude", "altitude", "precision")
            ]
        elif q.kind == "select_multiple":
            cols += [f"{q.column}/{c}" for c in ch.names(q.choices or ())]
    return [*cols, *SUBMISSION_META, "_index"]


def member_columns() -> list[str]:
    """Headers of the ``members`` sheet of the XLSX export, in order."""
    return [
        *(q.column for q in MEMBER_QUESTIONS),
        "_index",
        "_parent_table_name",
        "_parent_index",
        *(f"_submission_{m}" for m in SUBMISSION_META),
    ]


# -- Context: where households live ------------------------------------------------------------


@dataclass
class HouseholdContext:
    """Everything the simulation needs to know about the city, in metric coordinates.

    Geometries are in local metres: add ``offset`` to get coordinates in ``crs``.

    Attributes
    ----------
    settlement_ids, prefixes : list of str
        One per settlement, in enumeration order.
    polygons : list of Polygon
        Settlement boundaries.
    shares : ndarray
        Share of the households in each settlement (sums to 1).
    service : ndarray
        Service level (0-1) per settlement.
    legal_status, eviction_threat : list of str
        Canonical codes per settlement.
    crs : str
        The metric CRS.
    offset : tuple of float
        Added to local coordinates to get ``crs`` coordinates.
    anchors : DataFrame or None
        Residential structures households live in: ``x``, ``y`` (centroid, local metres),
        ``structure_id``, ``settlement`` (index into the lists), ``wall`` / ``roof`` (choice
        index). ``None``: households are spread uniformly over the settlements.
    flood : Raster or None
        Flood depth raster sampled at each household.
    water_points : ndarray or None
        ``(n, 2)`` local coordinates of working public water points.
    crowding : ndarray
        Households per working tap in each settlement, relative to 150 (queue length factor).
    """

    settlement_ids: list[str]
    prefixes: list[str]
    polygons: list[Polygon]
    shares: np.ndarray
    service: np.ndarray
    legal_status: list[str]
    eviction_threat: list[str]
    crs: str
    offset: tuple[float, float] = (0.0, 0.0)
    anchors: pd.DataFrame | None = None
    flood: Raster | None = None
    water_points: np.ndarray | None = None
    crowding: np.ndarray = field(default_factory=lambda: np.ones(0))

    def __post_init__(self) -> None:
        if len(self.crowding) != len(self.settlement_ids):
            self.crowding = np.ones(len(self.settlement_ids))
        self._inner = [p.buffer(-3.0) for p in self.polygons]
        for p in self._inner:
            shapely.prepare(p)
        self._to_lonlat = Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
        self._water_tree = (
            shapely.STRtree(shapely.points(self.water_points))
            if self.water_points is not None and len(self.water_points)
            else None
        )

    @classmethod
    def from_city(cls, city: City, *, households: int) -> HouseholdContext:
        """Households anchored on the residential structures of a built city.

        ``households`` (the number to be simulated) sets the queue length at water points:
        households per working tap in each settlement, relative to 150.
        """
        s = city.settlements
        ids = s["settlement_id"].tolist()
        st = city.structures[city.structures["use"].isin(["residential", "mixed"])]
        cent = shapely.centroid(st.geometry.values)
        anchors = pd.DataFrame(
            {
                "x": shapely.get_x(cent),
                "y": shapely.get_y(cent),
                "structure_id": st["structure_id"].to_numpy(),
                "settlement": st["settlement_id"].map({v: i for i, v in enumerate(ids)}),
                "wall": st["wall_material"].map({v: i for i, v in enumerate(ch.names(ch.WALL))}),
                "roof": st["roof_material"].map({v: i for i, v in enumerate(ch.names(ch.ROOF))}),
            }
        ).reset_index(drop=True)
        sp = city.service_points
        water = sp[(sp["service_type"] == "water_point") & sp["functional"].astype(bool)]
        taps = water.groupby("settlement_id")["taps_working"].sum()
        expected = s["share"].to_numpy() * households
        crowd = np.array([expected[i] / max(1, taps.get(v, 0)) / 150 for i, v in enumerate(ids)])
        return cls(
            settlement_ids=ids,
            prefixes=s["prefix"].tolist(),
            polygons=list(s.geometry.values),
            shares=s["share"].to_numpy(dtype=float),
            service=s["service"].to_numpy(dtype=float),
            legal_status=s["legal_status"].tolist(),
            eviction_threat=s["eviction_threat"].tolist(),
            crs="EPSG:32737",
            offset=ORIGIN,
            anchors=anchors,
            flood=city.flood,
            water_points=shapely.get_coordinates(water.geometry.values),
            crowding=np.clip(crowd, 0.5, 3.0),
        )

    @classmethod
    def from_settlements(
        cls, settlements: gpd.GeoDataFrame | None, *, seed: int
    ) -> HouseholdContext:
        """Households spread uniformly over given settlement boundaries.

        Parameters
        ----------
        settlements : GeoDataFrame or None
            ``settlement_id`` and polygons in any CRS (reprojected to a metric one); optional
            ``households`` (profile counts: shares follow them, else the areas), ``service``
            (0-1), ``legal_status``, ``eviction_threat``. ``None``: the synthetic
            settlements of Mto Mji for ``seed``.
        seed : int
            Seed of the synthetic settlements when none are given.
        """
        if settlements is None:
            river, params = make_river(seed)
            local = make_settlements(seed, river, params)
            return cls(
                settlement_ids=local["settlement_id"].tolist(),
                prefixes=local["prefix"].tolist(),
                polygons=list(local.geometry.values),
                shares=local["share"].to_numpy(dtype=float),
                service=local["service"].to_numpy(dtype=float),
                legal_status=local["legal_status"].tolist(),
                eviction_threat=local["eviction_threat"].tolist(),
                crs="EPSG:32737",
                offset=ORIGIN,
            )
        if settlements.crs is None:
            raise ValueError("settlements need a CRS")
        metric = settlements.crs if settlements.crs.is_projected else settlements.estimate_utm_crs()
        gdf = settlements.to_crs(metric)
        ids = gdf["settlement_id"].astype(str).tolist()
        if "households" in gdf and gdf["households"].notna().all():
            weights = gdf["households"].to_numpy(dtype=float)
        else:
            weights = gdf.geometry.area.to_numpy(dtype=float)
        specs = {s.settlement_id: s for s in SETTLEMENTS}

        def attr(name: str, default: Any) -> list[Any]:
            if name in gdf:
                return gdf[name].fillna(default).tolist()
            return [getattr(specs[i], name) if i in specs else default for i in ids]

        return cls(
            settlement_ids=ids,
            prefixes=[re.sub(r"[^A-Z]", "", i.upper())[:3] or "S" for i in ids],
            polygons=list(gdf.geometry.values),
            shares=weights / weights.sum(),
            service=np.asarray(attr("service", 0.3), dtype=float),
            legal_status=attr("legal_status", "unknown"),
            eviction_threat=attr("eviction_threat", "unknown"),
            crs=metric.to_string(),
        )

    def to_lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Longitude / latitude of local points."""
        return self._to_lonlat.transform(x + self.offset[0], y + self.offset[1])


# -- Plan: who lives where, which rows carry errors -------------------------------------------


@dataclass
class _Plan:
    n: int
    settlement: np.ndarray  # index per row
    position: np.ndarray  # position within its settlement
    counts: np.ndarray  # households per settlement
    anchor: np.ndarray | None  # anchor row per household
    per_day: int
    day_offset: np.ndarray  # first working day of each settlement
    errors: dict[str, np.ndarray]
    duplicate_of: dict[int, int]


def _allocate(n: int, shares: np.ndarray) -> np.ndarray:
    raw = n * shares / shares.sum()
    counts = np.floor(raw).astype(np.int64)
    rest = n - counts.sum()
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[:rest]] += 1
    return counts


def _plan(
    ctx: HouseholdContext, n: int, *, seed: int, chunk_size: int, errors: bool, xlsx_rows: int
) -> _Plan:
    rng = stream(seed, "households:plan")
    counts = _allocate(n, ctx.shares)
    settlement = np.repeat(np.arange(len(counts)), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.arange(n) - starts[settlement]
    anchor = None
    if ctx.anchors is not None:
        anchor = np.empty(n, dtype=np.int64)
        for s, count in enumerate(counts):
            rows = np.flatnonzero(ctx.anchors["settlement"].to_numpy() == s)
            if count == 0:
                continue
            if len(rows) == 0:
                raise ValueError(f"settlement {ctx.settlement_ids[s]!r} has no structures")
            if count >= len(rows):
                pick = np.concatenate([rows, rng.choice(rows, count - len(rows))])
            else:
                pick = rng.choice(rows, count, replace=False)
            anchor[starts[s] : starts[s] + count] = np.sort(pick)
    per_day = max(100, math.ceil(n / 200))
    days = np.ceil(counts / per_day).astype(np.int64)
    day_offset = np.concatenate([[0], np.cumsum(days)[:-1]])
    planned: dict[str, np.ndarray] = {}
    duplicate_of: dict[int, int] = {}
    if errors:
        planned, duplicate_of = _error_rows(rng, n, chunk_size=chunk_size, xlsx_rows=xlsx_rows)
    return _Plan(
        n, settlement, position, counts, anchor, per_day, day_offset, planned, duplicate_of
    )


def _error_rows(
    rng: np.random.Generator, n: int, *, chunk_size: int, xlsx_rows: int
) -> tuple[dict[str, np.ndarray], dict[int, int]]:
    """Rows (0-based) of each injected error kind; duplicates map a row to its original."""
    want = {k: max(lo, round(rate * n)) for k, (lo, rate) in _ERROR_RATES.items()}
    budget = n // 10
    if sum(want.values()) + want["duplicate_uuid"] > budget:  # tiny exports: fewer errors
        want = dict.fromkeys(want, 1) if budget >= 2 * len(want) else dict.fromkeys(want, 0)
    taken = np.zeros(n, dtype=bool)
    duplicate_of: dict[int, int] = {}
    head = min(n, xlsx_rows)
    for k in range(want["duplicate_uuid"]):
        for _ in range(10_000):
            hi = head if k == 0 and head >= 4 else n
            i = int(rng.integers(0, hi - 1))
            j = i + 1
            if not taken[i] and not taken[j] and i // chunk_size == j // chunk_size:
                taken[[i, j]] = True
                duplicate_of[j] = i
                break
    rows: dict[str, np.ndarray] = {"duplicate_uuid": np.array(sorted(duplicate_of), dtype=np.int64)}
    for kind, count in want.items():
        if kind == "duplicate_uuid" or count == 0:
            continue
        picked: list[int] = []
        if kind == "formula_in_text" and head >= 4:  # one of them in the XLSX subset too
            free = np.flatnonzero(~taken[:head])
            first = int(rng.choice(free))
            taken[first] = True
            picked.append(first)
        free = np.flatnonzero(~taken)
        more = rng.choice(free, size=count - len(picked), replace=False)
        taken[more] = True
        rows[kind] = np.sort(np.concatenate([picked, more]).astype(np.int64))
    return rows, duplicate_of


# -- Simulation helpers --------------------------------------------------------------------------


def _pick(
    rng: np.random.Generator,
    table: tuple[ch.Choice, ...],
    n: int,
    boost: dict[str, np.ndarray | float] | None = None,
) -> np.ndarray:
    """Choice indices drawn from ``table``'s base weights, with per-row log-weight boosts."""
    names = ch.names(table)
    logits = np.tile(np.log(np.asarray(ch.weights(table), dtype=float) + 1e-12), (n, 1))
    for name, add in (boost or {}).items():
        logits[:, names.index(name)] += add
    return weighted_choice(rng, logits)


def _yes(rng: np.random.Generator, p: np.ndarray | float, n: int) -> np.ndarray:
    """Yes/no choice index (0 = yes, 1 = no) with probability ``p`` of yes."""
    return np.where(rng.random(n) < p, 0, 1)


def _sample_uniform(rng: np.random.Generator, poly: Polygon, count: int) -> np.ndarray:
    """``count`` points uniformly inside ``poly`` (rejection sampling in its bounding box)."""
    minx, miny, maxx, maxy = poly.bounds
    out = np.empty((0, 2))
    while len(out) < count:
        m = int((count - len(out)) * 1.6) + 16
        x = rng.uniform(minx, maxx, m)
        y = rng.uniform(miny, maxy, m)
        ok = shapely.contains_xy(poly, x, y)
        out = np.vstack([out, np.column_stack([x[ok], y[ok]])])
    return out[:count]


def _uuids(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random version-4 UUID strings, vectorised."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexchars = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    chars = np.empty((n, 36), dtype=np.uint8)
    pos = [i for i in range(36) if i not in (8, 13, 18, 23)]
    nibbles = np.empty((n, 32), dtype=np.uint8)
    nibbles[:, 0::2] = raw >> 4
    nibbles[:, 1::2] = raw & 0x0F
    chars[:, pos] = hexchars[nibbles]
    chars[:, [8, 13, 18, 23]] = ord("-")
    return chars.view("S36").ravel()


def _digits(rng: np.random.Generator, n: int, width: int) -> pa.Array:
    v = rng.integers(0, 10**width, n)
    return pc.utf8_lpad(pc.cast(pa.array(v), pa.string()), width=width, padding="0")


def _text(values: np.ndarray, blank: np.ndarray | None = None) -> pa.Array:
    """Numbers or strings as text; ``blank`` rows become empty strings."""
    arr = pa.array(values)
    if not pa.types.is_string(arr.type):
        arr = pc.cast(arr, pa.string())
    if blank is not None and blank.any():
        arr = pc.if_else(pa.array(blank), pa.scalar(""), arr)
    return arr


def _choice_text(table: tuple[ch.Choice, ...] | list[str], idx: np.ndarray) -> pa.Array:
    """Choice names for indices; -1 gives an empty string (question not asked)."""
    names = ch.names(table) if isinstance(table, tuple) else list(table)
    dictionary = pa.array([*names, ""])
    return pc.take(dictionary, pa.array(np.where(idx < 0, len(names), idx).astype(np.int32)))


# -- One chunk -----------------------------------------------------------------------------------


@dataclass
class _Chunk:
    table: pa.Table
    settlement: np.ndarray
    structure: np.ndarray
    size: np.ndarray
    people: dict[str, np.ndarray]
    errors: list[dict[str, Any]]
    last_submission: np.datetime64
    duplicate_of: dict[int, int]  # local row -> local row it repeats


def _simulate(
    ctx: HouseholdContext,
    plan: _Plan,
    lo: int,
    hi: int,
    *,
    seed: int,
    chunk: int,
    after: np.datetime64 | None,
) -> _Chunk:
    """Simulate rows ``lo:hi`` and encode them as the export's text columns."""
    rng = stream(seed, f"households:chunk:{chunk}")
    n = hi - lo
    s = plan.settlement[lo:hi]
    pos = plan.position[lo:hi]
    q = ctx.service[s]
    evict = np.array(ctx.eviction_threat, dtype=object)[s]
    legal = np.array(ctx.legal_status, dtype=object)[s]

    # Where: at the structure (GPS scatter of a few metres) or anywhere in the settlement.
    if plan.anchor is not None and ctx.anchors is not None:
        a = ctx.anchors.iloc[plan.anchor[lo:hi]]
        ang = rng.uniform(0, 2 * np.pi, n)
        r = np.minimum(np.abs(rng.normal(0, 1.5, n)), 3.0)
        x = a["x"].to_numpy() + r * np.cos(ang)
        y = a["y"].to_numpy() + r * np.sin(ang)
        structure = a["structure_id"].to_numpy(dtype=object)
        wall_anchor = a["wall"].to_numpy()
        roof_anchor = a["roof"].to_numpy()
    else:
        x, y = np.empty(n), np.empty(n)
        for k in np.unique(s):
            rows = np.flatnonzero(s == k)
            xy = _sample_uniform(rng, ctx._inner[k], len(rows))
            x[rows], y[rows] = xy[:, 0], xy[:, 1]
        prefix = np.array(ctx.prefixes, dtype=object)[s]
        number = pd.Series(pos // 2 + 1).map("{:05d}".format).to_numpy(dtype=object)
        structure = prefix + "-" + number
        wall_anchor = roof_anchor = None
    depth = (
        np.maximum(ctx.flood.sample(x, y).astype(np.float64), 0.0)
        if ctx.flood is not None
        else np.zeros(n)
    )
    f = np.clip(depth / 2.0, 0.0, 1.0)
    wet = (depth >= 0.1).astype(float)

    # People.
    sex = _pick(rng, ch.SEX, n, {"f": 0.25 * wet})
    female_head = sex == 0
    age = np.where(female_head, rng.normal(41, 13, n), rng.normal(36, 11, n))
    age = np.clip(np.round(age), 18, 90).astype(np.int64)
    lam = np.clip(3.38 - 0.35 * female_head + 0.2 * wet - 0.3 * q, 1.0, None)
    size = np.minimum(1 + rng.poisson(lam), 18)
    children = rng.binomial(size - 1, 0.52)
    adults = size - children
    females = female_head + rng.binomial(size - 1, 0.5)
    males = size - females - (sex == 2)
    migration = _pick(
        rng,
        ch.MIGRATION,
        n,
        {"moved_in_country": 0.4 * wet, "displaced": 0.5 * wet, "born_here": 0.5 * q},
    )
    rooms = np.minimum(1 + rng.binomial(np.maximum(size - 2, 0), 0.10 + 0.15 * q), 8)

    # Housing.
    wall = weighted_choice(rng, material_logits(ch.WALL, q, f))
    roof = weighted_choice(rng, material_logits(ch.ROOF, q, f))
    if wall_anchor is not None and roof_anchor is not None:
        same = rng.random(n) < 0.95
        wall = np.where(same, wall_anchor, wall)
        roof = np.where(same, roof_anchor, roof)
    floor = weighted_choice(rng, material_logits(ch.FLOOR, q, f))
    electricity = _yes(rng, np.clip(0.45 + 0.45 * q - 0.15 * wet, 0.05, 0.98), n)
    asset_p = np.tile(np.asarray(ch.weights(ch.ASSETS))[:-1], (n, 1))
    powered = (electricity == 0)[:, None]
    for name in ("tv", "fridge", "computer"):
        k = ch.names(ch.ASSETS).index(name)
        asset_p[:, k] = np.where(
            powered[:, 0], np.minimum(asset_p[:, k] * 1.4, 0.95), asset_p[:, k] * 0.2
        )
    assets = rng.random(asset_p.shape) < asset_p

    # Water.
    water = _pick(
        rng,
        ch.WATER,
        n,
        {
            "piped_dwelling": 2.5 * q,
            "piped_yard": 2.0 * q,
            "piped_neighbour": 0.8 * q,
            "surface": 1.8 * wet,
            "unprotected_well": 0.8 * wet,
        },
    )
    wnames = np.array(ch.names(ch.WATER))[water]
    off_premises = ~np.isin(
        wnames, ["piped_dwelling", "piped_yard", "rainwater", "tanker", "cart", "bottled"]
    )
    public = np.isin(wnames, ["public_tap", "kiosk"])
    if ctx._water_tree is not None:
        _, dist = ctx._water_tree.query_nearest(
            shapely.points(x, y), return_distance=True, all_matches=False
        )
    else:
        dist = rng.exponential(120.0, n) + 10.0
    dist = np.where(
        public,
        dist,
        np.where(
            wnames == "piped_neighbour", rng.uniform(10, 60, n), rng.exponential(250.0, n) + 50.0
        ),
    )
    queue_median = (4 + 12 * (1 - q)) * ctx.crowding[s] * np.where(public, 1.0, 0.4)
    queue = np.minimum(np.round(queue_median * rng.lognormal(0, 0.7, n)), 240)
    trip = np.round(2 * dist / 60.0 + queue + rng.uniform(1, 4, n))
    water_available = _yes(rng, 0.55 + 0.35 * q, n)

    # Sanitation and hygiene.
    toilet = _pick(
        rng,
        ch.TOILET,
        n,
        {
            "flush_sewer": 2.0 * q,
            "flush_septic": 1.5 * q,
            "vip": 0.5 * q,
            "hanging": 2.5 * wet,
            "none": 1.2 * wet,
            "pit_open": 0.5 * wet,
        },
    )
    tnames = np.array(ch.names(ch.TOILET))[toilet]
    no_toilet = tnames == "none"
    flush = np.isin(tnames, ["flush_sewer", "flush_septic"])
    shared = _yes(rng, np.clip(0.88 - 0.45 * q - 0.3 * flush, 0.05, 0.98), n)
    sharing = np.clip(np.round(np.exp(rng.normal(np.log(5 + 6 * (1 - q)), 0.6, n))), 2, 80)
    users = np.maximum(size - rng.binomial(children, 0.15), 1)
    handwash = _pick(rng, ch.HANDWASH, n, {"fixed": 2.0 * q, "none": 0.5 * wet - 1.0 * q})
    hw_asked = handwash <= 1
    hw_water = _yes(rng, 0.75, n)
    hw_soap = _yes(rng, 0.45 + 0.3 * q, n)

    # Waste.
    waste = _pick(
        rng,
        ch.WASTE,
        n,
        {
            "door_collection": 1.5 * q,
            "communal_skip": 1.0 * q,
            "dump_river": 1.8 * wet,
            "burn": -0.5 * q,
        },
    )
    collections = np.where(
        waste == 0,
        rng.choice([1.0, 2.0, 3.0, 7.0], n, p=[0.5, 0.3, 0.12, 0.08]),
        np.where(waste == 1, rng.choice([1.0, 2.0], n, p=[0.7, 0.3]), np.nan),
    )

    # Tenure.
    recognised = np.isin(legal, ["legal", "partly_legal"]).astype(float)
    tenure = _pick(
        rng,
        ch.TENURE,
        n,
        {
            "recognised": 2.0 * recognised,
            "allotment": 1.5 * q,
            "tenant_written": 1.5 * q,
            "title": 2.0 * q,
            "lease": 1.5 * q,
            "squatter": 2.0 * (evict == "ongoing"),
            "owner_no_docs": 0.4 * wet,
        },
    )
    doc_p = _DOCUMENT_GIVEN_TENURE[tenure]
    document = weighted_choice(rng, np.log(doc_p + 1e-12))
    canon_tenure = np.array([c[1] for c in ch.TENURE], dtype=object)[tenure]
    group = np.array([TENURE_TYPES[c].group for c in canon_tenure], dtype=object)
    p_secure = np.array([_TENURE_SECURITY.get(g, 0.5) for g in group])
    p_secure -= np.array([_EVICTION_EFFECT.get(e, 0.1) for e in evict]) + 0.1 * wet
    secure = _yes(rng, np.clip(p_secure, 0.02, 0.98), n)
    threatened = _yes(
        rng, np.array([_EVICTION_THREATENED.get(e, 0.1) for e in evict]) + 0.05 * wet, n
    )
    renter = np.isin(canon_tenure, ["informal_rental", "formal_rental"])
    rent = 2200 * (1 + 0.8 * q) * (1 + 0.4 * (rooms - 1)) * (1 - 0.25 * f)
    rent = np.maximum(np.round(rent * rng.lognormal(0, 0.35, n) / 100) * 100, 500)

    # Free text and people's identifiers (synthetic; phone numbers use the unassigned +999).
    first = np.where(
        female_head,
        rng.choice(np.array(_FEMALE_NAMES, dtype=object), n),
        rng.choice(np.array(_MALE_NAMES, dtype=object), n),
    )
    surname = rng.choice(np.array(_SURNAMES, dtype=object), n)
    comments = np.where(rng.random(n) < 0.05, rng.choice(np.array(_COMMENTS, dtype=object), n), "")
    enumerator_k = rng.integers(0, 8, n)
    enumerator = pd.Series(s * 10 + enumerator_k + 1).map("EN{:03d}".format).to_numpy(object)

    # When: settlement after settlement, Monday to Saturday, 08:00-17:00 local time.
    day = plan.day_offset[s] + pos // plan.per_day
    calendar_day = day + day // 6
    frac = ((pos % plan.per_day) + rng.uniform(0, 1, n)) / plan.per_day
    base = np.datetime64("2024-02-05T08:00:00.000", "ms")
    start = (
        base
        + calendar_day * np.timedelta64(1, "D")
        + (frac * 9 * 3600 * 1000).astype("timedelta64[ms]")
    )
    duration = ((12 + rng.gamma(4.0, 4.0, n)) * 60_000).astype("timedelta64[ms]")
    end = start + duration
    lag = (rng.uniform(0.5, 30, n) * 60_000).astype("timedelta64[ms]")
    submitted = (end - np.timedelta64(3, "h") + lag).astype("datetime64[s]")
    if after is not None:  # the server numbers submissions as they arrive
        submitted = np.maximum(submitted, after)
    submitted = np.maximum.accumulate(submitted)

    # Injected errors that change the simulation itself.
    rows = np.arange(lo, hi)
    inj = {k: np.isin(rows, v) for k, v in plan.errors.items()}
    errors: list[dict[str, Any]] = []
    precision = np.round(np.clip(rng.lognormal(np.log(6.0), 0.45, n), 2.5, 30.0), 1)
    if "gps_low_precision" in inj:
        m = inj["gps_low_precision"]
        precision[m] = np.round(rng.uniform(50, 200, int(m.sum())), 1)
    if "toilet_users_exceed_size" in inj:
        m = inj["toilet_users_exceed_size"]
        no_toilet[m] = False
        toilet[m & (tnames == "none")] = ch.names(ch.TOILET).index("pit_slab")
        users[m] = size[m] + rng.integers(2, 9, int(m.sum()))
    if "unknown_code" in inj:
        m = inj["unknown_code"]
        water[m] = ch.names(ch.WATER).index("kiosk")
        off_premises[m] = True
    outside_notes: dict[int, float] = {}
    if "outside_settlement" in inj:
        for i in np.flatnonzero(inj["outside_settlement"]):
            x[i], y[i], outside_notes[i] = _push_outside(rng, ctx, int(s[i]), x[i], y[i])
    lon, lat = ctx.to_lonlat(x, y)
    lat, lon = np.round(lat, 8), np.round(lon, 8)
    alt = np.round(1180 + 0.004 * y - 8 * f + rng.normal(0, 6, n), 1)
    if "swapped_lat_lon" in inj:
        m = inj["swapped_lat_lon"]
        lat[m], lon[m] = lon[m].copy(), lat[m].copy()

    # Encode.
    uuid = _uuids(rng, n)
    lat_s, lon_s, alt_s, acc_s = (_text(v) for v in (lat, lon, alt, precision))
    cols: dict[str, pa.Array] = {
        "start": pc.binary_join_element_wise(
            pc.strftime(pa.array(start), format="%Y-%m-%dT%H:%M:%S"), "+03:00", ""
        ),
        "end": pc.binary_join_element_wise(
            pc.strftime(pa.array(end), format="%Y-%m-%dT%H:%M:%S"), "+03:00", ""
        ),
        "today": pc.strftime(pa.array(start.astype("datetime64[D]")), format="%Y-%m-%d"),
        "deviceid": _text(_device_ids(seed)[s * 10 + enumerator_k]),
        "intro/enumerator": _text(enumerator),
        "intro/consent": _choice_text(ch.YES_NO, np.zeros(n, dtype=np.int64)),
        "intro/settlement": _choice_text(ctx.settlement_ids, s),
        "intro/structure_no": _text(structure),
        "hh/gps": pc.binary_join_element_wise(lat_s, lon_s, alt_s, acc_s, " "),
        "hh/_gps_latitude": lat_s,
        "hh/_gps_longitude": lon_s,
        "hh/_gps_altitude": alt_s,
        "hh/_gps_precision": acc_s,
        "hh/head_name": _text(first + " " + surname),
        "hh/phone": pc.binary_join_element_wise("+9997", _digits(rng, n, 8), ""),
        "hh/national_id": pc.binary_join_element_wise("X", _digits(rng, n, 7), ""),
        "hh/head_sex": _choice_text(ch.SEX, sex),
        "hh/head_age": _text(age),
        "hh/hh_size": _text(size),
        "hh/adults": _text(adults),
        "hh/children": _text(children),
        "hh/females": _text(females),
        "hh/males": _text(males),
        "hh/migration": _choice_text(ch.MIGRATION, migration),
    }
    cols.update(_assets_columns(assets))
    cols.update(
        {
            "housing/sleeping_rooms": _text(rooms),
            "housing/wall": _choice_text(ch.WALL, wall),
            "housing/roof": _choice_text(ch.ROOF, roof),
            "housing/floor": _choice_text(ch.FLOOR, floor),
            "housing/electricity": _choice_text(ch.YES_NO, electricity),
            "housing/rent": _text(rent.astype(np.int64), ~renter),
            "wash/water_source": _choice_text(ch.WATER, water),
            "wash/water_trip_min": _text(trip.astype(np.int64), ~off_premises),
            "wash/water_queue_min": _text(queue.astype(np.int64), ~off_premises),
            "wash/water_available": _choice_text(ch.YES_NO, water_available),
            "wash/toilet_type": _choice_text(ch.TOILET, toilet),
            "wash/toilet_shared": _choice_text(ch.YES_NO, np.where(no_toilet, -1, shared)),
            "wash/toilet_households": _text(sharing.astype(np.int64), no_toilet | (shared == 1)),
            "wash/toilet_users": _text(users, no_toilet),
            "wash/handwash_place": _choice_text(ch.HANDWASH, handwash),
            "wash/handwash_water": _choice_text(ch.YES_NO, np.where(hw_asked, hw_water, -1)),
            "wash/handwash_soap": _choice_text(ch.YES_NO, np.where(hw_asked, hw_soap, -1)),
            "waste/disposal": _choice_text(ch.WASTE, waste),
            "waste/collections_week": _text(np.nan_to_num(collections), np.isnan(collections)),
            "tenure/tenure_type": _choice_text(ch.TENURE, tenure),
            "tenure/document": _choice_text(ch.DOCUMENT, document),
            "tenure/feel_secure": _choice_text(ch.YES_NO, secure),
            "tenure/eviction_threat": _choice_text(ch.YES_NO, threatened),
            "notes/comments": _text(comments),
            "_id": _text(np.arange(lo, hi, dtype=np.int64) + 480_112_001),
            "_uuid": pc.cast(pa.array(uuid, type=pa.binary()), pa.string()),
            "_submission_time": pc.strftime(pa.array(submitted), format="%Y-%m-%dT%H:%M:%S"),
            "_validation_status": _choice_text(
                ["validation_status_approved", "validation_status_on_hold"],
                rng.choice([0, 1, -1], n, p=[0.25, 0.05, 0.70]),
            ),
            "_notes": _text(np.full(n, "", dtype=object)),
            "_status": _text(np.full(n, "submitted_via_web", dtype=object)),
            "_submitted_by": pc.binary_join_element_wise("mtomji_", _text(enumerator), ""),
            "__version__": _text(np.full(n, FORM_VERSION, dtype=object)),
            "_tags": _text(np.full(n, "", dtype=object)),
            "_index": _text(np.arange(lo, hi, dtype=np.int64) + 1),
        }
    )

    # Injected errors written as text.
    if "unknown_code" in inj and inj["unknown_code"].any():
        m = pa.array(inj["unknown_code"])
        cols["wash/water_source"] = pc.if_else(
            m, ch.UNKNOWN_CODES["wash/water_source"], cols["wash/water_source"]
        )
        cols["__version__"] = pc.if_else(m, FORM_VERSION_LATER, cols["__version__"])
    if "formula_in_text" in inj and inj["formula_in_text"].any():
        m = pa.array(inj["formula_in_text"])
        cols["notes/comments"] = pc.if_else(
            m,
            '=HYPERLINK("https://mto-mji.example.org/photos/4471","see photo")',
            cols["notes/comments"],
        )
    table = pa.table({c: cols[c] for c in csv_columns()})
    dup = {j - lo: i - lo for j, i in plan.duplicate_of.items() if lo <= j < hi}
    if dup:
        take = np.arange(n)
        for j, i in dup.items():
            take[j] = i
        keep = {"_id", "_submission_time", "_index"}
        table = pa.table(
            {
                c: table[c] if c in keep else pc.take(table[c], pa.array(take))
                for c in table.column_names
            }
        )
        for j, i in dup.items():
            for arr in (size, s, structure, sex, age, adults, children, females, males, surname):
                arr[j] = arr[i]

    uuid_col = table["_uuid"].to_numpy(zero_copy_only=False)
    for kind, mask in inj.items():
        errors.extend(
            _describe(kind, i, lo, table, uuid_col, plan, outside_notes)
            for i in np.flatnonzero(mask)
        )
    people = {
        "head_sex": sex,
        "head_age": age,
        "size": size,
        "adults": adults,
        "children": children,
        "females": females,
        "males": males,
        "surname": surname,
    }
    return _Chunk(table, s, structure, size, people, errors, submitted[-1], dup)


def _describe(
    kind: str,
    i: int,
    lo: int,
    table: pa.Table,
    uuid_col: np.ndarray,
    plan: _Plan,
    outside_notes: dict[int, float],
) -> dict[str, Any]:
    column = {
        "swapped_lat_lon": "hh/gps",
        "outside_settlement": "hh/gps",
        "gps_low_precision": "hh/_gps_precision",
        "duplicate_uuid": "_uuid",
        "unknown_code": "wash/water_source",
        "toilet_users_exceed_size": "wash/toilet_users",
        "formula_in_text": "notes/comments",
    }[kind]
    record: dict[str, Any] = {
        "kind": kind,
        "row": int(lo + i + 1),
        "_index": int(lo + i + 1),
        "_uuid": str(uuid_col[i]),
        "column": column,
        "value": table[column][i].as_py(),
        "what": ERROR_KINDS[kind],
    }
    if kind == "duplicate_uuid":
        record["duplicate_of_row"] = int(plan.duplicate_of[lo + i] + 1)
    if kind == "toilet_users_exceed_size":
        record["household_size"] = int(table["hh/hh_size"][i].as_py())
    if kind == "outside_settlement":
        record["settlement_id"] = table["intro/settlement"][i].as_py()
        record["distance_outside_m"] = outside_notes[i]
    return record


def _push_outside(
    rng: np.random.Generator, ctx: HouseholdContext, s: int, x: float, y: float
) -> tuple[float, float, float]:
    """Move a point 10-45 m outside its settlement, away from the nearest boundary point."""
    poly = ctx.polygons[s]
    ring = poly.exterior
    for _ in range(50):
        target = rng.uniform(15, 45)
        edge = ring.interpolate(ring.project(shapely.Point(x, y)))
        c = poly.centroid
        vx, vy = edge.x - c.x, edge.y - c.y
        norm = math.hypot(vx, vy) or 1.0
        nx, ny = edge.x + vx / norm * target, edge.y + vy / norm * target
        outside = shapely.Point(nx, ny)
        others = any(p.contains(outside) for p in ctx.polygons)
        if not others and poly.distance(outside) >= 10:
            return nx, ny, round(poly.distance(outside), 1)
        x, y = (x + c.x) / 2, (y + c.y) / 2  # try from nearer the middle
    raise RuntimeError("could not move a point outside its settlement")  # pragma: no cover


def _assets_columns(assets: np.ndarray) -> dict[str, pa.Array]:
    names = ch.names(ch.ASSETS)[:-1]  # every choice but "none"
    code = (assets.astype(np.int64) << np.arange(len(names))).sum(axis=1)
    lookup = [
        " ".join(nm for b, nm in enumerate(names) if k >> b & 1) or "none"
        for k in range(1 << len(names))
    ]
    cols = {"hh/assets": pc.take(pa.array(lookup), pa.array(code))}
    for b, nm in enumerate(names):
        cols[f"hh/assets/{nm}"] = _text(assets[:, b].astype(np.int64))
    cols["hh/assets/none"] = _text((code == 0).astype(np.int64))
    return cols


def _device_ids(seed: int) -> np.ndarray:
    """One ODK Collect device id (``collect:`` + 16 characters) per enumerator slot."""
    rng = stream(seed, "households:devices")
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"))
    chars = rng.choice(alphabet, size=(1000, 16))
    return np.array(["collect:" + "".join(row) for row in chars], dtype=object)


# -- Members (XLSX repeat sheet) -------------------------------------------------------------


def _members(rng: np.random.Generator, chunk: _Chunk, count: int) -> list[list[Any]]:
    """Member rows of the first ``count`` households, consistent with their composition."""
    t = chunk.table
    p = chunk.people
    meta = {m: t[m].to_pylist()[:count] for m in SUBMISSION_META}
    sex_names = ch.names(ch.SEX)
    rows: list[list[Any]] = []
    by_household: dict[int, list[list[Any]]] = {}
    index = 0
    for h in range(count):
        original = chunk.duplicate_of.get(h)
        if original is not None and original in by_household:  # a resubmission: same members
            copies = []
            for row in by_household[original]:
                index += 1
                copies.append(
                    [
                        *row[:7],
                        index,
                        FORM_TITLE,
                        h + 1,
                        *(_typed(m, meta[m][h]) for m in SUBMISSION_META),
                    ]
                )
            by_household[h] = copies
            rows.extend(copies)
            continue
        head_sex = sex_names[int(p["head_sex"][h])]
        head_age = int(p["head_age"][h])
        size, adults = int(p["size"][h]), int(p["adults"][h])
        females = int(p["females"][h]) - (head_sex == "f")
        males = int(p["males"][h]) - (head_sex == "m")
        sexes = ["f"] * females + ["m"] * males
        rng.shuffle(sexes)
        surname = str(p["surname"][h])
        members = [(head_sex, head_age, "head")]
        for k in range(size - 1):
            sx = sexes[k] if k < len(sexes) else "f"
            if k < adults - 1:
                husband_wife = head_sex == "m" and sx == "f" and rng.random() < 0.8
                wife_husband = head_sex == "f" and sx == "m" and rng.random() < 0.3
                spouse = k == 0 and (husband_wife or wife_husband)
                if spouse:
                    members.append(
                        (sx, int(np.clip(head_age + rng.normal(-3, 5), 18, 90)), "spouse")
                    )
                else:
                    rel = str(
                        rng.choice(
                            ["sibling", "parent", "other_relative", "non_relative"],
                            p=[0.35, 0.15, 0.35, 0.15],
                        )
                    )
                    members.append((sx, int(rng.integers(18, 71)), rel))
            else:
                rel = "grandchild" if head_age > 45 and rng.random() < 0.5 else "child"
                members.append((sx, int(rng.integers(0, 18)), rel))
        mine: list[list[Any]] = []
        for sx, age, rel in members:
            index += 1
            first = rng.choice(_FEMALE_NAMES if sx == "f" else _MALE_NAMES)
            in_school = ""
            if 4 <= age <= 22:
                p_school = 0.6 if age < 6 else 0.92 if age < 14 else 0.75 if age < 18 else 0.25
                in_school = "yes" if rng.random() < p_school else "no"
            employed = ""
            if age >= 15:
                p_job = 0.08 if in_school == "yes" else (0.6 if sx == "m" else 0.45)
                employed = "yes" if rng.random() < p_job else "no"
            disability = "yes" if rng.random() < (0.12 if age >= 60 else 0.035) else "no"
            mine.append(
                [
                    f"{first} {surname}",
                    sx,
                    age,
                    rel,
                    disability,
                    in_school,
                    employed,
                    index,
                    FORM_TITLE,
                    h + 1,
                    *(_typed(m, meta[m][h]) for m in SUBMISSION_META),
                ]
            )
        by_household[h] = mine
        rows.extend(mine)
    return rows


_NUMERIC = {q.column: q.kind for q in QUESTIONS if q.kind in {"integer", "decimal"}}


def _typed(column: str, value: str) -> Any:
    """A cell as the XLSX export types it: numbers for number questions and ids."""
    if value == "":
        return None
    if column in {"_id", "_index"} or _NUMERIC.get(column) == "integer":
        return int(value)
    if _NUMERIC.get(column) == "decimal" or column.startswith("hh/_gps_"):
        return float(value)
    return value


_FIXED_TIME = (2024, 1, 1, 0, 0, 0)
_CORE_TIMES = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")


def _write_xlsx(path: Path, chunk: _Chunk, count: int, *, seed: int) -> int:
    """The XLSX export of the first ``count`` households with their members.

    Returns
    -------
    int
        Number of member rows.
    """
    rng = stream(seed, "households:members")
    wb = Workbook(write_only=True)
    main = wb.create_sheet(FORM_TITLE[:31])
    header = chunk.table.column_names
    main.append(header)
    data = chunk.table.slice(0, count).to_pydict()
    for i in range(count):
        main.append([_typed(c, data[c][i]) for c in header])
    members = wb.create_sheet("members")
    members.append(member_columns())
    rows = _members(rng, chunk, count)
    for row in rows:
        members.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    _normalise_zip(buf.getvalue(), path)
    return len(rows)


def _normalise_zip(content: bytes, path: Path) -> None:
    """Rewrite an OOXML zip with fixed timestamps so the same data gives the same bytes."""
    src = zipfile.ZipFile(io.BytesIO(content))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = _CORE_TIMES.sub(rb"\g<1>2024-01-01T00:00:00Z\g<3>", data)
            fixed = zipfile.ZipInfo(info.filename, date_time=_FIXED_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            out.writestr(fixed, data)


# -- Public entry point --------------------------------------------------------------------------


@dataclass
class HouseholdExport:
    """What :func:`generate_households_csv` wrote.

    Attributes
    ----------
    path : Path
        The CSV export.
    rows : int
        Data rows written (households, duplicates included).
    errors : list of dict
        Every injected error: ``kind``, ``row`` (1-based data row = ``_index``), ``_uuid``,
        ``column``, ``value``, ``what`` and kind-specific details.
    households : DataFrame
        One row per data row: ``settlement_id``, ``structure_id``, ``household_size``,
        ``injected`` (the row carries an error), ``duplicate``.
    xlsx_path : Path or None
        The XLSX export of the first households with the ``members`` sheet.
    xlsx_rows, members : int
        Households and member rows in the XLSX export.
    seconds : float
        Wall-clock time spent.
    """

    path: Path
    rows: int
    errors: list[dict[str, Any]]
    households: pd.DataFrame
    xlsx_path: Path | None = None
    xlsx_rows: int = 0
    members: int = 0
    seconds: float = 0.0


def generate_households_csv(
    path: Path | str,
    n: int,
    *,
    seed: int = 42,
    settlements: gpd.GeoDataFrame | None = None,
    city: City | None = None,
    errors: bool = True,
    xlsx_path: Path | str | None = None,
    xlsx_rows: int = 500,
    chunk_size: int = 100_000,
    progress: Callable[[int, int], None] | None = None,
) -> HouseholdExport:
    """Write ``n`` synthetic households as a KoboToolbox CSV export.

    Parameters
    ----------
    path : path-like
        The CSV to write (UTF-8 with BOM, ``;``-separated, every field quoted, CRLF).
    n : int
        Households (data rows, the injected duplicate included).
    seed : int, default 42
        Same seed, same arguments: byte-identical output.
    settlements : GeoDataFrame, optional
        Boundaries to spread households over uniformly (``settlement_id``, polygons, any
        CRS); see :meth:`HouseholdContext.from_settlements`. Ignored when ``city`` is given.
        Neither: the synthetic settlements of Mto Mji.
    city : City, optional
        A built city: households then live in its residential structures and their answers
        follow its flood depth and water points.
    errors : bool, default True
        Inject the errors of :data:`ERROR_KINDS`.
    xlsx_path : path-like, optional
        Also write the XLSX export (with the ``members`` repeat sheet) of the first
        ``xlsx_rows`` households.
    xlsx_rows : int, default 500
        Households in the XLSX export.
    chunk_size : int, default 100_000
        Rows simulated and written at a time (memory bound); part of the output's identity.
    progress : callable, optional
        ``progress(rows_done, n)`` after each chunk.

    Returns
    -------
    HouseholdExport

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "hh.csv"
    >>> export = generate_households_csv(out, 300, seed=1)
    >>> export.rows, out.read_bytes()[:12]
    (300, b'\\xef\\xbb\\xbf"start";"')
    """
    t0 = time.perf_counter()
    if n < 1:
        raise ValueError("n must be at least 1")
    path = Path(path)
    ctx = (
        HouseholdContext.from_city(city, households=n)
        if city is not None
        else (HouseholdContext.from_settlements(settlements, seed=seed))
    )
    plan = _plan(ctx, n, seed=seed, chunk_size=chunk_size, errors=errors, xlsx_rows=xlsx_rows)
    options = pacsv.WriteOptions(
        include_header=False, delimiter=";", quoting_style="all_valid", eol="\r\n"
    )
    header = ";".join('"' + c.replace('"', '""') + '"' for c in csv_columns()) + "\r\n"
    all_errors: list[dict[str, Any]] = []
    frames: list[pd.DataFrame] = []
    xlsx_out, members = None, 0
    schema = pa.schema([(c, pa.string()) for c in csv_columns()])
    last_time: np.datetime64 | None = None
    with path.open("wb") as fh:
        fh.write(b"\xef\xbb\xbf" + header.encode("utf-8"))
        with pacsv.CSVWriter(fh, schema, write_options=options) as writer:
            for chunk_index, lo in enumerate(range(0, n, chunk_size)):
                hi = min(n, lo + chunk_size)
                chunk = _simulate(ctx, plan, lo, hi, seed=seed, chunk=chunk_index, after=last_time)
                last_time = chunk.last_submission
                writer.write_table(chunk.table)
                all_errors.extend(chunk.errors)
                injected = np.zeros(hi - lo, dtype=bool)
                for e in chunk.errors:
                    injected[e["row"] - 1 - lo] = True
                dup = np.isin(np.arange(lo, hi), list(plan.duplicate_of))
                frames.append(
                    pd.DataFrame(
                        {
                            "settlement_id": np.array(ctx.settlement_ids, dtype=object)[
                                chunk.settlement
                            ],
                            "structure_id": chunk.structure,
                            "household_size": chunk.size,
                            "injected": injected,
                            "duplicate": dup,
                        }
                    )
                )
                if chunk_index == 0 and xlsx_path is not None:
                    xlsx_out = Path(xlsx_path)
                    members = _write_xlsx(xlsx_out, chunk, min(n, xlsx_rows), seed=seed)
                if progress is not None:
                    progress(hi, n)
    all_errors.sort(key=lambda e: (e["row"], e["kind"]))
    return HouseholdExport(
        path=path,
        rows=n,
        errors=all_errors,
        households=pd.concat(frames, ignore_index=True),
        xlsx_path=xlsx_out,
        xlsx_rows=min(n, xlsx_rows) if xlsx_out else 0,
        members=members,
        seconds=time.perf_counter() - t0,
    )
