"""Tier III projects and direct beneficiaries: hand-computed tiny cases and the demo city.

Coordinates are UTM 37S (EPSG:32737) offsets from ``(X0, Y0)`` in metres.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely import Point

from profiling.crs import GeographicCRSError
from profiling.indicators.projects import (
    DEFAULT_STATUSES,
    PROJECT_INDICATORS,
    PROJECT_REGISTRY,
    project_beneficiaries,
    projects_by_type,
)

CRS = 32737
X0, Y0 = 350_000.0, 9_790_000.0
STAMP = datetime(2025, 1, 1, tzinfo=UTC)
TOTAL = "tier3_direct_beneficiaries"
FEMALE = "tier3_direct_beneficiaries_female"
MALE = "tier3_direct_beneficiaries_male"


def pt(x: float, y: float) -> Point:
    return Point(X0 + x, Y0 + y)


def make_projects(rows: list[dict[str, object]]) -> gpd.GeoDataFrame:
    base = {"status": "ongoing", "settlement_id": "S1", "catchment_m": 100.0}
    frame = pd.DataFrame([{**base, **r} for r in rows])
    geometry = frame.pop("geometry")
    return gpd.GeoDataFrame(frame, geometry=list(geometry), crs=CRS)


def make_households(
    rows: Sequence[tuple[str, float, float, float, float, float]],
) -> gpd.GeoDataFrame:
    """Rows ``(household_id, x, y, household_size, females, males)``."""
    frame = pd.DataFrame(
        rows, columns=["household_id", "x", "y", "household_size", "females", "males"]
    )
    geometry = [pt(x, y) for x, y in zip(frame.pop("x"), frame.pop("y"), strict=True)]
    frame["settlement_id"] = "S1"
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=CRS)


def value(table: pd.DataFrame, indicator_id: str, group: str = "") -> float:
    row = table[(table["indicator_id"] == indicator_id) & (table["group"] == group)]
    assert len(row) == 1, (indicator_id, group)
    return float(row["value"].iloc[0])


# Two water points 150 m apart with 100 m catchments; a toilet block at h4.
#   h1 (10, 0):  P1 only            4 people, 2 F, 2 M
#   h2 (75, 0):  P1 and P2          3 people, 1 F, 2 M
#   h3 (80, 20): P1 (82.5 m), P2 (72.8 m)   5 people, 3 F, 2 M
#   h4 (200, 0): P2 (50 m), P3 (0 m)        2 people, 1 F, 1 M
#   h5 (400, 0): none               6 people
HOUSEHOLDS = [
    ("h1", 10.0, 0.0, 4, 2, 2),
    ("h2", 75.0, 0.0, 3, 1, 2),
    ("h3", 80.0, 20.0, 5, 3, 2),
    ("h4", 200.0, 0.0, 2, 1, 1),
    ("h5", 400.0, 0.0, 6, 3, 3),
]


def overlapping() -> gpd.GeoDataFrame:
    return make_projects(
        [
            {"project_id": "P1", "project_type": "water", "geometry": pt(0, 0)},
            {"project_id": "P2", "project_type": "water", "geometry": pt(150, 0)},
            {
                "project_id": "P3",
                "project_type": "sanitation",
                "catchment_m": 10.0,
                "geometry": pt(200, 0),
            },
        ]
    )


def test_registry_holds_the_tier3_definitions() -> None:
    ids = [i.id for i in PROJECT_INDICATORS]
    assert ids == ["tier3_projects", TOTAL, FEMALE, MALE]
    assert all(i in PROJECT_REGISTRY for i in ids)
    assert PROJECT_REGISTRY.get("tier3_projects").unit == "projects"
    assert list(PROJECT_REGISTRY.get(TOTAL).parameters["statuses"]) == list(DEFAULT_STATUSES)


def test_overlapping_catchments_count_shared_households_once() -> None:
    result = project_beneficiaries(overlapping(), make_households(HOUSEHOLDS), computed_at=STAMP)
    per = result.per_project.set_index("project_id")
    assert per.loc["P1", ["households", "people", "females", "males"]].tolist() == [3, 12, 6, 6]
    assert per.loc["P2", ["households", "people", "females", "males"]].tolist() == [3, 10, 5, 5]
    assert per.loc["P3", ["households", "people", "females", "males"]].tolist() == [1, 2, 1, 1]
    assert (per["sex_unknown"] == 0).all()
    assert per["catchment"].tolist() == ["buffer"] * 3
    # One component: P1-P2 share h2, h3; P2-P3 share h4.
    assert per["component"].nunique() == 1
    table = result.table
    # City: h1..h4 once = 4 + 3 + 5 + 2 = 14 (per-project sum is 24).
    assert value(table, TOTAL) == 14
    assert per["people"].sum() == 24
    assert value(table, FEMALE) == 7
    assert value(table, MALE) == 7
    city = table[(table["indicator_id"] == TOTAL) & (table["group"] == "")]
    assert city["n_units"].tolist() == [4]
    assert city["unknown"].tolist() == [0]
    assert city["source"].tolist() == ["enumeration"]
    assert city["ci_method"].tolist() == ["none"]
    assert city["numerator"].tolist() == [14.0]
    # By type: water = h1..h4 = 14 (h2, h3 once), sanitation = h4 = 2; 16 > the city's 14.
    assert value(table, TOTAL, "project_type=water") == 14
    assert value(table, TOTAL, "project_type=sanitation") == 2
    assert value(table, FEMALE, "project_type=water") == 7
    assert value(table, MALE, "project_type=sanitation") == 1
    assert result.components["estimate"].tolist() == ["enumerated"]


def test_reported_figure_larger_than_enumerated_is_taken_not_summed() -> None:
    projects = make_projects(
        [
            {"project_id": "P1", "project_type": "water", "geometry": pt(0, 0),
             "beneficiaries_reported": 30},
            {"project_id": "P2", "project_type": "water", "geometry": pt(150, 0),
             "beneficiaries_reported": 10},
            # Far away: its own component; enumerated 7 beats the reported 5.
            {"project_id": "P4", "project_type": "waste", "geometry": pt(5000, 0),
             "beneficiaries_reported": 5},
        ]
    )  # fmt: skip
    households = make_households([*HOUSEHOLDS[:4], ("h6", 5010.0, 0.0, 7, 4, 3)])
    result = project_beneficiaries(projects, households, computed_at=STAMP)
    comps = result.components.set_index("project_ids")
    # {P1, P2}: enumerated h1..h4 = 14, reported max(30, 10) = 30 -> 30 (never 40 or 44).
    assert comps.loc["P1,P2", "people_enumerated"] == 14
    assert comps.loc["P1,P2", "beneficiaries"] == 30
    assert comps.loc["P1,P2", "estimate"] == "reported"
    assert comps.loc["P4", "beneficiaries"] == 7
    assert comps.loc["P4", "estimate"] == "enumerated"
    table = result.table
    assert value(table, TOTAL) == 30 + 7
    city = table[(table["indicator_id"] == TOTAL) & (table["group"] == "")]
    assert city["source"].tolist() == ["enumeration+reported"]
    # Sex split stays enumerated: 7 + 4 females.
    assert value(table, FEMALE) == 11
    assert value(table, TOTAL, "project_type=water") == 30
    assert value(table, TOTAL, "project_type=waste") == 7
    per = result.per_project.set_index("project_id")
    assert per.loc["P1", "people"] == 12  # per-project figures stay enumerated
    assert per.loc["P1", "component"] == per.loc["P2", "component"] != per.loc["P4", "component"]


def test_overlapping_catchments_without_shared_households_still_one_component() -> None:
    # Catchments of 100 m, 150 m apart: they intersect, though no household lies in both.
    projects = make_projects(
        [
            {"project_id": "A", "project_type": "water", "geometry": pt(0, 0),
             "beneficiaries_reported": 20},
            {"project_id": "B", "project_type": "water", "geometry": pt(150, 0),
             "beneficiaries_reported": 25},
        ]
    )  # fmt: skip
    households = make_households([("h1", -50.0, 0.0, 4, 2, 2), ("h2", 200.0, 0.0, 3, 1, 2)])
    result = project_beneficiaries(projects, households)
    assert result.components["project_ids"].tolist() == ["A,B"]
    assert value(result.table, TOTAL) == 25  # max(7, 20, 25), not 20 + 25


def test_members_fill_missing_sex_counts_else_sex_unknown() -> None:
    square = shapely.box(X0 - 10, Y0 - 10, X0 + 100, Y0 + 100)
    projects = make_projects(
        [
            {"project_id": "P", "project_type": "housing", "catchment_m": np.nan,
             "geometry": square},
        ]
    )  # fmt: skip
    nan = np.nan
    households = make_households(
        [
            ("hA", 1, 1, 4, nan, nan),  # members: 3 F, 1 M
            ("hB", 2, 2, 3, nan, nan),  # no members: 3 of unknown sex
            ("hC", 3, 3, nan, nan, nan),  # members: 1 F, 1 other -> 2 people
            ("hD", 4, 4, 3, 2, nan),  # females given; members give 1 M
        ]
    )
    members = pd.DataFrame(
        {
            "household_id": ["hA", "hA", "hA", "hA", "hC", "hC", "hD", "hD", "hD"],
            "sex": ["female", "female", "female", "male", "female", "other", "male", "female",
                    "female"],
        }
    )  # fmt: skip
    result = project_beneficiaries(projects, households, members=members)
    per = result.per_project.iloc[0]
    assert per["catchment"] == "polygon"
    assert [per["people"], per["females"], per["males"], per["sex_unknown"]] == [12, 6, 2, 4]
    table = result.table
    assert value(table, TOTAL) == 12
    assert value(table, FEMALE) == 6
    assert value(table, MALE) == 2
    female = table[(table["indicator_id"] == FEMALE) & (table["group"] == "")]
    assert female["unknown"].tolist() == [1]  # hB
    # Without the roster: hC has no size (0 people, unknown), nobody's sex split is complete.
    bare = project_beneficiaries(projects, households)
    assert value(bare.table, TOTAL) == 10
    total = bare.table[(bare.table["indicator_id"] == TOTAL) & (bare.table["group"] == "")]
    assert total["unknown"].tolist() == [1]
    assert bare.per_project["sex_unknown"].tolist() == [8.0]  # 4 + 3 + 0 + (3 - 2)
    assert value(bare.table, FEMALE) == 2


def test_project_without_catchment_falls_back_on_its_settlement() -> None:
    projects = make_projects(
        [
            {"project_id": "S", "project_type": "street", "catchment_m": np.nan,
             "settlement_id": "S1", "geometry": pt(0, 0)},
            {"project_id": "N", "project_type": "other", "catchment_m": np.nan,
             "settlement_id": None, "geometry": None, "beneficiaries_reported": 9},
        ]
    )  # fmt: skip
    households = make_households([("h1", 5000, 0, 4, 2, 2), ("h2", 9000, 0, 3, 1, 2),
                                  ("h3", 1, 0, 5, 3, 2)])  # fmt: skip
    households.loc[2, "settlement_id"] = "S2"
    result = project_beneficiaries(projects, households)
    per = result.per_project.set_index("project_id")
    assert per.loc["S", "catchment"] == "settlement"
    assert per.loc["S", "people"] == 7  # h1 + h2 of S1, wherever they are; not h3 of S2
    assert per.loc["N", "catchment"] == "none"
    assert per.loc["N", "households"] == 0
    assert value(result.table, TOTAL) == 7 + 9  # N has only its reported figure
    # A default radius makes the point project spatial: h3 only (1 m away).
    with_default = project_beneficiaries(projects, households, default_catchment_m=50)
    per = with_default.per_project.set_index("project_id")
    assert per.loc["S", "catchment"] == "buffer"
    assert per.loc["S", "people"] == 5


def test_cancelled_projects_excluded_by_default() -> None:
    projects = make_projects(
        [
            {"project_id": "P1", "project_type": "water", "geometry": pt(0, 0)},
            {"project_id": "P2", "project_type": "water", "status": "cancelled",
             "geometry": pt(400, 0)},
        ]
    )  # fmt: skip
    households = make_households(HOUSEHOLDS)
    result = project_beneficiaries(projects, households)
    assert result.per_project["project_id"].tolist() == ["P1"]
    assert value(result.table, TOTAL) == 12
    assert '"statuses":["ongoing","completed"]' in result.table["parameters"].iloc[0]
    everything = project_beneficiaries(projects, households, statuses=None)
    assert value(everything.table, TOTAL) == 12 + 6


def test_projects_by_type_with_na_group_and_city_total() -> None:
    projects = pd.DataFrame(
        {
            "project_id": ["a", "b", "c", "d", "e"],
            "project_type": ["water", "water", None, "sanitation", "drainage"],
            "status": ["ongoing", "completed", "completed", "cancelled", None],
            "upload_id": [1, 2, 2, 3, 4],
        }
    )
    table = projects_by_type(projects, computed_at=STAMP)
    assert table["group"].tolist() == ["", "project_type=water", "project_type=NA"]
    assert table["value"].tolist() == [3.0, 2.0, 1.0]
    assert table["n_units"].tolist() == [3, 2, 1]
    assert table["upload_ids"].tolist() == ["1,2", "1,2", "2"]
    assert (table["unit"] == "projects").all()
    assert (table["indicator_id"] == "tier3_projects").all()
    assert table["computed_at"].iloc[0] == "2025-01-01T00:00:00+00:00"
    both = projects_by_type(projects, by=("project_type", "status"), statuses=None)
    groups = dict(zip(both["group"], both["value"], strict=True))
    assert groups[""] == 5
    assert groups["project_type=sanitation; status=cancelled"] == 1
    assert groups["project_type=drainage; status=NA"] == 1
    assert sum(v for g, v in groups.items() if g) == 5
    with pytest.raises(ValueError, match="PROJECT_STATUS"):
        projects_by_type(projects, statuses=("finished",))
    with pytest.raises(KeyError, match="settlement_id"):
        projects_by_type(projects, by=("settlement_id",))


def test_empty_inputs_give_zero_totals() -> None:
    none = projects_by_type(pd.DataFrame({"project_id": [], "project_type": [], "status": []}))
    assert none["value"].tolist() == [0.0]
    empty_households = make_households(HOUSEHOLDS).iloc[:0]
    result = project_beneficiaries(overlapping(), empty_households)
    assert result.per_project["people"].tolist() == [0.0, 0.0, 0.0]
    assert value(result.table, TOTAL) == 0
    no_projects = overlapping().iloc[:0]
    result = project_beneficiaries(no_projects, make_households(HOUSEHOLDS))
    assert result.per_project.empty
    assert result.components.empty
    assert value(result.table, TOTAL) == 0
    assert (result.table["group"] == "").all()  # no type rows without projects


def test_households_in_another_crs_are_reprojected() -> None:
    households = make_households(HOUSEHOLDS).to_crs(4326)
    result = project_beneficiaries(overlapping(), households)
    assert value(result.table, TOTAL) == 14


def test_clear_errors() -> None:
    households = make_households(HOUSEHOLDS)
    with pytest.raises(GeographicCRSError, match="metric CRS"):
        project_beneficiaries(overlapping().to_crs(4326), households)
    with pytest.raises(KeyError, match="project_type"):
        project_beneficiaries(overlapping().drop(columns="project_type"), households)
    with pytest.raises(KeyError, match="household_size"):
        project_beneficiaries(overlapping(), households.drop(columns="household_size"))
    with pytest.raises(KeyError, match="sex"):
        project_beneficiaries(overlapping(), households, members=pd.DataFrame({"household_id": []}))
    negative = overlapping()
    negative.loc[0, "catchment_m"] = -5.0
    with pytest.raises(ValueError, match="catchment_m is negative"):
        project_beneficiaries(negative, households)
    with pytest.raises(ValueError, match="default_catchment_m"):
        project_beneficiaries(overlapping(), households, default_catchment_m=-1)


# -- The demo city -----------------------------------------------------------------------------


def demo_city(tmp_path: Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Projects and households of the synthetic city, households at their structure."""
    from sample_data.city import ORIGIN, build_city  # noqa: PLC0415
    from sample_data.households import generate_households_csv  # noqa: PLC0415

    n = 1500
    city = build_city(11, households=n)
    export = generate_households_csv(tmp_path / "hh.csv", n, seed=11, city=city, errors=False)
    centroids = city.structures.set_index("structure_id").geometry.centroid
    hh = export.households[~export.households["duplicate"]].reset_index(drop=True)
    geometry = gpd.GeoSeries(centroids.reindex(hh["structure_id"]).to_numpy())
    households = gpd.GeoDataFrame(
        {
            "household_id": [f"hh{i}" for i in range(len(hh))],
            "settlement_id": hh["settlement_id"],
            "household_size": hh["household_size"],
        },
        geometry=geometry.translate(*ORIGIN).to_numpy(),
        crs=CRS,
    )
    projects = city.projects.set_geometry(city.projects.geometry.translate(*ORIGIN)).set_crs(CRS)
    return projects, households


def test_demo_city_counts_the_union_once(tmp_path: Path) -> None:
    projects, households = demo_city(tmp_path)
    result = project_beneficiaries(projects, households)
    per = result.per_project.set_index("project_id")
    counted = projects[projects["status"].isin(DEFAULT_STATUSES)]
    assert sorted(per.index) == sorted(counted["project_id"])
    # Brute force, one household at a time: the catchments each household is in.
    size = households["household_size"].to_numpy(dtype=float)
    inside: dict[str, set[int]] = {}
    for row in counted.itertuples():
        radius = row.catchment_m
        hit = set()
        for i, point in enumerate(households.geometry):
            if np.isnan(radius):
                if row.geometry.intersects(point):
                    hit.add(i)
            elif row.geometry.distance(point) <= radius:
                hit.add(i)
        inside[row.project_id] = hit
        assert per.loc[row.project_id, "households"] == len(hit)
        assert per.loc[row.project_id, "people"] == sum(size[i] for i in hit)
    union = set().union(*inside.values())
    mtoni = inside["PRJ-001"] & inside["PRJ-005"]
    assert mtoni, "the two Mtoni catchments share households"
    assert per.loc["PRJ-001", "component"] == per.loc["PRJ-005", "component"]
    city = result.table[(result.table["indicator_id"] == TOTAL) & (result.table["group"] == "")]
    assert city["n_units"].iloc[0] == len(union)
    enumerated = sum(size[i] for i in union)
    assert result.components["people_enumerated"].sum() == enumerated
    assert enumerated < per["people"].sum()
    # City total: per component the larger of enumerated union and largest reported figure.
    expected = 0.0
    for comp in result.components.itertuples():
        ids = comp.project_ids.split(",")
        people = sum(size[i] for i in set().union(*(inside[p] for p in ids)))
        reported = counted.set_index("project_id").loc[ids, "beneficiaries_reported"].max()
        expected += max(people, reported)
    assert value(result.table, TOTAL) == expected
    assert value(result.table, TOTAL) < per["people"].sum() + per["beneficiaries_reported"].sum()
    # No sex split in the export: every enumerated person is of unknown sex.
    assert value(result.table, FEMALE) == 0
    assert per["sex_unknown"].sum() == per["people"].sum()
