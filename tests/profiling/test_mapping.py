"""Declared mappings: loading and checking them, applying them, geometry text, real data."""

from __future__ import annotations

import json
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

from profiling.errors import MissingCRS, ProfilingError
from profiling.ingest.geotext import parse_geopoint, parse_geoshape, parse_geotrace
from profiling.ingest.kobo import read_kobo_csv
from profiling.ingest.mapping import (
    FormMapping,
    apply_mapping,
    apply_mapping_to_vector,
    bundled_mappings,
    load_mapping,
)
from profiling.schema import LAYERS, Field, LayerSchema
from tests.realdata import REALDATA

needs_realdata = pytest.mark.skipif(
    not REALDATA.is_dir(), reason=f"real data folder {REALDATA} is absent (fresh clone)"
)

HOUSEHOLDS = """
[form]
id = "demo_hh"
layer = "households"
title = "Demo"
source = "kobo"
drop = ["grp/name"]

[geometry]
latitude = "_gps_latitude"
longitude = "_gps_longitude"
precision = "_gps_precision"

[columns]
"_uuid" = ["household_id", "submission_uuid"]
"grp/sex" = "head_sex"
"grp/size" = "household_size"
"grp/trip" = "water_trip_min"
"grp/avail" = "water_available"
"start" = "enumerated_on"
"grp/private" = "water_source"
"grp/public" = "water_source"

[values.head_sex]
M = "male"
F = "female"
NA = ""

[values.water_source]
piped = "piped_dwelling"
tap = "public_tap"
NA = ""

[values.household_size]
"999" = ""

[multiple]
assets = "HHITEMS"

[values.assets]
radio = "radio"
tv = "television"
none = ""

[constants]
settlement_id = "mathare_4a"

[transform]
water_trip_min = { scale = 60.0 }
"""


def frame(**columns: list[object]) -> pd.DataFrame:
    """Raw text columns as the readers give them (``str`` dtype, missing as NaN)."""
    return pd.DataFrame({k: pd.array(v, dtype="str") for k, v in columns.items()})


def base_raw() -> pd.DataFrame:
    raw = frame(
        _uuid=["u1", "u2", "u3", "u4"],
        **{
            "grp/name": ["Ann", "Bob", "Cy", "Di"],
            "grp/sex": ["M", "F", "X", "NA"],
            "grp/size": ["4", "3,5", "999", " 2 "],
            "grp/trip": ["0.5", "1", "", "abc"],
            "grp/avail": ["Ndiyo", "non", "TRUE", "maybe"],
            "start": ["2021-06-01T10:22:33.000+03:00", "2021-06-02", "2021-02-30", None],
            "grp/private": ["piped", None, "NA", None],
            "grp/public": ["tap", "tap", "tap", "well"],
            "HHITEMS": ["radio tv", "tv", "none", None],
            "_gps_latitude": ["-1.26", "91", "", "0"],
            "_gps_longitude": ["36.86", "36.8", "", "0"],
            "_gps_precision": ["4.5", "3", "", "0"],
            "_id": ["11", "12", "13", "14"],
            "note": ['a "quoted" note', None, None, None],
        },
    )
    raw["source_row"] = np.array([1, 2, 3, 5], dtype=np.int64)
    return raw


# -- Applying ---------------------------------------------------------------------------------


def test_apply_mapping_hand_checked() -> None:
    out = apply_mapping(base_raw(), load_mapping(HOUSEHOLDS), source_layer="hh.csv")
    f = out.frame
    assert out.layer == "households"
    assert list(out.frames) == ["households"]
    assert isinstance(f, gpd.GeoDataFrame) and f.crs.to_epsg() == 4326
    assert f["household_id"].tolist() == ["u1", "u2", "u3", "u4"]
    assert f["submission_uuid"].tolist() == ["u1", "u2", "u3", "u4"]
    assert f["settlement_id"].tolist() == ["mathare_4a"] * 4
    assert f["head_sex"].iloc[:2].tolist() == ["male", "female"]
    assert f["head_sex"].iloc[2:].isna().all()  # X unmapped (error), NA known missing
    assert f["household_size"].tolist() == [4, pd.NA, pd.NA, 2]  # '3,5' bad, 999 sentinel
    assert f["household_size"].dtype == "Int64"
    assert f["water_trip_min"].iloc[:2].tolist() == [30.0, 60.0]  # scale 60
    assert f["water_trip_min"].iloc[2:].isna().all()
    assert f["water_available"].tolist() == [True, False, True, pd.NA]
    assert f["enumerated_on"].iloc[:2].tolist() == [
        pd.Timestamp("2021-06-01"),
        pd.Timestamp("2021-06-02"),
    ]
    assert f["enumerated_on"].iloc[2:].isna().all()  # 30 February is no date
    # first non-missing of private, then public; "NA" is a known missing, so public fills in
    assert f["water_source"].iloc[:3].tolist() == ["piped_dwelling", "public_tap", "public_tap"]
    assert pd.isna(f["water_source"].iloc[3])  # "well" is not in the value map
    assert f["assets"].iloc[:2].tolist() == ["radio television", "television"]
    assert f["assets"].iloc[2:].isna().all()
    assert f.geometry.iloc[0] == Point(36.86, -1.26)
    assert f.geometry.iloc[1:].isna().all()  # out of range, blank, null island
    assert f["gps_accuracy_m"].iloc[0] == 4.5
    assert f["source_row"].tolist() == [1, 2, 3, 5]
    attributes = json.loads(f["attributes"].iloc[0])
    assert attributes == {"_id": "11", "note": 'a "quoted" note'}
    assert "grp/name" not in f["attributes"].iloc[1]  # dropped on purpose, not kept

    problems = {(p.rule, p.row, p.column): p for p in out.report}
    assert ("unmapped_value", 3, "grp/sex") in problems
    assert ("bad_number", 2, "grp/size") in problems
    assert ("bad_type", 5, "grp/trip") in problems
    assert ("bad_type", 5, "grp/avail") in problems
    assert ("bad_type", 3, "start") in problems
    assert ("unmapped_value", 5, "grp/public") in problems
    assert ("bad_coordinate", 2, "_gps_latitude") in problems
    assert ("null_island", 5, "_gps_latitude") in problems
    assert ("dropped_column", None, "grp/name") in problems
    unmapped = sorted(c for r, _, c in problems if r == "unmapped_column")
    assert unmapped == ["_id", "note"]
    assert problems[("unmapped_value", 3, "grp/sex")].severity == "error"
    assert "'X'" in problems[("unmapped_value", 3, "grp/sex")].message
    assert problems[("unmapped_column", None, "note")].severity == "info"
    assert {p.layer for p in out.report} == {"hh.csv"}
    errors = sorted((p.rule, p.row) for p in out.report.errors)
    assert errors == [
        ("bad_coordinate", 2),
        ("bad_number", 2),
        ("bad_type", 3),
        ("bad_type", 5),
        ("bad_type", 5),
        ("unmapped_value", 3),
        ("unmapped_value", 5),
    ]


def test_input_is_not_mutated() -> None:
    raw = base_raw()
    before = raw.copy()
    apply_mapping(raw, load_mapping(HOUSEHOLDS), source_layer="hh.csv")
    pd.testing.assert_frame_equal(raw, before)


def test_select_multiple_from_choice_columns() -> None:
    raw = frame(
        _uuid=["u1", "u2", "u3", "u4"],
        **{
            "HHITEMS/radio": ["1", "0", None, "1"],
            "HHITEMS/tv": ["1", "0", None, "yes?"],
            "HHITEMS/none": ["0", "1", None, "0"],
            "HHITEMS/boat": ["0", "0", None, "1"],
        },
    )
    mapping = load_mapping(HOUSEHOLDS.replace('drop = ["grp/name"]', ""))
    out = apply_mapping(raw, mapping, source_layer="hh")
    assets = out.frame["assets"]
    assert assets.iloc[0] == "radio television"
    assert pd.isna(assets.iloc[1])  # only "none" ticked
    assert pd.isna(assets.iloc[2])  # question not asked
    assert assets.iloc[3] == "radio"  # boat unmapped, 'yes?' not 0/1
    problems = {(p.rule, p.row, p.column) for p in out.report}
    assert ("unmapped_value", 4, "HHITEMS/boat") in problems
    assert ("bad_type", 4, "HHITEMS/tv") in problems
    assert not any(
        p.rule == "unmapped_column" and p.column.startswith("HHITEMS") for p in out.report
    )
    missing = {p.column for p in out.report if p.rule == "missing_column"}
    assert "HHITEMS" not in missing  # present as its choice columns


def test_select_multiple_text_column_wins_and_choice_columns_are_consumed() -> None:
    raw = frame(_uuid=["u1"], HHITEMS=["tv"], **{"HHITEMS/tv": ["1"], "HHITEMS/radio": ["0"]})
    out = apply_mapping(raw, load_mapping(HOUSEHOLDS), source_layer="hh")
    assert out.frame["assets"].tolist() == ["television"]
    assert not any(p.rule == "unmapped_column" for p in out.report)


def test_repeated_problem_is_aggregated() -> None:
    n = 1000
    raw = frame(_uuid=[f"u{i}" for i in range(n)], **{"grp/sex": ["M"] * 970 + ["Z"] * 30})
    out = apply_mapping(raw, load_mapping(HOUSEHOLDS), source_layer="hh")
    z = [p for p in out.report if p.rule == "unmapped_value"]
    assert len(z) == 1
    assert z[0].row is None
    assert "30 rows (first rows: 971, 972" in z[0].message


def test_labels_export_gives_a_clear_error() -> None:
    raw = frame(**{"What is the sex of the household head?": ["Male"], "Size": ["3"]})
    with pytest.raises(ProfilingError, match="labels' export cannot be mapped"):
        apply_mapping(raw, load_mapping(HOUSEHOLDS), source_layer="hh")


def test_missing_mapped_column_is_a_warning() -> None:
    raw = frame(_uuid=["u1"])
    out = apply_mapping(raw, load_mapping(HOUSEHOLDS), source_layer="hh")
    missing = {p.column for p in out.report if p.rule == "missing_column"}
    assert {"grp/sex", "grp/size", "_gps_latitude"} <= missing
    assert out.frame["head_sex"].isna().all()


def test_geopoint_and_geoshape_mappings() -> None:
    text = """
[form]
id = "pts"
layer = "service_points"
[geometry]
geopoint = "grp/gps"
[columns]
"id" = "service_id"
"kind" = "service_type"
"""
    raw = frame(
        id=["a", "b", "c"],
        kind=["toilet", "toilet", "toilet"],
        **{"grp/gps": ["-1.3 36.8 1650 4", "1.3 x", None]},
    )
    mapping = load_mapping(text)
    out = apply_mapping(raw, mapping, source_layer="pts")
    assert out.frame.geometry.iloc[0] == Point(36.8, -1.3)
    assert out.frame.geometry.iloc[1:].isna().all()
    assert [(p.rule, p.row) for p in out.report.errors] == [("bad_coordinate", 2)]

    shape = (
        text.replace('geopoint = "grp/gps"', 'geoshape = "grp/gps"')
        .replace('"service_points"', '"hazard_zones"')
        .replace('"service_id"', '"hazard_id"')
        .replace('"service_type"', '"hazard_type"')
    )
    raw = frame(
        id=["a", "b"],
        kind=["flood", "flood"],
        **{"grp/gps": ["0 0 0 0;0 1 0 0;1 1 0 0;0 0 0 0", "0 0;1 1"]},
    )
    out = apply_mapping(raw, load_mapping(shape), source_layer="zones")
    assert out.frame.geometry.iloc[0].geom_type == "Polygon"
    assert out.frame.geometry.iloc[0].area == pytest.approx(0.5)
    assert out.frame.geometry.iloc[1] is None
    assert [(p.rule, p.row) for p in out.report.errors] == [("bad_geometry", 2)]


def test_repeats_are_mapped_and_inherit_the_household() -> None:
    text = (
        HOUSEHOLDS
        + """
[repeats.members]
sheet = "members"
layer = "members"
[repeats.members.columns]
"_index" = "member_id"
"members/sex" = "sex"
"members/age" = "age"
[repeats.members.values.sex]
m = "male"
f = "female"
"""
    )
    mapping = load_mapping(text)
    assert mapping.repeats["members"].inherit == ("household_id", "settlement_id")
    main = frame(_uuid=["u1", "u2"])
    members = frame(
        _index=["1", "2", "3"],
        **{"members/sex": ["m", "f", "q"], "members/age": ["30", "2.0", "1.5"]},
    )
    members["source_row"] = np.array([1, 2, 3])
    members["_parent_row"] = pd.array([2, 1, None], dtype="Int64")
    out = apply_mapping(
        main, mapping, source_layer="main", repeats={"members": members, "other": members}
    )
    m = out.frames["members"]
    assert m["household_id"].iloc[:2].tolist() == ["u2", "u1"]
    assert pd.isna(m["household_id"].iloc[2])
    assert m["settlement_id"].iloc[:2].tolist() == ["mathare_4a"] * 2
    assert m["age"].tolist() == [30, 2, pd.NA]
    assert m["_parent_row"].tolist() == [2, 1, pd.NA]
    assert ("members", 3, "unmapped_value") in {(p.layer, p.row, p.rule) for p in out.report}
    assert ("members", 3, "bad_type") in {(p.layer, p.row, p.rule) for p in out.report}
    assert "unmapped_repeat" in {p.rule for p in out.report}


def test_vector_input_keeps_and_reprojects_geometry() -> None:
    text = """
[form]
id = "wp"
layer = "service_points"
source = "vector"
[columns]
"OBJECTID" = "service_id"
"TYPE" = "service_type"
"TAPS" = "taps_total"
[values.service_type]
1 = "water_point"
2 = "toilet"
"""
    gdf = gpd.GeoDataFrame(
        {"OBJECTID": [10, 11], "TYPE": [1.0, 2.0], "TAPS": [3.0, np.nan], "NAME": ["a", None]},
        geometry=[Point(258000, 9855000), Point(258100, 9855100)],
        crs="EPSG:32737",
    )
    out = apply_mapping_to_vector(gdf, load_mapping(text), source_layer="watsan")
    f = out.frame
    assert f.crs.to_epsg() == 4326
    assert f.geometry.iloc[0].x == pytest.approx(36.82, abs=0.01)
    assert f["service_id"].tolist() == ["10", "11"]
    assert f["service_type"].tolist() == ["water_point", "toilet"]
    assert f["taps_total"].tolist() == [3, pd.NA]
    assert json.loads(f["attributes"].iloc[0]) == {"NAME": "a"}
    assert not out.report.has_errors

    gdf = gdf.set_crs(None, allow_override=True)
    with pytest.raises(MissingCRS):
        apply_mapping_to_vector(gdf, load_mapping(text), source_layer="watsan")


def test_identity_mapping() -> None:
    mapping = FormMapping.identity("households", ["household_id", "household_size", "extra"])
    raw = frame(household_id=["h1"], household_size=["5"], extra=["x"])
    out = apply_mapping(raw, mapping, source_layer="t")
    assert out.frame["household_size"].tolist() == [5]
    assert json.loads(out.frame["attributes"].iloc[0]) == {"extra": "x"}


def test_custom_schema_before_layers_exist() -> None:
    schema = LayerSchema(
        "pets",
        "Pets",
        None,
        "pet_id",
        (
            Field("pet_id", "str", "Id", required=True),
            Field("legs", "int", "Legs"),
            Field("kind", "str", "Kind", codes=frozenset({"cat", "dog"})),
        ),
        geometry_required=False,
    )
    text = (
        '[form]\nid = "p"\nlayer = "pets"\n[columns]\n"a" = "pet_id"\n"b" = "legs"\n'
        '"c" = "kind"\n[values.kind]\nC = "cat"\n'
    )
    mapping = load_mapping(text, layers={"pets": schema})
    out = apply_mapping(frame(a=["1"], b=["4"], c=["C"]), mapping, schema, source_layer="x")
    assert out.frame[["pet_id", "legs", "kind"]].iloc[0].tolist() == ["1", 4, "cat"]
    bad = text.replace('C = "cat"', 'C = "kat"')
    with pytest.raises(ProfilingError, match=r"line 9 .*'kat', not a code of 'kind'"):
        load_mapping(bad, layers={"pets": schema})


# -- Loading and checking ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        (
            'layer = "households"',
            'layer = "housholds"',
            r"line 4 \[form\]: unknown layer "
            r"'housholds' \(did you mean 'households'\?\)",
        ),
        (
            '"grp/sex" = "head_sex"',
            '"grp/sex" = "head_sexe"',
            r"line 16 \[columns\]: 'head_sexe' is not a field of layer 'households'",
        ),
        (
            'M = "male"',
            'M = "man"',
            r"line 25 \[values.head_sex\]: 'M' maps to 'man', "
            r"not a code",
        ),
        ("[transform]", "[transforms]", r"line 48: unknown key 'transforms'"),
        (
            "water_trip_min = { scale = 60.0 }",
            "household_size = { scale = 2 }",
            r"'household_size' is a int field; transforms apply to float",
        ),
        (
            'settlement_id = "mathare_4a"',
            'head_age = "many"',
            r"line 46 \[constants\]: 'head_age' maps to 'many', which is not a valid int",
        ),
        ('latitude = "_gps_latitude"', 'geoshape = "x"', r"declare exactly one of"),
        ('source = "kobo"', 'source = "excel"', r"source must be one of"),
    ],
)
def test_mapping_errors_name_the_line(old: str, new: str, match: str) -> None:
    assert old in HOUSEHOLDS
    with pytest.raises(ProfilingError, match=match):
        load_mapping(HOUSEHOLDS.replace(old, new))


def test_geometry_must_suit_the_layer() -> None:
    text = '[form]\nid = "m"\nlayer = "members"\n[geometry]\ngeopoint = "gps"\n'
    with pytest.raises(ProfilingError, match="layer 'members' has no geometry"):
        load_mapping(text)
    text = '[form]\nid = "s"\nlayer = "streets"\n[geometry]\ngeopoint = "gps"\n'
    with pytest.raises(ProfilingError, match="gives Point geometries but layer 'streets'"):
        load_mapping(text)


def test_yaml_mapping(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "form:\n  id: y\n  layer: households\ncolumns:\n  _uuid: household_id\n"
        "  sex: head_sex\nvalues:\n  head_sex:\n    '1': male\n    2: female\n",
        encoding="utf-8",
    )
    mapping = load_mapping(path)
    assert dict(mapping.main.values["head_sex"]) == {"1": "male", "2": "female"}
    path.write_text(path.read_text().replace("'1': male", "yes: male"), encoding="utf-8")
    with pytest.raises(ProfilingError, match="read as a boolean"):
        load_mapping(path)
    path.write_text(path.read_text().replace("sex: head_sex", "sex: head_sx"), encoding="utf-8")
    with pytest.raises(ProfilingError, match=r"m.yaml, line 6 \[columns\]: 'head_sx'"):
        load_mapping(path)


def test_invalid_toml_syntax() -> None:
    with pytest.raises(ProfilingError, match="invalid TOML"):
        load_mapping("[form\nid = 1\n")


def test_bundled_mappings_load_against_the_schema() -> None:
    bundled = bundled_mappings()
    assert {"nairobi_abidjan_wash_2021", "kampala_bwaise_waste"} <= set(bundled)
    for mapping in bundled.values():
        assert mapping.layer in LAYERS
        assert mapping.origin.startswith("profiling/mappings/")


# -- Geometry text ----------------------------------------------------------------------------


def test_parse_geopoint_swaps_to_lon_lat() -> None:
    s = pd.Series(["-1.2921 36.8219 1650 4.5", "5.35 -4.02", "91 0", "a b", None, "", "1 2 3 4 5"])
    lon, lat, alt, acc = parse_geopoint(s)
    assert (lon[0], lat[0], alt[0], acc[0]) == (36.8219, -1.2921, 1650.0, 4.5)
    assert (lon[1], lat[1]) == (-4.02, 5.35) and np.isnan(acc[1])
    assert np.isnan(lat[2:]).all()


def test_parse_geotrace_and_geoshape() -> None:
    lines = parse_geotrace(pd.Series(["0 0 0 0;1 1 0 0;", "0 0", "0 0;x 1"], index=[7, 8, 9]))
    assert list(lines.index) == [7, 8, 9]
    assert lines.iloc[0].wkt == "LINESTRING (0 0, 1 1)"
    assert lines.iloc[1:].isna().all()
    shapes = parse_geoshape(pd.Series(["0 0;0 2;2 2", "0 0;0 1;0 0"]))
    assert shapes.iloc[0].wkt == "POLYGON ((0 0, 2 0, 2 2, 0 0))"  # ring closed
    assert shapes.iloc[1] is None  # two distinct vertices only
    assert shapes.crs.to_epsg() == 4326


# -- Speed ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_one_million_rows_map_in_seconds() -> None:
    n = 1_000_000
    rng = np.random.default_rng(1)
    raw = frame(
        _uuid=[f"u{i}" for i in range(n)],
        **{
            "grp/sex": rng.choice(["M", "F"], n).tolist(),
            "grp/size": rng.integers(1, 12, n).astype(str).tolist(),
            "grp/avail": rng.choice(["yes", "no"], n).tolist(),
            "start": rng.choice(["2021-06-01T10:22:33.000+03:00", "2021-06-02"], n).tolist(),
            "HHITEMS": rng.choice(["radio tv", "tv", ""], n).tolist(),
            "_gps_latitude": (rng.random(n) - 1.3).astype(str).tolist(),
            "_gps_longitude": (rng.random(n) + 36.8).astype(str).tolist(),
            "extra": rng.choice(["a", "b"], n).tolist(),
        },
    )
    start = time.perf_counter()
    out = apply_mapping(raw, load_mapping(HOUSEHOLDS), source_layer="big")
    elapsed = time.perf_counter() - start
    assert len(out.frame) == n
    assert out.frame["household_size"].notna().all()
    assert elapsed < 60, f"{elapsed:.1f} s"


# -- Real data --------------------------------------------------------------------------------


@pytest.mark.realdata
@needs_realdata
def test_real_nairobi_abidjan_kobo_export() -> None:
    export = read_kobo_csv(REALDATA / "nairobi_abidjan_wash_hhsurvey" / "household_data.csv")
    assert len(export.main) == 1714
    assert export.main.loc[0, "HHITEMS/Computer"] in {"0", "1"}
    mapping = bundled_mappings()["nairobi_abidjan_wash_2021"]
    out = apply_mapping(
        export.main,
        mapping,
        source_layer="household_data.csv",
        group_separator=export.group_separator,
    )
    f = out.frame
    assert len(f) == 1714
    assert not out.report.has_errors, out.report.to_text(limit=20)
    assert f["household_id"].is_unique
    assert f["settlement_id"].value_counts().to_dict() == {
        "nairobi_mathare_mabatini": 576,
        "nairobi_mukuru_vietnam": 571,
        "abidjan_williamsville": 301,
        "abidjan_azito": 266,
    }
    assert f["head_sex"].value_counts().to_dict() == {"male": 1070, "female": 644}
    assert f["wall_material"].value_counts()["rustic_metal"] == 1054
    assert f["water_source"].value_counts()["public_tap"] == 865  # 848 taps + 17 dispensers
    assert f["sanitation"].value_counts()["open_defecation"] == 8
    # select_multiple from HHITEMS/<choice> 0/1 columns
    raw = export.main
    computer = raw["HHITEMS/Computer"].eq("1")
    assert f.loc[computer.to_numpy(), "assets"].str.contains("computer").all()
    assert f["electricity"].sum() == raw["HHITEMS/Electricity"].eq("1").sum()
    # the 999 sentinels are missing, 111 is "10 or more"
    assert f["sleeping_rooms"].max() == 10
    assert f["sleeping_rooms"].isna().sum() == 5
    # unmapped columns are reported once each and kept per row
    unmapped = [p.column for p in out.report if p.rule == "unmapped_column"]
    assert len(unmapped) == len(set(unmapped)) == 10
    assert json.loads(f["attributes"].iloc[0])["City"] == "Abidjan"


@pytest.mark.realdata
@needs_realdata
def test_real_kampala_bwaise_table() -> None:
    export = read_kobo_csv(REALDATA / "kampala_bwaise_hh_waste" / "solidwastekampala.csv")
    assert len(export.main) == 103
    mapping = bundled_mappings()["kampala_bwaise_waste"]
    out = apply_mapping(export.main, mapping, source_layer="solidwastekampala.csv")
    f = out.frame
    assert not out.report.has_errors, out.report.to_text(limit=20)
    assert f["settlement_id"].value_counts()["kampala_bwaise_i"] == 39
    assert f["household_size"].notna().all()
    assert f["toilet_shared"].sum() == 29
    assert f["water_source"].value_counts().to_dict() == {
        "piped_dwelling": 55,
        "piped_yard": 31,
        "public_tap": 17,
    }
    waste = json.loads(f["attributes"].iloc[0])
    assert float(waste["waste_total_kg"]) > 0
