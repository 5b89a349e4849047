"""validate_layer: every rule on tiny frames whose problems are computed by hand."""

from __future__ import annotations

import re
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from profiling.errors import ValidationFailed
from profiling.report import Report
from profiling.schema import Field, LayerSchema, layer_schema
from profiling.validate import (
    RULES,
    ValidationOptions,
    check_codes,
    check_required,
    raise_if_errors,
    validate_layer,
)
from tests.realdata import REALDATA

HOUSEHOLDS = layer_schema("households")
STRUCTURES = layer_schema("structures")
MEMBERS = layer_schema("members")
SERVICE_POINTS = layer_schema("service_points")
SETTLEMENTS = layer_schema("settlements")

# A settlement around Nairobi's Kibera (36.78-36.80 E, 1.32-1.30 S) and a second one 6 km NE.
KIBERA = shapely.box(36.78, -1.32, 36.80, -1.30)
MATHARE = shapely.box(36.85, -1.27, 36.87, -1.25)


def settlements_frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"settlement_id": ["kibera", "mathare"]}, geometry=[KIBERA, MATHARE], crs=4326
    )


def households(n: int = 1, *, points: list[tuple[float, float]] | None = None, **columns):
    """A valid households frame of ``n`` rows at source rows 2.., overridden by ``columns``."""
    points = points or [(36.79, -1.31)] * n
    n = len(points)
    data = {
        "household_id": [f"h{i}" for i in range(n)],
        "submission_uuid": [f"u{i}" for i in range(n)],
        "settlement_id": ["kibera"] * n,
        "household_size": pd.array([4] * n, dtype="Int64"),
        "source_row": list(range(2, n + 2)),
        "attributes": ["{}"] * n,
    }
    data.update(columns)
    return gpd.GeoDataFrame(data, geometry=shapely.points(points), crs=4326)


def found(report: Report) -> set[tuple[int | None, str | None, str, str]]:
    return {(p.row, p.column, p.rule, p.severity) for p in report}


def only(report: Report, rule: str) -> list:
    return [p for p in report if p.rule == rule]


# -- Whole-frame behaviour ---------------------------------------------------------------------


def test_clean_frame_has_no_problems() -> None:
    frame = households(3, household_id=["a", "b", "c"], submission_uuid=["x", "y", "z"])
    frame["gps_accuracy_m"] = [3.0, 5.0, 20.0]  # 20 m is the limit itself: not flagged
    out, report = validate_layer(frame, HOUSEHOLDS, settlements=settlements_frame())
    assert list(report) == []
    assert report.facts == {"households.rows": 3, "households.geometries_repaired": 0}
    pd.testing.assert_frame_equal(out, frame)


def test_rows_are_source_rows_and_problems_are_sorted_by_row() -> None:
    frame = households(3, household_id=["a", None, None])
    frame["source_row"] = [10, 14, 12]  # a filtered sheet: rows are not positions
    _, report = validate_layer(frame, HOUSEHOLDS)
    assert [(p.row, p.rule) for p in report] == [(12, "required"), (14, "required")]


def test_all_rules_are_listed() -> None:
    assert len(RULES) == len(set(RULES)) == 18


def test_wrong_crs_is_refused() -> None:
    frame = households(1).to_crs(32737)
    with pytest.raises(ValueError, match="EPSG:4326"):
        validate_layer(frame, HOUSEHOLDS)


def test_raise_if_errors() -> None:
    _, clean = validate_layer(households(1), HOUSEHOLDS)
    assert raise_if_errors(clean) is clean
    _, bad = validate_layer(households(1, household_id=[None]), HOUSEHOLDS)
    with pytest.raises(ValidationFailed) as caught:
        raise_if_errors(bad)
    assert caught.value.report is bad
    assert str(caught.value) == "1 error(s), 0 warning(s), 0 info"


# -- required ----------------------------------------------------------------------------------


def test_required_missing_column_and_empty_cells() -> None:
    frame = pd.DataFrame(
        {
            "member_id": ["m1", None, "   ", "m4"],
            "household_id": ["h1", "h1", "h1", np.nan],
            "source_row": [2, 3, 4, 5],
        }
    )
    _, report = validate_layer(frame, MEMBERS)
    assert found(report) == {
        (None, "settlement_id", "required", "error"),  # column absent: one file-level problem
        (3, "member_id", "required", "error"),
        (4, "member_id", "required", "error"),  # blank text counts as empty
        (5, "household_id", "required", "error"),
    }
    assert report.problems[0].row is None  # file-level first


# -- unknown_code ------------------------------------------------------------------------------

TAGGED = LayerSchema(
    "tagged",
    "test layer with one coded and one select_multiple field",
    None,
    "id",
    (
        Field("id", "str", "key", required=True),
        Field("colour", "str", "a colour", codes=frozenset({"red", "green"})),
        Field("tags", "codes", "tags", codes=frozenset({"a", "b", "c"})),
    ),
    geometry_required=False,
)


def test_unknown_codes_in_coded_and_select_multiple_fields() -> None:
    frame = pd.DataFrame(
        {
            "id": ["1", "2", "3", "4"],
            "colour": ["red", "blue", None, 7],  # 7: an object column with a number in it
            "tags": ["a b", "a x", "y b z", ""],
            "source_row": [2, 3, 4, 5],
        }
    )
    _, report = validate_layer(frame, TAGGED)
    assert sorted((p.row, p.column, p.message) for p in report) == [
        (3, "colour", "'blue' is not a code of colour (allowed: green, red)"),
        (3, "tags", "'x' is not a code of tags (allowed: a, b, c)"),
        (4, "tags", "'y' is not a code of tags (allowed: a, b, c)"),
        (4, "tags", "'z' is not a code of tags (allowed: a, b, c)"),
        (5, "colour", "'7' is not a code of colour (allowed: green, red)"),
    ]
    assert {p.rule for p in report} == {"unknown_code"}
    assert {p.severity for p in report} == {"error"}


def test_unknown_codes_in_a_real_schema_field() -> None:
    frame = households(2, water_source=["public_tap", "tap"])
    _, report = validate_layer(frame, HOUSEHOLDS)
    assert found(report) == {(3, "water_source", "unknown_code", "error")}


def test_repeated_unknown_code_is_aggregated_above_the_threshold() -> None:
    n = 25
    frame = pd.DataFrame(
        {
            "id": [str(i) for i in range(n)],
            "colour": ["blue"] * 21 + ["pink"] * 4,
            "source_row": range(100, 100 + n),
        }
    )
    problems = check_codes(frame, TAGGED)
    # 21 > 20 rows of 'blue': one problem at its first row; 4 rows of 'pink': one each
    blue = [p for p in problems if "'blue'" in p.message]
    assert len(blue) == 1
    assert blue[0].row == 100
    assert blue[0].message.endswith(
        "in 21 rows (first rows: 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, ...)"
    )
    assert [p.row for p in problems if "'pink'" in p.message] == [121, 122, 123, 124]
    # exactly at the threshold nothing is aggregated
    twenty = check_codes(frame.iloc[1:], TAGGED)
    assert sum("'blue'" in p.message for p in twenty) == 20


# -- out_of_range ------------------------------------------------------------------------------


def test_out_of_range_numbers_incl_object_column() -> None:
    frame = households(
        3,
        household_size=pd.array([45, 0, 4], dtype="Int64"),
        water_trip_min=np.array([30.0, 2000.0, np.nan]),
        rent_month=pd.Series(["-5", "abc", None], dtype=object),  # object: coerced, 'abc' skipped
    )
    _, report = validate_layer(frame, HOUSEHOLDS)
    assert sorted((p.row, p.column, p.message) for p in report) == [
        (2, "household_size", "household_size = 45 is above the maximum 40"),
        (2, "rent_month", "rent_month = -5 is below the minimum 0"),
        (3, "household_size", "household_size = 0 is below the minimum 1"),
        (3, "water_trip_min", "water_trip_min = 2000 is above the maximum 1440"),
    ]
    assert {(p.rule, p.severity) for p in report} == {("out_of_range", "warning")}


# -- geometry ----------------------------------------------------------------------------------


def test_null_geometry_error_when_required_warning_when_optional() -> None:
    frame = households(2)
    frame.loc[3 - 2, "geometry"] = None
    _, report = validate_layer(frame, HOUSEHOLDS)
    # Households may come without GPS (survey exports): counted, not mapped.
    assert found(report) == {(3, "geometry", "null_geometry", "warning")}

    footprints = gpd.GeoDataFrame(
        {"structure_id": ["a", "b"], "settlement_id": ["s1", "s1"], "source_row": [2, 3]},
        geometry=[shapely.box(36.79, -1.31, 36.7901, -1.3099), None],
        crs=4326,
    )
    _, report = validate_layer(footprints, STRUCTURES)
    assert found(report) == {(3, "geometry", "null_geometry", "error")}

    profile = gpd.GeoDataFrame(
        {"settlement_id": ["s1"], "name": ["Kibera"], "source_row": [2]},
        geometry=[shapely.Polygon()],
        crs=4326,
    )
    _, report = validate_layer(profile, SETTLEMENTS)
    assert found(report) == {(2, "geometry", "null_geometry", "warning")}


def test_geometry_layer_without_geometry_column() -> None:
    frame = pd.DataFrame({"structure_id": ["h"], "settlement_id": ["s"], "source_row": [2]})
    _, report = validate_layer(frame, STRUCTURES)
    assert found(report) == {(None, "geometry", "null_geometry", "error")}


def test_wrong_geometry_type() -> None:
    frame = households(3)
    frame["geometry"] = [
        shapely.box(36.79, -1.31, 36.7901, -1.3099),  # polygon in a Point layer
        shapely.MultiPoint([(36.79, -1.31), (36.791, -1.31)]),  # Multi* of the family: fine
        shapely.GeometryCollection([shapely.Point(36.79, -1.31)]),  # collections are not
    ]
    _, report = validate_layer(frame, HOUSEHOLDS)
    assert found(report) == {
        (2, "geometry", "wrong_geometry_type", "error"),
        (4, "geometry", "wrong_geometry_type", "error"),
    }
    assert only(report, "wrong_geometry_type")[0].message == (
        "Polygon in a Point layer (expected Point or MultiPoint)"
    )
    # 'Any' accepts a line
    structures = gpd.GeoDataFrame(
        {"structure_id": ["1"], "settlement_id": ["kibera"], "source_row": [2]},
        geometry=[shapely.LineString([(36.79, -1.31), (36.791, -1.31)])],
        crs=4326,
    )
    _, report = validate_layer(structures, STRUCTURES)
    assert list(report) == []


def footprints(geometries: list) -> gpd.GeoDataFrame:
    n = len(geometries)
    return gpd.GeoDataFrame(
        {
            "structure_id": [str(i) for i in range(n)],
            "settlement_id": ["kibera"] * n,
            "source_row": list(range(2, n + 2)),
        },
        geometry=geometries,
        crs=4326,
    )


def test_invalid_polygon_is_repaired_and_reported_input_untouched() -> None:
    # Shoelace area of the self-crossing ring 5.5 (a 6 m² rectangle minus a reversed 0.5
    # lobe), 6.5 once both lobes are kept: +18.2 %. Scaled down to a ~100 m footprint.
    ring = np.array([(0, 0), (3, 0), (3, 3), (1, 3), (1, -1)]) * 1e-4 + (36.79, -1.31)
    frame = footprints([shapely.Polygon(ring), shapely.box(36.79, -1.31, 36.7901, -1.3099)])
    before = frame.copy()
    out, report = validate_layer(frame, STRUCTURES)
    assert found(report) == {(2, "geometry", "invalid_geometry", "warning")}
    assert report.problems[0].message == (
        "self-intersection at (36.7901, -1.31) repaired, area changed by 18.2 %"
    )
    assert report.facts["structures.geometries_repaired"] == 1
    assert out.geometry.iloc[0].is_valid
    assert out.geometry.iloc[0].geom_type == "MultiPolygon"
    assert out.geometry.iloc[1] is frame.geometry.iloc[1]
    pd.testing.assert_frame_equal(frame, before)  # the input is never modified
    assert not frame.geometry.iloc[0].is_valid


def test_thousand_vertex_bowtie_validates_in_under_two_seconds() -> None:
    k = 500  # a zig-zag ribbon: 1,000 vertices, ~500 self-intersections
    xs = np.linspace(36.78, 36.80, k)
    top = np.c_[xs, -1.31 + np.where(np.arange(k) % 2 == 0, 0.005, -0.005)]
    bottom = np.c_[xs[::-1], np.full(k, -1.31)]
    frame = footprints([shapely.Polygon(np.vstack([top, bottom]))])
    start = time.perf_counter()
    out, report = validate_layer(frame, STRUCTURES, settlements=settlements_frame())
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"validation took {elapsed:.2f} s"
    assert found(report) == {(2, "geometry", "invalid_geometry", "warning")}
    assert "repaired" in report.problems[0].message
    assert out.geometry.iloc[0].is_valid


def test_nan_coordinate_polygon_is_an_error_and_left_alone() -> None:
    with np.errstate(invalid="ignore"):  # shapely warns when it parses a NaN
        polygon = shapely.from_wkt(
            "POLYGON ((36.79 -1.31, 36.791 nan, 36.791 -1.309, 36.79 -1.31))"
        )
    frame = footprints([polygon])
    out, report = validate_layer(frame, STRUCTURES, settlements=settlements_frame())
    assert found(report) == {(2, "geometry", "invalid_geometry", "error")}
    assert "NaN" in report.problems[0].message
    assert out.geometry.iloc[0] is polygon


def test_too_many_vertices() -> None:
    circle = shapely.Point(36.79, -1.31).buffer(0.001, quad_segs=64)  # 257 coordinates
    frame = footprints([circle])
    _, report = validate_layer(frame, STRUCTURES, options=ValidationOptions(max_vertices=100))
    assert found(report) == {(2, "geometry", "too_many_vertices", "error")}


# -- coordinates -------------------------------------------------------------------------------


def test_out_of_range_null_island_and_obviously_swapped_point() -> None:
    # Korail, Dhaka (90.405 E, 23.78 N) typed as lat/lon: "latitude" 90.405 is impossible.
    frame = households(points=[(200.0, 10.0), (0.0, 0.0), (23.78, 90.405), (36.79, -1.31)])
    _, report = validate_layer(frame, HOUSEHOLDS)
    assert found(report) == {
        (2, "geometry", "coordinates_out_of_range", "error"),
        (3, "geometry", "null_island", "error"),
        (4, "geometry", "coordinates_out_of_range", "error"),
        (4, "geometry", "latlon_swapped", "warning"),
    }


def test_projected_polygon_declared_as_lonlat() -> None:
    frame = footprints([shapely.box(257000, 9855000, 257010, 9855010)])  # UTM 37S metres
    _, report = validate_layer(frame, STRUCTURES)
    assert found(report) == {(2, "geometry", "coordinates_out_of_range", "error")}
    assert "projected metres" in report.problems[0].message


def test_nairobi_point_with_lat_lon_swapped_is_found_with_settlements() -> None:
    # (36.8, -1.3) entered as (-1.3, 36.8): a valid position in the Mediterranean, in no
    # settlement, while the swapped point falls in the Kibera box.
    frame = households(points=[(-1.3, 36.8), (36.79, -1.31)])
    frame["settlement_id"] = ["kibera", "kibera"]
    bigger = settlements_frame()
    bigger.loc[0, "geometry"] = shapely.box(36.78, -1.32, 36.81, -1.29)
    _, report = validate_layer(frame, HOUSEHOLDS, settlements=bigger)
    assert found(report) == {(2, "geometry", "latlon_swapped", "error")}
    assert report.problems[0].message == (
        "(-1.3, 36.8) lies in no settlement but (36.8, -1.3) falls inside settlement "
        "'kibera': latitude and longitude look swapped"
    )
    # without settlements the swap cannot be seen: both values are valid coordinates
    _, report = validate_layer(frame, HOUSEHOLDS)
    assert list(report) == []


# -- gps_precision -----------------------------------------------------------------------------


def test_gps_precision() -> None:
    frame = households(3, gps_accuracy_m=[4.0, 20.0, 35.5])
    _, report = validate_layer(frame, HOUSEHOLDS)
    assert found(report) == {(4, "gps_accuracy_m", "gps_precision", "warning")}
    assert report.problems[0].message == "GPS accuracy 35.5 m is worse than 20 m"
    _, report = validate_layer(frame, HOUSEHOLDS, options=ValidationOptions(max_gps_accuracy_m=40))
    assert list(report) == []


# -- settlements -------------------------------------------------------------------------------


def test_outside_settlement_with_tolerance_and_unknown_settlement() -> None:
    # Kibera's east edge is at 36.80. In UTM 37S (central meridian 39 E, scale ~1.0003 here)
    # 0.0005 deg of longitude at 1.31 S is 111.32 km x cos(1.31 deg) x 0.0005 x 1.0003 = 55.7 m;
    # 0.00005 deg is 5.6 m, inside the 10 m tolerance.
    frame = households(
        points=[(36.8005, -1.31), (36.80005, -1.31), (36.86, -1.26), (36.79, -1.31)],
        settlement_id=["kibera", "kibera", "kibera", "nowhere"],
    )
    _, report = validate_layer(frame, HOUSEHOLDS, settlements=settlements_frame())
    assert found(report) == {
        (2, "geometry", "outside_settlement", "warning"),
        (4, "geometry", "outside_settlement", "warning"),
        (5, "settlement_id", "unknown_settlement", "error"),
    }
    first = only(report, "outside_settlement")[0]
    assert first.message == "lies 55.7 m outside settlement 'kibera' (tolerance 10 m)"
    third = only(report, "outside_settlement")[1]
    assert re.fullmatch(
        r"lies [\d,]+ m outside settlement 'kibera', inside settlement 'mathare' instead "
        r"\(tolerance 10 m\)",
        third.message,
    )
    # stricter tolerance and error severity
    options = ValidationOptions(settlement_tolerance_m=5, outside_settlement_severity="error")
    _, report = validate_layer(frame, HOUSEHOLDS, settlements=settlements_frame(), options=options)
    assert {(p.row, p.severity) for p in only(report, "outside_settlement")} == {
        (2, "error"),
        (3, "error"),
        (4, "error"),
    }


def test_polygon_is_tested_by_a_point_on_its_surface() -> None:
    # An L-shaped footprint whose foot pokes 0.0001 deg into Kibera across its west edge
    # (36.78) while its leg stands outside: shapely.point_on_surface falls in the leg, about
    # 0.00095 deg = 106 m west of the edge, so it is reported; a footprint inside is not.
    l_shape = shapely.Polygon(
        [(36.7790, -1.3100), (36.7801, -1.3100), (36.7801, -1.3099), (36.7791, -1.3099),
         (36.7791, -1.3090), (36.7790, -1.3090)]
    )  # fmt: skip
    frame = footprints([l_shape, shapely.box(36.790, -1.310, 36.7901, -1.3099)])
    _, report = validate_layer(frame, STRUCTURES, settlements=settlements_frame())
    assert found(report) == {(2, "geometry", "outside_settlement", "warning")}
    assert report.problems[0].message.startswith("lies 106 m outside settlement 'kibera'")


def test_settlements_in_another_crs_and_split_in_parts() -> None:
    # Two rows with the same id are one settlement (their union); metric CRS is accepted.
    parts = gpd.GeoDataFrame(
        {"settlement_id": ["kibera", "kibera"]},
        geometry=[shapely.box(36.78, -1.32, 36.79, -1.30), shapely.box(36.79, -1.32, 36.80, -1.30)],
        crs=4326,
    ).to_crs(32737)
    frame = households(points=[(36.785, -1.31), (36.795, -1.31), (36.85, -1.31)])
    _, report = validate_layer(frame, HOUSEHOLDS, settlements=parts)
    assert found(report) == {(4, "geometry", "outside_settlement", "warning")}


def test_unknown_settlement_is_aggregated() -> None:
    frame = households(30, settlement_id=["typo"] * 30)
    _, report = validate_layer(frame, HOUSEHOLDS, settlements=settlements_frame())
    assert found(report) == {(2, "settlement_id", "unknown_settlement", "error")}
    assert "in 30 rows" in report.problems[0].message


# -- duplicates --------------------------------------------------------------------------------


def test_duplicates() -> None:
    frame = households(
        5,
        household_id=["a", "b", "a", "u1", "d"],
        submission_uuid=["u0", "u1", "u2", "u1", "u0"],
    )
    frame["geometry"] = shapely.points([(36.79, -1.31)] * 4 + [(36.791, -1.31)])
    frame = pd.concat([frame, frame.iloc[[1]].assign(source_row=7)])  # row 7 = copy of row 3
    _, report = validate_layer(frame, HOUSEHOLDS)
    assert found(report) == {
        (4, "household_id", "duplicate_key", "error"),  # 'a' of row 2
        (5, "submission_uuid", "duplicate_uuid", "error"),  # 'u1' of row 3
        (6, "submission_uuid", "duplicate_uuid", "error"),  # 'u0' of row 2
        (7, "submission_uuid", "duplicate_uuid", "error"),
        (7, "household_id", "duplicate_key", "error"),
        (7, None, "duplicate_record", "warning"),
    }
    messages = {(p.row, p.rule): p.message for p in report}
    assert messages[5, "duplicate_uuid"] == ("submission_uuid 'u1' already used in row 3")
    assert messages[7, "duplicate_record"] == (
        "row 7 is identical to row 3 in every field and geometry"
    )


def test_duplicate_key_not_repeated_when_key_is_the_duplicated_uuid() -> None:
    frame = households(2, household_id=["u9", "u9"], submission_uuid=["u9", "u9"])
    frame["geometry"] = shapely.points([(36.79, -1.31), (36.791, -1.31)])
    _, report = validate_layer(frame, HOUSEHOLDS)
    assert found(report) == {(3, "submission_uuid", "duplicate_uuid", "error")}


def test_rows_differing_only_in_geometry_or_provenance() -> None:
    frame = households(3)
    frame["household_id"] = "same"
    frame["submission_uuid"] = None
    frame["geometry"] = shapely.points([(36.79, -1.31), (36.791, -1.31), (36.79, -1.31)])
    frame["attributes"] = ['{"a": 1}', '{"a": 2}', '{"a": 3}']  # ignored
    _, report = validate_layer(frame, HOUSEHOLDS)
    assert {(p.row, p.rule) for p in report} == {
        (3, "duplicate_key"),
        (4, "duplicate_key"),
        (4, "duplicate_record"),  # row 3 has another geometry; row 4 equals row 2
    }


# -- inconsistent_counts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "values", "column", "severity"),
    [
        (HOUSEHOLDS, {"household_size": 4, "females": 3, "males": 2}, "females", "error"),
        (HOUSEHOLDS, {"household_size": 4, "adults": 1, "children": 2}, "adults", "warning"),
        (HOUSEHOLDS, {"household_size": 4, "toilet_users": 5}, "toilet_users", "error"),
        (HOUSEHOLDS, {"head_age": 11}, "head_age", "warning"),
        (
            HOUSEHOLDS,
            {"toilet_shared": False, "toilet_sharing_households": 3},
            "toilet_sharing_households",
            "warning",
        ),
        (
            HOUSEHOLDS,
            {"water_queue_min": 40.0, "water_trip_min": 30.0},
            "water_queue_min",
            "warning",
        ),
        (STRUCTURES, {"households": 2, "owner_households": 3}, "owner_households", "warning"),
        (STRUCTURES, {"households": 2, "households_water": 3}, "households_water", "warning"),
        (STRUCTURES, {"households": 3, "population": 2}, "population", "warning"),
        (SERVICE_POINTS, {"taps_total": 2, "taps_working": 3}, "taps_working", "error"),
        (SERVICE_POINTS, {"seats_total": 4, "seats_working": 6}, "seats_working", "error"),
        (SETTLEMENTS, {"taps_total": 10, "taps_working": 11}, "taps_working", "error"),
        (
            SETTLEMENTS,
            {"toilet_seats_total": 10, "toilet_seats_working": 12},
            "toilet_seats_working",
            "error",
        ),
    ],
)
def test_inconsistent_counts(schema, values, column, severity) -> None:
    base = {schema.key: ["k1", "k2"], "source_row": [2, 3]}
    frame = pd.DataFrame(base)
    for name, value in values.items():
        frame[name] = [value, None]  # row 3 lacks the value: never flagged
    _, report = validate_layer(frame, schema)
    flagged = only(report, "inconsistent_counts")
    assert [(p.row, p.column, p.severity) for p in flagged] == [(2, column, severity)]
    # not strict: every contradiction is a warning
    _, report = validate_layer(frame, schema, options=ValidationOptions(strict_counts=False))
    assert {p.severity for p in only(report, "inconsistent_counts")} == {"warning"}


def test_inconsistent_counts_messages_and_consistent_rows() -> None:
    frame = households(
        3,
        household_size=pd.array([4, 4, 4], dtype="Int64"),
        females=pd.array([3, 2, 2], dtype="Int64"),
        males=pd.array([2, 2, None], dtype="Int64"),
        toilet_shared=pd.array([True, False, None], dtype="boolean"),
        toilet_sharing_households=pd.array([3, 1, 5], dtype="Int64"),
    )
    _, report = validate_layer(frame, HOUSEHOLDS)
    assert [p.message for p in report] == [
        "females (3) + males (2) = 5 exceeds household_size (4): a part cannot exceed its whole",
    ]
    frame["toilet_shared"] = pd.array([False, False, False], dtype="boolean")
    _, report = validate_layer(frame, HOUSEHOLDS)
    assert [p.message for p in report][-2:] == [
        "toilet_shared is False but toilet_sharing_households (3) exceeds 1: "
        "the facility is said not to be shared (JMP S3)",
        "toilet_shared is False but toilet_sharing_households (5) exceeds 1: "
        "the facility is said not to be shared (JMP S3)",
    ]


# -- members -----------------------------------------------------------------------------------


def test_members_orphans_and_too_many_members() -> None:
    frame = pd.DataFrame(
        {
            "member_id": ["m1", "m2", "m3", "m4", "m5"],
            "household_id": ["h1", "h1", "h1", "h2", "ghost"],
            "settlement_id": ["kibera"] * 5,
            "source_row": [2, 3, 4, 5, 6],
        }
    )
    options = ValidationOptions(household_sizes={"h1": 2, "h2": 1})
    _, report = validate_layer(frame, MEMBERS, options=options)
    assert found(report) == {
        (2, "household_id", "inconsistent_counts", "error"),
        (6, "household_id", "orphan_member", "error"),
    }
    assert only(report, "inconsistent_counts")[0].message == (
        "3 members listed for household 'h1' but its household_size is 2"
    )
    # ids alone: orphans only
    options = ValidationOptions(households_ids=frozenset({"h1"}))
    _, report = validate_layer(frame, MEMBERS, options=options)
    assert found(report) == {
        (5, "household_id", "orphan_member", "error"),
        (6, "household_id", "orphan_member", "error"),
    }


# -- speed -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_200k_households_against_ten_settlements_in_seconds() -> None:
    n = 200_000
    rng = np.random.default_rng(7)
    centres = np.c_[36.70 + 0.03 * np.arange(10), np.full(10, -1.30)]
    angles = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    polygons = [
        shapely.Polygon(np.c_[cx + 0.01 * np.cos(angles), cy + 0.01 * np.sin(angles)])
        for cx, cy in centres
    ]
    settlements = gpd.GeoDataFrame(
        {"settlement_id": [f"s{i}" for i in range(10)]}, geometry=polygons, crs=4326
    )
    k = rng.integers(0, 10, n)
    x = centres[k, 0] + rng.uniform(-0.006, 0.006, n)
    y = centres[k, 1] + rng.uniform(-0.006, 0.006, n)
    x[:100] += 0.5  # 100 households far from any settlement
    ids = np.char.add("h", np.arange(n).astype(str)).astype(object)
    frame = gpd.GeoDataFrame(
        {
            "household_id": ids,
            "submission_uuid": ids,
            "settlement_id": np.char.add("s", k.astype(str)).astype(object),
            "household_size": pd.array(rng.integers(1, 10, n), dtype="Int64"),
            "water_source": "public_tap",
            "gps_accuracy_m": rng.uniform(1, 15, n),
            "source_row": np.arange(2, n + 2),
        },
        geometry=shapely.points(x, y),
        crs=4326,
    )
    start = time.perf_counter()
    _, report = validate_layer(frame, HOUSEHOLDS, settlements=settlements)
    elapsed = time.perf_counter() - start
    assert elapsed < 10, f"{elapsed:.1f} s"
    assert report.by_rule() == {("warning", "outside_settlement"): 100}


# -- real data ---------------------------------------------------------------------------------

KIBERA_DIR = REALDATA / "kibera_kianda" / "Shapefiles"


@pytest.mark.realdata
@pytest.mark.skipif(
    not (KIBERA_DIR / "watsan-shapefile" / "watsan.shp").exists(),
    reason=f"real data not available at {KIBERA_DIR} (a fresh clone has no ../shared)",
)
def test_map_kibera_water_and_sanitation_points_against_village_boundaries() -> None:
    villages = gpd.read_file(KIBERA_DIR / "boundary-shapefile" / "Boundary.shp")
    watsan = gpd.read_file(KIBERA_DIR / "watsan-shapefile" / "watsan.shp")
    assert len(villages) == 22
    assert len(watsan) == 685
    # The 22 village polygons (some unnamed, some overlapping political / administrative
    # duplicates) together are Kibera: one settlement, the union of its 22 rows.
    settlements = villages.assign(settlement_id="kibera")[["settlement_id", "geometry"]]
    kinds = {
        "water_public": "water_point",
        "toilet_public": "toilet",
        "dumping_site": "waste_point",
    }
    frame = gpd.GeoDataFrame(
        {
            "service_id": watsan["id"].astype(str),
            # the other Map Kibera categories stay as given, to be reported
            "service_type": watsan["watsan"].map(kinds).fillna(watsan["watsan"]),
            "name": watsan["name"],
            "settlement_id": "kibera",
            "source_row": np.arange(1, len(watsan) + 1),
        },
        geometry=watsan.geometry,
        crs=watsan.crs,
    )
    _, report = validate_layer(frame, SERVICE_POINTS, settlements=settlements)
    print(report.to_text(limit=None))

    # Measured independently with geopandas (watsan.within(villages.union_all()) and
    # distances after to_crs(32737)): 11 of the 685 points lie outside every village
    # polygon, at 1.1, 1.2, 1.2, 4.9, 6.1, 7.3, 10.1, 23.8, 34.2, 34.8 and 36.7 m; 5 of them
    # are beyond the 10 m tolerance (10.1 m: just beyond).
    outside = only(report, "outside_settlement")
    assert len(outside) == 5
    metres = sorted(float(re.match(r"lies ([\d.]+) m", p.message).group(1)) for p in outside)
    assert metres == [10.1, 23.8, 34.2, 34.8, 36.7]
    # watsan categories with no service type: recyling 9, urban_agriculture 9, other 9,
    # biocentre 6, pee_point 3, bathroom 2 (value counts of the attribute table) = 38 rows,
    # each below the aggregation threshold of 20, so one problem per row.
    unknown = only(report, "unknown_code")
    assert len(unknown) == 38
    assert {p.column for p in unknown} == {"service_type"}
    # ids are unique, the points valid and in range: nothing else is reported.
    assert report.by_rule() == {
        ("warning", "outside_settlement"): 5,
        ("error", "unknown_code"): 38,
    }


def test_required_empty_in_many_rows_is_one_problem_with_the_remedy() -> None:
    """A whole column left empty (no --settlement) gives one error standing for every row."""
    schema = layer_schema("service_points")
    frame = pd.DataFrame(
        {"service_id": [f"s{i}" for i in range(30)], "service_type": [None] * 30},
    )
    frame["source_row"] = np.arange(1, 31)
    report = Report()
    report.extend(check_required(frame, schema))
    (problem,) = report.problems
    assert (problem.rule, problem.row, problem.row_count) == ("required", 1, 30)
    assert "30 of 30 rows" in problem.message
    assert report.invalid_rows["service_points"] == set(range(1, 31))
