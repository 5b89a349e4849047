"""Benchmark: ingest a 1,000,000-household Kobo-style CSV end to end.

Stages (read, map, validate incl. point-in-settlement, store) are timed inside one child
process; plain ``pandas.read_csv`` of the same file runs in another child as the floor. Peak
memory is each child's maximum resident set size. Not a test: run ``make bench`` or

    python benchmarks/bench_ingest.py --rows 1000000

and read the printed table (rows/s, seconds, peak MB, ratio to the pandas floor).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

FLOOR = """
import sys, time, json, resource
import pandas as pd
t = time.perf_counter()
df = pd.read_csv(sys.argv[1], sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig")
print(json.dumps({"rows": len(df), "seconds": time.perf_counter() - t,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

PIPELINE = """
import sys, time, json, resource
from pathlib import Path
from geo_service.ingestion import IngestRequest, ingest_file, _options, _settlements, _storable
from geo_service.settings import Settings
from geo_service.storage import GeoPackageStore, UploadWrite
from profiling.ingest.pipeline import read_upload, set_aside_invalid_rows
from profiling.ingest.safety import stage_upload

csv, settlements, store = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
settings = Settings(store_path=store, max_upload_mb=2048)  # the 1M file is ~700 MB
ingest_file(settlements, IngestRequest(layer="settlements", mapping="demo_settlements"),
            settings=settings)
request = IngestRequest(layer="households", mapping="demo_households", round="2024-02-05",
                        skip_invalid_rows=True)
options = _options(request, settings)
job = store.parent / "bench-job"
t0 = time.perf_counter()
staged = stage_upload(csv, job, original_name=csv.name, max_bytes=options.limits.max_upload_bytes)
t1 = time.perf_counter()
known = _settlements(settings, "households")
ingested = read_upload(staged, job / "work", options, settlements=known)
set_aside_invalid_rows(ingested)
t2 = time.perf_counter()
upload = UploadWrite(
    raw_path=staged.path, sha256=staged.sha256, size=staged.size, original_name=csv.name,
    format=ingested.format, layer="households", source_layer=ingested.source_layer,
    settlement_id=None, round=request.round, mapping_id=ingested.mapping_id,
    report=ingested.report.to_dict(limit=1000),
    frames={k: _storable(v) for k, v in ingested.frames.items()},
)
with GeoPackageStore(store) as db:
    written = db.write_upload(upload)
t3 = time.perf_counter()
print(json.dumps({
    "rows": written.layer_rows["households"],
    "stage": t1 - t0, "read_map_validate": t2 - t1, "store": t3 - t2, "seconds": t3 - t0,
    "set_aside": ingested.report.facts.get("rows_set_aside"),
    "problems": len(ingested.report),
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def _child(code: str, *args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], check=False, capture_output=True, text=True
    )
    if out.returncode:
        sys.exit(f"benchmark step failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Generate the input (cached), run the floor and the pipeline, print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=HERE / "out")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    from sample_data.generate import generate, generate_households_csv  # noqa: PLC0415

    city_dir = args.out / "city"
    csv = args.out / f"households_{args.rows}.csv"
    if not (city_dir / "settlements.geojson").exists():
        generate(city_dir, households=2_000, seed=7)
    if not csv.exists():
        t = time.perf_counter()
        generate_households_csv(csv, args.rows, seed=7)
        print(
            f"generated {args.rows:,} households in {time.perf_counter() - t:.1f} s "
            f"({csv.stat().st_size / 1e6:.0f} MB)"
        )
    store = args.out / "bench.gpkg"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)

    floor = _child(FLOOR, str(csv))
    pipe = _child(PIPELINE, str(csv), str(city_dir / "settlements.geojson"), str(store))
    rows = args.rows
    print(f"\n{'step':<44}{'seconds':>9}{'rows/s':>12}{'peak MB':>9}{'× floor':>9}")
    print(
        f"{'pandas.read_csv (floor, dtype=str)':<44}{floor['seconds']:>9.1f}"
        f"{rows / floor['seconds']:>12,.0f}{floor['peak_mb']:>9.0f}{1:>9.1f}"
    )
    for label, key in (
        ("  stage (copy + sha256)", "stage"),
        ("  read + map + validate (incl. in-settlement)", "read_map_validate"),
        ("  store (one transaction, raw file kept)", "store"),
        ("end to end", "seconds"),
    ):
        peak = f"{pipe['peak_mb']:>9.0f}" if key == "seconds" else f"{'':>9}"
        print(
            f"{label:<44}{pipe[key]:>9.1f}{rows / pipe[key]:>12,.0f}{peak}"
            f"{pipe[key] / floor['seconds']:>9.1f}"
        )
    print(
        f"\nstored {pipe['rows']:,} rows; set aside {pipe['set_aside']}; "
        f"{pipe['problems']:,} problems reported; "
        f"children peak RSS {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MB"
    )


if __name__ == "__main__":
    main()
