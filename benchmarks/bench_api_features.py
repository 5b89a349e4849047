"""Benchmark: OGC API - Features items as GeoJSON, on 100,000 points.

Not a test: ``python benchmarks/bench_api_features.py [--features N] [--page 1000]
[--repeat 100] [--naive 20000]``.

A temporary store gets ``N`` service points (default 100,000; 15 fields, spread over 20
settlements) through :meth:`GeoPackageStore.write_upload`. Then, in one run:

(a) :func:`geo_service.api.geojson.feature_collection_bytes` on the whole layer (the frame
    read from the store once, the serialiser alone timed);
(b) the naive path: a list of per-feature dicts through FastAPI's ``jsonable_encoder`` and
    ``json.dumps`` (what returning dicts from an endpoint does), timed on the first
    ``--naive`` rows (default 20,000) and scaled linearly to ``N``, and the ratio of (b) to
    (a);
(c) real HTTP through ``uvicorn`` started in a subprocess on 127.0.0.1: the whole collection
    (``limit=N``; store read + access scope + serialisation + transfer) a few times, then a
    1,000-feature page at varying offsets ``--repeat`` times, with p50 / p95 / p99.

Bounded to well under two minutes on a laptop-class core.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from fastapi.encoders import jsonable_encoder

from geo_service.api.geojson import feature_collection_bytes
from geo_service.storage import GeoPackageStore
from geo_service.storage.base import UploadWrite
from profiling import codelists as cl

LAYER = "service_points"


def timed(label: str, fn: Callable[[], Any], *, repeat: int = 3) -> tuple[float, Any]:
    """Best of ``repeat`` runs, printed."""
    best, result = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    print(f"  {label:<58s} {best:8.3f} s")
    return best, result


def build_store(path: Path, n: int) -> GeoPackageStore:
    """A store with ``n`` service points in one upload."""
    rng = np.random.default_rng(42)
    kinds = sorted(cl.SERVICE_TYPES)
    frame = gpd.GeoDataFrame(
        {
            "service_id": [f"SP-{i:07d}" for i in range(n)],
            "service_type": rng.choice(kinds, n),
            "subtype": rng.choice(np.array(["piped", "kiosk", "borehole", None], dtype=object), n),
            "name": [f"Point {i}" for i in range(n)],
            "settlement_id": rng.choice([f"s{i:02d}" for i in range(20)], n),
            "functional": rng.random(n) < 0.8,
            "taps_total": rng.integers(1, 9, n),
            "taps_working": rng.integers(0, 5, n),
            "fee": rng.random(n) < 0.5,
            "cost_per_use": np.where(rng.random(n) < 0.3, np.nan, rng.random(n) * 20),
            "operator": rng.choice(["utility", "CBO", "vendor"], n),
            "surveyed_on": pd.Timestamp("2024-03-01")
            + pd.to_timedelta(rng.integers(0, 60, n), "D"),
            "source_row": np.arange(1, n + 1),
        },
        geometry=shapely.points(36.8 + rng.random(n) * 0.2, -1.35 + rng.random(n) * 0.2),
        crs="EPSG:4326",
    )
    raw = path.with_suffix(".raw.csv")
    content = b"bench\n"
    raw.write_bytes(content)
    store = GeoPackageStore(path)
    store.write_upload(
        UploadWrite(
            raw_path=raw,
            sha256=hashlib.sha256(content).hexdigest(),
            size=len(content),
            original_name="bench.csv",
            format="csv",
            layer=LAYER,
            frames={LAYER: frame},
        )
    )
    return store


def naive(frame: gpd.GeoDataFrame) -> bytes:
    """Per-feature dicts through ``jsonable_encoder`` and ``json.dumps``."""
    geometry = frame.geometry.name
    names = [c for c in frame.columns if c != geometry]
    records = frame[names].to_dict("records")
    features = [
        {
            "type": "Feature",
            "id": int(fid),
            "geometry": shapely.geometry.mapping(geom) if geom is not None else None,
            "properties": {k: (None if pd.isna(v) else v) for k, v in rec.items()},
        }
        for fid, geom, rec in zip(frame.index, frame.geometry, records, strict=True)
    ]
    body = {"type": "FeatureCollection", "features": features}
    return json.dumps(jsonable_encoder(body)).encode()


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def fetch(url: str) -> bytes:
    """GET ``url``; the body."""
    with urllib.request.urlopen(url, timeout=60) as response:
        body: bytes = response.read()
        return body


def serve(store_path: Path, n: int) -> tuple[subprocess.Popen[bytes], str]:
    """``uvicorn`` on a free port, in a subprocess; waits until ``/health`` answers."""
    port = free_port()
    env = {
        **os.environ,
        "GEO_SERVICE_STORE_PATH": str(store_path),
        "GEO_SERVICE_MAX_PAGE_SIZE": str(n),
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "geo_service.api:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            fetch(base + "/health")
            return process, base
        except OSError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError("uvicorn did not start")


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--features", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument(
        "--naive", type=int, default=20_000, help="rows for the naive path (scaled to N)"
    )
    args = parser.parse_args()
    n = args.features

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.gpkg"
        t0 = time.perf_counter()
        store = build_store(path, n)
        print(f"store with {n:,} points built in {time.perf_counter() - t0:.1f} s")

        print("in process:")
        _, frame = timed(f"store.read_layer, {n:,} rows", lambda: store.read_layer(LAYER))
        members = {"numberMatched": n, "numberReturned": n, "links": []}
        fast, body = timed(
            "(a) feature_collection_bytes", lambda: feature_collection_bytes(frame, members)
        )
        small = frame.iloc[: min(n, args.naive)]
        slow, naive_body = timed(
            f"(b) dicts + jsonable_encoder + json.dumps, {len(small):,} rows",
            lambda: naive(small),
            repeat=1,
        )
        slow *= n / max(len(small), 1)  # linear in rows: scaled to the whole layer
        assert len(json.loads(body)["features"]) == n
        assert len(json.loads(naive_body)["features"]) == len(small)
        print(
            f"  (b) scaled to {n:,} rows: {slow:.3f} s; ratio (b) / (a): {slow / fast:.1f}x; "
            f"{len(body) / 1e6:.1f} MB of GeoJSON"
        )
        store.close()

        process, base = serve(path, n)
        try:
            print("over HTTP (uvicorn, 1 worker):")
            url = f"{base}/collections/{LAYER}/items?limit={n}"
            fetch(url)  # warm-up
            _, payload = timed(f"(c) whole collection, limit={n:,}", lambda: fetch(url), repeat=2)
            assert json.loads(payload)["numberReturned"] == n
            rng = np.random.default_rng(0)
            times = []
            for offset in rng.integers(0, n - args.page, args.repeat):
                t = time.perf_counter()
                fetch(f"{base}/collections/{LAYER}/items?limit={args.page}&offset={offset}")
                times.append(time.perf_counter() - t)
            p50, p95, p99 = np.percentile(times, [50, 95, 99]) * 1000
            print(
                f"  (c) {args.page:,}-feature page x {args.repeat}: "
                f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms"
            )
        finally:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
