"""The demo city end to end: every injected error is found at its row; the rest is stored."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from geo_service.demo import run_demo
from geo_service.settings import Settings
from geo_service.storage import GeoPackageStore

# Injected error kind -> the rule that must report it on the same row.
EXPECTED_RULE = {
    "swapped_lat_lon": "latlon_swapped",
    "outside_settlement": "outside_settlement",
    "gps_low_precision": "gps_precision",
    "duplicate_uuid": "duplicate_uuid",
    "unknown_code": "unmapped_value",
    "toilet_users_exceed_size": "inconsistent_counts",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Settings, dict]:
    root = tmp_path_factory.mktemp("demo")
    settings = Settings(store_path=root / "demo.gpkg")
    summary = run_demo(root / "city", settings=settings, households=3_000, seed=11)
    return root / "city", settings, summary


def test_every_injected_error_is_reported_at_its_row(demo):
    city, settings, _ = demo
    injected = json.loads((city / "injected_errors.json").read_text())["errors"]
    with GeoPackageStore(settings.store_path) as store:
        uploads = {u.original_name: u for u in store.uploads()}
        report = store.get_upload(uploads["households_kobo.csv"].upload_id).report
    found = {(p["row"], p["rule"]) for p in report["problems"]}
    for error in injected:
        rule = EXPECTED_RULE.get(error["kind"])
        if rule is not None:
            assert (error["row"], rule) in found, error


def test_rows_with_errors_are_set_aside_the_rest_stored(demo):
    _, settings, summary = demo
    households = summary["files"]["households_kobo.csv"]
    assert households["errors"] > 0
    assert households["rows"] + households["set_aside"]["households"] == 3_000
    with GeoPackageStore(settings.store_path) as store:
        layers = {i.name: i.rows for i in store.list_layers()}
        kinds = {r.kind for r in store.rasters()}
        rounds = store.rounds()
    # One enumeration round, dated, for each enumerated settlement.
    assert {(r.round, r.date) for r in rounds} == {("2024-02-05", "2024-02-05")}
    assert len(rounds) == 6
    assert layers["households"] == households["rows"]
    assert layers["settlements"] == 8 and layers["structures"] > 1_000
    assert {"flood_depth", "built_up_epoch"} <= kinds


def test_formula_text_is_stored_as_text_and_defused_on_export(demo, tmp_path):
    city, settings, _ = demo
    injected = json.loads((city / "injected_errors.json").read_text())["errors"]
    formula = next(e for e in injected if e["kind"] == "formula_in_text")
    with GeoPackageStore(settings.store_path) as store:
        frame = store.read_layer("households")
        row = frame.loc[frame["source_row"] == formula["row"]]
        assert formula["value"] in json.loads(row["attributes"].item()).values()
        store.export("households", tmp_path / "hh.csv", fmt="csv")
    with (tmp_path / "hh.csv").open(encoding="utf-8", newline="") as f:
        cells = [c for row in csv.reader(f) for c in row]
    risky = [c for c in cells if c[:1] in {"=", "+", "-", "@"} and not _is_number(c)]
    assert risky == []


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_demo_again_is_a_no_op(demo):
    city, settings, _ = demo
    with GeoPackageStore(settings.store_path) as store:
        before = store.snapshot()
    again = run_demo(city, settings=settings, households=3_000, seed=11)
    assert all(f["duplicate"] for f in again["files"].values())
    with GeoPackageStore(settings.store_path) as store:
        assert store.snapshot() == before
