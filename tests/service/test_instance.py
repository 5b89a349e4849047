"""One serving process per service database (geo_service.instance)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from geo_service.api import create_app
from geo_service.cli import app as cli_app
from geo_service.instance import AlreadyServing, check_free, lock_path, serving
from geo_service.servicedb import JobStatus, ServiceDB
from geo_service.settings import Settings

HOLD = """
import sys, time
from pathlib import Path
from geo_service.instance import serving
with serving(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(600)
"""


def _holder(db: Path) -> subprocess.Popen[str]:
    """Another process that holds the serving lock of ``db`` (until killed)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def _kill(holder: subprocess.Popen[str]) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert holder.stdout is not None
    holder.stdout.close()


def test_another_process_is_refused_and_a_killed_one_leaves_no_stale_lock(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.service.sqlite"
    holder = _holder(db)
    try:
        with pytest.raises(AlreadyServing, match=rf"pid {holder.pid}\).*s\.service\.sqlite;"):
            check_free(db)
    finally:
        _kill(holder)
    with serving(db):
        assert lock_path(db).read_text() == str(os.getpid())


def test_the_lock_is_reentrant_within_a_process(tmp_path: Path) -> None:
    db = tmp_path / "s.service.sqlite"
    with serving(db), serving(db):
        pass
    with serving(db):  # still held by the outer block after the inner one ended
        with serving(db):
            pass
        holder = subprocess.run(
            [sys.executable, "-c", HOLD.replace("time.sleep(600)", "pass"), str(db)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert holder.returncode != 0 and "AlreadyServing" in holder.stderr
    check_free(db)  # all released


def test_an_app_does_not_start_on_a_service_database_served_elsewhere(tmp_path: Path) -> None:
    settings = Settings(store_path=tmp_path / "s.gpkg", work_dir=tmp_path / "jobs")
    job, _ = ServiceDB(settings.service_db).create_job("upload", {"file": "x.csv"})
    holder = _holder(settings.service_db)
    try:
        with pytest.raises(AlreadyServing, match="already serves"):
            TestClient(create_app(settings)).__enter__()
        # the refused start did not fail the other process's unfinished job
        assert ServiceDB(settings.service_db).job(job.job_id).status is JobStatus.queued
    finally:
        _kill(holder)
    with TestClient(create_app(settings)) as client:  # served here now: it was interrupted
        assert client.get("/health").status_code == 200
        assert ServiceDB(settings.service_db).job(job.job_id).status is JobStatus.failed


def test_serve_refuses_a_served_service_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn  # noqa: PLC0415

    served: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.append(app))
    store = tmp_path / "s.gpkg"
    holder = _holder(Settings(store_path=store).service_db)
    try:
        result = CliRunner().invoke(cli_app, ["serve", "--store", str(store)])
    finally:
        _kill(holder)
    assert result.exit_code == 2 and not served
    assert "already serves" in result.stderr
    assert CliRunner().invoke(cli_app, ["serve", "--store", str(store)]).exit_code == 0
    assert len(served) == 1
