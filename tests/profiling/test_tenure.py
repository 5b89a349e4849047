"""Tenure: continuum position, SDG 1.4.2 components, secure tenure, owner / renter shares."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiling import codelists as cl
from profiling.tenure import (
    documented_security,
    eviction_threat_summary,
    owner_renter_shares,
    perceived_security,
    secure_tenure,
    tenure_position,
)
from tests.realdata import real_file

NA = pd.NA


def hh(**cols: list[object]) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    return pd.DataFrame(cols, index=pd.Index([f"h{i}" for i in range(n)], name="household_id"))


def as_list(s: pd.Series) -> list[object]:
    return [None if v is NA else bool(v) for v in s]


def test_tenure_position_follows_code_list_order() -> None:
    codes = [c for c, v in cl.TENURE_TYPES.items() if v.group != "unknown"]
    frame = hh(tenure_type=[*codes, "other", None, "not_a_code"])
    out = tenure_position(frame)
    assert out.name == "tenure_position"
    assert out.index.equals(frame.index)
    assert out.iloc[: len(codes)].tolist() == list(range(len(codes)))
    assert out.iloc[len(codes) :].isna().all()


def test_documented_security_every_document_group() -> None:
    frame = hh(
        tenure_document=["title_deed", "rent_agreement", "sale_agreement", "none", "other", None]
    )
    out = documented_security(frame)
    assert out.name == "documented_security"
    assert str(out.dtype) == "boolean"
    assert as_list(out) == [True, True, False, False, None, None]


def test_perceived_security_fallback_rule() -> None:
    frame = hh(
        tenure_secure_perceived=[True, False, None, None, None],
        eviction_threat=[True, None, True, False, None],
    )
    assert as_list(perceived_security(frame)) == [True, False, False, None, None]
    no_fallback = perceived_security(frame, fallback_on_eviction_threat=False)
    assert as_list(no_fallback) == [True, False, None, None, None]


def test_secure_tenure_rules() -> None:
    frame = hh(
        tenure_document=["lease", "none", "none", "none", None, "none", None],
        tenure_type=["occupancy", "leasehold", "customary", "informal_rental", None, None, "other"],
        tenure_secure_perceived=[None, None, True, True, None, None, None],
    )
    assert as_list(secure_tenure(frame)) == [True, True, False, False, None, None, None]
    wide = secure_tenure(frame, rule="documented_or_formal_or_perceived")
    assert as_list(wide) == [True, True, True, True, None, None, None]
    with pytest.raises(ValueError, match="rule"):
        secure_tenure(frame, rule="anything")  # type: ignore[arg-type]


def test_missing_columns_are_unknown_not_insecure() -> None:
    frame = hh(settlement_id=["a", "b"])
    assert secure_tenure(frame).isna().all()
    assert perceived_security(frame).isna().all()


def test_owner_renter_shares_households() -> None:
    frame = hh(
        settlement_id=["a", "a", "a", "a", "b", "b"],
        tenure_type=["informal_rental", "formal_rental", "leasehold", None, "none", "customary"],
    )
    out = owner_renter_shares(frame)
    a, b = out.loc["a"], out.loc["b"]
    assert (a.households, a.renters, a.owner_occupiers, a.unknown) == (3, 2, 1, 1)
    assert a.renter_share == pytest.approx(2 / 3)
    assert a.owner_occupier_share == pytest.approx(1 / 3)
    # 'none' (no rights) is neither renter nor owner-occupier but is a known answer
    assert (b.households, b.renters, b.owner_occupiers) == (2, 0, 1)
    total = owner_renter_shares(frame, by=None)
    assert total.index.tolist() == ["all"]


def test_owner_renter_shares_structures() -> None:
    s = pd.DataFrame(
        {
            "settlement_id": ["k", "k", "k", "k"],
            "owner_households": pd.array([1, 0, 2, None], dtype="Int64"),
            "households": pd.array([4, 6, 1, 3], dtype="Int64"),
        }
    )
    before = s.copy()
    out = owner_renter_shares(s).loc["k"]
    # sums over structures with both counts: owners 1+0+2 = 3, households 4+6+1 = 11
    assert out.owner_occupier_share == pytest.approx(3 / 11)
    assert out.renter_share == pytest.approx(8 / 11)
    assert (out.unknown, out.inconsistent) == (1, 1)
    pd.testing.assert_frame_equal(s, before)
    with pytest.raises(KeyError, match="tenure_type"):
        owner_renter_shares(s[["settlement_id"]])


def test_eviction_threat_summary() -> None:
    frame = hh(
        settlement_id=["a", "a", "a", "b"],
        eviction_threat=[True, False, None, None],
        tenure_secure_perceived=[None, True, None, False],
        tenure_document=["none", "title_deed", None, None],
    )
    out = eviction_threat_summary(frame)
    a = out.loc["a"]
    assert (a.households, a.threat_known, a.threatened) == (3, 2, 1)
    assert a.threatened_share == 0.5
    # perceived: h0 False (threat fallback), h1 True → 1 insecure of 2 known
    assert (a.perceived_known, a.perceived_insecure_share) == (2, 0.5)
    assert (a.documented_known, a.documented_share) == (2, 0.5)
    assert np.isnan(out.loc["b", "threatened_share"])


tenure_codes = st.sampled_from([*cl.TENURE_TYPES, None])
doc_codes = st.sampled_from([*cl.TENURE_DOCUMENTS, None])
maybe_bool = st.sampled_from([True, False, None])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(tenure_codes, doc_codes, maybe_bool, maybe_bool), min_size=1, max_size=20)
)
def test_secure_tenure_properties(rows: list[tuple[object, ...]]) -> None:
    frame = pd.DataFrame(
        rows,
        columns=["tenure_type", "tenure_document", "tenure_secure_perceived", "eviction_threat"],
    )
    frame["tenure_secure_perceived"] = frame["tenure_secure_perceived"].astype("boolean")
    frame["eviction_threat"] = frame["eviction_threat"].astype("boolean")
    before = frame.copy()
    narrow = secure_tenure(frame)
    wide = secure_tenure(frame, rule="documented_or_formal_or_perceived")
    pd.testing.assert_frame_equal(frame, before)
    assert narrow.index.equals(frame.index)
    # the wider rule never makes a secure household insecure
    assert not (narrow.fillna(False) & ~wide.fillna(True)).any()
    # documented → secure under every rule
    assert narrow[documented_security(frame).fillna(False)].all()


@pytest.mark.realdata
def test_kianda_owner_occupier_share() -> None:
    pyogrio = pytest.importorskip("pyogrio")

    path = real_file(
        "kibera_kianda/Shapefiles/Kianda/Population/kianda_structures_and_population_dataset.shp"
    )
    raw = pyogrio.read_dataframe(path, columns=["OWNER", "HOUSEHOLD"], read_geometry=False)
    structures = pd.DataFrame(
        {
            "settlement_id": "kianda",
            "owner_households": raw["OWNER"].astype("Int64"),
            "households": raw["HOUSEHOLD"].astype("Int64"),
        }
    )
    out = owner_renter_shares(structures)
    print("\n", out.to_string())
    # independently: raw.OWNER.sum() = 210, raw.HOUSEHOLD.sum() = 4560 (1510 structures)
    assert len(raw) == 1510
    assert out.loc["kianda", "owner_occupiers"] == raw["OWNER"].sum() == 210
    assert out.loc["kianda", "households"] == raw["HOUSEHOLD"].sum() == 4560
    assert out.loc["kianda", "owner_occupier_share"] == pytest.approx(210 / 4560)
    # 17 structures list more owner households than households: kept, and reported
    assert out.loc["kianda", "inconsistent"] == (raw["OWNER"] > raw["HOUSEHOLD"]).sum() == 17
