"""A bounded load test: reads and uploads together on a real server, from a second process.

The load (stated, and asserted to run without a single error)
    **10 s, 3 read workers without pause, 1 upload every 4 s (3 uploads: 10 households, 5
    service points, 10 households)** (:data:`DURATION_S`, :data:`READ_WORKERS`,
    :data:`UPLOAD_INTERVAL_S`). The service runs as ``uvicorn`` (one process, default
    settings: one job worker) on 127.0.0.1 on a private copy of the session's 300-household
    demo store. The load client (``_load_client.py``, httpx, a separate Python process)
    runs the read threads, each cycling round-robin through :data:`READS`: OGC items with
    ``bbox`` / ``limit`` (public service points, planner households, the owning federation's
    households as CSV), the city indicators as JSON (public) and CSV by settlement
    (planner), the settlement profile (public) and the settlement map page (planner); and
    one upload thread sending a small valid file of the owning federation to its settlement
    ``mtoni``: alternately a Kobo CSV of :data:`HOUSEHOLDS_PER_UPLOAD` new households and a
    GeoJSON of :data:`POINTS_PER_UPLOAD` new service points. Every upload
    triggers the indicator recompute of the city (a follow-up job), and every new data
    version makes the cached indicator tables, profiles and maps be computed again, so the
    reads keep meeting cold caches. Acknowledged jobs are polled to completion (their
    follow-ups too) for at most :data:`DRAIN_S` seconds after the window.

What is checked
    - zero errors: no transport error (refused, reset, timeout after
      :data:`REQUEST_TIMEOUT_S`), no 5xx, no unexpected status (every read 200, every upload
      202), nothing in the server log at ERROR level or a traceback;
    - every read kind was sent at least once and every due upload was sent;
    - the server (``--log-level debug``, access log on) logged none of the keys the client
      sent in its ``Authorization`` headers;
    - every acknowledged upload ended ``succeeded`` with the number of rows sent, and so did
      its follow-up recompute;
    - nothing lost or duplicated: afterwards each uploaded household and service point is
      served exactly once by the items endpoint, the settlement's counts are the baseline
      plus what was uploaded, and the admin's indicator rows of the uploads' round count
      exactly the uploaded households.

The summary (throughput of the window in requests per second, latency p50 / p95 / max per
endpoint and overall, status counts, every upload's job and follow-up times) is printed (see
it with ``pytest -s``) and written to ``load-summary.json`` in the test's folder.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pyogrio
import pytest
from shapely.geometry import Point

from sample_data.households import generate_households_csv
from tests.reliability._live_server import LiveServer, Site, make_site, start_server

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs process groups")

DURATION_S = 10.0
READ_WORKERS = 3
UPLOAD_INTERVAL_S = 4.0
HOUSEHOLDS_PER_UPLOAD = 10
POINTS_PER_UPLOAD = 5
DRAIN_S = 60.0
REQUEST_TIMEOUT_S = 60.0
SETTLEMENT = "mtoni"
CITY = "Mto Mji"
ROUND = "2025-06-01"
"""Round of the uploaded households (the demo's is 2024-02-05)."""
INDICATOR = "sdg_11_1_1_slum_population"
CLIENT = Path(__file__).with_name("_load_client.py")


def _reads(bbox: tuple[float, float, float, float]) -> list[dict[str, Any]]:
    box = ",".join(f"{v:.6f}" for v in bbox)
    city = f"/cities/{CITY}"
    return [
        {"name": "items service_points bbox (public)", "who": "public",
         "path": "/collections/service_points/items", "params": {"bbox": box, "limit": 50}},
        {"name": "indicators json (public)", "who": "public",
         "path": f"{city}/indicators", "params": {}},
        {"name": "items households bbox (planner)", "who": "planner",
         "path": "/collections/households/items", "params": {"bbox": box, "limit": 100}},
        {"name": "profile (public)", "who": "public",
         "path": f"/settlements/{SETTLEMENT}/profile", "params": {}},
        {"name": "items households csv (federation)", "who": "fed_a",
         "path": "/collections/households/items",
         "params": {"settlement": SETTLEMENT, "limit": 1000, "f": "csv"}},
        {"name": "indicators csv by settlement (planner)", "who": "planner",
         "path": f"{city}/indicators", "params": {"disaggregate": "settlement", "format": "csv"}},
        {"name": "map settlement (planner)", "who": "planner",
         "path": f"/maps/settlements/{SETTLEMENT}", "params": {}},
    ]  # fmt: skip


READS = [r["name"] for r in _reads((0, 0, 0, 0))]
"""The read mix, in the order each worker cycles through it."""


# ------------------------------------------------------------------------------ the uploads


def _households_csv(header: list[str], source: list[dict[str, str]], ids: list[str]) -> bytes:
    """A Kobo CSV (``;``, quoted, CRLF) of source rows with new ``_uuid`` / ``_id``."""
    out = io.StringIO()
    writer = csv.DictWriter(
        out, header, delimiter=";", quoting=csv.QUOTE_ALL, lineterminator="\r\n"
    )
    writer.writeheader()
    for j, household_id in enumerate(ids):
        row = dict(source[j % len(source)])
        row["_uuid"] = household_id
        row["_id"] = str(uuid.UUID(household_id).int % 1_000_000_000)
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


def _points_geojson(ids: list[str], outline: Any, rng: random.Random) -> bytes:
    """Canonical service points inside the settlement's outline."""
    minx, miny, maxx, maxy = outline.bounds
    features = []
    for service_id in ids:
        while True:
            point = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
            if outline.contains(point):
                break
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [point.x, point.y]},
                "properties": {
                    "service_id": service_id,
                    "service_type": "water_point",
                    "settlement_id": SETTLEMENT,
                    "functional": True,
                    "taps_total": 2,
                    "taps_working": 1,
                },
            }
        )
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def _make_uploads(root: Path, outline: Any, count: int) -> list[dict[str, Any]]:
    """``count`` upload specifications (files on disk), households and points alternately,
    each with the ids it carries."""
    source_path = root / "source_households.csv"
    generate_households_csv(source_path, 600, seed=3, errors=False)
    reader = csv.DictReader(io.StringIO(source_path.read_text(encoding="utf-8-sig")), delimiter=";")
    rows = [r for r in reader if r["intro/settlement"] == SETTLEMENT]
    header = list(reader.fieldnames or [])
    assert len(rows) >= HOUSEHOLDS_PER_UPLOAD
    rng = random.Random(2025)
    specs = []
    for i in range(count):
        if i % 2 == 0:
            ids = [
                str(uuid.UUID(int=rng.getrandbits(128), version=4))
                for _ in range(HOUSEHOLDS_PER_UPLOAD)
            ]
            start = (i * HOUSEHOLDS_PER_UPLOAD) % len(rows)
            body = _households_csv(header, rows[start:] + rows[:start], ids)
            spec = {
                "layer": "households",
                "filename": f"households-{i}.csv",
                "content_type": "text/csv",
                "form": {
                    "layer": "households",
                    "mapping": "demo_households",
                    "settlement": SETTLEMENT,
                    "round": ROUND,
                },
            }
        else:
            ids = [f"LOAD-{i:02d}-{j}" for j in range(POINTS_PER_UPLOAD)]
            body = _points_geojson(ids, outline, rng)
            spec = {
                "layer": "service_points",
                "filename": f"points-{i}.geojson",
                "content_type": "application/geo+json",
                "form": {"layer": "service_points", "settlement": SETTLEMENT},
            }
        path = root / spec["filename"]
        path.write_bytes(body)
        specs.append({**spec, "file": str(path), "ids": ids, "who": "fed_a"})
    return specs


# --------------------------------------------------------------------------------- reading


def _served_ids(server: LiveServer, site: Site, layer: str, column: str) -> list[str]:
    """Every ``column`` value of ``layer`` in the settlement, as the owner reads it."""
    response = httpx.get(
        f"{server.url}/collections/{layer}/items",
        params={"settlement": SETTLEMENT, "limit": 10_000, "properties": column},
        headers=site.headers("fed_a"),
        timeout=REQUEST_TIMEOUT_S,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["numberReturned"] == body["numberMatched"]
    return [f["properties"][column] for f in body["features"]]


def _print_summary(summary: dict[str, Any], warm_s: float) -> None:
    load = summary["load"]
    lines = [
        "",
        f"load: {load['read_workers']} read workers + 1 uploader (one upload every "
        f"{load['upload_interval_s']:g} s) for {load['duration_s']:g} s; warm-up {warm_s:.1f} s",
        f"window {summary['window_s']:.1f} s: {summary['requests_in_window']} requests, "
        f"{summary['throughput_rps']} req/s ({summary['reads_in_window']} reads, "
        f"{summary['read_throughput_rps']} reads/s); errors {summary['error_count']}; "
        f"jobs drained at {summary['drained_s']:.1f} s",
        f"{'endpoint':42} {'n':>5} {'p50 s':>7} {'p95 s':>7} {'max s':>7}  statuses",
    ]
    rows = {**summary["endpoints"], "all reads": summary["reads"], "overall": summary["overall"]}
    for name, s in rows.items():
        lines.append(
            f"{name:42} {s['requests']:5d} {s['p50_s'] or 0:7.3f} {s['p95_s'] or 0:7.3f} "
            f"{s['max_s'] or 0:7.3f}  {s['status_counts']}"
        )
    lines += [
        f"upload {u['index']}: HTTP {u['status']} job {u['final']} ({u['rows']} rows) in "
        f"{u['job_seconds'] or 0:.1f} s, recompute {u['followup_final']} at "
        f"{u['followup_seconds'] or 0:.1f} s"
        for u in summary["uploads"]
    ]
    print("\n".join(lines))


# ------------------------------------------------------------------------------------ test


def test_reads_and_uploads_under_load(small_demo: tuple[Path, Path], tmp_path: Path) -> None:
    site = make_site(small_demo[0], tmp_path / "site")
    outline = (
        pyogrio.read_dataframe(site.settings.store_path, layer="settlements")
        .set_index("settlement_id")
        .geometry[SETTLEMENT]
    )
    n_uploads = math.ceil(DURATION_S / UPLOAD_INTERVAL_S)  # those due within the window
    uploads = _make_uploads(tmp_path, outline, n_uploads)
    server = start_server(site, log_level="debug")  # the access log too: keys must not show
    try:
        base_households = _served_ids(server, site, "households", "household_id")
        base_points = _served_ids(server, site, "service_points", "service_id")
        warm = time.monotonic()
        response = httpx.get(f"{server.url}/cities/{CITY}/indicators", timeout=REQUEST_TIMEOUT_S)
        assert response.status_code == 200, response.text
        warm_s = time.monotonic() - warm

        config = {
            "url": server.url,
            "duration_s": DURATION_S,
            "read_workers": READ_WORKERS,
            "upload_interval_s": UPLOAD_INTERVAL_S,
            "drain_s": DRAIN_S,
            "timeout_s": REQUEST_TIMEOUT_S,
            "keys": {who: site.keys[who] for who in ("admin", "fed_a", "planner")},
            "reads": _reads(outline.bounds),
            "uploads": [{k: v for k, v in u.items() if k != "ids"} for u in uploads],
        }
        config_path = tmp_path / "load-config.json"
        summary_path = tmp_path / "load-summary.json"
        config_path.write_text(json.dumps(config))
        client = subprocess.run(
            [sys.executable, str(CLIENT), str(config_path), str(summary_path)],
            capture_output=True,
            text=True,
            timeout=DURATION_S + DRAIN_S + 60,
            check=False,
        )
        assert client.returncode == 0, client.stdout + client.stderr
        summary = json.loads(summary_path.read_text())
        _print_summary(summary, warm_s)

        # zero errors, every read kind and every due upload sent
        assert summary["error_count"] == 0, summary["errors"]
        assert set(summary["endpoints"]) >= set(READS), sorted(summary["endpoints"])
        sent = summary["uploads"]
        assert len(sent) == len(uploads), len(sent)
        for u in sent:
            spec = uploads[u["index"]]
            assert (u["status"], u["final"], u["followup_final"]) == (
                202, "succeeded", "succeeded"
            ), u  # fmt: skip
            assert u["rows"] == len(spec["ids"]), u

        # nothing lost, nothing duplicated
        stored = [uploads[u["index"]] for u in sent]
        households = _served_ids(server, site, "households", "household_id")
        points = _served_ids(server, site, "service_points", "service_id")
        new_households = [i for s in stored if s["layer"] == "households" for i in s["ids"]]
        new_points = [i for s in stored if s["layer"] == "service_points" for i in s["ids"]]
        assert len(households) == len(base_households) + len(new_households)
        assert len(points) == len(base_points) + len(new_points)
        assert sorted(households) == sorted(base_households + new_households)
        assert sorted(points) == sorted(base_points + new_points)
        rows = httpx.get(
            f"{server.url}/cities/{CITY}/indicators",
            params={"indicator": INDICATOR, "round": ROUND},
            headers=site.headers("admin"),
            timeout=REQUEST_TIMEOUT_S,
        ).json()["rows"]
        assert [r["n_units"] for r in rows] == [len(new_households)], rows
    finally:
        server.stop()
    log = server.log_text()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]
    assert '"GET /collections/households/items?' in log  # the access log was on
    for who in config["keys"]:
        secret = site.keys[who].split("_", 2)[2]
        assert secret not in log, f"{who}'s API key is in the server log"
