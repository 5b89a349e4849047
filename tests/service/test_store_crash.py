"""A writer killed with SIGKILL mid-upload leaves the store with all of the upload or none.

A child process writes a 300,000-point upload and reports progress after every chunk; the
parent SIGKILLs it at chosen moments (right after the first chunk, half-way, after the last
chunk while the spatial index and the commit are under way), reopens the store and checks that
it holds either every row of that upload or none, that the upload acknowledged before is
intact, that SQLite and the RTree pass their integrity checks, and that the store still accepts
writes. SQLite's write-ahead log does the work; these tests make sure we never step outside a
transaction.
"""

from __future__ import annotations

import hashlib
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo_service.storage import GeoPackageStore, UploadWrite
from profiling.schema import Field, LayerSchema

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")

REPO = Path(__file__).resolve().parents[2]
ROWS = 300_000
STRUCTURES = LayerSchema(
    name="structures",
    description="Building footprints as points",
    geometry="Point",
    key="structure_id",
    fields=(
        Field("structure_id", "str", "Structure id"),
        Field("settlement_id", "str", "Settlement"),
        Field("floors", "int", "Floors"),
    ),
)

CHILD = textwrap.dedent(
    """
    import hashlib, sys, time
    from pathlib import Path
    sys.path[:0] = [{repo!r}, {here!r}]
    from test_store_crash import STRUCTURES, frame
    from geo_service.storage import GeoPackageStore, UploadWrite

    path, pause_at = Path(sys.argv[1]), int(sys.argv[2])
    raw = path.parent / "big.csv"
    raw.write_bytes(b"big upload")

    def progress(done, total):
        print("progress", done, total, flush=True)
        if done >= pause_at:
            time.sleep(30)  # the parent kills us here, inside the transaction

    up = UploadWrite(
        raw_path=raw, sha256=hashlib.sha256(b"big upload").hexdigest(), size=10,
        original_name="big.csv", format="csv", layer="structures", settlement_id="kibera",
        round="big", frames={{"structures": frame({rows})}},
    )
    with GeoPackageStore(path, layers={{"structures": STRUCTURES}}) as store:
        store.write_upload(up, progress=progress)
    print("committed", flush=True)
    """
)


def frame(n: int, seed: int = 0) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    return gpd.GeoDataFrame(
        {"structure_id": [f"s{i}" for i in range(n)], "floors": rng.integers(1, 4, n)},
        geometry=shapely.points(36.7 + rng.random(n) * 0.1, -1.35 + rng.random(n) * 0.1),
        crs="EPSG:4326",
    )


def small_upload(tmp_path: Path) -> UploadWrite:
    raw = tmp_path / "small.csv"
    raw.write_bytes(b"small upload")
    return UploadWrite(
        raw_path=raw,
        sha256=hashlib.sha256(b"small upload").hexdigest(),
        size=12,
        original_name="small.csv",
        format="csv",
        layer="structures",
        settlement_id="kibera",
        round="small",
        frames={"structures": frame(500, seed=1)},
    )


def rows_of(path: Path, round_: str) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute(
            "SELECT fid, geom, structure_id, floors, upload_id FROM structures "
            "WHERE round = ? ORDER BY fid",
            (round_,),
        ).fetchall()
    finally:
        con.close()


def kill_during_upload(
    path: Path, script: Path, *, pause_at: int, wait_for: str, delay: float
) -> list[str]:
    """Start the writer, SIGKILL it ``delay`` s after it printed ``wait_for``; return output."""
    child = subprocess.Popen(
        [sys.executable, str(script), str(path), str(pause_at)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    deadline = time.monotonic() + 60
    try:
        assert child.stdout is not None
        for line in child.stdout:
            seen.append(line.strip())
            if line.strip() == wait_for:
                time.sleep(delay)
                break
            assert time.monotonic() < deadline, seen
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
        child.stderr.close()
    assert child.returncode in (-signal.SIGKILL, 0), seen
    return seen


@pytest.mark.parametrize(
    ("pause_at", "wait_for", "delay", "expect"),
    [
        (50_000, f"progress 50000 {ROWS}", 0.0, "none"),  # after the first chunk
        (150_000, f"progress 150000 {ROWS}", 0.0, "none"),  # half-way
        (ROWS + 1, f"progress {ROWS} {ROWS}", 0.0, "either"),  # RTree / COMMIT race the kill
        (ROWS + 1, f"progress {ROWS} {ROWS}", 0.2, "either"),
        (ROWS + 1, "committed", 0.0, "all"),  # acknowledged, then killed
    ],
    ids=["first-chunk", "half-way", "last-chunk", "last-chunk+0.2s", "after-commit"],
)
def test_killed_writer_leaves_all_or_nothing(
    tmp_path: Path, pause_at: int, wait_for: str, delay: float, expect: str
) -> None:
    path = tmp_path / "city.gpkg"
    with GeoPackageStore(path, layers={"structures": STRUCTURES}) as store:
        acknowledged = store.write_upload(small_upload(tmp_path))
    before = rows_of(path, "small")
    assert len(before) == 500

    script = tmp_path / "writer.py"
    script.write_text(CHILD.format(repo=str(REPO), here=str(Path(__file__).parent), rows=ROWS))
    seen = kill_during_upload(path, script, pause_at=pause_at, wait_for=wait_for, delay=delay)
    assert seen[-1] == wait_for

    with GeoPackageStore(path, layers={"structures": STRUCTURES}) as store:
        big = rows_of(path, "big")
        uploads = [u.round for u in store.uploads()]
        assert len(big) in (0, ROWS)
        assert uploads == (["small", "big"] if big else ["small"])
        if expect != "either":
            assert len(big) == (ROWS if expect == "all" else 0)
        assert rows_of(path, "small") == before  # the acknowledged upload is intact
        assert store.get_upload(acknowledged.upload_id).rows == 500
        con = sqlite3.connect(path)
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert con.execute("SELECT rtreecheck('rtree_structures_geom')").fetchone() == ("ok",)
        indexed = con.execute("SELECT count(*) FROM rtree_structures_geom").fetchone()[0]
        assert indexed == 500 + len(big)
        con.close()
        # still writable, and the interrupted upload can simply be sent again
        again = store.write_upload(
            UploadWrite(
                raw_path=tmp_path / "big.csv",
                sha256=hashlib.sha256(b"big upload").hexdigest(),
                size=10,
                original_name="big.csv",
                format="csv",
                layer="structures",
                settlement_id="kibera",
                round="big",
                frames={"structures": frame(ROWS)},
            )
        )
        assert again.duplicate == bool(big)
        assert len(rows_of(path, "big")) == ROWS
