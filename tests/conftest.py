"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from geo_service.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a private store and job folder."""
    return Settings(store_path=tmp_path / "store.gpkg", work_dir=tmp_path / "jobs")


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
