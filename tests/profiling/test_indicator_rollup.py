"""Roll-ups: hand-computed shares, unknowns, intervals, sample weights, rounds, provenance."""

from __future__ import annotations

import io
import math
import time
from datetime import UTC, datetime

import numpy as np
import orjson
import pandas as pd
import pytest

import profiling
from profiling.indicators import (
    DEFAULT_REGISTRY,
    Indicator,
    PersonalDataError,
    change_between_rounds,
    progress_to_target,
    roll_up,
    to_csv_bytes,
    to_json_bytes,
    to_parquet_bytes,
    wilson_interval,
)
from tests.profiling.test_indicator_registry import households

FLAG_PEOPLE = Indicator("flag_people", "F", "d", "test", "share", "people", "flag", "known")
FLAG_HH = Indicator("flag_hh", "F", "d", "test", "share", "households", "flag", "known")


def units(flags: list[object], sizes: list[int], **extra: list[object]) -> pd.DataFrame:
    frame = pd.DataFrame({"flag": pd.array(flags, dtype="boolean"), "household_size": sizes})
    frame["settlement_id"] = "S1"
    frame["round"] = "2024-01-01"
    frame["upload_id"] = 7
    for name, values in extra.items():
        frame[name] = values
    return frame


def test_wilson_known_value() -> None:
    # 8 of 10: R prop.test(8, 10, correct = FALSE) -> 0.4901625 0.9433178
    lo, hi = wilson_interval(8, 10)
    assert float(lo) == pytest.approx(0.4901625, abs=1e-6)
    assert float(hi) == pytest.approx(0.9433178, abs=1e-6)
    lo0, hi0 = wilson_interval(0, 0)
    assert math.isnan(float(lo0)) and math.isnan(float(hi0))


def test_five_household_settlement_slum_population_by_hand() -> None:
    # slum: yes, no, yes, unknown, no; sizes 2, 6, 4, 3, 5
    hh = households(
        {"sanitation": "bucket"},
        {},
        {"wall_material": "mud"},
        {"water_source": None},
        {},
        sizes=[2, 6, 4, 3, 5],
    )
    row = roll_up(hh, DEFAULT_REGISTRY.get("sdg_11_1_1_slum_population")).iloc[0]
    # people in slum households 2 + 4 = 6; people with known status 2 + 6 + 4 + 5 = 17
    assert row["numerator"] == 6
    assert row["denominator"] == 17
    assert row["value"] == pytest.approx(6 / 17)
    assert (row["n_units"], row["unknown"]) == (5, 1)
    lo, hi = wilson_interval(2, 4)  # the household share behind the interval
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(lo), pytest.approx(hi))
    assert row["ci_method"] == "wilson_unweighted_households"
    assert row["settlement_id"] == "S1" and row["group"] == "settlement_id=S1"


def test_all_missing_answers() -> None:
    row = roll_up(units([None, None, None], [1, 2, 3]), FLAG_PEOPLE).iloc[0]
    assert math.isnan(row["value"]) and math.isnan(row["ci_low"]) and math.isnan(row["ci_high"])
    assert (row["n_units"], row["unknown"], row["denominator"]) == (3, 3, 0)


def test_missing_size_is_unknown_for_people_not_households() -> None:
    frame = units([True, False], [3, 1])
    frame["household_size"] = [np.nan, 4]
    people = roll_up(frame, FLAG_PEOPLE).iloc[0]
    assert (people["value"], people["unknown"], people["denominator"]) == (0.0, 1, 4)
    households_row = roll_up(frame, FLAG_HH).iloc[0]
    assert (households_row["value"], households_row["unknown"]) == (0.5, 0)


def test_single_household() -> None:
    row = roll_up(units([True], [4]), FLAG_PEOPLE).iloc[0]
    assert (row["value"], row["numerator"], row["denominator"], row["n_units"]) == (1, 4, 4, 1)
    # Wilson 1 of 1: lower = 1 / (1 + z^2)
    assert row["ci_low"] == pytest.approx(1 / (1 + 1.959963984540054**2))
    assert row["ci_high"] == pytest.approx(1.0)


def test_empty_input_gives_empty_table_with_columns() -> None:
    table = roll_up(units([], []), FLAG_PEOPLE)
    assert table.empty
    assert {"value", "denominator", "ci_low", "settlement_id", "round"} <= set(table.columns)
    city = roll_up(units([], []), FLAG_PEOPLE, by=())
    assert city.empty


def test_sample_weights_ratio_and_linearised_variance_by_hand() -> None:
    frame = units([True, False, None, True, False], [2, 6, 4, 3, 5], w=[10, 20, 10, 5, 5])
    row = roll_up(frame, FLAG_PEOPLE, sample_weight="w", by=()).iloc[0]
    # known units 1, 2, 4, 5: w*m = 20, 120, 15, 25 -> D = 180; N = 20 + 15 = 35
    assert (row["numerator"], row["denominator"]) == (35, 180)
    r = 35 / 180
    assert row["value"] == pytest.approx(r)
    # d_i = w m (x - R) / D (0 for the unknown unit, which stays a PSU of the domain);
    # V = n/(n-1) sum (d - mean d)^2 with n = 5 PSUs and mean d = 0
    d = np.array([20 * (1 - r), 120 * (0 - r), 0.0, 15 * (1 - r), 25 * (0 - r)]) / 180
    se = math.sqrt(5 / 4 * float((d**2).sum()))
    # by hand with R = 7/36: 6480 d = 580, -840, 0, 435, -175; sum of squares 1,261,850
    assert se == pytest.approx(math.sqrt(5 / 4 * 1_261_850) / 6480)
    assert se == pytest.approx(0.1938134, abs=1e-6)
    assert row["ci_high"] == pytest.approx(r + 1.959963984540054 * se)
    assert row["ci_low"] == 0.0  # r - 1.96 se < 0, clipped for a share
    assert row["ci_method"] == "taylor_linearised_ratio"
    assert (row["n_units"], row["unknown"]) == (5, 1)


def test_equal_sample_weights_give_the_census_value() -> None:
    frame = units([True, False, True, False], [1, 2, 3, 4], w=[5.0] * 4)
    census = roll_up(frame, FLAG_PEOPLE).iloc[0]
    sample = roll_up(frame, FLAG_PEOPLE, sample_weight="w").iloc[0]
    assert sample["value"] == pytest.approx(census["value"])
    assert sample["denominator"] == 5 * census["denominator"]


def test_disaggregation_adds_up_to_the_city_and_keeps_missing_keys() -> None:
    frame = units(
        [True, False, True, None, False, True],
        [1, 2, 3, 4, 5, 6],
        head_sex=["female", "male", None, "female", "male", "female"],
    )
    frame.loc[3:, "settlement_id"] = "S2"
    city = roll_up(frame, FLAG_PEOPLE, by=())
    assert len(city) == 1 and city.iloc[0]["group"] == ""
    cells = roll_up(frame, FLAG_PEOPLE, by=("settlement_id", "head_sex"))
    assert len(cells) == 5  # S1 female/male/NA, S2 female/male
    assert cells["numerator"].sum() == city.iloc[0]["numerator"] == 1 + 3 + 6
    assert cells["denominator"].sum() == city.iloc[0]["denominator"]
    assert cells["n_units"].sum() == 6
    assert "settlement_id=S1; head_sex=NA" in set(cells["group"])


def test_universe_scopes_the_denominator() -> None:
    frame = units([True, False, True], [1, 1, 1], slum=[True, True, False])
    ind = Indicator("s", "S", "d", "t", "share", "households", "flag", "slum hh", universe="slum")
    row = roll_up(frame, ind).iloc[0]
    assert (row["value"], row["n_units"], row["unknown"]) == (0.5, 2, 0)


def test_non_binary_values_have_no_census_interval() -> None:
    frame = units([True, True], [1, 1])
    frame["score"] = [0.5, 1.0]
    ind = Indicator("n", "N", "d", "t", "mean", "households", "score", "known")
    row = roll_up(frame, ind).iloc[0]
    assert row["value"] == 0.75 and math.isnan(row["ci_low"])


def test_rounds_change_and_progress() -> None:
    a = units([True, False, False, False], [1, 1, 1, 1])
    b = units([True, True, False, False], [1, 1, 1, 1])
    b["round"] = "2025-01-01"
    table = roll_up(pd.concat([b, a], ignore_index=True), FLAG_HH)
    assert list(table["round"]) == ["2024-01-01", "2025-01-01"]
    change = change_between_rounds(table)
    assert len(change) == 1
    first = change.iloc[0]
    assert (first["round_from"], first["round"]) == ("2024-01-01", "2025-01-01")
    assert first["change"] == pytest.approx(0.25)
    targets = pd.DataFrame(
        {
            "indicator_id": ["flag_hh"],
            "group": ["settlement_id=S1"],
            "baseline": [0.25],
            "baseline_year": [2024],
            "target": [0.75],
            "target_year": [2030],
        }
    )
    progress = progress_to_target(table, targets)
    assert progress["progress"].tolist() == pytest.approx([0.0, 0.5])


def test_provenance_fields() -> None:
    frame = units([True, False], [1, 1])
    frame["upload_id"] = [12, 3]
    when = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    slum = DEFAULT_REGISTRY.get("sdg_11_1_1_slum_population")
    hh = households({}, {"sanitation": "bucket"}, sizes=[1, 2])
    hh["upload_id"] = [12, 3]
    row = roll_up(hh, slum, parameters={"crowding_threshold": 2}, computed_at=when).iloc[0]
    assert row["indicator_id"] == slum.id and row["indicator_version"] == slum.version
    assert orjson.loads(row["parameters"])["crowding_threshold"] == 2
    assert row["upload_ids"] == "12,3"  # sorted as text
    assert row["rounds"] == "2024-01-01"
    assert row["computed_at"] == "2025-03-01T12:00:00+00:00"
    assert row["code_version"] == profiling.__version__
    assert roll_up(frame, FLAG_HH).iloc[0]["computed_at"].endswith("+00:00")


def test_personal_columns_refused() -> None:
    frame = units([True], [1], head_name=["Jane"])
    with pytest.raises(PersonalDataError, match="head_name"):
        roll_up(frame, FLAG_HH, by=("head_name",))
    with pytest.raises(PersonalDataError):
        to_csv_bytes(pd.DataFrame({"phone": ["1"]}))


def test_missing_group_column_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="tenure_type"):
        roll_up(units([True], [1]), FLAG_HH, by=("tenure_type",))


def test_output_formats() -> None:
    table = roll_up(units([None, None], [1, 1]), FLAG_HH)
    assert to_csv_bytes(table).decode().startswith("indicator_id,indicator_version,group")
    records = orjson.loads(to_json_bytes(table))
    assert records[0]["value"] is None and records[0]["unknown"] == 2
    back = pd.read_parquet(io.BytesIO(to_parquet_bytes(table)))
    assert list(back.columns) == list(table.columns)


@pytest.mark.slow
def test_million_households_roll_up_in_seconds() -> None:
    rng = np.random.default_rng(0)
    n = 1_000_000
    frame = pd.DataFrame(
        {
            "settlement_id": rng.integers(0, 200, n).astype(str),
            "round": "2024-01-01",
            "head_sex": rng.choice(["female", "male"], n),
            "tenure_type": rng.choice(["none", "occupancy", "leasehold", "customary"], n),
            "migration_status": rng.choice(["non_migrant", "migrant", "displaced"], n),
            "household_size": rng.integers(1, 9, n),
            "flag": pd.array(rng.random(n) < 0.4, dtype="boolean"),
            "upload_id": rng.integers(1, 4, n),
        }
    )
    frame.loc[frame.sample(frac=0.05, random_state=1).index, "flag"] = pd.NA
    start = time.perf_counter()
    table = roll_up(
        frame,
        FLAG_PEOPLE,
        by=("settlement_id", "head_sex", "tenure_type", "migration_status"),
    )
    elapsed = time.perf_counter() - start
    print(f"roll-up of {n} households into {len(table)} cells: {elapsed:.2f} s")
    assert table["n_units"].sum() == n
    assert elapsed < 10


def test_categorical_keys_and_no_round_column() -> None:
    frame = units([True, False, True], [1, 1, 1]).drop(columns="round")
    frame["hazard_class"] = pd.Categorical(["high", "low", "high"], categories=["low", "high", "x"])
    table = roll_up(frame, FLAG_HH, by=("hazard_class",), round_column=None)
    assert table["hazard_class"].astype(str).tolist() == ["low", "high"]  # empty "x" absent
    assert table["value"].tolist() == [0.0, 1.0]
    assert table["round"].isna().all() and (table["rounds"] == "").all()


def test_roll_up_many_equals_one_roll_up_per_grouping() -> None:
    """Values computed once and reused give the same rows as separate roll-ups."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from profiling.indicators import DEFAULT_REGISTRY, roll_up, roll_up_many  # noqa: PLC0415

    hh = pd.DataFrame(
        {
            "settlement_id": ["A", "A", "B", "B", "B"],
            "head_sex": ["female", "male", "female", "female", "male"],
            "round": "2024-01-01",
            "household_size": [3, 5, 2, 4, 6],
            "water_source": ["public_tap", "surface_water", "piped_yard", None, "borehole"],
            "water_trip_min": [10.0, 5.0, None, 20.0, 45.0],
        }
    )
    indicator = DEFAULT_REGISTRY.get("sdg_6_1_1_basic_water")
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    groupings = [(), ("settlement_id",), ("settlement_id", "head_sex")]
    many = roll_up_many(hh, indicator, groupings=groupings, computed_at=stamp)
    one_by_one = pd.concat(
        [roll_up(hh, indicator, by=by, computed_at=stamp) for by in groupings],
        ignore_index=True,
        sort=False,
    )
    pd.testing.assert_frame_equal(many, one_by_one)


def _brute_force_variance(
    frame: pd.DataFrame, z: np.ndarray, psu: str | None, strata: str | None
) -> float:
    """Sum over strata of n_h/(n_h-1) * sum over PSUs (z_hj - mean)^2, written with loops."""
    total = 0.0
    stratum_of = frame[strata] if strata else pd.Series("all", index=frame.index)
    psu_of = frame[psu] if psu else pd.Series(range(len(frame)), index=frame.index)
    for h in sorted(set(stratum_of)):
        rows = [i for i in range(len(frame)) if stratum_of.iloc[i] == h]
        sums: dict[object, float] = {}
        for i in rows:
            sums[psu_of.iloc[i]] = sums.get(psu_of.iloc[i], 0.0) + float(z[i])
        n = len(sums)
        if n > 1:
            mean = sum(sums.values()) / n
            total += n / (n - 1) * sum((v - mean) ** 2 for v in sums.values())
    return total


def test_clustered_stratified_ratio_variance_by_hand() -> None:
    flags = [True, False, True, True, False, False, True, False]
    frame = units(
        flags,
        [1, 2, 3, 1, 2, 2, 4, 1],
        w=[2.0, 2.0, 3.0, 3.0, 1.0, 1.0, 4.0, 4.0],
        cluster=["a", "a", "b", "b", "c", "d", "d", "e"],
        stratum=["N", "N", "N", "N", "S", "S", "S", "S"],
    )
    row = roll_up(frame, FLAG_PEOPLE, sample_weight="w", psu="cluster", strata="stratum", by=())
    row = row.iloc[0]
    wm = np.array([2, 4, 9, 3, 2, 2, 16, 4], dtype=float)
    x = np.array(flags, dtype=float)
    r = float((wm * x).sum() / wm.sum())  # (2 + 9 + 3 + 16) / 42
    assert row["value"] == pytest.approx(30 / 42) == pytest.approx(r)
    d = wm * (x - r) / wm.sum()
    # strata N: PSUs a, b (n=2); S: PSUs c, d, e (n=3)
    var = _brute_force_variance(frame, d, "cluster", "stratum")
    assert row["ci_high"] == pytest.approx(min(1.0, r + 1.959963984540054 * math.sqrt(var)))
    assert row["ci_low"] == pytest.approx(max(0.0, r - 1.959963984540054 * math.sqrt(var)))
    assert row["ci_method"] == "taylor_linearised_ratio"
    # clustering matters: treating each household as its own PSU gives another interval
    flat = roll_up(frame, FLAG_PEOPLE, sample_weight="w", by=()).iloc[0]
    assert flat["ci_low"] != pytest.approx(row["ci_low"])


def test_domain_variance_counts_every_psu_of_the_stratum() -> None:
    frame = units(
        [True, False, True, False],
        [1, 1, 1, 1],
        w=[1.0, 1.0, 1.0, 1.0],
        cluster=["a", "a", "b", "c"],
    )
    frame.loc[3, "settlement_id"] = "S2"  # S2 lives only in PSU c
    table = roll_up(frame, FLAG_HH, sample_weight="w", psu="cluster")
    s1 = table[table["settlement_id"] == "S1"].iloc[0]
    r = 2 / 3
    d = np.array([1 - r, 0 - r, 1 - r, 0.0]) / 3  # the S2 unit contributes 0
    var = _brute_force_variance(frame, d, "cluster", None)  # n_h = 3 PSUs, not 2
    assert s1["ci_low"] == pytest.approx(max(0.0, r - 1.959963984540054 * math.sqrt(var)))


def test_lonely_psu_stratum_adds_no_variance() -> None:
    frame = units([True, False], [1, 1], w=[1.0, 1.0], cluster=["a", "a"], stratum=["N", "N"])
    row = roll_up(frame, FLAG_HH, psu="cluster", strata="stratum", by=()).iloc[0]
    assert row["value"] == 0.5 and row["ci_low"] == row["ci_high"] == 0.5


def test_total_statistic_census_and_sample() -> None:
    count = Indicator(
        "people_flagged", "P", "d", "t", "people", "people", "flag", "known", statistic="total"
    )
    frame = units([True, False, None, True], [2, 6, 4, 3], w=[10.0, 20.0, 10.0, 5.0])
    census = roll_up(frame, count, by=()).iloc[0]
    assert census["value"] == 5 and census["ci_method"] == "census_exact"
    assert math.isnan(census["ci_low"])
    sample = roll_up(frame, count, sample_weight="w", by=()).iloc[0]
    assert sample["value"] == 2 * 10 + 3 * 5
    z = np.array([20.0, 0.0, 0.0, 15.0])  # w m x, 0 for the unknown unit
    var = 4 / 3 * float(((z - z.mean()) ** 2).sum())
    assert sample["ci_high"] == pytest.approx(35 + 1.959963984540054 * math.sqrt(var))
    assert sample["ci_low"] == pytest.approx(max(0.0, 35 - 1.959963984540054 * math.sqrt(var)))
    assert sample["ci_method"] == "design_based_total"
