"""A demo-city store behind the app, with one API key per role and settlement owners.

Every test using ``api``, ``api_models`` or ``make_api`` runs on both backends: a copy of the
demo GeoPackage, then a PostGIS database cloned from a demo template database (skipped with
the reason when no PostGIS server is configured, see :mod:`tests.postgis`).

Ownership: federation ``fed_a`` owns ``mtoni`` (published) and ``bonde_la_nyota`` (not
published); ``fed_b`` owns ``kijiji_kipya`` (not published); the other settlements have no
owner record (open data, visible to all).
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from geo_service.api import create_app
from geo_service.demo import ingest_demo, run_demo
from geo_service.model_training import train_city_models
from geo_service.servicedb import Role, ServiceDB
from geo_service.settings import Settings
from geo_service.storage import open_store

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
    with open_store(Settings(store_path=demo_store)) as store:
        results = train_city_models(store, "Mto Mji", folder)
    assert all(r.path is not None for r in results), [r.skipped for r in results]
    return folder


@pytest.fixture(scope="session")
def demo_postgis(demo_store: Path, postgis_server: str) -> Iterator[str]:
    """The same demo city ingested once per session into a PostGIS template database."""
    from tests import postgis  # noqa: PLC0415

    url = postgis.create_database(postgis_server, prefix="gs_demo")
    root = demo_store.parent / "postgis"
    settings = Settings(store_path=root / "demo.gpkg", work_dir=root / "jobs", database_url=url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ingest_demo(demo_store.parent / "city", settings=settings)
    yield url
    postgis.drop_database(postgis_server, url)


DemoCopy = Callable[..., Settings]


@pytest.fixture(params=["gpkg", "postgis"])
def demo_copy(request: pytest.FixtureRequest, demo_store: Path) -> Iterator[DemoCopy]:
    """``copy(root, **settings)``: settings of a private copy of the demo store in ``root``
    (a GeoPackage file, or a PostGIS database cloned from the demo template)."""
    made: list[str] = []

    def copy(root: Path, **overrides: Any) -> Settings:
        root.mkdir(parents=True, exist_ok=True)
        store = root / "store.gpkg"
        if request.param == "gpkg":
            shutil.copyfile(demo_store, store)
        else:
            from tests import postgis  # noqa: PLC0415

            template = request.getfixturevalue("demo_postgis").rsplit("/", 1)[-1]
            server = request.getfixturevalue("postgis_server")
            made.append(postgis.create_database(server, template=template))
            overrides["database_url"] = made[-1]
        return Settings(store_path=store, work_dir=root / "jobs", **overrides)

    yield copy
    if made:
        from tests import postgis  # noqa: PLC0415

        for url in made:
            postgis.drop_database(request.getfixturevalue("postgis_server"), url)


def keys_and_owners(settings: Settings) -> dict[str, str]:
    """One API key per role in the service database; owners and publication as documented."""
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
    return keys


def _client(demo_copy: DemoCopy, tmp_path: Path, models: Path | None) -> Iterator[Api]:
    settings = demo_copy(
        tmp_path, models_dir=models if models is not None else tmp_path / "no_models"
    )
    keys = keys_and_owners(settings)
    with TestClient(create_app(settings)) as client:
        yield Api(client=client, settings=settings, keys=keys)


@pytest.fixture
def api(demo_copy: DemoCopy, tmp_path: Path) -> Iterator[Api]:
    """A fresh copy of the demo store, its service database, keys and owners, and a client
    (no trained model)."""
    yield from _client(demo_copy, tmp_path, None)


@pytest.fixture
def api_models(demo_copy: DemoCopy, demo_models: Path, tmp_path: Path) -> Iterator[Api]:
    """As :func:`api`, with the demo city's trained models loaded at start."""
    yield from _client(demo_copy, tmp_path, demo_models)
