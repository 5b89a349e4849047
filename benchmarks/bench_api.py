"""Load benchmark of the HTTP service: latency percentiles at a fixed request rate.

Starts ``geo-service serve`` (uvicorn) in a **separate process** on 127.0.0.1 over the demo city
(generated once into a temporary folder, or ``--store`` given), then, from this process, sends
requests on an open-loop schedule (one every ``1/rate`` s, whatever the previous ones are doing,
so slow responses cannot hide by slowing the sender: no coordinated omission) and reports
achieved requests/s and p50 / p95 / p99 latency, measured from each request's *scheduled*
time, for:

* ``GET /cities/{city}/indicators`` (public, cached bytes) — target p95 < 50 ms at 100 req/s;
* ``GET /collections/households/items?limit=1000`` (planner, ~1 MB each) at ``--items-rate``
  (default 10/s; one worker process serves at most ~20 such pages per second on this
  machine) — target p95 < 150 ms;
* one ``GET /collections/households/items?limit=100000`` (whole collection as GeoJSON) —
  target < 0.5 s (only meaningful with ``--households 100000`` or more).

Run: ``.venv/bin/python benchmarks/bench_api.py [--households 20000] [--rate 100]
[--seconds 10]``. Bounded in time: every phase has a deadline.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np

from geo_service.demo import run_demo
from geo_service.servicedb import Role, ServiceDB
from geo_service.settings import Settings

CITY = "Mto Mji"


def _free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(store: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "GEO_SERVICE_STORE_PATH": str(store),
        "GEO_SERVICE_MAX_PAGE_SIZE": "100000",
    }
    cmd = [
        sys.executable, "-m", "uvicorn", "--factory", "geo_service.api.app:create_app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server did not start within 60 s")


def _load(
    url: str, headers: dict[str, str], *, rate: float, seconds: float, workers: int = 32
) -> dict[str, float]:
    """Open-loop load: request ``i`` is due at ``start + i / rate``; latency counts from then."""
    n = int(rate * seconds)
    latencies = np.full(n, np.nan)
    statuses = np.zeros(n, dtype=int)
    client = httpx.Client(headers=headers, timeout=10, limits=httpx.Limits(max_connections=workers))
    start = time.perf_counter() + 0.2

    def one(i: int) -> None:
        due = start + i / rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        try:
            response = client.get(url)
            statuses[i] = response.status_code
        except httpx.HTTPError:
            statuses[i] = -1
        latencies[i] = time.perf_counter() - due

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(n)))
    elapsed = time.perf_counter() - start
    client.close()
    ok = statuses == 200
    ms = latencies[ok] * 1000
    return {
        "requests": n,
        "ok": int(ok.sum()),
        "achieved_rps": n / elapsed,
        "p50_ms": float(np.percentile(ms, 50)) if ok.any() else float("nan"),
        "p95_ms": float(np.percentile(ms, 95)) if ok.any() else float("nan"),
        "p99_ms": float(np.percentile(ms, 99)) if ok.any() else float("nan"),
    }


def _print(name: str, stats: dict[str, float], target_ms: float) -> None:
    verdict = "met" if stats["p95_ms"] < target_ms else "NOT met"
    print(
        f"{name:48s} {stats['achieved_rps']:6.1f} req/s  ok {stats['ok']}/{stats['requests']}  "
        f"p50 {stats['p50_ms']:6.1f} ms  p95 {stats['p95_ms']:6.1f} ms  "
        f"p99 {stats['p99_ms']:6.1f} ms  (p95 target < {target_ms:g} ms: {verdict})"
    )


def main() -> None:
    """Build or reuse a store, start the server, run the three measurements."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", type=Path, help="An existing demo store (else generated).")
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=100.0, help="Indicator requests per second.")
    parser.add_argument(
        "--items-rate",
        type=float,
        default=10.0,
        help="Items-page requests per second (each page is ~1 MB of GeoJSON).",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="Duration of each load.")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_api_"))
    try:
        store = args.store
        if store is None:
            store = tmp / "demo.gpkg"
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run_demo(
                    tmp / "city",
                    settings=Settings(store_path=store, work_dir=tmp / "jobs"),
                    households=args.households,
                    seed=3,
                )
            print(
                f"demo city with {args.households:,} households in {time.perf_counter() - t0:.1f} s"
            )
        db = ServiceDB(Settings(store_path=store).service_db)
        planner = {"Authorization": f"Bearer {db.create_key(Role.planner, org='bench')[1]}"}
        port = _free_port()
        server = _serve(store, port)
        try:
            base = f"http://127.0.0.1:{port}"
            indicators = f"{base}/cities/{quote(CITY)}/indicators"
            warm = httpx.get(indicators, timeout=120)  # first call computes and caches
            print(f"first /cities/{{city}}/indicators (computes): status {warm.status_code}")
            _print(
                "GET /cities/{city}/indicators (public)",
                _load(indicators, {}, rate=args.rate, seconds=args.seconds),
                50,
            )
            page = f"{base}/collections/households/items?limit=1000"
            _print(
                "GET /collections/households/items?limit=1000",
                _load(page, planner, rate=args.items_rate, seconds=args.seconds),
                150,
            )
            t0 = time.perf_counter()
            whole = httpx.get(
                f"{base}/collections/households/items?limit=100000", headers=planner, timeout=60
            )
            elapsed = time.perf_counter() - t0
            n = whole.json().get("numberReturned", 0) if whole.status_code == 200 else 0
            print(
                f"whole households collection: {n:,} features, {len(whole.content) / 1e6:.1f} MB "
                f"in {elapsed:.3f} s (target for 100,000 features: < 0.5 s)"
            )
        finally:
            server.terminate()
            server.wait(timeout=10)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
