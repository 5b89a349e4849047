"""City statistics entered by MEL: reading, validation rules, tidy rows, rounds and targets."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import orjson
import pandas as pd
import pytest

from profiling.errors import UnsupportedFormat, ValidationFailed
from profiling.indicators.city_statistics import (
    CITY_STATISTICS_REGISTRY,
    city_statistics_table,
    read_city_statistics,
)
from profiling.indicators.privacy import PersonalDataError
from profiling.indicators.rollup import change_between_rounds, progress_to_target

STAMP = datetime(2024, 3, 1, tzinfo=UTC)
EXPENDITURE = "municipal_expenditure_basic_services_per_person"

CSV = "\n".join(
    [
        "indicator_id,city,date,value,numerator,denominator,currency,source,entered_by,note",
        f"{EXPENDITURE},Mto Mji,2022-06-30,1250,625000000,500000,KES,City budget FY2021/22,MEL-1,",
        f"{EXPENDITURE},Mto Mji,2023-06-30,1400,,,KES,City budget FY2022/23,MEL-1,",
        "women_share_local_government_seats,Mto Mji,2022-08-09,0.25,10,40,,"
        "County assembly list,MEL-2,after the election",
        "youth_neet_share,Mto Mji,2023-12-31,0.31,,,,Labour force survey 2023,MEL-2,",
        "",
    ]
)


def entries() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "indicator_id": ["youth_neet_share", "youth_neet_share"],
            "city": ["Mto Mji", "Mto Mji"],
            "date": ["2021-12-31", "2023-12-31"],
            "value": [0.36, 0.31],
        }
    )


def problems(frame: pd.DataFrame) -> list[tuple[int | None, str | None, str]]:
    with pytest.raises(ValidationFailed) as info:
        read_city_statistics(frame)
    return [(p.row, p.column, p.rule) for p in info.value.report.errors]


def test_registry() -> None:
    ids = [i.id for i in CITY_STATISTICS_REGISTRY]
    assert ids == [EXPENDITURE, "women_share_local_government_seats", "youth_neet_share"]
    assert CITY_STATISTICS_REGISTRY.get(EXPENDITURE).unit == "currency per person per year"
    assert CITY_STATISTICS_REGISTRY.get("youth_neet_share").reference == "SDG 8.6.1"


def test_valid_csv_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "stats.csv"
    path.write_text(CSV, encoding="utf-8")
    clean = read_city_statistics(path)
    assert clean["source_row"].tolist() == [1, 2, 3, 4]
    assert clean["value"].tolist() == [1250.0, 1400.0, 0.25, 0.31]
    assert clean.loc[2, "note"] == "after the election"
    assert clean.loc[3, "currency"] is None
    t = city_statistics_table(path, computed_at=STAMP)
    assert len(t) == 4
    assert set(t["source"]) == {"mel_entry"} and set(t["ci_method"]) == {"none"}
    assert set(t["group"]) == {"city=Mto Mji"}
    first = t.iloc[0]
    assert (first["indicator_id"], first["round"], first["value"]) == (
        EXPENDITURE,
        "2022-06-30",
        1250.0,
    )
    assert (first["numerator"], first["denominator"]) == (625_000_000.0, 500_000.0)
    assert orjson.loads(first["parameters"]) == {
        "currency": "KES",
        "entered_by": "MEL-1",
        "note": None,
        "reported_source": "City budget FY2021/22",
    }
    assert first["unit"] == "currency per person per year"
    assert first["computed_at"] == "2024-03-01T00:00:00+00:00"
    assert t["n_units"].tolist() == [0, 0, 0, 0]
    # Written back to CSV and read again: the same rows.
    path2 = tmp_path / "again.csv"
    clean.drop(columns="source_row").to_csv(path2, index=False)
    pd.testing.assert_frame_equal(read_city_statistics(path2), clean)


def test_every_rule_reports_row_and_column() -> None:
    frame = pd.DataFrame(
        {
            "indicator_id": [
                "youth_neet_share",  # 1: fine
                "youth_neet",  # 2: unknown indicator
                "youth_neet_share",  # 3: date not ISO
                "youth_neet_share",  # 4: value not a number
                "women_share_local_government_seats",  # 5: share > 1
                "women_share_local_government_seats",  # 6: value != num / den
                EXPENDITURE,  # 7: negative, no currency
                "youth_neet_share",  # 8: duplicate of row 1
                "youth_neet_share",  # 9: empty city
            ],
            "city": ["Mto Mji"] * 8 + [""],
            "date": [
                "2023-12-31",
                "2023-12-31",
                "31/12/2023",
                "2022-12-31",
                "2022-08-09",
                "2021-08-09",
                "2023-06-30",
                "2023-12-31",
                "2023-12-31",
            ],
            "value": ["0.3", "0.3", "0.3", "thirty", "1.2", "0.3", "-5", "0.3", "0.3"],
            "numerator": [None, None, None, None, None, "10", None, None, None],
            "denominator": [None, None, None, None, None, "40", None, None, None],
            "currency": [None] * 9,
        }
    )
    found = problems(frame)
    assert (2, "indicator_id", "unknown_indicator") in found
    assert (3, "date", "invalid_date") in found
    assert (4, "value", "not_a_number") in found
    assert (5, "value", "out_of_range") in found
    assert (6, "value", "inconsistent_value") in found
    assert (7, "value", "negative_value") in found
    assert (7, "currency", "missing_currency") in found
    assert (8, "date", "duplicate_entry") in found
    assert (9, "city", "required") in found
    assert not [p for p in found if p[0] == 1]
    assert len(found) == 9
    assert [p[0] for p in found] == sorted(p[0] for p in found)  # ordered by row
    with pytest.raises(ValidationFailed) as info:
        read_city_statistics(frame)
    report = info.value.report
    unknown = next(p for p in report.errors if p.rule == "unknown_indicator")
    assert "youth_neet_share" in unknown.message and EXPENDITURE in unknown.message
    duplicate = next(p for p in report.errors if p.rule == "duplicate_entry")
    assert "row 1" in duplicate.message


def test_missing_columns_and_tolerance() -> None:
    assert problems(entries().drop(columns=["date", "value"])) == [
        (None, "date", "missing_column"),
        (None, "value", "missing_column"),
    ]
    # 1/3 to 7 digits is within 1e-6 relative; 0.3333 is not.
    near = entries().assign(value=[0.3333333, 0.3333], numerator=[1, 1], denominator=[3, 3])
    assert problems(near) == [(2, "value", "inconsistent_value")]
    zero = entries().assign(numerator=[1, None], denominator=[0, None])
    assert problems(zero) == [(1, "value", "inconsistent_value")]
    # Only one of the two parts: a warning, the entries are accepted.
    half = entries().assign(numerator=[10, None])
    accepted = read_city_statistics(half)
    assert len(accepted) == 2
    warnings = [(p.row, p.column, p.rule) for p in accepted.attrs["report"]]
    assert warnings == [(1, "denominator", "incomplete_ratio")]


def test_personal_columns_and_formats_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PersonalDataError):
        read_city_statistics(entries().assign(phone=["0700", "0711"]))
    (tmp_path / "stats.json").write_text("[]", encoding="utf-8")
    with pytest.raises(UnsupportedFormat):
        read_city_statistics(tmp_path / "stats.json")


def test_xlsx_written_with_openpyxl(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["indicator_id", "city", "date", "value", "currency", "source"])
    sheet.append([EXPENDITURE, "Mto Mji", datetime(2023, 6, 30), 1400, "KES", "budget"])
    sheet.append(["youth_neet_share", "Mto Mji", "2023-12-31", 0.31, None, "LFS"])
    path = tmp_path / "stats.xlsx"
    book.save(path)
    clean = read_city_statistics(path)
    assert clean["date"].tolist() == ["2023-06-30", "2023-12-31"]
    assert clean["value"].tolist() == [1400.0, 0.31]
    t = city_statistics_table(path, computed_at=STAMP)
    assert t["round"].tolist() == ["2023-06-30", "2023-12-31"]


def test_change_between_rounds_and_progress_to_target() -> None:
    t = city_statistics_table(entries(), computed_at=STAMP)
    change = change_between_rounds(t)
    assert change[["round_from", "round"]].values.tolist() == [["2021-12-31", "2023-12-31"]]
    assert change["change"].tolist() == [pytest.approx(-0.05)]
    targets = pd.DataFrame(
        {
            "indicator_id": ["youth_neet_share"],
            "group": ["city=Mto Mji"],
            "baseline": [0.36],
            "baseline_year": [2021],
            "target": [0.26],
            "target_year": [2027],
        }
    )
    progress = progress_to_target(t, targets)
    # (0.31 - 0.36) / (0.26 - 0.36) = 0.5 of the way; the baseline row itself is at 0
    assert progress["progress"].tolist() == [pytest.approx(0.0), pytest.approx(0.5)]
