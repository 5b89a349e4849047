"""ODK Central ``submissions.csv.zip`` reader, and mapping its '-' joined group paths."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from profiling.errors import UnsafeInput, UnsupportedFormat
from profiling.ingest.mapping import apply_mapping, load_mapping
from profiling.ingest.odk import read_odk_csv, read_odk_zip

# Central's main file: SubmissionDate first, group paths joined with '-', a geopoint split in
# four columns, a select_multiple (space-separated), the meta block and KEY at the end.
MAIN = (
    "SubmissionDate,hh-size,hh-sex,hh-items,gps-Latitude,gps-Longitude,gps-Altitude,"
    "gps-Accuracy,boundary,meta-instanceID,KEY,SubmitterID,SubmitterName,Status,ReviewState\n"
    "2021-06-01T10:00:00.000Z,4,f,radio tv,-1.29,36.82,1650,5,"
    "-1.29 36.82 0 0;-1.29 36.83 0 0;-1.30 36.83 0 0;-1.29 36.82 0 0,"
    "uuid:a,uuid:a,5,enum1,,approved\n"
    "2021-06-02T11:00:00.000Z,3,m,,,,,,,uuid:b,uuid:b,5,enum1,,\n"
)
# One repeat, and a repeat nested inside it (PARENT_KEY = the enclosing instance's KEY).
MEMBERS = (
    "members-name,members-sex,members-age,PARENT_KEY,KEY\n"
    "Jo,m,34,uuid:a,uuid:a/members[1]\n"
    "An,f,31,uuid:a,uuid:a/members[2]\n"
    "Bo,m,5,uuid:b,uuid:b/members[1]\n"
    "X,f,2,uuid:zz,uuid:zz/members[1]\n"
)
JOBS = "job,PARENT_KEY,KEY\nvendor,uuid:a/members[1],uuid:a/members[1]/jobs[1]\n"


def odk_zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in members.items():
            zf.writestr(name, "\ufeff" + text)
    return path


@pytest.fixture
def export_zip(tmp_path: Path) -> Path:
    return odk_zip(
        tmp_path / "hh_survey.csv.zip",
        {
            "hh_survey.csv": MAIN,
            "hh_survey-members.csv": MEMBERS,
            "hh_survey-jobs.csv": JOBS,
            "media/photo.jpg": "not read",
        },
    )


def test_main_and_repeats_with_parent_rows(export_zip: Path, tmp_path: Path) -> None:
    export = read_odk_zip(export_zip, tmp_path / "work", max_rows=100)
    assert export.source == "odk"
    assert export.group_separator == "-"
    assert export.main_name == "hh_survey"
    assert export.main.columns[0] == "SubmissionDate"  # BOM stripped
    assert export.main["KEY"].tolist() == ["uuid:a", "uuid:b"]
    assert export.main["source_row"].tolist() == [1, 2]
    assert set(export.repeats) == {"members", "jobs"}
    members = export.repeats["members"]
    assert members["_parent_row"].tolist() == [1, 1, 2, pd.NA]
    assert export.repeats["jobs"]["_parent_row"].tolist() == [1]  # nested: root submission
    problems = [(p.layer, p.row, p.rule, p.severity) for p in export.report]
    assert ("members", 4, "orphan_repeat_row", "error") in problems
    assert any(p.rule == "ignored_member" for p in export.report)


def test_extraction_goes_through_the_safety_module(tmp_path: Path) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../escape.csv", "KEY\nuuid:a\n")
    with pytest.raises(UnsafeInput):
        read_odk_zip(evil, tmp_path / "work")
    assert not (tmp_path / "escape.csv").exists()


def test_zip_without_submissions_csv(tmp_path: Path) -> None:
    path = odk_zip(tmp_path / "x.zip", {"notes.csv": "a,b\n1,2\n"})
    with pytest.raises(UnsupportedFormat, match="no submissions CSV"):
        read_odk_zip(path, tmp_path / "work")


def test_single_csv(tmp_path: Path) -> None:
    path = tmp_path / "hh_survey.csv"
    path.write_text(MAIN, encoding="utf-8")
    export = read_odk_csv(path)
    assert export.group_separator == "-"
    assert len(export.main) == 2


MAPPING = """
[form]
id = "odk_hh"
layer = "households"
source = "odk"
drop = ["SubmitterName"]

[geometry]
latitude = "gps/Latitude"
longitude = "gps/Longitude"
precision = "gps/Accuracy"

[columns]
"KEY" = ["household_id", "submission_uuid"]
"SubmissionDate" = "enumerated_on"
"hh/size" = "household_size"
"hh/sex" = "head_sex"

[values.head_sex]
f = "female"
m = "male"

[multiple]
assets = "hh/items"

[constants]
settlement_id = "demo"

[repeats.members]
layer = "members"
[repeats.members.columns]
"KEY" = "member_id"
"members/sex" = "sex"
"members/age" = "age"
[repeats.members.values.sex]
f = "female"
m = "male"
"""


def test_mapping_an_odk_export_translates_group_separator(export_zip: Path, tmp_path: Path) -> None:
    export = read_odk_zip(export_zip, tmp_path / "work")
    mapping = load_mapping(MAPPING)
    out = apply_mapping(
        export.main,
        mapping,
        source_layer=export.main_name,
        group_separator=export.group_separator,
        repeats=export.repeats,
    )
    hh = out.frames["households"]
    assert hh["household_id"].tolist() == ["uuid:a", "uuid:b"]
    assert hh["household_size"].tolist() == [4, 3]
    assert hh["head_sex"].tolist() == ["female", "male"]
    assert hh["enumerated_on"].tolist() == [pd.Timestamp("2021-06-01"), pd.Timestamp("2021-06-02")]
    assert hh["assets"].tolist()[0] == "radio tv"
    assert hh.crs.to_epsg() == 4326
    assert (hh.geometry.iloc[0].x, hh.geometry.iloc[0].y) == (36.82, -1.29)
    assert hh.geometry.iloc[1] is None
    assert hh["gps_accuracy_m"].tolist()[0] == 5.0
    assert np.isnan(hh["gps_accuracy_m"].tolist()[1])
    members = out.frames["members"]
    assert members["member_id"].tolist()[:2] == ["uuid:a/members[1]", "uuid:a/members[2]"]
    # household_id and settlement_id inherited from the submission row
    ids = members["household_id"]
    assert ids.iloc[:3].tolist() == ["uuid:a", "uuid:a", "uuid:b"]
    assert pd.isna(ids.iloc[3])  # the orphan has no household
    assert members["settlement_id"].tolist()[:3] == ["demo"] * 3
    assert members["age"].tolist() == [34, 31, 5, 2]
    rules = {(p.layer, p.rule) for p in out.report}
    assert ("hh_survey", "dropped_column") in rules
    assert ("jobs", "unmapped_repeat") in rules
    unmapped = {p.column for p in out.report if p.rule == "unmapped_column"}
    assert "gps-Altitude" in unmapped and "boundary" in unmapped
    assert "gps-Latitude" not in unmapped and "SubmitterName" not in unmapped
    assert '"SubmitterName"' not in hh["attributes"].iloc[0]
