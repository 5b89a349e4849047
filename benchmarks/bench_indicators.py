"""Benchmark: every default indicator for 1,000,000 households in 200 settlements.

Each indicator of :data:`profiling.indicators.DEFAULT_REGISTRY` is rolled up for the city, per
settlement, and per settlement crossed with each of three disaggregations (``head_sex``,
``tenure_type``, ``migration_status``): five roll-ups per indicator. Prints the time per
indicator and the total (target: under 10 s), in two modes:

``per-grouping``
    :func:`roll_up` called once per grouping: the per-unit values (e.g. the five
    deprivations) are recomputed by every call, five times per indicator.
``many``
    :func:`roll_up_many` inside :func:`shared_work`, as
    :func:`profiling.indicators.indicator_table` runs them: the per-unit values computed once
    per indicator and reused by the five groupings, the five deprivations computed once for
    every indicator that reads them. Results are checked equal.

The households carry every column the registry reads, including the joined ``hazard_class``
and service distances, so no indicator is skipped.

Run: ``.venv/bin/python benchmarks/bench_indicators.py [--households N] [--settlements S]``.
"""

from __future__ import annotations

import argparse
import time
from contextlib import nullcontext
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from profiling.indicators import DEFAULT_REGISTRY, roll_up, roll_up_many, shared_work

GROUPINGS: tuple[tuple[str, ...], ...] = (
    (),
    ("settlement_id",),
    ("settlement_id", "head_sex"),
    ("settlement_id", "tenure_type"),
    ("settlement_id", "migration_status"),
)
"""City, settlement, and settlement x each of the three disaggregations."""


def _choice(
    rng: np.random.Generator, codes: list[str | None], n: int, p: list[float] | None = None
) -> pd.Series:
    values = np.array(codes, dtype=object)[rng.choice(len(codes), size=n, p=p)]
    return pd.Series(values, dtype=object)


def households(n: int, settlements: int, *, seed: int = 0) -> pd.DataFrame:
    """``n`` canonical households with every field the default indicators read.

    Parameters
    ----------
    n : int
        Households.
    settlements : int
        Settlements (``S001``...), uniformly assigned.
    seed : int, keyword-only
        Random seed.

    Returns
    -------
    pandas.DataFrame
        Canonical household columns, with some missing answers (unknowns).
    """
    rng = np.random.default_rng(seed)

    def maybe_na(values: np.ndarray, share: float) -> np.ndarray:
        out = values.astype(float)
        out[rng.random(n) < share] = np.nan
        return out

    def nullable_bool(share_true: float, share_na: float) -> pd.Series:
        values = pd.array(rng.random(n) < share_true, dtype="boolean")
        values[rng.random(n) < share_na] = pd.NA
        return pd.Series(values)

    return pd.DataFrame(
        {
            "settlement_id": pd.Series(
                [f"S{i:03d}" for i in rng.integers(0, settlements, n)], dtype=object
            ),
            "round": "2024-02-05",
            "upload_id": rng.integers(1, 20, n),
            "household_size": pd.array(rng.integers(1, 11, n), dtype="Int64"),
            "adults": pd.array(rng.integers(1, 5, n), dtype="Int64"),
            "sleeping_rooms": pd.array(rng.integers(1, 4, n), dtype="Int64"),
            "head_sex": _choice(rng, ["male", "female", "other", None], n, [0.6, 0.37, 0.01, 0.02]),
            "migration_status": _choice(
                rng, ["non_migrant", "internal_migrant", "refugee", "idp", None], n
            ),
            "tenure_type": _choice(
                rng,
                ["informal_rental", "occupancy", "formal_rental", "leasehold", "other", None],
                n,
            ),
            "tenure_document": _choice(
                rng, ["none", "rent_agreement", "title_deed", "chief_letter", "other", None], n
            ),
            "tenure_secure_perceived": nullable_bool(0.4, 0.1),
            "eviction_threat": nullable_bool(0.2, 0.05),
            "water_source": _choice(
                rng,
                ["water_kiosk", "public_tap", "piped_yard", "surface_water", "other", None],
                n,
            ),
            "water_trip_min": maybe_na(rng.integers(0, 90, n), 0.1),
            "water_available": nullable_bool(0.7, 0.05),
            "sanitation": _choice(
                rng, ["pit_slab", "pit_no_slab", "flush_sewer", "open_defecation", None], n
            ),
            "toilet_shared": nullable_bool(0.6, 0.1),
            "toilet_sharing_households": maybe_na(rng.integers(1, 15, n), 0.3),
            "wall_material": _choice(rng, ["iron_sheets", "mud", "cement_blocks", None], n),
            "roof_material": _choice(rng, ["iron_sheets", "thatch", "cement", None], n),
            "floor_material": _choice(rng, ["cement", "earth_sand", "tiles", None], n),
            "handwashing": _choice(rng, ["fixed", "mobile", "none", "not_observed", None], n),
            "handwashing_water": nullable_bool(0.8, 0.05),
            "handwashing_soap": nullable_bool(0.6, 0.05),
            "waste_disposal": _choice(
                rng, ["collected_door", "communal_point", "burned", "dumped_open", None], n
            ),
            "waste_collections_per_week": maybe_na(rng.integers(0, 4, n), 0.2),
            "hazard_class": _choice(rng, ["none", "low", "medium", "high", None], n),
            "water_point_m": maybe_na(rng.gamma(2.0, 150.0, n), 0.01),
            "toilet_m": maybe_na(rng.gamma(2.0, 30.0, n), 0.01),
            "transit_stop_m": maybe_na(rng.gamma(2.0, 300.0, n), 0.01),
            "open_space_m": maybe_na(rng.gamma(2.0, 250.0, n), 0.01),
        }
    )


def _run(mode: str, units: pd.DataFrame, stamp: datetime, tables: list[pd.DataFrame]) -> float:
    """Roll every indicator up in ``mode``; append the tables, print and return the time."""
    total = 0.0
    for indicator in DEFAULT_REGISTRY:
        start = time.perf_counter()
        if mode == "per-grouping":
            parts = [roll_up(units, indicator, by=by, computed_at=stamp) for by in GROUPINGS]
            tables.append(pd.concat(parts, ignore_index=True, sort=False))
        else:
            tables.append(roll_up_many(units, indicator, groupings=GROUPINGS, computed_at=stamp))
        elapsed = time.perf_counter() - start
        total += elapsed
        print(f"{indicator.id:40s} {elapsed:7.2f} s")
    return total


def main() -> None:
    """Generate, roll up every default indicator by the five groupings, print timings."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--households", type=int, default=1_000_000)
    parser.add_argument("--settlements", type=int, default=200)
    parser.add_argument("--mode", choices=["per-grouping", "many", "both"], default="both")
    args = parser.parse_args()

    t0 = time.perf_counter()
    units = households(args.households, args.settlements)
    print(f"generated {len(units):,} households in {time.perf_counter() - t0:.2f} s")
    stamp = datetime.now(UTC)
    modes = ["many", "per-grouping"] if args.mode == "both" else [args.mode]
    results: dict[str, list[pd.DataFrame]] = {}
    totals: dict[str, float] = {}
    for mode in modes:
        print(f"-- mode {mode}: city + settlement + settlement x 3 disaggregations")
        tables: list[pd.DataFrame] = []
        with shared_work() if mode == "many" else nullcontext():
            totals[mode] = _run(mode, units, stamp, tables)
        rows = sum(len(t) for t in tables)
        verdict = "met" if totals[mode] < 10 else "NOT met"
        print(f"{'total':40s} {totals[mode]:7.2f} s  ({rows:,} rows; target < 10 s: {verdict})")
        results[mode] = tables
    if len(results) == 2:
        stats = ["value", "numerator", "denominator", "n_units", "unknown"]
        for a, b in zip(results["per-grouping"], results["many"], strict=True):
            pd.testing.assert_frame_equal(a[stats], b[stats])
        ratio = totals["per-grouping"] / totals["many"]
        print(f"both modes give identical statistics; many is {ratio:.1f}x faster")


if __name__ == "__main__":
    main()
