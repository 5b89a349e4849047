"""Service access: nearest distances, access table, JMP round trip, people per unit, catchments.

Tiny hand-checked inputs, hypothesis invariants, and the Kibera real-data check (structures of
Kianda to Map Kibera public water points, straight and along roads + footpaths, compared with
networkx on a sample).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from profiling.access import (
    AccessThresholds,
    access_table,
    catchments,
    jmp_water_round_trip,
    nearest_service_distance,
    people_per_service,
)
from profiling.crs import GeographicCRSError
from profiling.errors import ProfilingError
from profiling.network import StreetNetwork
from tests.profiling.test_network import grid_lines, nx_nearest
from tests.realdata import real_file

CRS = 32737


def households() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "household_id": ["h1", "h2", "h3"],
            "settlement_id": ["S1", "S1", "S2"],
            "household_size": [4, 6, pd.NA],
            "water_trip_min": [pd.NA, 12.0, pd.NA],
            "water_queue_min": [5.0, pd.NA, pd.NA],
        },
        geometry=[shapely.Point(150, 160), shapely.Point(20, 5), shapely.Point(1050, 1005)],
        crs=CRS,
        index=pd.Index([10, 5, 7], name="row"),
    )


def services() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "service_id": ["W1", "W2", "Wbroken", "T1"],
            "service_type": ["water_point", "water_point", "water_point", "toilet"],
            "functional": pd.array([True, pd.NA, False, True], dtype="boolean"),
            "settlement_id": ["S1", "S1", "S1", "S1"],
            "taps_total": [3, 2, 4, pd.NA],
            "taps_working": [2, pd.NA, pd.NA, pd.NA],
            "seats_total": [pd.NA, pd.NA, pd.NA, 4],
            "seats_working": [pd.NA, pd.NA, pd.NA, pd.NA],
        },
        geometry=[
            shapely.Point(50, -10),
            shapely.Point(310, 250),
            shapely.Point(150, 150),  # closest to h1 but broken
            shapely.Point(20, 40),
        ],
        crs=CRS,
    )


@pytest.fixture
def grid() -> StreetNetwork:
    return StreetNetwork.from_lines(grid_lines())


def test_straight_nearest_by_hand() -> None:
    hh, sv = households(), services()
    out = nearest_service_distance(hh, sv, service_type="water_point")
    assert out.index.equals(hh.index)
    assert list(out.columns) == ["distance_m", "service_id"]
    # h1 (150, 160): W2 at (310, 250) → √(160² + 90²); W1 → √(100² + 170²) is farther.
    assert out.loc[10, "distance_m"] == pytest.approx(np.hypot(160, 90))
    assert out.loc[10, "service_id"] == "W2"
    assert out.loc[5, "distance_m"] == pytest.approx(np.hypot(30, 15))
    assert out.loc[5, "service_id"] == "W1"


def test_functional_filter() -> None:
    hh, sv = households(), services()
    everything = nearest_service_distance(hh, sv, service_type="water_point", functional_only=False)
    assert everything.loc[10, "service_id"] == "Wbroken"
    assert everything.loc[10, "distance_m"] == pytest.approx(10.0)
    known = nearest_service_distance(hh, sv, service_type="water_point", include_unknown=False)
    assert known.loc[10, "service_id"] == "W1"


def test_network_nearest_by_hand(grid: StreetNetwork) -> None:
    hh, sv = households(), services()
    out = nearest_service_distance(
        hh, sv, service_type="water_point", method="network", network=grid
    )
    # Same hand values as the network tests: 250 m to W2, 45 m to W1 on the same street; h3
    # (1050, 1005) attaches at the grid corner (300, 300), then walks 50 m down to W2's spot.
    assert out.loc[10, "distance_m"] == pytest.approx(250.0)
    assert out.loc[10, "service_id"] == "W2"
    assert out.loc[5, "distance_m"] == pytest.approx(45.0)
    corner = np.hypot(750, 705)
    assert out.loc[7, "distance_m"] == pytest.approx(corner + 50 + 10)


def test_network_needs_a_network() -> None:
    with pytest.raises(ProfilingError, match="needs a StreetNetwork"):
        nearest_service_distance(households(), services(), method="network")


def test_no_service_of_the_type_gives_inf() -> None:
    out = nearest_service_distance(households(), services(), service_type="health")
    assert np.isinf(out["distance_m"]).all()
    assert out["service_id"].isna().all()


def test_degrees_refused() -> None:
    hh = households().set_crs(4326, allow_override=True)
    with pytest.raises(GeographicCRSError):
        nearest_service_distance(hh, services())
    with pytest.raises(GeographicCRSError):
        access_table(hh, services())


def test_inputs_not_mutated(grid: StreetNetwork) -> None:
    hh, sv = households(), services()
    hh0, sv0 = hh.copy(), sv.copy()
    access_table(hh, sv, network=grid)
    catchments(hh, sv, service_type="water_point")
    people_per_service(hh, sv)
    pd.testing.assert_frame_equal(hh, hh0)
    pd.testing.assert_frame_equal(sv, sv0)


def test_access_table_columns_and_flags(grid: StreetNetwork) -> None:
    hh, sv = households(), services()
    out = access_table(
        hh, sv, types=("water_point", "toilet"), network=grid, walking_speed_m_per_min=50.0
    )
    assert out.index.equals(hh.index)
    assert list(out.columns) == [
        "water_point_m", "water_point_network_m", "water_point_min", "water_point_within",
        "toilet_m", "toilet_network_m", "toilet_min", "toilet_within",
    ]  # fmt: skip
    assert out.loc[10, "water_point_network_m"] == pytest.approx(250.0)
    assert out.loc[10, "water_point_min"] == pytest.approx(5.0)
    assert out["water_point_within"].tolist() == [True, True, False]
    # T1 at (20, 40): h2 (20, 5) is 35 m straight, along the x = 0 street 20+40+5+20 = 85 m.
    assert out.loc[5, "toilet_m"] == pytest.approx(35.0)
    assert out.loc[5, "toilet_network_m"] == pytest.approx(5 + 20 + 40 + 20)
    assert not out.loc[5, "toilet_within"]  # 85 m > Sphere's 50 m
    looser = access_table(hh, sv, types=("toilet",), thresholds=AccessThresholds(toilet_m=100.0))
    assert list(looser.columns) == ["toilet_m", "toilet_min", "toilet_within"]
    assert looser.loc[5, "toilet_within"]


def test_missing_geometry_gives_nan_and_na() -> None:
    hh = households()
    hh.loc[7, "geometry"] = None
    out = access_table(hh, services(), types=("water_point",))
    assert np.isnan(out.loc[7, "water_point_m"])
    assert out.loc[7, "water_point_within"] is pd.NA


def test_jmp_round_trip_rules() -> None:
    hh = pd.DataFrame(
        {
            "water_trip_min": [20.0, 45.0, None, None, None, None],
            "water_queue_min": [None, None, 10.0, None, 0.0, None],
        },
        index=list("abcdef"),
    )
    dist = pd.Series([9999.0, 0.0, 400.0, 800.0, np.inf, np.nan], index=hh.index)
    # speed 40 m/min: c = 2·400/40 + 10 = 30 ≤ 30; d = 2·800/40 + 0 = 40 > 30.
    out = jmp_water_round_trip(hh, dist, speed_m_per_min=40.0)
    assert out.name == "water_within_30min"
    assert out.index.equals(hh.index)
    assert out.tolist()[:5] == [True, False, True, False, False]
    assert out["f"] is pd.NA
    strict = jmp_water_round_trip(hh, dist, speed_m_per_min=40.0, missing_queue_min=None)
    assert strict["d"] is pd.NA
    assert bool(strict["c"])


def test_people_per_service_by_hand() -> None:
    hh = pd.DataFrame(
        {
            "settlement_id": ["S1", "S1", "S1", "S2"],
            "household_size": [5, 5, None, 300],
        }
    )
    sv = services().drop(columns="geometry")
    sv = pd.concat(
        [
            pd.DataFrame(sv),
            pd.DataFrame(
                {
                    "service_id": ["W9"],
                    "service_type": ["water_point"],
                    "settlement_id": ["S2"],
                    "functional": pd.array([True], dtype="boolean"),
                    "taps_working": [1],
                }
            ),
        ],
        ignore_index=True,
    )
    out = people_per_service(hh, sv)
    s1, s2 = out.loc["S1"], out.loc["S2"]
    assert (s1["households"], s1["households_without_size"], s1["people"]) == (3, 1, 10.0)
    # W1: 2 working; W2: unknown functional, no working count → 1 (estimated); Wbroken: 0.
    assert (s1["water_points"], s1["taps_working"], s1["taps_estimated"]) == (3, 3, 2)
    assert s1["people_per_tap"] == pytest.approx(10 / 3)
    assert bool(s1["tap_sphere_ok"])
    # T1 functional with 4 seats in total and no working count → 4.
    assert (s1["toilets"], s1["seats_working"]) == (1, 4)
    assert s1["people_per_seat"] == pytest.approx(2.5)
    assert s2["people_per_tap"] == pytest.approx(300.0)
    assert not bool(s2["tap_sphere_ok"])
    assert np.isinf(s2["people_per_seat"])
    assert not bool(s2["seat_sphere_ok"])


def test_catchments_by_hand() -> None:
    out = catchments(households(), services(), service_type="water_point")
    assert out["service_id"].tolist() == ["W1", "W2"]
    assert out["households"].tolist() == [1, 2]
    assert out["people"].tolist() == [6.0, 4.0]
    assert out["households_without_size"].tolist() == [0, 1]


# -- hypothesis --------------------------------------------------------------------------------

coord = st.floats(min_value=0, max_value=1000, allow_nan=False, allow_infinity=False)
points = st.lists(st.tuples(coord, coord), min_size=1, max_size=15)


def _frame(xy: list[tuple[float, float]], prefix: str) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"service_id": [f"{prefix}{i}" for i in range(len(xy))],
         "service_type": ["water_point"] * len(xy)},
        geometry=shapely.points(np.array(xy)),
        crs=CRS,
    )  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(homes=points, water=points, extra=st.tuples(coord, coord))
def test_straight_adding_a_service_never_increases(homes, water, extra) -> None:  # type: ignore[no-untyped-def]
    hh = _frame(homes, "h")
    before = nearest_service_distance(hh, _frame(water, "w"))["distance_m"]
    after = nearest_service_distance(hh, _frame([*water, extra], "w"))["distance_m"]
    assert (after <= before).all()
    assert (before >= 0).all()


@settings(max_examples=60, deadline=None)
@given(homes=points, water=st.lists(st.tuples(coord, coord), min_size=2, max_size=15))
def test_straight_removing_a_non_nearest_service_changes_nothing(homes, water) -> None:  # type: ignore[no-untyped-def]
    hh, sv = _frame(homes, "h"), _frame(water, "w")
    before = nearest_service_distance(hh, sv)
    unused = sorted(set(sv["service_id"]) - set(before["service_id"].dropna()))
    if not unused:
        return
    after = nearest_service_distance(hh, sv[sv["service_id"] != unused[0]])
    pd.testing.assert_series_equal(after["distance_m"], before["distance_m"])


# -- real data: Kibera ------------------------------------------------------------------------


@pytest.mark.realdata
def test_kibera_structures_to_water_points() -> None:
    base = "kibera_kianda/Shapefiles/"
    roads = gpd.read_file(real_file(base + "transport/Road.shp"))
    paths = pyogrio.read_dataframe(real_file(base + "kibera.kml"), layer="Pedestrian")
    structures = gpd.read_file(
        real_file(base + "Kianda/Population/kianda_structures_and_population_dataset.shp")
    ).set_crs(4326)
    watsan = gpd.read_file(real_file(base + "watsan-shapefile/watsan.shp"))
    water = watsan[watsan["watsan"] == "water_public"].copy()
    water["service_id"] = [f"mk{i}" for i in range(len(water))]
    water["service_type"] = "water_point"

    lines = pd.concat([roads.geometry, paths.geometry.to_crs(roads.crs)], ignore_index=True)
    lines = gpd.GeoSeries(shapely.force_2d(lines.to_numpy()), crs=roads.crs).to_crs(32737)
    homes = gpd.GeoDataFrame(geometry=structures.to_crs(32737).centroid, crs=32737)
    water = water.to_crs(32737)
    net = StreetNetwork.from_lines(lines, snap_tolerance_m=1.0)

    straight = nearest_service_distance(homes, water)["distance_m"].to_numpy()
    along = nearest_service_distance(homes, water, method="network", network=net)[
        "distance_m"
    ].to_numpy()
    reach = np.isfinite(along)
    assert reach.sum() > 0.9 * len(homes)
    assert (along[reach] >= straight[reach] - 1e-6).all()

    rng = np.random.default_rng(0)
    sample = rng.choice(len(homes), size=20, replace=False)
    hxy = shapely.get_coordinates(homes.geometry.to_numpy()[sample])
    wxy = shapely.get_coordinates(water.geometry.to_numpy())
    np.testing.assert_allclose(along[sample], nx_nearest(net, hxy, wxy), rtol=0, atol=1e-6)

    comp = net.components
    table = pd.DataFrame(
        {
            "median_m": [np.median(straight), np.median(along[reach])],
            "p90_m": [np.percentile(straight, 90), np.percentile(along[reach], 90)],
            "within_100m": [np.mean(straight <= 100), np.mean(along <= 100)],
            "within_500m": [np.mean(straight <= 500), np.mean(along <= 500)],
            "unreachable": [0, int((~reach).sum())],
        },
        index=["straight", "network"],
    )
    print(
        f"\nKibera: {len(homes)} Kianda structures, {len(water)} public water points, "
        f"network {net.n_nodes} nodes / {net.n_segments} segments / "
        f"{net.n_components} components (largest {comp['length_share'].iloc[0]:.1%} of length)"
    )
    print(table.round(3).to_string())


def test_network_crs_mismatch_refused(grid: StreetNetwork) -> None:
    hh = households().to_crs(32636)
    sv = services().to_crs(32636)
    with pytest.raises(ProfilingError, match="project them to one CRS"):
        nearest_service_distance(hh, sv, method="network", network=grid)


def test_catchments_along_the_network(grid: StreetNetwork) -> None:
    out = catchments(households(), services(), service_type="water_point", method="network",
                     network=grid)  # fmt: skip
    assert out["households"].tolist() == [1, 2]
    assert out["max_distance_m"].tolist() == pytest.approx([45.0, np.hypot(750, 705) + 60])


def test_repeated_service_ids_still_reported() -> None:
    sv = services()
    sv["service_id"] = ["X", "X", "Y", "T1"]
    out = nearest_service_distance(households(), sv, service_type="water_point")
    assert out["service_id"].tolist() == ["X", "X", "X"]
    assert out["service_id"].dtype == "string"


@pytest.mark.realdata
def test_cap_haitien_water_points_per_zone() -> None:
    """mWater points of Cap-Haïtien per OKAP zone, and the distance from each zone's centre.

    The zoning report gives areas (``sup_km2``, built-up ``sup_bati``) and density classes but
    no population, so people per point cannot be computed from this data: points per zone,
    per built-up km² and the distance to the nearest point are what it supports.
    """
    zones = pyogrio.read_dataframe(
        real_file("caphaitien_okap/okap_zones/Okap_Zonaj_Asenisman_USAID.shp")
    )
    points = pyogrio.read_dataframe(
        real_file("caphaitien_okap/mwater_waterpoints/waterpoints_clip.shp")
    ).explode(index_parts=False)
    points = gpd.GeoDataFrame(
        {
            "service_id": [f"MW{i}" for i in range(len(points))],
            "service_type": "water_point",
            "functional": pd.array([pd.NA] * len(points), dtype="boolean"),
        },
        geometry=points.geometry.to_numpy(),
        crs=points.crs,
    )
    cap = zones[zones["cte"] == "ctecaphaitien"].reset_index(drop=True)
    joined = gpd.sjoin(points, cap[["name", "geometry"]], predicate="within")
    per_zone = joined.groupby("index_right").size().reindex(cap.index, fill_value=0)
    centres = gpd.GeoDataFrame(geometry=cap.representative_point(), crs=cap.crs)
    nearest = nearest_service_distance(centres, points, service_type="water_point")
    table = pd.DataFrame(
        {
            "zone": cap["name"],
            "points": per_zone.to_numpy(),
            "points_per_built_km2": per_zone.to_numpy() / cap["sup_bati"].to_numpy(),
            "nearest_from_centre_m": nearest["distance_m"].to_numpy(),
        }
    )
    print(table.describe().round(1).to_string())
    assert len(cap) == 98  # Cap-Haïtien's zones in the OKAP report
    assert int(table["points"].sum()) == len(joined)
    assert (table["nearest_from_centre_m"] >= 0).all()
    # The nearest point from a zone holding points is never farther than its farthest corner.
    with_points = table["points"] > 0
    extent = np.sqrt(cap.area.to_numpy())[with_points.to_numpy()] * 2
    assert (table.loc[with_points, "nearest_from_centre_m"].to_numpy() <= extent).all()
