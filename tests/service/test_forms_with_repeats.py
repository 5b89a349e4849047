"""Form exports with a members repeat (Kobo XLSX, ODK Central zip), stored with their roster."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from geo_service.ingestion import IngestRequest, ingest_file
from geo_service.storage import GeoPackageStore
from profiling.errors import ValidationFailed

MAPPING = """
[form]
id = "odk_households"
layer = "households"
title = "ODK household form"
source = "odk"

[geometry]
latitude = "gps/Latitude"
longitude = "gps/Longitude"
precision = "gps/Accuracy"

[columns]
KEY = ["household_id", "submission_uuid"]
"hh/size" = "household_size"
"hh/sex" = "head_sex"

[values.head_sex]
f = "female"
m = "male"

[constants]
settlement_id = "S1"

[repeats.members]
sheet = "members"
layer = "members"
[repeats.members.columns]
KEY = "member_id"
"members/sex" = "sex"
"members/age" = "age"
[repeats.members.values.sex]
f = "female"
m = "male"
"""

MAIN = (
    "SubmissionDate,hh-size,hh-sex,gps-Latitude,gps-Longitude,gps-Altitude,gps-Accuracy,"
    "meta-instanceID,KEY\n"
    "2024-06-01T10:00:00.000Z,2,f,-1.29,36.82,1650,5,uuid:a,uuid:a\n"
    "2024-06-02T11:00:00.000Z,1,m,-1.291,36.821,1650,4,uuid:b,uuid:b\n"
)
MEMBERS = (
    "members-sex,members-age,PARENT_KEY,KEY\n"
    "f,34,uuid:a,uuid:a/members[1]\n"
    "m,5,uuid:a,uuid:a/members[2]\n"
    "m,61,uuid:b,uuid:b/members[1]\n"
)


def _odk_zip(path: Path, members: str = MEMBERS) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("hh.csv", MAIN)
        zf.writestr("hh-members.csv", members)
    return path


@pytest.fixture
def mapping(tmp_path: Path) -> Path:
    path = tmp_path / "odk.toml"
    path.write_text(MAPPING)
    return path


def test_odk_zip_households_and_members_stored_together(tmp_path, settings, mapping):
    upload = _odk_zip(tmp_path / "hh.csv.zip")
    result = ingest_file(upload, IngestRequest(mapping=str(mapping)), settings=settings)
    assert result.rows == 2
    with GeoPackageStore(settings.store_path) as store:
        households = store.read_layer("households")
        members = store.read_layer("members")
    assert sorted(households["household_id"]) == ["uuid:a", "uuid:b"]
    # Members inherit their household's id and settlement from the submission (PARENT_KEY).
    by_household = members.groupby("household_id")["age"].apply(sorted).to_dict()
    assert by_household == {"uuid:a": [5, 34], "uuid:b": [61]}
    assert set(members["settlement_id"]) == {"S1"}
    assert "_parent_row" not in members.columns


def test_a_bad_member_row_is_set_aside_alone(tmp_path, settings, mapping):
    bad = MEMBERS.replace("m,61,uuid:b", "x,61,uuid:b")  # unknown sex code in b's roster
    upload = _odk_zip(tmp_path / "hh.csv.zip", bad)
    with pytest.raises(ValidationFailed):
        ingest_file(upload, IngestRequest(mapping=str(mapping)), settings=settings)
    kept = ingest_file(
        upload, IngestRequest(mapping=str(mapping), skip_invalid_rows=True), settings=settings
    )
    assert kept.report.facts["rows_set_aside"] == {"households": 0, "members": 1}
    assert kept.rows == 2
    with GeoPackageStore(settings.store_path) as store:
        assert len(store.read_layer("members")) == 2


def test_a_household_set_aside_takes_its_members(tmp_path, settings, mapping):
    bad = MAIN.replace(",2,f,", ",2,q,")  # unknown head_sex on household a
    upload = tmp_path / "hh.csv.zip"
    with zipfile.ZipFile(upload, "w") as zf:
        zf.writestr("hh.csv", bad)
        zf.writestr("hh-members.csv", MEMBERS)
    request = IngestRequest(mapping=str(mapping), skip_invalid_rows=True)
    kept = ingest_file(upload, request, settings=settings)
    assert kept.report.facts["rows_set_aside"] == {"households": 1, "members": 2}
    with GeoPackageStore(settings.store_path) as store:
        assert list(store.read_layer("members")["household_id"]) == ["uuid:b"]


def test_demo_kobo_xlsx_with_members_sheet(tmp_path, settings):
    from sample_data.generate import generate  # noqa: PLC0415

    city = tmp_path / "city"
    manifest = generate(city, households=600, seed=5, xlsx_rows=120)
    entry = next(f for f in manifest["files"] if f["path"] == "households_kobo.xlsx")
    request = IngestRequest(mapping="demo_households", skip_invalid_rows=True)
    result = ingest_file(city / "households_kobo.xlsx", request, settings=settings)
    assert result.rows + result.report.facts["rows_set_aside"]["households"] == 120
    with GeoPackageStore(settings.store_path) as store:
        members = store.read_layer("members")
        households = store.read_layer("households")
    assert len(members) + result.report.facts["rows_set_aside"]["members"] == entry["members"]
    assert set(members["household_id"]) <= set(households["household_id"])
