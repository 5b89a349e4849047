"""Small-cell suppression (primary and complementary) and the personal-column guard."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from profiling.indicators import (
    PERSONAL_COLUMNS,
    PersonalDataError,
    assert_no_personal_columns,
    suppress_small_cells,
)


def cells(n_units: list[int], head_sex: list[str], settlement: list[str]) -> pd.DataFrame:
    size = len(n_units)
    return pd.DataFrame(
        {
            "indicator_id": ["x"] * size,
            "indicator_version": ["1"] * size,
            "group": [f"{s}/{h}" for s, h in zip(settlement, head_sex, strict=True)],
            "settlement_id": settlement,
            "head_sex": head_sex,
            "round": ["2024"] * size,
            "value": [0.5] * size,
            "numerator": [1.0] * size,
            "denominator": [2.0] * size,
            "n_units": n_units,
            "unknown": [0] * size,
            "ci_low": [0.1] * size,
            "ci_high": [0.9] * size,
        }
    )


def test_personal_columns_come_from_the_schema() -> None:
    assert {"head_name", "phone", "national_id", "name"} <= PERSONAL_COLUMNS
    assert "settlement_id" not in PERSONAL_COLUMNS
    assert_no_personal_columns(["settlement_id", "value"])
    with pytest.raises(PersonalDataError, match="national_id"):
        assert_no_personal_columns(["value", "national_id"])
    with pytest.raises(PersonalDataError):
        suppress_small_cells(cells([9], ["female"], ["A"]).assign(phone="1"))


def test_no_suppression_when_all_cells_are_large() -> None:
    out = suppress_small_cells(cells([5, 9], ["female", "male"], ["A", "A"]))
    assert out["suppressed"].tolist() == ["", ""]
    assert out["value"].tolist() == [0.5, 0.5]


def test_primary_and_complementary_suppression() -> None:
    # settlement A: female 3 (< 5), male 20, other 8 -> female primary, other complementary
    # settlement B: female 2, male 1 (both primary, nothing more needed), other 30
    table = cells(
        [3, 20, 8, 2, 1, 30],
        ["female", "male", "other", "female", "male", "other"],
        ["A", "A", "A", "B", "B", "B"],
    )
    out = suppress_small_cells(table, k=5, group_columns=["head_sex"])
    assert out["suppressed"].tolist() == [
        "fewer than 5 households",
        "",
        "complementary",
        "fewer than 5 households",
        "fewer than 5 households",
        "",
    ]
    for col in ("value", "numerator", "denominator", "n_units", "unknown", "ci_low", "ci_high"):
        assert out[col].isna().tolist() == [True, False, True, True, True, False]
    assert table["value"].notna().all()  # input untouched


def protected(out: pd.DataFrame, dims: list[str]) -> bool:
    """Every sibling set along every dimension holds 0 or >= 2 suppressed cells."""
    suppressed = out["suppressed"] != ""
    for dim in dims:
        others = [d for d in dims if d != dim]
        sets = (
            suppressed.groupby([out[c] for c in others])
            if others
            else suppressed.groupby(pd.Series(0, index=out.index))
        )
        for _, flags in sets:
            if len(flags) > 1 and flags.sum() == 1:
                return False
    return True


def test_default_protects_the_margins_across_settlements_too() -> None:
    table = cells(
        [3, 20, 8, 2, 1, 30],
        ["female", "male", "other", "female", "male", "other"],
        ["A", "A", "A", "B", "B", "B"],
    )
    out = suppress_small_cells(table)
    assert protected(out, ["settlement_id", "head_sex"])
    # male: B/male (1) is primary, so A/male (20) is complementary across settlements
    assert out.loc[1, "suppressed"] == "complementary"
    assert (out["suppressed"] == "fewer than 5 households").sum() == 3


def test_k_is_configurable() -> None:
    out = suppress_small_cells(cells([3, 20, 8], ["female", "male", "other"], ["A"] * 3), k=3)
    assert out["suppressed"].tolist() == ["", "", ""]


def test_single_cell_sets_say_the_total_identifies_them() -> None:
    table = cells([2, 40], ["female", "female"], ["A", "B"])
    out = suppress_small_cells(table, group_columns=["head_sex"])
    assert out["suppressed"].iloc[0] == "fewer than 5 households; total also identifies it"
    assert out["suppressed"].iloc[1] == ""
    # across settlements the two cells add up to the city's female cell: B goes too
    assert suppress_small_cells(table)["suppressed"].iloc[1] == "complementary"


def test_settlement_table_without_disaggregation_is_one_sibling_set() -> None:
    table = cells([2, 40, 12], ["all", "all", "all"], ["A", "B", "C"]).drop(columns="head_sex")
    out = suppress_small_cells(table)
    # settlements add up to the city total: the smallest other settlement goes too
    assert out["suppressed"].tolist() == ["fewer than 5 households", "", "complementary"]
    assert math.isnan(out["value"].iloc[2])


def test_two_way_table_is_protected_along_both_margins() -> None:
    # one settlement, head_sex x tenure; the (female, owner) cell is small.
    table = cells([2, 10, 11, 12], ["female", "female", "male", "male"], ["A"] * 4)
    table["tenure_type"] = ["owner", "tenant", "owner", "tenant"]
    out = suppress_small_cells(table, group_columns=["head_sex", "tenure_type"])
    assert protected(out, ["head_sex", "tenure_type"])
    assert (out["suppressed"] != "").sum() == 4
