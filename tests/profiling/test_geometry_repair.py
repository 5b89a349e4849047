"""Bounded geometry repair: statuses, messages, budgets and timing."""

from __future__ import annotations

import time

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from profiling import geometry_repair
from profiling.geometry_repair import (
    RepairStatus,
    _overlapping_interval_pairs,
    count_vertices,
    describe_invalidity,
    estimate_crossing_pairs,
    non_finite_mask,
    repair_geometries,
    structure_method_supported,
)


def zigzag_bowtie(n: int) -> shapely.Polygon:
    """A ribbon whose top edge zig-zags across its flat bottom edge: n vertices, ~n/2
    self-intersections. Each tooth spans two x-steps and crosses y=0 once."""
    k = n // 2
    xs = np.linspace(0, 1, k)
    top = np.c_[xs, np.where(np.arange(k) % 2 == 0, 1.0, -1.0)]
    bottom = np.c_[xs[::-1], np.zeros(k)]
    return shapely.Polygon(np.vstack([top, bottom]))


def star(n: int) -> shapely.Polygon:
    """The {n / (n//2)} star polygon: every edge crosses almost every other (~n²/4)."""
    angles = np.arange(n) * (n // 2) * 2 * np.pi / n
    return shapely.Polygon(np.c_[np.cos(angles), np.sin(angles)])


def nan_polygon() -> shapely.Polygon:
    with np.errstate(invalid="ignore"):  # shapely warns when it parses a NaN
        return shapely.from_wkt("POLYGON ((0 0, 1 nan, 1 1, 0 1, 0 0))")


def test_structure_method_is_available_here() -> None:
    # GEOS 3.14 / shapely 2.2 in the project venv; the fallback is tested separately.
    assert shapely.geos_version >= (3, 10, 0)
    assert structure_method_supported()


def test_statuses_for_each_kind_of_geometry() -> None:
    bowtie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    flat = shapely.Polygon([(0, 0), (1, 0), (2, 0)])
    geoms = np.array(
        [shapely.box(0, 0, 1, 1), bowtie, None, shapely.Polygon(), nan_polygon(), flat],
        dtype=object,
    )
    result = repair_geometries(geoms)
    assert [RepairStatus(s) for s in result.status] == [
        RepairStatus.VALID,
        RepairStatus.REPAIRED,
        RepairStatus.NULL,
        RepairStatus.NULL,
        RepairStatus.NON_FINITE,
        RepairStatus.COLLAPSED,
    ]
    # the two triangles of the bowtie, 0.25 each
    assert result.geometry[1].geom_type == "MultiPolygon"
    assert result.geometry[1].area == pytest.approx(0.5)
    # untouched unless repaired; the input array is not modified
    assert result.geometry[0] is geoms[0]
    assert result.geometry[4] is geoms[4]
    assert result.geometry[5] is geoms[5]
    assert geoms[1] is not result.geometry[1]
    assert result.vertices.tolist() == [5, 5, 0, 0, 5, 4]
    assert result.message[0] is None
    assert "NaN" in result.message[4]
    assert result.message[5] == "self-intersection at (1, 0); repairing it leaves no area: fix it"


def test_repair_message_reports_area_change() -> None:
    # A 2x3 rectangle (x 1..3, y 0..3, area 6) whose closing edge overshoots to (1, -1) and
    # back to (0, 0): a clockwise lobe of area 0.5 cancels part of it, so the invalid ring's
    # shoelace area is 6 - 0.5 = 5.5. The repair keeps both lobes: 6.5, +18.2 %.
    ring = [(0, 0), (3, 0), (3, 3), (1, 3), (1, -1)]
    for method in ("structure", "linework"):
        result = repair_geometries(np.array([shapely.Polygon(ring)]), method=method)
        assert result.status[0] == RepairStatus.REPAIRED
        assert result.geometry[0].area == pytest.approx(6.5)
        assert result.message[0] == "self-intersection at (1, 0) repaired, area changed by 18.2 %"


def test_bowtie_area_before_repair_is_zero() -> None:
    result = repair_geometries(np.array([shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])]))
    assert result.message[0] == (
        "self-intersection at (0.5, 0.5) repaired, "
        "area was 0 before repair (parts of the ring cancelled out)"
    )


def test_thousand_vertex_zigzag_bowtie_repairs_fast() -> None:
    polygon = zigzag_bowtie(1000)
    assert not polygon.is_valid
    start = time.perf_counter()
    result = repair_geometries(np.array([polygon]))
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"repair took {elapsed:.2f} s"
    assert result.status[0] == RepairStatus.REPAIRED
    assert result.geometry[0].is_valid
    # Each of the 499 top segments (width dx, from y=+1 to y=-1 or back) crosses the bottom
    # edge y=0 at its midpoint and encloses two triangles with it, of base dx/2 and height 1:
    # dx/2 per segment, 0.5 over the total width 1 (the end edges are vertical, area 0).
    assert result.geometry[0].area == pytest.approx(0.5, rel=1e-9)


def test_pathological_star_is_refused_quickly_not_repaired() -> None:
    # make_valid(structure) takes ~15 s on this 1,001-vertex star (measured, GEOS 3.14): the
    # crossing-pairs budget refuses it in well under a second.
    polygon = star(1001)
    start = time.perf_counter()
    result = repair_geometries(np.array([polygon]))
    assert time.perf_counter() - start < 2.0
    assert result.status[0] == RepairStatus.TOO_COMPLEX
    assert result.geometry[0] is polygon
    assert "too complex to repair automatically" in result.message[0]


def test_too_many_vertices_are_not_touched() -> None:
    circle = shapely.Point(0, 0).buffer(1, quad_segs=64)  # 257 coordinates
    result = repair_geometries(np.array([circle]), max_vertices=256)
    assert result.status[0] == RepairStatus.TOO_MANY_VERTICES
    assert result.geometry[0] is circle
    assert result.message[0].startswith("geometry has 257 vertices, more than the limit of 256")


def test_invalid_line_collapses() -> None:
    line = shapely.LineString([(0, 0), (0, 0)])
    result = repair_geometries(np.array([line]))
    assert result.status[0] == RepairStatus.COLLAPSED
    assert "leaves no line" in result.message[0]


def test_non_finite_and_vertex_counts_are_vectorised() -> None:
    geoms = np.array([shapely.Point(1, 2), None, nan_polygon(), shapely.box(0, 0, 1, 1)])
    assert non_finite_mask(geoms).tolist() == [False, False, True, False]
    assert count_vertices(geoms).tolist() == [1, 0, 5, 5]


def test_estimate_crossing_pairs() -> None:
    assert estimate_crossing_pairs(shapely.box(0, 0, 1, 1)) == 0
    assert estimate_crossing_pairs(zigzag_bowtie(1000)) == 0
    assert estimate_crossing_pairs(shapely.Point(0, 0).buffer(1, quad_segs=1000)) == 0
    # 1,001 edges of a star: about n²/2 pairs overlap in x and in y
    assert estimate_crossing_pairs(star(1001)) > 400_000


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-20, 20), st.integers(-20, 20)), min_size=0, max_size=40))
def test_overlapping_interval_pairs_matches_brute_force(pairs: list[tuple[int, int]]) -> None:
    lo = np.array([min(a, b) for a, b in pairs], dtype=float)
    hi = np.array([max(a, b) for a, b in pairs], dtype=float)
    expected = sum(
        1
        for i in range(len(lo))
        for j in range(i + 1, len(lo))
        if lo[i] <= hi[j] and lo[j] <= hi[i]
    )
    assert _overlapping_interval_pairs(lo, hi) == expected


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("Ring Self-intersection[2 3]", "ring self-intersection at (2, 3)"),
        ("Hole lies outside shell[20 20]", "hole outside its shell at (20, 20)"),
        ("Too few points in geometry component[0 0]", "too few points at (0, 0)"),
        ("Invalid Coordinate[1 nan]", "non-finite coordinate"),
        ("Something new", "Something new"),
    ],
)
def test_describe_invalidity(reason: str, expected: str) -> None:
    assert describe_invalidity(reason) == expected


def test_falls_back_to_linework_without_structure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(geometry_repair, "structure_method_supported", lambda: False)
    bowtie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    result = geometry_repair.repair_geometries(np.array([bowtie]))
    assert result.status[0] == RepairStatus.REPAIRED
    assert result.geometry[0].geom_type == "MultiPolygon"
    assert result.geometry[0].area == pytest.approx(0.5)
