"""Health, authentication and the service database."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from geo_service.cli import app
from geo_service.servicedb import Role, ServiceDB
from tests.service.api.conftest import Api


def test_health(api: Api) -> None:
    public = api.get("/health", "public")
    assert public.status_code == 200
    assert public.json()["status"] == "ok" and "layers" not in public.json()
    body = api.get("/health", "admin").json()
    assert body["status"] == "ok" and body["layers"]["households"] > 0 and body["uploads"] > 0


@pytest.mark.parametrize(
    "header",
    [
        {"Authorization": "Bearer gs_nope_nope"},
        {"Authorization": "Basic abc"},
        {"X-API-Key": "not-a-key"},
    ],
)
def test_bad_keys_are_401_never_anonymous(api: Api, header: dict[str, str]) -> None:
    response = api.client.get("/collections", headers=header)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert "Bearer" in response.headers["www-authenticate"]


def test_keys_are_stored_hashed_and_revocable(tmp_path) -> None:
    db = ServiceDB(tmp_path / "s.sqlite")
    key, token = db.create_key(Role.planner, org="city", label="x")
    assert db.authenticate(token) == key
    raw = (tmp_path / "s.sqlite").read_bytes()
    assert token.split("_", 2)[2].encode() not in raw
    assert db.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert db.revoke_key(key.key_id) and db.authenticate(token) is None
    assert not db.revoke_key(key.key_id)
    with pytest.raises(ValueError, match="org"):
        db.create_key(Role.federation)
    with pytest.raises(ValueError, match="public"):
        db.create_key(Role.public)


def test_idempotent_jobs(tmp_path) -> None:
    db = ServiceDB(tmp_path / "s.sqlite")
    job, created = db.create_job("upload", {"a": 1}, key_id="k", idempotency=("abc", "h1"))
    again, created_again = db.create_job("upload", {"a": 1}, key_id="k", idempotency=("abc", "h1"))
    assert created and not created_again and again.job_id == job.job_id
    with pytest.raises(ValueError, match="different request"):
        db.create_job("upload", {"a": 2}, key_id="k", idempotency=("abc", "h2"))
    other, made = db.create_job("upload", {"a": 1}, key_id="k2", idempotency=("abc", "h1"))
    assert made and other.job_id != job.job_id  # keys are per caller
    assert db.fail_unfinished_jobs() == 2
    assert db.job(job.job_id).status == "failed"


def test_cli_keys_and_publication(tmp_path) -> None:
    runner = CliRunner()
    store = str(tmp_path / "s.gpkg")

    def run(*args: str) -> int:
        return runner.invoke(app, [*args, "--store", store]).exit_code

    made = runner.invoke(app, ["keys", "create", "--role", "planner", "--store", store])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[-1]
    db = ServiceDB(tmp_path / "s.service.sqlite")
    key = db.authenticate(token)
    assert key is not None and key.role is Role.planner
    assert (
        runner.invoke(app, ["keys", "create", "--role", "federation", "--store", store]).exit_code
        == 2
    )
    assert runner.invoke(app, ["settlements", "publish", "x", "--store", store]).exit_code == 2
    assert (
        runner.invoke(app, ["settlements", "assign", "x", "--org", "f", "--store", store]).exit_code
        == 0
    )
    assert runner.invoke(app, ["settlements", "publish", "x", "--store", store]).exit_code == 0
    assert db.owners() == {"x": ("f", True)}
    assert runner.invoke(app, ["keys", "revoke", key.key_id, "--store", store]).exit_code == 0
    assert db.authenticate(token) is None
    listing = runner.invoke(app, ["keys", "list", "--store", store])
    assert key.key_id in listing.stdout and token.split("_", 2)[2] not in listing.stdout
    # every change made from the command line is in the audit log; refused ones are not
    lines = [(x["role"], x["action"], x["resource"]) for x in reversed(db.audit_log())]
    assert lines == [
        ("cli", "create_key", f"keys/{key.key_id}"),
        ("cli", "assign", "settlements/x"),
        ("cli", "publish", "settlements/x"),
        ("cli", "revoke_key", f"keys/{key.key_id}"),
    ]
    assert all(token not in str(x) for x in db.audit_log())
