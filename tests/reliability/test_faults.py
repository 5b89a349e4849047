"""Fault injection on the real service: SIGKILL during uploads and during the indicator
recompute, then a restart on the same store, for both backends.

The service runs as a ``uvicorn`` subprocess (its own process group) on a private copy of a
small demo store: a GeoPackage file, or a PostGIS database cloned from a demo template
(skipped with the reason when no PostGIS server is configured, see :mod:`tests.postgis`).
For each kill point (``early``: just after the first upload was
acknowledged; ``mid_transaction``: as soon as an upload job is seen ``running``;
``recompute``: while an ``after_upload`` follow-up job runs) a client pool fires distinct
household CSVs, the whole process group is SIGKILLed, the service restarts and the test
checks that:

- every job that had ``succeeded`` before the kill has all its rows, exactly once;
- every acknowledged job left unfinished is now ``failed`` with a reason, and none stays
  ``queued`` / ``running``;
- no upload is partial (rows per upload id equal the upload's declared rows, no row without
  an upload), the store passes ``PRAGMA integrity_check`` (GeoPackage) or ``amcheck``'s
  B-tree checks (PostGIS), and an independent reader reads it (pyogrio; geopandas'
  ``read_postgis``);
- retrying (same ``Idempotency-Key``, then a new key when the replay is a failed job) stores
  every file exactly once: no record lost, no duplicate;
- the indicators served after the restart are those of the stored households;
- the staged upload files of the killed jobs do not outlive the restart.

The job states "before the kill" are read from the service database on disk after the
process died (the exact state at the kill), not from the client's last poll.
"""

from __future__ import annotations

import csv
import io
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyogrio
import pytest

from geo_service.servicedb import Role, ServiceDB
from geo_service.settings import Settings
from geo_service.storage import open_store
from profiling.indicators import DEFAULT_REGISTRY, roll_up
from sample_data.households import generate_households_csv

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL and killpg")

DEMO_HOUSEHOLDS = 300
CITY = "Mto Mji"
SETTLEMENT = "mtoni"
"""Owned by ``fed_a`` (and published) in every store copy."""
N_UPLOADS = 8
ROWS_PER_UPLOAD = 20
CLIENT_THREADS = 4
SEED = 8_2025
_ORDER = ("early", "mid_transaction", "recompute")
BACKENDS = ("gpkg", "postgis")
KILL_POINTS = [
    pytest.param(
        f"{backend}:{point}",
        marks=[pytest.mark.slow] if point != "mid_transaction" else [],
        id=f"{backend}-{point}",
    )
    for backend in BACKENDS
    for point in _ORDER
]
"""``backend:kill point``; the default suite runs the mid-transaction kill on each backend,
``make test-all`` all three (each cycle takes about 50 s on 2 cores)."""
INDICATOR = "sdg_11_1_1_slum_population"
FORM = {"layer": "households", "mapping": "demo_households", "settlement": SETTLEMENT}
HTTP_TIMEOUT_S = 30.0
WAIT_S = 90.0


# ------------------------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Site:
    """A private copy of the demo store, its service database and keys."""

    root: Path
    keys: dict[str, str]
    database_url: str | None = None
    """The PostGIS database of this copy; None for the GeoPackage file."""

    @property
    def store(self) -> Path:
        return self.root / "store.gpkg"

    @property
    def work_dir(self) -> Path:
        return self.root / "jobs"

    @property
    def settings(self) -> Settings:
        return Settings(
            store_path=self.store, work_dir=self.work_dir, database_url=self.database_url
        )

    @property
    def service_db(self) -> Path:
        return self.settings.service_db

    def headers(self, who: str = "fed_a", key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers

    def staged_files(self) -> list[Path]:
        """Files left in the job folders."""
        if not self.work_dir.exists():
            return []
        return [p for p in self.work_dir.rglob("*") if p.is_file()]

    def jobs_on_disk(self) -> dict[str, dict[str, Any]]:
        """The jobs table as the service database file holds it."""
        con = sqlite3.connect(f"file:{self.service_db}?mode=ro", uri=True, timeout=30)
        try:
            rows = con.execute("SELECT job_id, kind, status, error, request FROM jobs").fetchall()
        finally:
            con.close()
        return {r[0]: {"kind": r[1], "status": r[2], "error": r[3], "request": r[4]} for r in rows}


class Server:
    """``uvicorn --factory geo_service.api:create_app`` in its own process group."""

    def __init__(self, site: Site, name: str) -> None:
        self.site = site
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = site.root / f"{name}.log"
        env = {
            **os.environ,
            "GEO_SERVICE_STORE_PATH": str(site.store),
            "GEO_SERVICE_WORK_DIR": str(site.work_dir),
            "GEO_SERVICE_MODELS_DIR": str(site.root / "no_models"),
            "GEO_SERVICE_JOB_WORKERS": "2",
        }
        if site.database_url is not None:
            env["GEO_SERVICE_DATABASE_URL"] = site.database_url
        cmd = [
            sys.executable, "-m", "uvicorn", "--factory", "geo_service.api:create_app",
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
        ]  # fmt: skip
        self.http = httpx.Client(base_url=self.url, timeout=HTTP_TIMEOUT_S)
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + WAIT_S
        while True:
            assert self.proc.poll() is None, self.log()
            try:
                if self.http.get("/health", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"no /health after {WAIT_S} s\n{self.log()}"
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL the whole process group (uvicorn and anything it started)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.http.close()

    def stop(self) -> None:
        """SIGTERM (graceful: running jobs finish), SIGKILL after 60 s."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()
        self.http.close()

    def get(self, path: str, who: str = "admin", **params: Any) -> httpx.Response:
        return self.http.get(path, headers=self.site.headers(who), params=params)

    def upload(self, content: bytes, key: str, rnd: str) -> httpx.Response:
        return self.http.post(
            "/uploads",
            headers=self.site.headers("fed_a", key),
            data={**FORM, "round": rnd},
            files={"file": ("households.csv", content, "text/csv")},
        )

    def poll(self, job_id: str, timeout: float = WAIT_S) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            response = self.get(f"/jobs/{job_id}", "fed_a")
            assert response.status_code == 200, response.text
            body = response.json()
            if body["status"] in ("succeeded", "failed"):
                return body
            assert time.monotonic() < deadline, f"job {job_id} still {body['status']}"
            time.sleep(0.05)


# ------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def demo_store(small_demo: tuple[Path, Path]) -> Path:
    """The session's 300-household demo store (tests/reliability/conftest.py); every site
    works on its own copy."""
    return small_demo[0]


@pytest.fixture(scope="module")
def source_rows(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], list[dict]]:
    """Clean Kobo rows of the settlement the uploads target (header, rows)."""
    path = tmp_path_factory.mktemp("fault_hh") / "households.csv"
    generate_households_csv(path, 600, seed=3, errors=False)
    reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig")), delimiter=";")
    rows = [r for r in reader if r["intro/settlement"] == SETTLEMENT]
    assert len(rows) >= 10
    return list(reader.fieldnames or []), rows


@pytest.fixture(scope="module")
def make_site(
    demo_store: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Callable[[str, str], Site]:
    """``make(name, backend)``: a fresh copy of the demo store with an admin key and a
    federation owning mtoni."""

    def make(name: str, backend: str = "gpkg") -> Site:
        root = tmp_path_factory.mktemp(f"fault_{name}")
        site = Site(root=root, keys={})
        if backend == "gpkg":
            shutil.copyfile(demo_store, site.store)
        else:
            from tests import postgis  # noqa: PLC0415

            template = request.getfixturevalue("small_demo_postgis").rsplit("/", 1)[-1]
            site.database_url = postgis.create_database(
                request.getfixturevalue("postgis_server"), template=template
            )
        db = ServiceDB(site.service_db)
        site.keys["admin"] = db.create_key(Role.admin, label="fault admin")[1]
        site.keys["fed_a"] = db.create_key(Role.federation, org="fed_a")[1]
        db.assign_settlement(SETTLEMENT, "fed_a")
        db.set_published(SETTLEMENT, True, by="test")
        return site

    return make


def _csv(rows: tuple[list[str], list[dict]], ids: list[str], offset: int) -> bytes:
    """A Kobo CSV of ``len(ids)`` source rows (cycling from ``offset``) with new ``_uuid``s."""
    header, source = rows
    out = io.StringIO()
    writer = csv.DictWriter(
        out, header, delimiter=";", quoting=csv.QUOTE_ALL, lineterminator="\r\n"
    )
    writer.writeheader()
    for j, household_id in enumerate(ids):
        row = dict(source[(offset + j) % len(source)])
        row["_uuid"] = household_id
        row["_id"] = str(uuid.UUID(household_id).int % 1_000_000_000)
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


# ------------------------------------------------------------------------ store inspection


def _feature_tables(con: sqlite3.Connection) -> list[str]:
    tables = [r[0] for r in con.execute("SELECT table_name FROM gpkg_contents")]
    return [
        t
        for t in tables
        if any(c[1] == "upload_id" for c in con.execute(f'PRAGMA table_info("{t}")'))
    ]


def _rows_by_upload(site: Site) -> tuple[list[tuple[Any, ...]], dict[int, tuple], dict, list]:
    """(integrity check rows, uploads, {(table, upload_id): rows}, household ids) of a store."""
    if site.database_url is None:
        con = sqlite3.connect(f"file:{site.store}?mode=ro", uri=True, timeout=30)
        try:
            integrity = con.execute("PRAGMA integrity_check").fetchall()
            uploads = {
                r[0]: (r[1], r[2], r[3])
                for r in con.execute('SELECT upload_id, layer, "rows", format FROM uploads')
            }
            per_table = {
                (table, upload_id): n
                for table in _feature_tables(con)
                for upload_id, n in con.execute(
                    f'SELECT upload_id, count(*) FROM "{table}" GROUP BY upload_id'
                )
            }
            ids = [r[0] for r in con.execute("SELECT household_id FROM households")]
        finally:
            con.close()
        return integrity, uploads, per_table, ids
    import psycopg  # noqa: PLC0415

    with psycopg.connect(site.database_url, options="-c search_path=geo_service,public") as con:
        con.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
        indexes = con.execute(
            "SELECT c.oid, c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'btree' "
            "AND c.relnamespace = 'geo_service'::regnamespace"
        ).fetchall()
        for oid, _ in indexes:  # raises on a corrupt index: heap and index must agree
            con.execute("SELECT bt_index_check(%s, true)", (oid,))
        integrity = [("ok",)] if indexes else [("no index checked",)]
        uploads = {
            r[0]: (r[1], r[2], r[3])
            for r in con.execute('SELECT upload_id, layer, "rows", format FROM uploads')
        }
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.columns WHERE "
                "table_schema = 'geo_service' AND column_name = 'upload_id' "
                "AND table_name NOT IN ('uploads', 'rasters')"
            )
        ]
        per_table = {
            (table, upload_id): n
            for table in tables
            for upload_id, n in con.execute(
                f'SELECT upload_id, count(*) FROM "{table}" GROUP BY upload_id'
            ).fetchall()
        }
        ids = [r[0] for r in con.execute("SELECT household_id FROM households")]
    return integrity, uploads, per_table, ids


def store_audit(site: Site) -> dict[str, Any]:
    """Integrity, partial uploads and orphan rows of the store."""
    integrity, uploads, per_table, ids = _rows_by_upload(site)
    counts: dict[int, int] = {}
    orphans = 0
    for (_, upload_id), n in per_table.items():
        if upload_id not in uploads:
            orphans += n
        else:
            counts[upload_id] = counts.get(upload_id, 0) + n
    household_ids = pd.Series(ids, dtype=object)
    partial = {
        upload_id: (declared, counts.get(upload_id, 0))
        for upload_id, (_, declared, fmt) in uploads.items()
        if fmt not in ("geotiff", "tif") and counts.get(upload_id, 0) != declared
    }
    return {
        "integrity": integrity,
        "partial": partial,
        "orphans": orphans,
        "household_ids": household_ids.value_counts().to_dict(),
    }


def readable_independently(site: Site) -> int:
    """Reads every vector layer with another reader than ours (pyogrio for the GeoPackage,
    geopandas ``read_postgis`` for PostGIS); returns the household count."""
    if site.database_url is None:
        households = -1
        for name, _ in pyogrio.list_layers(site.store):
            frame = pyogrio.read_dataframe(site.store, layer=name, read_geometry=True)
            if name == "households":
                households = len(frame)
        return households
    import geopandas as gpd  # noqa: PLC0415
    import sqlalchemy as sa  # noqa: PLC0415

    engine = sa.create_engine(site.database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as con:
            layers = con.execute(
                sa.text(
                    "SELECT f_table_name FROM geometry_columns WHERE f_table_schema = 'geo_service'"
                )
            ).scalars()
            households = -1
            for name in list(layers):
                frame = gpd.read_postgis(
                    f'SELECT * FROM geo_service."{name}"', con, geom_col="geom"
                )
                if name == "households":
                    households = len(frame)
    finally:
        engine.dispose()
    return households


def indicators_match_store(server: Server, site: Site) -> tuple[bool, str]:
    """The admin city rows of ``INDICATOR`` against a roll-up of the stored households, per
    round, and the household count of the settlement profile against the store."""
    response = server.get(f"/cities/{CITY}/indicators", "admin", indicator=INDICATOR)
    if response.status_code != 200:
        return False, f"{response.status_code}: {response.text[:300]}"
    got = pd.DataFrame(response.json()["rows"])
    with open_store(site.settings) as db:
        frame = db.read_layer("households")
    households = pd.DataFrame(frame.drop(columns="geometry"))
    want = roll_up(households, DEFAULT_REGISTRY.get(INDICATOR), by=())
    merged = got.merge(want, on="round", suffixes=("", "_want"), how="outer", indicator=True)
    if not (merged["_merge"] == "both").all():
        return False, f"rounds differ: {merged[['round', '_merge']].to_dict('records')}"
    for column in ("numerator", "denominator", "n_units"):
        if not (merged[column] == merged[f"{column}_want"]).all():
            return False, f"{column} differs: {merged[['round', column, column + '_want']]}"
    response = server.get(f"/settlements/{SETTLEMENT}/profile", "admin")
    if response.status_code != 200:
        return False, f"profile {response.status_code}: {response.text[:300]}"
    own = households[households["settlement_id"] == SETTLEMENT]
    latest = own["round"].astype(str).max()  # the profile shows the latest round
    stored = int((own["round"].astype(str) == latest).sum())
    body = response.json()
    if (body["round"], body["households"]["value"]) != (latest, stored):
        served = f"{body['round']}: {body['households']['value']}"
        return False, f"{SETTLEMENT} households: served {served}, stored {latest}: {stored}"
    return True, ""


# ------------------------------------------------------------------------------ the scenario


@dataclass
class Cycle:
    """What one kill point did and found."""

    kill_point: str
    sent: int = 0
    acknowledged: dict[int, str] = field(default_factory=dict)
    """Upload index -> job id of every 202."""
    trigger: str = ""
    at_kill: dict[str, dict[str, Any]] = field(default_factory=dict)
    after_restart: dict[str, dict[str, Any]] = field(default_factory=dict)
    staged_after_kill: int = 0
    staged_after_restart: int = 0
    audit_after_restart: dict[str, Any] = field(default_factory=dict)
    reader_households: int = -1
    indicators_after_restart: tuple[bool, str] = (False, "")
    replayed_failed: int = 0
    resent: int = 0
    stored_by_killed_job: int = 0
    """Unfinished or failed jobs whose file had been committed (the resend was a duplicate)."""
    retry_statuses: list[str] = field(default_factory=list)
    final_jobs_ok: bool = False
    audit_final: dict[str, Any] = field(default_factory=dict)
    expected_ids: dict[int, list[str]] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def status_at_kill(self, index: int) -> str | None:
        job = self.at_kill.get(self.acknowledged.get(index, ""))
        return None if job is None else job["status"]

    @property
    def succeeded_before_kill(self) -> list[int]:
        return [i for i in self.acknowledged if self.status_at_kill(i) == "succeeded"]

    @property
    def failed_after_restart(self) -> int:
        return sum(
            1
            for i, job_id in self.acknowledged.items()
            if self.after_restart.get(job_id, {}).get("status") == "failed"
        )

    def lost_and_duplicates(self, counts: dict[str, int]) -> tuple[int, int]:
        ids = [h for hs in self.expected_ids.values() for h in hs]
        lost = sum(1 for h in ids if counts.get(h, 0) == 0)
        duplicates = sum(counts.get(h, 0) - 1 for h in ids if counts.get(h, 0) > 1)
        return lost, duplicates


def _wait_for(site: Site, kill_point: str, rng: random.Random, first_ack: threading.Event) -> str:
    """Block until the kill point is reached; returns what was seen."""
    deadline = time.monotonic() + WAIT_S
    if kill_point == "early":
        assert first_ack.wait(WAIT_S), "no upload was acknowledged"
        pause = rng.uniform(0.0, 0.15)
        time.sleep(pause)
        return f"{pause:.2f} s after the first 202"
    wanted_done = rng.randint(1, 3)
    while time.monotonic() < deadline:
        jobs = site.jobs_on_disk() if site.service_db.exists() else {}
        uploads_done = sum(
            1 for j in jobs.values() if j["kind"] == "upload" and j["status"] == "succeeded"
        )
        kind = "upload" if kill_point == "mid_transaction" else "after_upload"
        running = [i for i, j in jobs.items() if j["kind"] == kind and j["status"] == "running"]
        if running and uploads_done >= wanted_done:
            return f"{kind} job {running[0]} running, {uploads_done} upload(s) done"
        time.sleep(0.005)
    pytest.fail(f"kill point {kill_point} never reached")


def run_cycle(
    make_site: Callable[[str, str], Site],
    rows: tuple[list[str], list[dict]],
    case: str,
    seed: int,
) -> Cycle:
    backend, kill_point = case.split(":")
    rng = random.Random(seed)
    started = time.monotonic()
    site = make_site(f"{backend}_{kill_point}", backend)
    cycle = Cycle(kill_point=case)
    rnd = f"fault-{kill_point}"
    bodies: dict[int, bytes] = {}
    for i in range(N_UPLOADS):
        ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(ROWS_PER_UPLOAD)]
        cycle.expected_ids[i] = ids
        bodies[i] = _csv(rows, ids, offset=rng.randrange(len(rows[1])))
    keys = {i: f"{kill_point}-{seed}-{i}" for i in range(N_UPLOADS)}

    server = Server(site, f"{kill_point}-1")
    first_ack = threading.Event()
    lock = threading.Lock()

    def send(i: int) -> None:
        try:
            response = server.upload(bodies[i], keys[i], rnd)
        except httpx.TransportError:
            return
        if response.status_code == 202:
            with lock:
                cycle.acknowledged[i] = response.json()["job_id"]
            first_ack.set()

    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        futures = [pool.submit(send, i) for i in range(N_UPLOADS)]
        cycle.sent = N_UPLOADS
        try:
            cycle.trigger = _wait_for(site, kill_point, rng, first_ack)
        finally:
            server.kill()
        for future in futures:
            future.result()
    cycle.at_kill = site.jobs_on_disk()
    cycle.staged_after_kill = len(site.staged_files())

    server = Server(site, f"{kill_point}-2")
    try:
        for job_id in cycle.acknowledged.values():
            response = server.get(f"/jobs/{job_id}", "fed_a")
            if response.status_code >= 500:
                cycle.server_errors.append(f"GET /jobs/{job_id}: {response.status_code}")
            cycle.after_restart[job_id] = response.json()
        cycle.staged_after_restart = len(site.staged_files())
        cycle.audit_after_restart = store_audit(site)
        cycle.reader_households = readable_independently(site)
        cycle.indicators_after_restart = indicators_match_store(server, site)

        # retry everything not known to have succeeded, as a client would
        for i in range(N_UPLOADS):
            if cycle.status_at_kill(i) == "succeeded":
                continue
            response = server.upload(bodies[i], keys[i], rnd)
            if response.status_code >= 500:
                cycle.server_errors.append(f"retry {i}: {response.status_code}")
            body = response.json()
            if response.status_code == 202:
                body = server.poll(body["job_id"])
            elif response.status_code == 200 and body["status"] == "failed":
                cycle.replayed_failed += 1
                response = server.upload(bodies[i], f"{keys[i]}-resend", rnd)
                assert response.status_code == 202, response.text
                body = server.poll(response.json()["job_id"])
                cycle.resent += 1
            cycle.retry_statuses.append(body["status"])
            if body["status"] == "succeeded" and body["result"]["duplicate"]:
                cycle.stored_by_killed_job += 1
        cycle.final_jobs_ok = all(s == "succeeded" for s in cycle.retry_statuses)
        cycle.audit_final = store_audit(site)
    finally:
        server.kill()  # done with this copy: no need to wait for the follow-up recomputes
    cycle.seconds = time.monotonic() - started
    return cycle


class _Cycles(dict[str, Cycle]):
    """Kill cycles run on first use (only those the selected tests need), each once."""

    def __init__(self, run: Callable[[str], Cycle]) -> None:
        super().__init__()
        self._run = run

    def __missing__(self, point: str) -> Cycle:
        self[point] = self._run(point)
        return self[point]


@pytest.fixture(scope="module")
def cycles(
    make_site: Callable[[str, str], Site], source_rows: tuple[list[str], list[dict]]
) -> Iterator[dict[str, Cycle]]:
    """The kill cycles, each run once for the module when first needed; prints the figures."""
    results = _Cycles(
        lambda case: run_cycle(
            make_site, source_rows, case, SEED + _ORDER.index(case.split(":")[1])
        )
    )
    yield results
    if results:
        _print_table(results)


def _print_table(results: dict[str, Cycle]) -> None:
    head = (
        "kill point", "sent", "acked", "done@kill", "failed", "committed", "replayed",
        "resent", "lost", "dups", "staged@kill", "staged@restart",
    )  # fmt: skip
    lines = [" | ".join(head)]
    for cycle in results.values():
        lost, duplicates = cycle.lost_and_duplicates(cycle.audit_final.get("household_ids", {}))
        values = (
            cycle.kill_point,
            cycle.sent,
            len(cycle.acknowledged),
            len(cycle.succeeded_before_kill),
            cycle.failed_after_restart,
            cycle.stored_by_killed_job,
            cycle.replayed_failed,
            cycle.resent,
            lost,
            duplicates,
            cycle.staged_after_kill,
            cycle.staged_after_restart,
        )
        lines.append(" | ".join(str(v) for v in values))
        lines.append(f"    trigger: {cycle.trigger}; cycle took {cycle.seconds:.1f} s")
    print("\nSIGKILL during uploads (per kill point)\n" + "\n".join(lines))


# --------------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("kill_point", KILL_POINTS)
def test_jobs_are_finished_or_failed_after_restart(
    cycles: dict[str, Cycle], kill_point: str
) -> None:
    cycle = cycles[kill_point]
    assert cycle.acknowledged, "nothing was acknowledged before the kill"
    assert not cycle.server_errors
    for i, job_id in cycle.acknowledged.items():
        body = cycle.after_restart[job_id]
        before = cycle.status_at_kill(i)
        if before == "succeeded":
            assert body["status"] == "succeeded", body
        else:
            assert body["status"] == "failed", body
            assert body["error"] and "restart" in body["error"], body
    assert all(j["status"] not in ("queued", "running") for j in cycle.after_restart.values())


@pytest.mark.parametrize("kill_point", KILL_POINTS)
def test_succeeded_jobs_kept_all_their_rows(cycles: dict[str, Cycle], kill_point: str) -> None:
    cycle = cycles[kill_point]
    counts = cycle.audit_after_restart["household_ids"]
    for i in cycle.succeeded_before_kill:
        job = cycle.after_restart[cycle.acknowledged[i]]
        assert job["result"]["rows"] == ROWS_PER_UPLOAD
        assert [counts.get(h, 0) for h in cycle.expected_ids[i]] == [1] * ROWS_PER_UPLOAD


@pytest.mark.parametrize("kill_point", KILL_POINTS)
def test_no_partial_upload_and_store_sound(cycles: dict[str, Cycle], kill_point: str) -> None:
    cycle = cycles[kill_point]
    for audit in (cycle.audit_after_restart, cycle.audit_final):
        assert audit["integrity"] == [("ok",)]
        assert audit["partial"] == {}
        assert audit["orphans"] == 0
        # every file is in the store entirely or not at all
        for ids in cycle.expected_ids.values():
            assert len({audit["household_ids"].get(h, 0) for h in ids}) == 1
    assert cycle.reader_households == sum(cycle.audit_after_restart["household_ids"].values())


@pytest.mark.parametrize("kill_point", KILL_POINTS)
def test_retries_store_every_file_exactly_once(cycles: dict[str, Cycle], kill_point: str) -> None:
    cycle = cycles[kill_point]
    assert cycle.final_jobs_ok, cycle.retry_statuses
    lost, duplicates = cycle.lost_and_duplicates(cycle.audit_final["household_ids"])
    assert (lost, duplicates) == (0, 0)


@pytest.mark.parametrize("kill_point", KILL_POINTS)
def test_indicators_after_restart_reflect_the_store(
    cycles: dict[str, Cycle], kill_point: str
) -> None:
    cycle = cycles[kill_point]
    assert cycle.indicators_after_restart == (True, "")


@pytest.mark.parametrize("kill_point", KILL_POINTS)
def test_staged_files_of_killed_jobs_are_cleaned_at_restart(
    cycles: dict[str, Cycle], kill_point: str
) -> None:
    cycle = cycles[kill_point]
    if cycle.staged_after_kill == 0:
        pytest.skip("no staged file was left at this kill")
    assert cycle.staged_after_restart == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkill_during_recompute(
    make_site: Callable[[str, str], Site], source_rows: tuple[list[str], list[dict]], backend: str
) -> None:
    site = make_site(f"{backend}_recompute_only", backend)
    rng = random.Random(SEED - 1)
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(ROWS_PER_UPLOAD)]
    server = Server(site, "recompute-1")
    try:
        response = server.upload(_csv(source_rows, ids, 0), "recompute-only", "fault-recompute")
        assert response.status_code == 202, response.text
        upload_job = response.json()["job_id"]
        deadline = time.monotonic() + WAIT_S
        while True:
            jobs = site.jobs_on_disk()
            running = [j for j in jobs.values() if j["status"] == "running"]
            if [j["kind"] for j in running] == ["after_upload"]:
                break
            assert time.monotonic() < deadline, jobs
            time.sleep(0.005)
    finally:
        server.kill()
    at_kill = site.jobs_on_disk()
    assert at_kill[upload_job]["status"] == "succeeded"
    (followup,) = [i for i, j in at_kill.items() if j["kind"] == "after_upload"]
    assert at_kill[followup]["status"] == "running"

    server = Server(site, "recompute-2")
    try:
        jobs = site.jobs_on_disk()
        assert all(j["status"] in ("succeeded", "failed") for j in jobs.values()), jobs
        assert jobs[followup]["status"] == "failed" and "restart" in jobs[followup]["error"]
        assert server.get(f"/jobs/{followup}", "admin").json()["status"] == "failed"
        assert indicators_match_store(server, site) == (True, "")
        audit = store_audit(site)
        assert audit["integrity"] == [("ok",)] and not audit["partial"]
        assert [audit["household_ids"].get(h) for h in ids] == [1] * len(ids)
        assert server.get("/health", "admin").status_code == 200
    finally:
        server.stop()
