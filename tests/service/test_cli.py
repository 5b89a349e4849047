"""The geo-service command line: exit codes, one-line errors, ingest / layers / export."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from geo_service.cli import app
from geo_service.servicedb import ServiceDB
from geo_service.storage import GeoPackageStore

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("wide_cli")

SETTLEMENTS = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"settlement_id": "S1", "name": "Shauri"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [[36.8, -1.301], [36.801, -1.301], [36.801, -1.3], [36.8, -1.3], [36.8, -1.301]]
                ],
            },
        }
    ],
}


@pytest.fixture
def settlements(tmp_path: Path) -> Path:
    path = tmp_path / "villages.json"  # the extension says nothing: content decides
    path.write_text(json.dumps(SETTLEMENTS))
    return path


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_validate_detects_format_and_layer_and_says_so(settlements, tmp_path):
    code, out, err = _run("validate", str(settlements), "--store", str(tmp_path / "s.gpkg"))
    assert code == 0, err
    assert "canonical names of layer 'settlements'" in err
    assert "0 error(s)" in out


def test_validate_json_and_exit_code_on_errors(tmp_path):
    path = tmp_path / "sp.geojson"
    bad = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"service_id": "a", "service_type": "spaceport"},
                "geometry": {"type": "Point", "coordinates": [36.8, -1.3]},
            }
        ],
    }
    path.write_text(json.dumps(bad))
    code, out, _ = _run(
        "validate",
        str(path),
        "--layer",
        "service_points",
        "--json",
        "--store",
        str(tmp_path / "s.gpkg"),
    )
    assert code == 1
    report = json.loads(out)
    assert report["valid"] is False
    assert any(p["rule"] == "unknown_code" and p["row"] == 1 for p in report["problems"])


def test_errors_are_one_line_not_a_traceback(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    code, out, err = _run("ingest", str(empty), "--store", str(tmp_path / "s.gpkg"))
    assert code == 2
    assert "Traceback" not in out + err
    assert err.strip().startswith("error:") and len(err.strip().splitlines()) == 1


def test_ingest_layers_export_and_duplicate(settlements, tmp_path):
    store = str(tmp_path / "s.gpkg")
    code, out, err = _run("ingest", str(settlements), "--layer", "settlements", "--store", store)
    assert code == 0, err
    assert "stored upload 1: 1 settlements row(s)" in out
    code, out, _ = _run("ingest", str(settlements), "--layer", "settlements", "--store", store)
    assert code == 0 and "already stored as upload 1" in out
    code, out, _ = _run("layers", "--store", store)
    assert code == 0 and "settlements" in out
    dest = tmp_path / "export.geojson"
    code, out, _ = _run("export", "settlements", str(dest), "--store", store)
    assert code == 0 and "wrote 1 settlements row(s)" in out
    exported = json.loads(dest.read_text())
    assert exported["features"][0]["properties"]["settlement_id"] == "S1"
    code, out, _ = _run("uploads", "--store", store)
    assert code == 0 and "villages.json" in out


def test_mappings_lists_bundled_forms():
    code, out, _ = _run("mappings")
    assert code == 0
    assert "demo_households" in out and "kianda_structures" in out


@pytest.mark.slow
def test_sigkill_during_ingest_leaves_all_or_nothing(tmp_path):
    """Kill ``geo-service ingest`` while it writes; after restart the upload is whole or absent.

    The kill lands once the write-ahead log has grown past a threshold, i.e. inside the
    upload's transaction; a last run without a kill stores everything.
    """
    from sample_data.generate import generate_households_csv  # noqa: PLC0415

    csv = tmp_path / "hh.csv"
    generate_households_csv(csv, 120_000, seed=3)
    store = tmp_path / "s.gpkg"
    wal = Path(f"{store}-wal")
    env = {**os.environ, "GEO_SERVICE_STORE_PATH": str(store)}
    cmd = [
        sys.executable,
        "-m",
        "geo_service.cli",
        "ingest",
        str(csv),
        "--mapping",
        "demo_households",
        "--skip-invalid-rows",
    ]
    killed_mid_write = 0
    for threshold in (1 << 20, 16 << 20):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if wal.exists() and wal.stat().st_size > threshold:
                proc.send_signal(signal.SIGKILL)
                killed_mid_write += 1
                break
            time.sleep(0.01)
        proc.wait()
        with GeoPackageStore(store) as db:
            uploads = db.uploads()
            rows = db.counts().get("households", 0)
        assert uploads == [] and rows == 0  # the killed transaction left nothing
    assert killed_mid_write == 2
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    with GeoPackageStore(store) as db:
        (upload,) = db.uploads()
        assert db.counts()["households"] == upload.rows > 100_000


def test_commands_on_household_rows_write_audit_lines(tmp_path, monkeypatch):
    from tests.service.test_ingestion import MAPPING, ROWS, _households, _settlements  # noqa: PLC0415

    store = ["--store", str(tmp_path / "s.gpkg")]
    mapping = tmp_path / "tiny.toml"
    mapping.write_text(MAPPING)
    assert _run("ingest", str(_settlements(tmp_path)), "--layer", "settlements", *store)[0] == 0
    households = _households(tmp_path, ROWS)
    ingest = ["ingest", str(households), "--layer", "households", "--mapping", str(mapping)]
    assert _run(*ingest, "--round", "2024-03-01", *store)[0] == 0
    assert _run(*ingest, "--round", "2024-03-01", *store)[0] == 0  # a no-op: no line
    # settlements are not household-level: no line
    assert _run("export", "settlements", str(tmp_path / "s.geojson"), *store)[0] == 0
    code, _, err = _run("export", "households", str(tmp_path / "h.csv"), "-s", "S1", *store)
    assert code == 0, err
    lines = ServiceDB(tmp_path / "s.service.sqlite").audit_log()
    assert [(x["role"], x["key_id"], x["action"], x["resource"]) for x in reversed(lines)] == [
        ("cli", None, "upload", "uploads/1"),
        ("cli", None, "upload", "uploads/2"),
        ("cli", None, "read", "export/households"),
    ]
    assert lines[0]["detail"]["rows"] == 3 and lines[0]["detail"]["settlement"] == "S1"
    assert lines[0]["detail"]["user"] and lines[1]["detail"]["original_name"] == households.name

    # no household rows leave without their audit line
    def locked(*args, **kwargs):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(ServiceDB, "audit", locked)
    dest = tmp_path / "again.csv"
    code, _, err = _run("export", "households", str(dest), *store)
    assert code == 2 and "could not write the audit log" in err
    assert not dest.exists()
