"""A demo-city store behind the app, with one API key per role and settlement owners.

Ownership: federation ``fed_a`` owns ``mtoni`` (published) and ``bonde_la_nyota`` (not
published); ``fed_b`` owns ``kijiji_kipya`` (not published); the other settlements have no
owner record (open data, visible to all).
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from geo_service.api import create_app
from geo_service.demo import run_demo
from geo_service.model_training import train_city_models
from geo_service.servicedb import Role, ServiceDB
from geo_service.settings import Settings
from geo_service.storage import GeoPackageStore

DEMO_HOUSEHOLDS = 1_500
OWNED = {"mtoni": "fed_a", "bonde_la_nyota": "fed_a", "kijiji_kipya": "fed_b"}
PUBLISHED = {"mtoni"}


@dataclass
class Api:
    """A test client on a private copy of the demo store, with a key per role."""

    client: TestClient
    settings: Settings
    keys: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        """Headers for ``who`` (``admin``, ``fed_a``, ``fed_b``, ``planner``, ``mel``,
        ``public``)."""
        return {} if who == "public" else {"Authorization": f"Bearer {self.keys[who]}"}

    def get(self, path: str, who: str = "admin", **kwargs: object):
        """GET as ``who``."""
        return self.client.get(path, headers=self.headers(who), **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo city ingested once per session (1,500 households)."""
    root = tmp_path_factory.mktemp("api_demo")
    settings = Settings(store_path=root / "demo.gpkg", work_dir=root / "jobs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_demo(root / "city", settings=settings, households=DEMO_HOUSEHOLDS, seed=7)
    return settings.store_path


@pytest.fixture(scope="session")
def demo_models(demo_store: Path) -> Path:
    """The expansion and informality models trained on the demo city, once per session."""
    folder = demo_store.parent / "trained_models"
    with GeoPackageStore(demo_store) as store:
        results = train_city_models(store, "Mto Mji", folder)
    assert all(r.path is not None for r in results), [r.skipped for r in results]
    return folder


def _client(demo_store: Path, tmp_path: Path, models: Path | None) -> Iterator[Api]:
    store = tmp_path / "store.gpkg"
    shutil.copyfile(demo_store, store)
    settings = Settings(
        store_path=store,
        work_dir=tmp_path / "jobs",
        models_dir=models if models is not None else tmp_path / "no_models",
    )
    db = ServiceDB(settings.service_db)
    keys = {
        "admin": db.create_key(Role.admin, label="test admin")[1],
        "fed_a": db.create_key(Role.federation, org="fed_a")[1],
        "fed_b": db.create_key(Role.federation, org="fed_b")[1],
        "planner": db.create_key(Role.planner, org="city planning")[1],
        "mel": db.create_key(Role.mel, org="cities alliance")[1],
    }
    for settlement, org in OWNED.items():
        db.assign_settlement(settlement, org)
    for settlement in PUBLISHED:
        db.set_published(settlement, True, by="test")
    with TestClient(create_app(settings)) as client:
        yield Api(client=client, settings=settings, keys=keys)


@pytest.fixture
def api(demo_store: Path, tmp_path: Path) -> Iterator[Api]:
    """A fresh copy of the demo store, its service database, keys and owners, and a client
    (no trained model)."""
    yield from _client(demo_store, tmp_path, None)


@pytest.fixture
def api_models(demo_store: Path, demo_models: Path, tmp_path: Path) -> Iterator[Api]:
    """As :func:`api`, with the demo city's trained models loaded at start."""
    yield from _client(demo_store, tmp_path, demo_models)
