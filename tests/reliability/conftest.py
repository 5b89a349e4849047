"""A real ``uvicorn`` server under ``strace`` on a fresh copy of a small demo store.

The demo city (300 households) is built once per session; the server gets its own copy of
the store, a federation key owning ``mtoni``, an admin key (to follow the after-upload jobs)
and a planted canary secret. ``strace -f -e trace=connect`` records every ``connect()`` the
server process (and its threads) makes, so the test can count outbound connections.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from geo_service.demo import run_demo
from geo_service.servicedb import Role, ServiceDB
from geo_service.settings import Settings
from tests.reliability._corpus import plant_canary

MAX_UPLOAD_MB = 16
"""The server's upload limit: small, so that the over-limit cases stay cheap."""


@dataclass
class Server:
    """A running server and everything the test checks after the run."""

    url: str
    federation_key: str
    admin_key: str
    settings: Settings
    canary: Path
    city: Path
    log: Path
    strace_log: Path
    process: subprocess.Popen[bytes]

    @property
    def max_upload_bytes(self) -> int:
        return self.settings.max_upload_bytes


_STRACE = ["strace", "-f", "-qq", "-e", "trace=connect"]


def _strace_options() -> list[str]:
    """The strace command prefix: with ``--seccomp-bpf`` where the kernel allows it, so that
    only ``connect`` stops the traced service (ptrace on every syscall slows it several times).
    """
    for options in ([*_STRACE, "--seccomp-bpf"], _STRACE):
        probe = subprocess.run(
            [*options, "-o", os.devnull, "true"], capture_output=True, check=False
        )
        if probe.returncode == 0:
            return options
    return _STRACE


def _strace_works() -> str | None:
    """Why strace cannot be used here, or ``None``."""
    if shutil.which("strace") is None:
        return "strace is not installed (apt-get install strace; .ci/run installs it)"
    probe = subprocess.run([*_STRACE, "-o", os.devnull, "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        return f"strace cannot trace here: {probe.stderr.decode(errors='replace').strip()}"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The demo city with 300 households, ingested once: (store, generated files)."""
    root = tmp_path_factory.mktemp("hostile_demo")
    settings = Settings(store_path=root / "demo.gpkg", work_dir=root / "jobs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_demo(root / "city", settings=settings, households=300, seed=7)
    return settings.store_path, root / "city"


@pytest.fixture(scope="session")
def small_demo_postgis(small_demo: tuple[Path, Path], postgis_server: str) -> Iterator[str]:
    """The same 300-household city ingested once into a PostGIS template database (its URL)."""
    from geo_service.demo import ingest_demo  # noqa: PLC0415
    from tests import postgis  # noqa: PLC0415

    url = postgis.create_database(postgis_server, prefix="gs_small_demo")
    root = small_demo[0].parent / "postgis"
    settings = Settings(store_path=root / "demo.gpkg", work_dir=root / "jobs", database_url=url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ingest_demo(small_demo[1], settings=settings)
    yield url
    postgis.drop_database(postgis_server, url)


@pytest.fixture(scope="session")
def hostile_server(
    small_demo: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """uvicorn (``geo_service.api:create_app``) under strace on a copy of the demo store."""
    reason = _strace_works()
    if reason is not None:
        pytest.skip(reason)
    demo_store, city = small_demo
    root = tmp_path_factory.mktemp("hostile_server")
    store = root / "store.gpkg"
    shutil.copyfile(demo_store, store)
    (root / "no_models").mkdir()
    settings = Settings(
        store_path=store,
        work_dir=root / "jobs",
        models_dir=root / "no_models",
        max_upload_mb=MAX_UPLOAD_MB,
    )
    db = ServiceDB(settings.service_db)
    federation_key = db.create_key(Role.federation, org="fed_a", label="hostile corpus")[1]
    admin_key = db.create_key(Role.admin, label="hostile corpus")[1]
    db.assign_settlement("mtoni", "fed_a")
    canary = plant_canary(root / "secret")
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GEO_SERVICE_")},
        "GEO_SERVICE_STORE_PATH": str(store),
        "GEO_SERVICE_WORK_DIR": str(settings.work_dir),
        "GEO_SERVICE_MODELS_DIR": str(settings.models_dir),
        "GEO_SERVICE_MAX_UPLOAD_MB": str(MAX_UPLOAD_MB),
    }
    log = root / "server.log"
    strace_log = root / "connect.strace"
    command = [
        *_strace_options(), "-o", str(strace_log),
        sys.executable, "-m", "uvicorn", "--factory", "geo_service.api:create_app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "info",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the server did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    server = Server(
        url=url,
        federation_key=federation_key,
        admin_key=admin_key,
        settings=settings,
        canary=canary,
        city=city,
        log=log,
        strace_log=strace_log,
        process=process,
    )
    yield server
    stop_server(server)


def stop_server(server: Server) -> None:
    """SIGINT to uvicorn (strace's child) for a clean shutdown; then strace exits too."""
    if server.process.poll() is not None:
        return
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    pids = [int(p) for p in children.read_text().split()] if children.exists() else []
    for pid in pids:
        os.kill(pid, signal.SIGINT)
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        server.process.wait(timeout=10)
