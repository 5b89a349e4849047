"""Uploads over HTTP: streaming size limits, content sniffing, ownership, idempotency, jobs,
and many uploads at once against the embedded store."""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import geo_service.api.uploads as uploads
from geo_service.api import create_app
from geo_service.api.deps import Services
from geo_service.storage import StoreBusy, open_store
from sample_data.households import generate_households_csv
from tests.service.api.conftest import Api, DemoCopy, keys_and_owners

FORM = {"layer": "households", "mapping": "demo_households"}


# ----------------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def households_rows(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], list[dict]]:
    """A clean Kobo export (header, rows) of 600 synthetic households."""
    path = tmp_path_factory.mktemp("hh") / "households.csv"
    generate_households_csv(path, 600, seed=3, errors=False)
    reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig")), delimiter=";")
    return list(reader.fieldnames or []), list(reader)


def kobo_csv(
    rows: tuple[list[str], list[dict]],
    settlements: set[str] | None = None,
    *,
    n: int | None = None,
    skip: int = 0,
    change: Callable[[int, dict[str, str]], None] | None = None,
) -> bytes:
    """A Kobo CSV of the rows of ``settlements`` (all when ``None``): ``n`` rows after
    ``skip``, each passed through ``change(i, row)``."""
    header, all_rows = rows
    chosen = [r for r in all_rows if settlements is None or r["intro/settlement"] in settlements]
    chosen = [dict(r) for r in chosen[skip : None if n is None else skip + n]]
    for i, row in enumerate(chosen):
        if change is not None:
            change(i, row)
    out = io.StringIO()
    writer = csv.DictWriter(
        out, header, delimiter=";", quoting=csv.QUOTE_ALL, lineterminator="\r\n"
    )
    writer.writeheader()
    writer.writerows(chosen)
    return out.getvalue().encode("utf-8")


def upload(
    api: Api,
    content: bytes,
    who: str = "fed_a",
    *,
    key: str | None = None,
    name: str = "households.csv",
    **fields: Any,
):
    """POST /uploads as ``who`` with ``FORM`` + ``fields``."""
    headers = api.headers(who)
    if key is not None:
        headers["Idempotency-Key"] = key
    data = {k: str(v) for k, v in {**FORM, **fields}.items() if v is not None}
    return api.client.post(
        "/uploads", headers=headers, data=data, files={"file": (name, content, "text/csv")}
    )


def poll(api: Api, job_id: str, who: str = "fed_a", timeout: float = 60) -> dict[str, Any]:
    """GET /jobs/{id} until the job has finished."""
    deadline = time.monotonic() + timeout
    while True:
        response = api.get(f"/jobs/{job_id}", who)
        assert response.status_code == 200, response.text
        body = response.json()
        if body["status"] in ("succeeded", "failed"):
            return body
        assert time.monotonic() < deadline, f"job {job_id} still {body['status']}"
        time.sleep(0.05)


def services(api: Api) -> Services:
    svc: Services = api.client.app.state.services  # type: ignore[attr-defined]
    return svc


def household_count(api: Api, **filters: str) -> int:
    with open_store(api.settings) as store:
        return len(store.read_layer("households", columns=["household_id"], **filters))


def snapshot(api: Api):
    with open_store(api.settings) as store:
        return store.snapshot()


def leftovers(api: Api) -> list[Path]:
    """Files left in the job folders."""
    assert api.settings.work_dir is not None
    return [p for p in api.settings.work_dir.rglob("*") if p.is_file()]


@pytest.fixture
def make_api(demo_copy: DemoCopy, tmp_path: Path) -> Iterator[Callable[..., Api]]:
    """Like the ``api`` fixture, with settings of one's own (limits, job workers)."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> Api:
        settings = demo_copy(tmp_path / f"custom{len(clients)}", **overrides)
        keys = keys_and_owners(settings)
        client = TestClient(create_app(settings))
        client.__enter__()
        clients.append(client)
        return Api(client=client, settings=settings, keys=keys)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


# ---------------------------------------------------------------------------------- happy path


def test_upload_lands_and_job_reports_it(api: Api, households_rows) -> None:
    body = kobo_csv(households_rows, {"mtoni"}, n=20)
    before = household_count(api, settlement="mtoni")
    response = upload(api, body, settlement="mtoni", round="2025-06")
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] in ("queued", "running", "succeeded")
    assert response.headers["location"].endswith(f"/jobs/{job['job_id']}")
    assert job["links"][0]["href"] == response.headers["location"]

    done = poll(api, job["job_id"])
    assert done["status"] == "succeeded", done
    assert done["result"]["rows"] == 20 and done["result"]["layer"] == "households"
    assert done["result"]["settlements"] == ["mtoni"] and not done["result"]["duplicate"]
    assert done["report"]["valid"] is True
    assert done["progress"]["done"] == done["progress"]["total"] > 0
    assert done["started_at"] and done["finished_at"] and done["error"] is None
    assert done["request"]["format"] == "csv" and done["request"]["original_name"]
    assert household_count(api, settlement="mtoni") == before + 20
    assert household_count(api, settlement="mtoni", round="2025-06") == 20
    assert not leftovers(api)  # the job folder is gone

    # only its creator (and admins) may read the job
    assert api.get(f"/jobs/{job['job_id']}", "admin").status_code == 200
    for who in ("fed_b", "planner", "mel"):
        assert api.get(f"/jobs/{job['job_id']}", who).status_code == 404
    assert api.get(f"/jobs/{job['job_id']}", "public").status_code == 401
    assert api.get("/jobs/nope", "fed_a").status_code == 404

    line = services(api).db.audit_log(limit=5)
    upload_lines = [entry for entry in line if entry["action"] == "upload"]
    assert upload_lines and upload_lines[0]["resource"] == f"jobs/{job['job_id']}"
    assert upload_lines[0]["detail"]["settlement"] == "mtoni"


def test_validation_errors_fail_the_job_and_store_nothing(api: Api, households_rows) -> None:
    def spoil(i: int, row: dict[str, str]) -> None:
        if i == 3:
            row["hh/head_age"] = "-7"
        if i == 5:
            row["_uuid"] = ""

    body = kobo_csv(households_rows, {"mtoni"}, n=10, change=spoil)
    before = snapshot(api)
    job = upload(api, body, settlement="mtoni", round="2025-07").json()
    done = poll(api, job["job_id"])
    assert done["status"] == "failed"
    assert "error" in done["error"].lower()
    problems = [p for p in done["report"]["problems"] if p["severity"] == "error"]
    assert problems and done["report"]["valid"] is False
    assert all(p.get("row") is not None and p.get("column") for p in problems), problems
    assert {p["column"] for p in problems} & {"head_age", "household_id"}
    assert snapshot(api) == before
    assert not leftovers(api)

    # skip_invalid_rows stores the others and lists what was set aside
    job = upload(api, body, settlement="mtoni", round="2025-07", skip_invalid_rows="true").json()
    done = poll(api, job["job_id"])
    assert done["status"] == "succeeded", done
    assert 0 < done["result"]["rows"] < 10
    assert done["report"]["facts"]["rows_set_aside"]


# --------------------------------------------------------------------------- refusals (4xx)


def test_roles_and_ownership(api: Api, households_rows) -> None:
    body = kobo_csv(households_rows, {"mtoni"}, n=5)
    assert upload(api, body, "public", settlement="mtoni").status_code == 401
    assert upload(api, body, "planner", settlement="mtoni").status_code == 403
    assert upload(api, body, "mel", settlement="mtoni").status_code == 403
    refused = upload(api, body, "fed_b", settlement="mtoni")
    assert refused.status_code == 404
    assert refused.headers["content-type"] == "application/problem+json"
    assert not leftovers(api)
    # admins upload anywhere
    job = upload(api, body, "admin", settlement="mtoni", round="admin-round").json()
    assert poll(api, job["job_id"], "admin")["status"] == "succeeded"


def test_rows_of_another_federations_settlement_fail_the_job(api: Api, households_rows) -> None:
    body = kobo_csv(households_rows, {"mtoni", "kijiji_kipya"})
    before = snapshot(api)
    job = upload(api, body, round="2025-08").json()  # no settlement field: ids from the rows
    done = poll(api, job["job_id"])
    assert done["status"] == "failed"
    # an unpublished settlement of another federation reads as unknown, exactly like a typo
    assert "another organisation" not in done["error"]
    errors = [p for p in done["report"]["problems"] if p["severity"] == "error"]
    assert {p["rule"] for p in errors} == {"unknown_settlement"}
    assert snapshot(api) == before


def test_unowned_settlements_are_claimed(api: Api, households_rows) -> None:
    body = kobo_csv(households_rows, {"soko_mpya"}, n=8)
    assert "soko_mpya" not in services(api).db.owners()
    job = upload(api, body, round="2025-09").json()
    done = poll(api, job["job_id"])
    assert done["status"] == "succeeded", done
    assert done["result"]["settlements"] == ["soko_mpya"]
    assert services(api).db.owners()["soko_mpya"][0] == "fed_a"
    # now fed_b may not upload there
    other = kobo_csv(households_rows, {"soko_mpya"}, n=8, skip=8)
    refused = upload(api, other, "fed_b", settlement="soko_mpya")
    assert refused.status_code == 202  # unpublished: as unknown to fed_b as a typo
    done = poll(api, refused.json()["job_id"], "fed_b")
    assert done["status"] == "failed" and "unknown_settlement" in str(done["report"])
    assert services(api).db.owners()["soko_mpya"][0] == "fed_a"


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "PNG"),
        (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 200, "binary"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x/>',
            "ENTITY",
        ),
        (b"", "empty"),
    ],
)
def test_refused_content_is_415(api: Api, content: bytes, detail: str) -> None:
    response = upload(api, content, name="households.csv", settlement="mtoni")
    assert response.status_code == 415, response.text
    assert detail.lower() in response.json()["detail"].lower()
    assert not leftovers(api)


def test_not_multipart_and_bad_fields(api: Api, households_rows) -> None:
    headers = {**api.headers("fed_a"), "Content-Type": "text/csv"}
    response = api.client.post("/uploads", headers=headers, content=b"a,b\n1,2\n")
    assert response.status_code == 415
    body = kobo_csv(households_rows, {"mtoni"}, n=3)
    assert upload(api, body, mapping="/etc/passwd").status_code == 422  # never a path
    assert upload(api, body, layer="nope").status_code == 422
    assert upload(api, body, skip_invalid_rows="maybe").status_code == 422
    assert upload(api, body, crs="+proj=longlat +init=/etc/x").status_code == 422
    assert upload(api, body, setlement="mtoni").status_code == 422  # unknown field
    response = api.client.post("/uploads", headers=api.headers("fed_a"), data=FORM)
    assert response.status_code in (415, 422)  # no file part
    assert not leftovers(api)


# --------------------------------------------------------------------------------- size limit


def test_413_from_content_length_before_reading(make_api) -> None:
    api = make_api(max_upload_mb=0.001)  # 1,048 bytes
    headers = {**api.headers("fed_a"), "Content-Length": str(10 * 1024 * 1024)}
    # the body is not even multipart: only the header can explain a 413
    response = api.client.post("/uploads", headers=headers, content=b"not read")
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_413_while_streaming(make_api, households_rows) -> None:
    api = make_api(max_upload_mb=0.004)  # 4,194 bytes
    body = kobo_csv(households_rows, {"mtoni"}, n=20)  # ~35 KB: the header check passes
    assert 4194 < len(body) < 64 * 1024
    response = upload(api, body, settlement="mtoni")
    assert response.status_code == 413, response.text
    assert not leftovers(api)  # the partial file was removed

    # chunked (no Content-Length) and far over the limit
    boundary = "xyz"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(200):
            yield b"a;b;c\r\n" * 200

    headers = {**api.headers("fed_a"), "Content-Type": f"multipart/form-data; boundary={boundary}"}
    response = api.client.post("/uploads", headers=headers, content=chunks())
    assert response.status_code == 413, response.text
    assert not leftovers(api)
    small = kobo_csv(households_rows, {"mtoni"}, n=1)
    assert len(small) < 4194
    assert upload(api, small, settlement="mtoni").status_code == 202


# ------------------------------------------------------------------------------- idempotency


def test_idempotent_retries(api: Api, households_rows) -> None:
    body = kobo_csv(households_rows, {"bonde_la_nyota"}, n=12)
    first = upload(api, body, key="retry-1", settlement="bonde_la_nyota", round="r1")
    assert first.status_code == 202
    job_id = first.json()["job_id"]
    assert poll(api, job_id)["status"] == "succeeded"
    uploads_before = snapshot(api).counts["uploads"]

    again = upload(api, body, key="retry-1", settlement="bonde_la_nyota", round="r1")
    assert again.status_code == 200 and again.json()["job_id"] == job_id
    assert again.headers["location"].endswith(f"/jobs/{job_id}")
    # without a key, the file and fields are the key
    bare = upload(api, body, settlement="bonde_la_nyota", round="r1")
    assert bare.status_code == 202
    assert poll(api, bare.json()["job_id"])["result"]["duplicate"] is True
    bare_again = upload(api, body, settlement="bonde_la_nyota", round="r1")
    assert bare_again.status_code == 200 and bare_again.json()["job_id"] == bare.json()["job_id"]
    assert snapshot(api).counts["uploads"] == uploads_before
    assert household_count(api, settlement="bonde_la_nyota", round="r1") == 12

    other = upload(api, body, key="retry-1", settlement="bonde_la_nyota", round="r2")
    assert other.status_code == 422
    changed = kobo_csv(households_rows, {"bonde_la_nyota"}, n=11)
    assert (
        upload(api, changed, key="retry-1", settlement="bonde_la_nyota", round="r1").status_code
        == 422
    )
    # keys belong to their caller: admin's "retry-1" is another request
    assert upload(api, changed, "admin", key="retry-1", round="r9").status_code == 202


def test_same_key_while_running_is_409(api: Api, households_rows, monkeypatch) -> None:
    started, release = threading.Event(), threading.Event()
    real = uploads._ingest_once

    def slow(*args: Any, **kwargs: Any):
        started.set()
        assert release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(uploads, "_ingest_once", slow)
    body = kobo_csv(households_rows, {"mtoni"}, n=6)
    first = upload(api, body, key="slow", settlement="mtoni", round="slow")
    assert first.status_code == 202
    assert started.wait(30)
    running = upload(api, body, key="slow", settlement="mtoni", round="slow")
    assert running.status_code == 409, running.text
    assert running.json()["job_id"] == first.json()["job_id"]
    assert upload(api, body, settlement="mtoni", round="slow").status_code == 202  # no key
    release.set()
    assert poll(api, first.json()["job_id"])["status"] == "succeeded"
    assert household_count(api, settlement="mtoni", round="slow") == 6


# -------------------------------------------------------------------------- busy store, hooks


def test_busy_store_is_retried_then_fails_cleanly(api: Api, households_rows, monkeypatch) -> None:
    monkeypatch.setattr(uploads, "BUSY_RETRY_DELAYS_S", (0.01, 0.01))
    real = uploads.ingest_staged
    calls = {"n": 0}

    def busy_twice(*args: Any, **kwargs: Any):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise StoreBusy("database is locked")
        return real(*args, **kwargs)

    monkeypatch.setattr(uploads, "ingest_staged", busy_twice)
    body = kobo_csv(households_rows, {"mtoni"}, n=4)
    done = poll(api, upload(api, body, settlement="mtoni", round="busy").json()["job_id"])
    assert done["status"] == "succeeded" and calls["n"] == 3

    def always_busy(*args: Any, **kwargs: Any):
        raise StoreBusy("database is locked")

    monkeypatch.setattr(uploads, "ingest_staged", always_busy)
    before = snapshot(api)
    other = kobo_csv(households_rows, {"mtoni"}, n=4, skip=4)
    done = poll(api, upload(api, other, settlement="mtoni", round="busy2").json()["job_id"])
    assert done["status"] == "failed" and "busy" in done["error"]
    assert "database is locked" not in done["error"]
    assert snapshot(api) == before
    assert not leftovers(api)


def test_after_upload_hooks_run_in_a_followup_job(api: Api, households_rows) -> None:
    seen: list[tuple[list[str], str]] = []
    svc = services(api)
    svc.after_upload.append(lambda s, ids: seen.append((ids, threading.current_thread().name)))
    body = kobo_csv(households_rows, {"mtoni"}, n=5)
    done = poll(api, upload(api, body, settlement="mtoni", round="hook").json()["job_id"])
    followup = done["result"]["followup_job"]
    assert followup
    job = svc.jobs.wait(followup, timeout=30)
    assert job is not None and job.status == "succeeded"
    assert seen == [(["mtoni"], seen[0][1])] and seen[0][1].startswith("geo-job")
    # the uploader follows the job it was told about; another federation cannot see it
    hooks = len(svc.after_upload)
    assert poll(api, followup)["result"] == {"hooks": hooks, "settlements": ["mtoni"]}
    assert api.get(f"/jobs/{followup}", "fed_b").status_code == 404
    # a replay or a duplicate file changes nothing: no hook
    again = upload(api, body, settlement="mtoni", round="hook")
    assert again.status_code == 200 and len(seen) == 1


def test_openapi_declares_the_multipart_body(api: Api) -> None:
    spec = api.get("/openapi.json", "public").json()
    post = spec["paths"]["/uploads"]["post"]
    schema = post["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"file", "layer", "mapping", "settlement", "round", "skip_invalid_rows"} <= set(
        schema["properties"]
    )
    assert post["summary"] and post["description"]
    assert "Idempotency-Key" in {p["name"] for p in post["parameters"]}
    assert spec["paths"]["/jobs/{job_id}"]["get"]["summary"]


# ------------------------------------------------------------------------------- concurrency


def test_twenty_simultaneous_uploads(make_api, households_rows) -> None:
    api = make_api(job_workers=4)
    mtoni = len([r for r in households_rows[1] if r["intro/settlement"] == "mtoni"])
    bonde = len([r for r in households_rows[1] if r["intro/settlement"] == "bonde_la_nyota"])
    requests: list[tuple[bytes, str, dict[str, str]]] = []
    for i in range(8):  # disjoint slices, two settlements, a few rounds each
        requests.append(
            (kobo_csv(households_rows, {"mtoni"}, n=5, skip=5 * i), "fed_a",
             {"settlement": "mtoni", "round": f"c{i % 3}"})
        )  # fmt: skip
        requests.append(
            (kobo_csv(households_rows, {"bonde_la_nyota"}, n=4, skip=4 * i), "fed_a",
             {"settlement": "bonde_la_nyota", "round": f"c{i % 2}"})
        )  # fmt: skip
    assert mtoni >= 40 and bonde >= 32
    same = kobo_csv(households_rows, {"machimbo"}, n=6)
    requests.extend(  # the same bytes twice under different keys: stored once
        (same, "admin", {"settlement": "machimbo", "round": "c0", "key": f"k{i}"}) for i in range(2)
    )
    requests.append((b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "fed_a", {"settlement": "mtoni"}))
    requests.append((kobo_csv(households_rows, {"mtoni"}, n=3), "fed_b", {"settlement": "mtoni"}))
    assert len(requests) == 20
    before = household_count(api)
    start = threading.Barrier(len(requests))

    def send(item: tuple[bytes, str, dict[str, str]]):
        content, who, fields = item
        fields = dict(fields)
        key = fields.pop("key", None)
        start.wait(30)
        return upload(api, content, who, key=key, **fields)

    t0 = time.monotonic()
    with ThreadPoolExecutor(len(requests)) as pool:
        responses = list(pool.map(send, requests))
    statuses = [r.status_code for r in responses]
    assert all(s < 500 for s in statuses), [r.text for r in responses if r.status_code >= 500]
    assert statuses.count(202) == 18 and statuses.count(415) == 1 and statuses.count(404) == 1

    svc = services(api)
    jobs = []
    for response in responses:
        if response.status_code == 202:
            job = svc.jobs.wait(response.json()["job_id"], timeout=60)
            assert job is not None
            jobs.append(job)
    failed = [(j.job_id, j.error) for j in jobs if j.status != "succeeded"]
    assert not failed
    assert not any("locked" in (j.error or "") for j in jobs)
    stored = sum(j.result["rows"] for j in jobs if j.result and not j.result["duplicate"])
    assert stored == 8 * 5 + 8 * 4 + 6
    assert sum(1 for j in jobs if j.result and j.result["duplicate"]) == 1
    assert household_count(api) == before + stored
    with open_store(api.settings) as store:
        ids = store.read_layer("households", columns=["household_id"])["household_id"]
    assert not ids.duplicated().any()
    assert not leftovers(api)
    assert time.monotonic() - t0 < 60
