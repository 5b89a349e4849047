"""A private site (store copy, service database, a key per role, settlement owners) and a real
``uvicorn`` server on it, for the access-control and load tests.

The server is ``python -m uvicorn --factory geo_service.api:create_app`` in its own process
group on 127.0.0.1 and a free port, configured only through ``GEO_SERVICE_*`` variables, with
its stdout and stderr in one log file (the tests read it).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from geo_service.servicedb import Role, ServiceDB
from geo_service.settings import Settings

OWNERS: Mapping[str, tuple[str, bool]] = {
    "mtoni": ("fed_a", True),
    "bonde_la_nyota": ("fed_a", False),
    "kijiji_kipya": ("fed_b", False),
    "mwembe_tatu": ("fed_b", True),
}
"""Settlement -> (owning federation, published). ``machimbo``, ``soko_mpya`` (enumerated) and
``gulioni``, ``reli_kando`` (profile only) have no owner record: open data, visible to all."""

KEY_ROLES: Mapping[str, tuple[Role, str | None]] = {
    "admin": (Role.admin, None),
    "fed_a": (Role.federation, "fed_a"),
    "fed_b": (Role.federation, "fed_b"),
    "planner": (Role.planner, "city planning"),
    "mel": (Role.mel, "cities alliance"),
}
"""Caller name -> (role, organisation) of the keys every site has."""

START_S = 60.0
"""Longest wait for ``/health`` after the server starts."""


@dataclass
class Site:
    """A private copy of the demo store with its service database and keys."""

    root: Path
    settings: Settings
    keys: dict[str, str] = field(default_factory=dict)
    """Caller name -> token; ``revoked`` is an admin key revoked at once."""
    key_ids: dict[str, str] = field(default_factory=dict)

    @property
    def db(self) -> ServiceDB:
        return ServiceDB(self.settings.service_db)

    def headers(self, who: str) -> dict[str, str]:
        """Headers of ``who``: a key name, ``public`` (none) or ``malformed``."""
        if who == "public":
            return {}
        if who == "malformed":
            return {"Authorization": "Bearer not-a-key"}
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def env(self) -> dict[str, str]:
        """The environment of a server on this site (no other ``GEO_SERVICE_*`` variable)."""
        s = self.settings
        assert s.work_dir is not None and s.models_dir is not None
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("GEO_SERVICE_")},
            "GEO_SERVICE_STORE_PATH": str(s.store_path),
            "GEO_SERVICE_WORK_DIR": str(s.work_dir),
            "GEO_SERVICE_MODELS_DIR": str(s.models_dir),
        }


def make_site(demo_store: Path, root: Path) -> Site:
    """Copy ``demo_store`` into ``root``; create a key per role (and a revoked one) and the
    owners of :data:`OWNERS`. No trained model."""
    root.mkdir(parents=True, exist_ok=True)
    store = root / "store.gpkg"
    shutil.copyfile(demo_store, store)
    (root / "no_models").mkdir(exist_ok=True)
    settings = Settings(store_path=store, work_dir=root / "jobs", models_dir=root / "no_models")
    site = Site(root=root, settings=settings)
    db = site.db
    for who, (role, org) in KEY_ROLES.items():
        key, token = db.create_key(role, org=org, label=f"test {who}")
        site.keys[who], site.key_ids[who] = token, key.key_id
    revoked, token = db.create_key(Role.admin, label="test revoked")
    db.revoke_key(revoked.key_id)
    site.keys["revoked"], site.key_ids["revoked"] = token, revoked.key_id
    for settlement, (org, published) in OWNERS.items():
        db.assign_settlement(settlement, org)
        db.set_published(settlement, published, by="test")
    return site


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """A running uvicorn on a site."""

    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        """SIGINT (graceful: running jobs finish), SIGKILL after 30 s; idempotent."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def start_server(
    site: Site, *, log_level: str = "warning", extra_env: Mapping[str, str] | None = None
) -> LiveServer:
    """Start uvicorn on ``site`` and wait for ``/health`` (fails the test otherwise)."""
    port = _free_port()
    log = site.root / f"server-{port}.log"
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "geo_service.api:create_app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", log_level,
    ]  # fmt: skip
    env = {**site.env(), **(extra_env or {})}
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    server = LiveServer(url=f"http://127.0.0.1:{port}", log=log, process=process)
    deadline = time.monotonic() + START_S
    while True:
        try:
            if httpx.get(f"{server.url}/health", timeout=5).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise AssertionError(f"the server did not start:\n{server.log_text()[-3000:]}")
        time.sleep(0.2)
