"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from geo_service.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a private store and job folder."""
    return Settings(store_path=tmp_path / "store.gpkg", work_dir=tmp_path / "jobs")
