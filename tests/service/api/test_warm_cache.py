"""The indicator cache is computed for every city in a background job when the service starts."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import pytest
from fastapi.testclient import TestClient

from geo_service import indicator_service
from geo_service.api import create_app
from geo_service.api.app import queue_warm_up
from geo_service.jobs import JobRunner
from tests.service.api.conftest import DemoCopy, keys_and_owners


def _no_second_computation(*args: object, **kwargs: object) -> NoReturn:
    raise AssertionError("the city was analysed again: the warm-up did not fill the cache")


def test_every_city_is_computed_at_start(
    demo_copy: DemoCopy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = demo_copy(tmp_path, models_dir=tmp_path / "no_models", warm_cache_on_start=True)
    keys = keys_and_owners(settings)
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    with TestClient(create_app(settings)) as client:
        warm = client.get("/health", headers=admin).json()["warm_cache"]
        assert warm["status"] in ("queued", "running", "succeeded")
        job = client.app.state.services.jobs.wait(warm["job"], timeout=240)
        assert job is not None and job.status == "succeeded", job
        assert job.result == {"cities": ["Mto Mji"]}
        assert client.get("/health", headers=admin).json()["warm_cache"]["status"] == "succeeded"
        # the first requests of every audience are answered from what the warm-up computed
        monkeypatch.setattr(indicator_service, "_read_city", _no_second_computation)
        for who in ("admin", "mel", "public"):
            headers = {} if who == "public" else {"Authorization": f"Bearer {keys[who]}"}
            response = client.get("/cities/Mto%20Mji/indicators", headers=headers)
            assert response.status_code == 200, (who, response.text)
        # nobody but an admin learns of the job
        assert "warm_cache" not in client.get("/health").json()


def test_no_warm_up_when_turned_off(demo_copy: DemoCopy, tmp_path: Path) -> None:
    settings = demo_copy(tmp_path, models_dir=tmp_path / "no_models", warm_cache_on_start=False)
    keys = keys_and_owners(settings)
    with TestClient(create_app(settings)) as client:
        body = client.get("/health", headers={"Authorization": f"Bearer {keys['admin']}"}).json()
        assert "warm_cache" not in body
        assert client.app.state.services.warm_up_job is None


def test_warm_up_stops_between_cities_when_the_service_stops(
    demo_copy: DemoCopy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = demo_copy(tmp_path, models_dir=tmp_path / "no_models", warm_cache_on_start=False)
    with TestClient(create_app(settings)) as client:
        services = client.app.state.services
        monkeypatch.setattr(JobRunner, "stopping", property(lambda self: True))
        monkeypatch.setattr(indicator_service, "_read_city", _no_second_computation)
        job = services.jobs.wait(queue_warm_up(services), timeout=60)
        assert job is not None and job.status == "failed"
        assert job.error == "the service stopped after 0 of 1 cities"
