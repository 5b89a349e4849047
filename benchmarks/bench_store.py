"""Benchmark: the two stores side by side, writing and reading the same households.

One upload of N household points (nine household fields plus provenance) is written
to the embedded GeoPackage and to PostGIS (``COPY`` of vectorised text), and, as the obvious
peer for PostGIS, the same rows with psycopg ``executemany`` of a parametrised ``INSERT``
(``ST_GeomFromWKB``) into a copy of the store's table (same columns and indexes). Then 200
random bounding boxes (about 1 % of the area each) are read back through each store's
``read_layer``. Not a test: run ``make bench`` or

    python benchmarks/bench_store.py --n 200000

PostGIS needs ``GEO_SERVICE_TEST_DATABASE_URL`` (a role that may create databases; ``source
.ci/postgis.sh`` starts one); without it only the GeoPackage runs, and the script says so.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from itertools import repeat
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geo_service.storage import GeoPackageStore, UploadWrite
from tests import postgis

BOX = (36.70, -1.40, 36.90, -1.20)


def households(n: int, seed: int = 1) -> gpd.GeoDataFrame:
    """N household points with the fields a Kobo households form fills."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(BOX[0], BOX[2], n)
    y = rng.uniform(BOX[1], BOX[3], n)
    return gpd.GeoDataFrame(
        {
            "household_id": [f"hh-{i:08d}" for i in range(n)],
            "settlement_id": rng.choice(["kibera", "mathare", "mukuru"], n),
            "head_sex": rng.choice(["female", "male"], n),
            "household_size": rng.integers(1, 10, n),
            "water_source": rng.choice(["borehole", "bottled_water"], n),
            "sanitation": rng.choice(["bucket", "composting"], n),
            "water_trip_min": rng.uniform(0, 60, n).round(1),
            "toilet_shared": rng.random(n) < 0.6,
            "enumerated_on": pd.Timestamp("2024-01-15"),
            "source_row": np.arange(1, n + 1),
        },
        geometry=shapely.points(x, y),
        crs=4326,
    )


def upload(frame: gpd.GeoDataFrame, folder: Path) -> UploadWrite:
    raw = folder / "households.csv"
    raw.write_bytes(b"household_id\n" * 10)
    return UploadWrite(
        raw_path=raw,
        sha256=hashlib.sha256(raw.read_bytes()).hexdigest(),
        size=raw.stat().st_size,
        original_name=raw.name,
        format="kobo_csv",
        layer="households",
        round="2024-01",
        frames={"households": frame},
    )


def boxes(k: int = 200, seed: int = 2) -> list[tuple[float, float, float, float]]:
    rng = np.random.default_rng(seed)
    side = 0.1 * (BOX[2] - BOX[0])
    out = []
    for _ in range(k):
        x, y = rng.uniform(BOX[0], BOX[2] - side), rng.uniform(BOX[1], BOX[3] - side)
        out.append((x, y, x + side, y + side))
    return out


def timed_store(store, up: UploadWrite, queries) -> tuple[float, float, int]:
    t = time.perf_counter()
    store.write_upload(up)
    write = time.perf_counter() - t
    t = time.perf_counter()
    found = sum(
        len(store.read_layer("households", bbox=b, columns=["household_id"])) for b in queries
    )
    return write, time.perf_counter() - t, found


def naive_inserts(url: str, frame: gpd.GeoDataFrame, schema: str = "geo_service") -> float:
    """psycopg ``executemany`` of a parametrised ``INSERT`` (the obvious peer), timed from the
    frame to the commit, into a copy of the store's households table (same columns, identity,
    GiST and B-tree indexes: ``LIKE ... INCLUDING ALL``); the provenance columns stay null."""
    import psycopg  # noqa: PLC0415

    columns = [c for c in frame.columns if c != "geometry"]
    with psycopg.connect(url) as con:
        con.execute(f"CREATE TABLE naive (LIKE {schema}.households INCLUDING ALL)")
        upload_id = con.execute(f"SELECT max(upload_id) FROM {schema}.uploads").fetchone()
        t = time.perf_counter()
        rows = zip(
            shapely.to_wkb(frame.geometry.to_numpy()),
            *(frame[c].tolist() for c in columns),
            repeat(upload_id[0] if upload_id else None),
            strict=False,
        )
        columns.append("upload_id")
        with con.cursor() as cur:
            cur.executemany(
                f"INSERT INTO naive (geom, {', '.join(columns)}) VALUES "
                f"(ST_GeomFromWKB(%s, 4326), {', '.join(['%s'] * len(columns))})",
                rows,
            )
        con.commit()
        return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="households")
    args = parser.parse_args()
    frame = households(args.n)
    queries = boxes()
    results: list[tuple[str, float, float | None, int | None]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        up = upload(frame, folder)
        with GeoPackageStore(folder / "bench.gpkg") as store:
            write, read, found = timed_store(store, up, queries)
        results.append(("GeoPackage (sqlite3, RTree)", write, read, found))
        admin = os.environ.get(postgis.ENV, "").strip()
        if not admin:
            print(f"PostGIS skipped: {postgis.SKIP_REASON}")
        else:
            from geo_service.storage.postgis import PostGISStore  # noqa: PLC0415

            postgis.ensure_template(admin)
            url = postgis.create_database(admin, prefix="gs_bench")
            try:
                with PostGISStore(url) as store:
                    write, read, found = timed_store(store, up, queries)
                results.append(("PostGIS store (COPY, GiST)", write, read, found))
                results.append(
                    ("PostGIS executemany INSERT (peer)", naive_inserts(url, frame), None, None)
                )
            finally:
                postgis.drop_database(admin, url)
    copy_s = next((w for name, w, _, _ in results if name.startswith("PostGIS store")), None)
    print(f"\n{args.n:,} households, one upload; 200 bbox reads of ~1 % of the area each\n")
    print(f"{'store':36} {'write s':>8} {'rows/s':>10} {'200 reads s':>12} {'rows read':>10}")
    for name, write, read, found in results:
        print(
            f"{name:36} {write:8.2f} {args.n / write:10,.0f} "
            f"{'' if read is None else f'{read:12.2f}'} {'' if found is None else f'{found:10,d}'}"
        )
    if copy_s is not None:
        peer = results[-1][1]
        print(f"\nCOPY is {peer / copy_s:.1f}x faster than executemany INSERT on PostGIS")
        print(f"PostGIS writes at {results[0][1] / copy_s:.2f}x the GeoPackage's speed")


if __name__ == "__main__":
    main()
