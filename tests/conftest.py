"""Shared fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from geo_service.settings import Settings

# Every test app works on a fresh store copy: no background warm-up of its cache at start
# (tests/service/api/test_warm_cache.py turns it on; servers of tests/reliability run with the
# production default, as they drop GEO_SERVICE_* variables).
os.environ.setdefault("GEO_SERVICE_WARM_CACHE_ON_START", "false")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a private store and job folder."""
    return Settings(store_path=tmp_path / "store.gpkg", work_dir=tmp_path / "jobs")


@pytest.fixture
def wide_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's consoles 200 columns wide, for tests that read its tables.

    Rich fixes a console's width when it is made (at import of :mod:`geo_service.cli`), from
    the terminal then: 80 columns in a pytest-xdist worker, whatever ``COLUMNS`` says later.
    """
    from rich.console import Console  # noqa: PLC0415

    from geo_service import cli  # noqa: PLC0415

    monkeypatch.setattr(cli, "out", Console(width=200))
    monkeypatch.setattr(cli, "err", Console(stderr=True, width=200))


@pytest.fixture(scope="session")
def postgis_server() -> str:
    """The PostGIS server URL (skips without ``GEO_SERVICE_TEST_DATABASE_URL``)."""
    from tests import postgis  # noqa: PLC0415 - psycopg only for PostGIS tests

    admin = postgis.admin_url()
    postgis.ensure_template(admin)
    return admin


@pytest.fixture
def postgis_url(postgis_server: str) -> Iterator[str]:
    """A fresh database with PostGIS for one test, dropped afterwards."""
    from tests import postgis  # noqa: PLC0415

    url = postgis.create_database(postgis_server)
    yield url
    postgis.drop_database(postgis_server, url)
