"""Structure indicators on the real Kibera Kianda enumeration, checked against the source."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyogrio
import pytest

from profiling.indicators import wilson_interval
from profiling.indicators.structures import (
    STRUCTURE_REGISTRY,
    inconsistent_structures,
    roll_up_structures,
    totals,
)
from tests.realdata import real_file

SHP = "kibera_kianda/Shapefiles/Kianda/Population/kianda_structures_and_population_dataset.shp"
SOURCE = {
    "households": "HOUSEHOLD",
    "population": "POP",
    "households_water": "WATER",
    "households_toilet": "TOILET",
    "households_electricity": "ELECT",
    "owner_households": "OWNER",
}
SHARES = {
    "structure_households_water": "WATER",
    "structure_households_toilet": "TOILET",
    "structure_households_electricity": "ELECT",
    "structure_owner_occupiers": "OWNER",
}
STAMP = datetime(2026, 1, 1, tzinfo=UTC)


def _tiny() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "settlement_id": ["A", "A", "A", "B", "B"],
            "round": ["r1"] * 5,
            "upload_id": [1, 1, 2, 3, 3],
            "households": [2, 4, 0, 0, 3],
            "population": [5, 9, 0, 1, None],
            "households_water": [1, 4, 0, 2, None],
            "households_toilet": [0, 0, 0, 0, 0],
            "households_electricity": [2, 1, 0, 0, 3],
            "owner_households": [1, 0, 0, 0, 1],
        }
    )


def test_structure_share_hand_computed():
    table = roll_up_structures(
        _tiny(), STRUCTURE_REGISTRY.get("structure_households_water"), computed_at=STAMP
    )
    a, b = table.iloc[0], table.iloc[1]
    # A: (1 + 4 + 0) / (2 + 4 + 0); the empty structure (0/0) is not unknown.
    assert (a["numerator"], a["denominator"], a["unknown"], a["n_units"]) == (5, 6, 0, 3)
    assert a["value"] == pytest.approx(5 / 6, abs=1e-15)
    # B: 2 water over 0 households is kept in the numerator, as the source's sums keep it
    # (inconsistent_structures flags it); the structure with a missing count is unknown.
    assert (b["numerator"], b["denominator"], b["unknown"], b["n_units"]) == (2, 0, 1, 2)
    assert np.isnan(b["value"])
    assert inconsistent_structures(_tiny(), "households_water").tolist() == [
        False, False, False, True, False,
    ]  # fmt: skip
    assert a["upload_ids"] == "1,2" and a["round"] == "r1"
    # Census of households: Wilson interval on 5 of 6 households.
    lo, hi = wilson_interval(5, 6)
    assert (a["ci_low"], a["ci_high"]) == (pytest.approx(lo), pytest.approx(hi))
    assert a["ci_method"] == "wilson_counts"


def test_structure_share_empty_and_all_zero():
    empty = _tiny().iloc[:0]
    ind = STRUCTURE_REGISTRY.get("structure_households_toilet")
    assert roll_up_structures(empty, ind, by=(), computed_at=STAMP).empty
    city = roll_up_structures(_tiny(), ind, by=(), computed_at=STAMP).iloc[0]
    assert (city["value"], city["numerator"], city["denominator"]) == (0.0, 0.0, 9.0)


def test_totals_hand_computed():
    t = totals(_tiny(), computed_at=STAMP)
    assert t["group"].tolist() == ["settlement_id=A", "settlement_id=B"]
    assert t["households"].tolist() == [6.0, 3.0]
    assert t["population"].tolist() == [14.0, 1.0]
    assert t["missing_population"].tolist() == [0, 1]
    assert t["households_water"].tolist() == [5.0, 2.0]  # every structure counted
    assert t["upload_ids"].tolist() == ["1,2", "3"]
    assert t["n_units"].tolist() == [3, 2]
    city = totals(_tiny(), by=(), computed_at=STAMP)
    assert city.loc[0, "households"] == 9.0 and city.loc[0, "group"] == ""


def test_structure_definitions_are_documented():
    records = STRUCTURE_REGISTRY.to_records()
    assert len(records) == 4
    for record in records:
        assert "households" in record["numerator"] and record["unit"] == "share"


@pytest.fixture(scope="module")
def kianda() -> tuple[pd.DataFrame, pd.DataFrame]:
    raw = pyogrio.read_dataframe(real_file(SHP))
    if raw.crs is None:  # no .prj in the source
        raw = raw.set_crs(4326)
    source = pd.DataFrame(raw.drop(columns="geometry"))
    canonical = pd.DataFrame({c: source[s] for c, s in SOURCE.items()})
    canonical["settlement_id"] = "KIB8"
    return source, canonical


@pytest.mark.realdata
def test_totals_equal_the_source(kianda):
    source, canonical = kianda
    city = totals(canonical, by=(), computed_at=STAMP).iloc[0]
    assert city["population"] == 15_207 == source["POP"].sum()
    assert city["households"] == 4_560 == source["HOUSEHOLD"].sum()
    assert city["n_units"] == len(source) == 1_510
    per = totals(canonical, by=("settlement_id",), computed_at=STAMP)
    assert per["group"].tolist() == ["settlement_id=KIB8"]
    assert per.loc[0, "population"] == 15_207 and per.loc[0, "households"] == 4_560
    assert per.loc[0, "computed_at"] == "2026-01-01T00:00:00+00:00"


@pytest.mark.realdata
def test_shares_equal_ratio_of_source_sums(kianda):
    source, canonical = kianda
    hh = source["HOUSEHOLD"]
    city = totals(canonical, by=(), computed_at=STAMP).iloc[0]
    rows = []
    for ind_id, col in SHARES.items():
        canon = next(c for c, s in SOURCE.items() if s == col)
        expected = source[col].sum() / hh.sum()
        # Exact totals: every structure, as the source's own sum(X) / sum(HOUSEHOLD).
        share_all = city[canon] / city["households"]
        assert abs(share_all - expected) < 1e-12
        # Roll-up (ratio of sums, m = households): the source's own share, every structure.
        table = roll_up_structures(
            canonical, STRUCTURE_REGISTRY.get(ind_id), by=(), computed_at=STAMP
        )
        row = table.iloc[0]
        assert abs(row["value"] - expected) < 1e-12
        assert row["numerator"] == source[col].sum()
        assert row["denominator"] == hh.sum()
        assert (row["unknown"], row["n_units"]) == (0, len(source))
        inconsistent = inconsistent_structures(canonical, canon)
        rows.append(
            {
                "indicator": ind_id,
                "value": row["value"],
                "numerator": row["numerator"],
                "denominator": row["denominator"],
                "ci_low": row["ci_low"],
                "ci_high": row["ci_high"],
                "inconsistent_structures": int(inconsistent.sum()),
                "their_households_x": source.loc[inconsistent.to_numpy(), col].sum(),
            }
        )
    rows.extend(
        {
            "indicator": f"total_{total}",
            "value": city[total],
            "numerator": city[total],
            "denominator": float("nan"),
        }
        for total in ("population", "households")
    )
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print("\nKianda (KIB8) indicator table\n" + pd.DataFrame(rows).to_string(index=False))
