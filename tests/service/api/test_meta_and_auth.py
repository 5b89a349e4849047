"""Health, authentication and the service database."""

from __future__ import annotations

import pytest

from geo_service.servicedb import Role, ServiceDB
from tests.service.api.conftest import Api


def test_health(api: Api) -> None:
    response = api.get("/health", "public")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["layers"]["households"] > 0


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
