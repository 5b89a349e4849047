"""Street network: noding, snapping, attachment and one-Dijkstra nearest distances.

Hand-checked on a 3 × 3 grid of 100 m blocks, checked against networkx on random graphs, and
invariants (network ≥ straight line, monotone in the target set) with hypothesis.
"""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree

from profiling.crs import GeographicCRSError
from profiling.network import (
    StreetNetwork,
    nearest_along_network,
    network_distance,
)

CRS = 32737


def grid_lines(n_blocks: int = 3, block: float = 100.0) -> gpd.GeoSeries:
    """(n+1) horizontal and (n+1) vertical full-length streets: noding must split them."""
    end = n_blocks * block
    lines = [shapely.LineString([(0, i * block), (end, i * block)]) for i in range(n_blocks + 1)]
    lines += [shapely.LineString([(i * block, 0), (i * block, end)]) for i in range(n_blocks + 1)]
    return gpd.GeoSeries(lines, crs=CRS)


@pytest.fixture
def grid() -> StreetNetwork:
    return StreetNetwork.from_lines(grid_lines())


# Water points: W1 10 m below the bottom street at x = 50, W2 10 m right of x = 300 at y = 250.
TARGETS = np.array([[50.0, -10.0], [310.0, 250.0]])


def test_grid_is_noded_into_100m_segments(grid: StreetNetwork) -> None:
    assert grid.n_nodes == 16
    assert grid.n_segments == 24
    np.testing.assert_allclose(grid.seg_length_m, 100.0)
    assert grid.n_components == 1
    comp = grid.components
    assert comp["length_m"].tolist() == [2400.0]
    assert comp["length_share"].tolist() == [1.0]


def test_attach_projects_onto_nearest_segment(grid: StreetNetwork) -> None:
    att = grid.attach(np.array([[150.0, 160.0], [20.0, 5.0], [-30.0, -40.0]]))
    np.testing.assert_allclose(att.projected, [[150, 200], [20, 0], [0, 0]])
    np.testing.assert_allclose(att.offset_m, [40, 5, 50])
    np.testing.assert_allclose(att.along_start_m + att.along_end_m, 100.0)
    # (150, 200) is halfway along its segment; (20, 0) is 20 m from (0, 0).
    assert att.along_start_m[0] == pytest.approx(50.0)
    assert min(att.along_start_m[1], att.along_end_m[1]) == pytest.approx(20.0)


def test_grid_distances_by_hand(grid: StreetNetwork) -> None:
    # A (150, 160): offset 40 to (150, 200); to W2 via (200, 200), (300, 200), (300, 250):
    #   40 + 50 + 100 + 50 + 10 = 250 (W1 would be 40 + 50 + 200 + 50 + 10 = 350).
    # B (20, 5): same segment as W1: 5 + |20 - 50| + 10 = 45.
    # C (0, 300): on a node; to W2: 100 + 200 + 50... = (0,300)->(300,300) 300 + 50 + 10 = 360;
    #   to W1: 300 + 50 + 10 = 360 too: a tie, either id is right.
    origins = np.array([[150.0, 160.0], [20.0, 5.0], [0.0, 300.0]])
    res = nearest_along_network(origins, TARGETS, grid)
    np.testing.assert_allclose(res.distance_m, [250.0, 45.0, 360.0])
    assert res.target[:2].tolist() == [1, 0]
    assert res.unreachable == 0
    # Only W1: A's distance is the 350 m route.
    only_w1 = network_distance(origins[:1], TARGETS[:1], grid)
    np.testing.assert_allclose(only_w1, [350.0])


def test_same_segment_behind_and_ahead(grid: StreetNetwork) -> None:
    # Origin at x = 50 on the bottom street, targets at x = 10 (offset 30) and x = 80 (offset
    # 20): behind costs 40 + 30 = 70, ahead 30 + 20 = 50 → ahead wins, target 1.
    targets = np.array([[10.0, -30.0], [80.0, -20.0]])
    res = nearest_along_network(np.array([[50.0, 0.0]]), targets, grid)
    assert res.distance_m[0] == pytest.approx(50.0)
    assert res.target[0] == 1
    # Origin at the target's spot, 20 m off the street: the walk goes via the street, 20 + 20.
    assert network_distance([[80.0, -20.0]], targets, grid)[0] == pytest.approx(40.0)
    # On the street, at the target's projection: 0 + 0 + 20.
    assert network_distance([[80.0, 0.0]], targets, grid)[0] == pytest.approx(20.0)


def test_disconnected_component_is_inf_and_reported() -> None:
    lines = [*grid_lines(), shapely.LineString([(1000, 1000), (1100, 1000)])]
    net = StreetNetwork.from_lines(gpd.GeoSeries(lines, crs=CRS))
    assert net.n_components == 2
    comp = net.components
    assert comp["length_m"].tolist() == [2400.0, 100.0]
    assert comp["length_share"].tolist() == pytest.approx([0.96, 0.04])
    res = nearest_along_network(np.array([[1050.0, 1005.0], [150.0, 160.0]]), TARGETS, net)
    assert np.isinf(res.distance_m[0])
    assert res.target[0] == -1
    assert res.distance_m[1] == pytest.approx(250.0)
    assert res.unreachable == 1


def test_max_distance_cuts_the_search(grid: StreetNetwork) -> None:
    d = network_distance(np.array([[150.0, 160.0], [20.0, 5.0]]), TARGETS, grid,
                         max_distance_m=200.0)  # fmt: skip
    assert np.isinf(d[0])
    assert d[1] == pytest.approx(45.0)


def test_snapping_closes_small_gaps_only() -> None:
    lines = gpd.GeoSeries(
        [shapely.LineString([(0, 0), (100, 0)]), shapely.LineString([(100.4, 0.3), (200, 0)])],
        crs=CRS,
    )
    assert StreetNetwork.from_lines(lines, snap_tolerance_m=1.0).n_components == 1
    assert StreetNetwork.from_lines(lines, snap_tolerance_m=0.0).n_components == 2
    assert StreetNetwork.from_lines(lines, snap_tolerance_m=0.1).n_components == 2


def test_parallel_duplicate_streets_are_not_summed() -> None:
    line = shapely.LineString([(0, 0), (100, 0)])
    net = StreetNetwork.from_lines(gpd.GeoSeries([line, line], crs=CRS))
    assert net.graph[0, 1] == pytest.approx(100.0)
    assert network_distance([[0, 0]], [[100, 0]], net)[0] == pytest.approx(100.0)


def test_multilinestrings_and_empty_geometries() -> None:
    geoms = [
        shapely.MultiLineString([[(0, 0), (100, 0)], [(100, 0), (100, 100)]]),
        shapely.LineString(),
        None,
    ]
    net = StreetNetwork.from_lines(gpd.GeoSeries(geoms, crs=CRS))
    assert net.n_segments == 2
    assert network_distance([[0, 0]], [[100, 100]], net)[0] == pytest.approx(200.0)


def test_degrees_refused() -> None:
    with pytest.raises(GeographicCRSError):
        StreetNetwork.from_lines(grid_lines().set_crs(4326, allow_override=True))
    net = StreetNetwork.from_lines(grid_lines())
    pts = gpd.GeoSeries([shapely.Point(36.78, -1.31)], crs=4326)
    with pytest.raises(GeographicCRSError):
        net.attach(pts)


def test_does_not_mutate_input() -> None:
    lines = grid_lines()
    before = lines.copy()
    StreetNetwork.from_lines(lines)
    assert lines.geom_equals(before).all()


# -- against networkx -------------------------------------------------------------------------


def nx_nearest(net: StreetNetwork, origins: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The same question on a networkx graph with the origins and targets as real nodes."""
    g = nx.Graph()
    g.add_nodes_from(range(net.n_nodes))
    for u, v, w in zip(net.seg_start, net.seg_end, net.seg_length_m, strict=True):
        if not g.has_edge(u, v) or g[u][v]["weight"] > w:
            g.add_edge(int(u), int(v), weight=float(w))
    o, t = net.attach(origins), net.attach(targets)

    def link(node: tuple[str, int], att, i: int) -> None:  # type: ignore[no-untyped-def]
        s = att.segment[i]
        a, b = int(net.seg_start[s]), int(net.seg_end[s])
        g.add_edge(node, a, weight=att.offset_m[i] + att.along_start_m[i])
        g.add_edge(node, b, weight=att.offset_m[i] + att.along_end_m[i])

    for j in range(len(t)):
        link(("t", j), t, j)
    for i in range(len(o)):
        link(("o", i), o, i)
        for j in range(len(t)):
            if o.segment[i] == t.segment[j]:
                w = o.offset_m[i] + abs(o.along_start_m[i] - t.along_start_m[j]) + t.offset_m[j]
                if not g.has_edge(("o", i), ("t", j)) or g[("o", i)][("t", j)]["weight"] > w:
                    g.add_edge(("o", i), ("t", j), weight=w)
    lengths = nx.multi_source_dijkstra_path_length(g, {("t", j) for j in range(len(t))})
    return np.array([lengths.get(("o", i), np.inf) for i in range(len(o))])


def random_network(rng: np.random.Generator, n_lines: int, size: float = 500.0) -> StreetNetwork:
    ends = rng.uniform(0, size, size=(n_lines, 2, 2))
    return StreetNetwork.from_lines(gpd.GeoSeries(shapely.linestrings(ends), crs=CRS))


@pytest.mark.parametrize("seed", range(8))
def test_matches_networkx_on_random_graphs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    net = random_network(rng, n_lines=12)
    origins = rng.uniform(-50, 550, size=(40, 2))
    targets = rng.uniform(-50, 550, size=(5, 2))
    # A few origins sharing a segment with a target.
    targets[0] = origins[0] + 0.5
    ours = network_distance(origins, targets, net)
    theirs = nx_nearest(net, origins, targets)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)


# -- hypothesis invariants ----------------------------------------------------------------------

coord = st.floats(min_value=0, max_value=400, allow_nan=False, allow_infinity=False)
point = st.tuples(coord, coord)
segment = st.tuples(point, point).filter(
    lambda s: np.hypot(s[0][0] - s[1][0], s[0][1] - s[1][1]) > 1
)


def _net(lines: list[tuple[tuple[float, float], tuple[float, float]]]) -> StreetNetwork:
    return StreetNetwork.from_lines(
        gpd.GeoSeries([shapely.LineString(line) for line in lines], crs=CRS)
    )


PROPERTY = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much]
)


@PROPERTY
@given(
    lines=st.lists(segment, min_size=1, max_size=6),
    origins=st.lists(point, min_size=1, max_size=10),
    targets=st.lists(point, min_size=1, max_size=4),
)
def test_network_distance_at_least_straight_line(lines, origins, targets) -> None:  # type: ignore[no-untyped-def]
    net = _net(lines)
    o, t = np.array(origins), np.array(targets)
    d_net = network_distance(o, t, net)
    d_straight, _ = cKDTree(t).query(o)
    reach = np.isfinite(d_net)
    assert (d_net[reach] >= d_straight[reach] - 1e-9).all()
    assert (d_net[reach] >= 0).all()


@PROPERTY
@given(
    lines=st.lists(segment, min_size=1, max_size=6),
    origins=st.lists(point, min_size=1, max_size=10),
    targets=st.lists(point, min_size=1, max_size=4),
    extra=point,
)
def test_adding_a_target_never_increases_distance(lines, origins, targets, extra) -> None:  # type: ignore[no-untyped-def]
    net = _net(lines)
    o = np.array(origins)
    before = network_distance(o, np.array(targets), net)
    after = network_distance(o, np.array([*targets, extra]), net)
    assert (after <= before + 1e-9).all()


@PROPERTY
@given(
    lines=st.lists(segment, min_size=1, max_size=6),
    origins=st.lists(point, min_size=1, max_size=10),
    targets=st.lists(point, min_size=2, max_size=5),
)
def test_removing_a_non_nearest_target_changes_nothing(lines, origins, targets) -> None:  # type: ignore[no-untyped-def]
    net = _net(lines)
    o, t = np.array(origins), np.array(targets)
    res = nearest_along_network(o, t, net)
    unused = sorted(set(range(len(t))) - set(res.target.tolist()))
    if not unused:
        return
    kept = np.delete(t, unused[0], axis=0)
    after = network_distance(o, kept, net)
    np.testing.assert_allclose(after, res.distance_m, rtol=0, atol=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_attach_finds_the_exact_nearest_segment(seed: int) -> None:
    # The fast path (cKDTree over segment pieces + certificate) and the STRtree fallback must
    # both give the exact nearest distance, for points near and far from the streets.
    rng = np.random.default_rng(seed)
    net = random_network(rng, n_lines=30)
    pts = np.concatenate([rng.uniform(0, 500, (300, 2)), rng.uniform(-3000, 3000, (50, 2))])
    att = net.attach(pts)
    exact = shapely.distance(shapely.points(pts), shapely.multilinestrings(net._segment_geoms()))
    np.testing.assert_allclose(att.offset_m, exact, rtol=0, atol=1e-9)


def test_undershoot_is_joined_within_tolerance() -> None:
    # A footpath stopping 0.5 m short of a road: joined (split + 0.5 m connector) at 1 m
    # tolerance, left apart at 0.1 m.
    lines = gpd.GeoSeries(
        [
            shapely.LineString([(0, 0), (200, 0)]),
            shapely.LineString([(100, 0.5), (100, 100)]),
            shapely.LineString([(150, 0.8), (150, 50)]),  # a second split on the same road
        ],
        crs=CRS,
    )
    net = StreetNetwork.from_lines(lines, snap_tolerance_m=1.0)
    assert net.n_components == 1
    assert net.seg_length_m.sum() == pytest.approx(200 + 99.5 + 0.5 + 49.2 + 0.8)
    d = network_distance([[100.0, 100.0], [150.0, 50.0]], [[0.0, 0.0]], net)
    np.testing.assert_allclose(d, [99.5 + 0.5 + 100, 49.2 + 0.8 + 150])
    assert StreetNetwork.from_lines(lines, snap_tolerance_m=0.1).n_components == 3
