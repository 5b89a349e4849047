"""The demo's steps after the ingest: publication, planner key, warm indicators, summary.

No server is started: :func:`geo_service.demo.finish_demo` is called directly, and the CLI's
``--serve`` is checked with :func:`geo_service.demo.serve_demo` replaced.
"""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from typer.testing import CliRunner

import geo_service.demo as demo_module
from geo_service.api import create_app
from geo_service.cli import app
from geo_service.demo import (
    DEMO_KEY_LABEL,
    DEMO_ORG,
    KEY_INDICATORS,
    demo_key_path,
    finish_demo,
    run_demo,
)
from geo_service.indicator_service import CACHE
from geo_service.servicedb import Role, ServiceDB
from geo_service.settings import Settings

CITY_SETTLEMENTS = 8  # 6 enumerated + 2 profile-only


@pytest.fixture(scope="module")
def demo_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("demo-steps")
    settings = Settings(store_path=root / "demo.gpkg", work_dir=root / "jobs")
    run_demo(root / "city", settings=settings, households=800, seed=5, console=Console(quiet=True))
    return settings


def _finish(settings: Settings) -> tuple[dict[str, object], str]:
    buffer = io.StringIO()
    result = finish_demo(settings, console=Console(file=buffer, width=200, color_system=None))
    return result, buffer.getvalue()


def _demo_keys(settings: Settings) -> list[str]:
    db = ServiceDB(settings.service_db)
    return [k.key_id for k in db.api_keys() if k.label == DEMO_KEY_LABEL and not k.revoked_at]


def test_finish_demo_publishes_creates_a_key_and_prints_the_indicators(demo_settings):
    result, text = _finish(demo_settings)
    # Publication: every settlement of the city, owned by the demo federation.
    owners = ServiceDB(demo_settings.service_db).owners()
    assert len(owners) == CITY_SETTLEMENTS
    assert set(owners.values()) == {(DEMO_ORG, True)}
    assert set(result["published"].values()) == {"published"}  # type: ignore[union-attr]
    assert f"{CITY_SETTLEMENTS} settlement(s) published now" in text
    # The planner key: printed, kept in a private file, valid.
    token = str(result["planner_key"])
    assert result["key_created"] is True and token in text
    key = ServiceDB(demo_settings.service_db).authenticate(token)
    assert key is not None and key.role is Role.planner
    path = demo_key_path(demo_settings)
    assert path.read_text().strip() == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # The indicator table: each key indicator once, value, numerator / denominator, unit.
    rows = result["indicators"]
    assert [r["indicator_id"] for r in rows] == list(KEY_INDICATORS)  # type: ignore[union-attr]
    assert "key indicators" in text
    for row in rows:  # type: ignore[union-attr]
        assert row["name"] in text
        assert row["denominator"] > 0
        if row["unit"] == "share":
            assert 0 <= row["value"] <= 1
            assert f"{100 * row['value']:.1f} %" in text
        assert f"{row['numerator']:,.0f} / {row['denominator']:,.0f}" in text
    people = next(r for r in rows if r["indicator_id"] == "people_count")  # type: ignore[union-attr]
    assert people["value"] > 0
    # The two models, trained into the folder the service loads at start, and their scores.
    models = result["models"]
    assert set(models) == {"expansion_forecast", "informality"}  # type: ignore[arg-type]
    for name in ("expansion_forecast", "informality"):
        assert (demo_settings.models_folder / f"{name}.skops").is_file()
        assert (demo_settings.models_folder / f"{name}.json").is_file()
    assert "ROC AUC" in text and "spatial CV" in text
    # The URLs.
    for url in (
        "http://127.0.0.1:8000/maps/cities/Mto%20Mji",
        "http://127.0.0.1:8000/maps/settlements/mtoni",
        "http://127.0.0.1:8000/docs",
        "http://127.0.0.1:8000/cities/Mto%20Mji/indicators?disaggregate=sex",
    ):
        assert url in text


def test_finish_demo_again_changes_nothing(demo_settings):
    first, _ = _finish(demo_settings)
    keys = _demo_keys(demo_settings)
    again, text = _finish(demo_settings)
    assert again["planner_key"] == first["planner_key"]
    assert again["key_created"] is False and "kept from an earlier run" in text
    assert _demo_keys(demo_settings) == keys and len(keys) == 1
    assert set(again["published"].values()) == {"already published"}  # type: ignore[union-attr]


def test_a_lost_demo_key_is_revoked_and_replaced(demo_settings):
    old, _ = _finish(demo_settings)
    demo_key_path(demo_settings).unlink()
    new, _ = _finish(demo_settings)
    assert new["key_created"] is True and new["planner_key"] != old["planner_key"]
    db = ServiceDB(demo_settings.service_db)
    assert db.authenticate(str(old["planner_key"])) is None
    assert len(_demo_keys(demo_settings)) == 1


def test_the_service_answers_from_the_warm_cache(demo_settings):
    _finish(demo_settings)
    computed = CACHE.computations
    with TestClient(create_app(demo_settings)) as client:
        public = client.get("/cities/Mto Mji/indicators", params={"disaggregate": "settlement"})
        planner = client.get(
            "/cities/Mto Mji/indicators",
            headers={"X-API-Key": demo_key_path(demo_settings).read_text().strip()},
        )
    assert public.status_code == 200 and planner.status_code == 200
    groups = {row["group"] for row in public.json()["rows"]}
    assert "settlement_id=mtoni" in groups  # published: the public sees it
    assert planner.json()["suppression_k"] is None
    assert CACHE.computations == computed  # nothing computed on request


def test_cli_demo_serves_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    served: list[dict[str, object]] = []

    def fake_serve(settings: Settings, **options: object) -> None:
        served.append({"store": settings.store_path, **options})

    monkeypatch.setattr(demo_module, "serve_demo", fake_serve)
    runner = CliRunner(env={"COLUMNS": "200"})
    store = tmp_path / "demo.gpkg"
    common = ["demo", "--out", str(tmp_path / "city"), "--store", str(store)]
    common += ["--households", "300", "--seed", "3"]
    result = runner.invoke(app, [*common, "--serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert served == [{"store": store, "host": None, "port": 8123, "console": served[0]["console"]}]
    assert "http://127.0.0.1:8123/maps/cities/Mto%20Mji" in result.stdout
    assert "key indicators" in result.stdout
    # Again without --serve (the city is stored already: skip generating it a second time).
    monkeypatch.setattr(demo_module, "run_demo", lambda *args, **kwargs: {})
    result = runner.invoke(app, common)
    assert result.exit_code == 0, result.output
    assert len(served) == 1
    assert f"geo-service serve --store {store}" in result.stdout
    assert "kept from an earlier run" in result.stdout
