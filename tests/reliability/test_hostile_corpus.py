"""Issue 8: hundreds of hostile files through the real HTTP API of a real server process.

Every case of :mod:`tests.reliability._corpus` is uploaded with httpx to uvicorn running under
``strace -f -e trace=connect`` (see ``conftest.py``). Each must end refused (a synchronous
4xx with a problem+json body, or a job that fails with a report saying what is wrong), or,
for valid-but-weird files, be accepted with only rows that pass validation. Never a 5xx,
never an outbound connection, never the canary secret in a response, a job, the log or the
store, never a change of the store for a refused file, never a staged file left behind.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from geo_service.ingestion import IngestRequest, validate_file
from geo_service.settings import Settings
from geo_service.storage import GeoPackageStore
from profiling.errors import ProfilingError
from tests.reliability._corpus import CANARY, Case, build_corpus, plant_canary
from tests.reliability.conftest import Server, stop_server

MIN_CASES = 300
JOB_TIMEOUT_S = 60
REFUSED_STATUSES = {400, 413, 415, 422}
_CONNECT_RE = re.compile(r"connect\(\d+, \{sa_family=(AF_\w+)(.*?)\}, \d+\)")
_LOCAL = ('inet_addr("127.0.0.1")', 'inet_pton(AF_INET6, "::1"', "sun_path=")


@dataclass
class Outcome:
    """What the service did with one case."""

    case: Case
    status: int | None = None
    outcome: str = ""  # sync | job_failed | accepted | 5xx | error
    detail: str = ""
    seconds: float = 0.0
    texts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class Run:
    outcomes: list[Outcome]
    connects: list[str]
    outbound: list[str]
    canary_hits: list[str]
    leftovers: list[Path]
    seconds: float


def _snapshot(store: Path) -> object:
    with GeoPackageStore(store) as s:
        return s.snapshot()


def _poll(client: httpx.Client, job_id: str, key: str) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while True:
        response = client.get(f"/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] in ("succeeded", "failed"):
            return body
        if time.monotonic() > deadline:
            return {**body, "status": "hung"}
        time.sleep(0.02)


def _send(client: httpx.Client, server: Server, case: Case) -> Outcome:
    result = Outcome(case)
    before = _snapshot(server.settings.store_path)
    started = time.perf_counter()
    try:
        response = client.post(
            "/uploads",
            data=case.fields,
            files={"file": (case.filename, case.content(), "application/octet-stream")},
        )
    except httpx.TransportError as exc:
        result.outcome, result.detail = "error", f"{type(exc).__name__}: {exc}"
        result.problems.append(f"transport error {result.detail}")
        return result
    result.status = response.status_code
    result.texts.append(response.text)
    if response.status_code >= 500:
        result.outcome, result.detail = "5xx", response.text[:300]
        result.problems.append(f"HTTP {response.status_code}: {response.text[:300]}")
    elif response.status_code != 202:
        result.outcome = "sync"
        body = response.json() if "json" in response.headers.get("content-type", "") else {}
        result.detail = f"{response.status_code} {str(body.get('detail', ''))[:160]}"
        if response.status_code not in REFUSED_STATUSES:
            result.problems.append(
                f"unexpected status {response.status_code}: {response.text[:200]}"
            )
        if response.headers.get("content-type") != "application/problem+json" or not body.get(
            "detail"
        ):
            result.problems.append(f"not a problem+json report: {response.text[:200]}")
    else:
        job = _poll(client, response.json()["job_id"], server.federation_key)
        result.texts.append(str(job))
        if job["status"] == "failed":
            result.outcome = "job_failed"
            result.detail = f"job: {str(job['error'])[:160]}"
            if not job["error"]:
                result.problems.append("failed job without an error")
            if str(job["error"]).startswith("unexpected error"):
                result.problems.append(f"job crashed: {job['error']}")
        elif job["status"] == "succeeded":
            result.outcome = "accepted"
            res = job["result"]
            result.detail = (
                f"stored {res['rows']} rows in {res['layer']} (duplicate={res['duplicate']})"
            )
            errors = [
                p for p in (job["report"] or {}).get("problems", []) if p["severity"] == "error"
            ]
            if errors and not job["request"]["skip_invalid_rows"]:
                result.problems.append(f"accepted with error rows: {errors[:3]}")
            if res.get("followup_job"):
                followup = _poll(client, res["followup_job"], server.admin_key)
                result.texts.append(str(followup))
                if followup["status"] != "succeeded":
                    result.problems.append(
                        f"after-upload job {followup['status']}: {followup['error']}"
                    )
        else:
            result.outcome = "error"
            result.problems.append(f"job did not finish in {JOB_TIMEOUT_S} s: {job['status']}")
    result.seconds = time.perf_counter() - started
    after = _snapshot(server.settings.store_path)
    if result.outcome != "accepted" and after != before:
        result.problems.append(f"store changed by a refused file: {before} → {after}")
    if result.outcome == "accepted":
        stored = job["result"]
        counts_before = before.counts  # type: ignore[attr-defined]
        counts_after = after.counts  # type: ignore[attr-defined]
        layer = stored["layer"]
        delta = counts_after.get(layer, 0) - counts_before.get(layer, 0)
        if not stored["duplicate"] and layer in counts_after and delta != stored["rows"]:
            result.problems.append(f"{layer}: {delta} rows appeared, the job says {stored['rows']}")
    for text in result.texts:
        if CANARY in text:
            result.problems.append("the canary is in the response or job")
    for path in case.touches:
        if Path(path).exists():
            result.problems.append(f"{path} was created")
    return result


def _outbound(strace_log: Path) -> tuple[list[str], list[str]]:
    calls = [
        line for line in strace_log.read_text(errors="replace").splitlines() if "connect(" in line
    ]
    outbound = []
    for line in calls:
        m = _CONNECT_RE.search(line)
        family = m.group(1) if m else "?"
        if family == "AF_UNIX" or any(local in line for local in _LOCAL):
            continue
        outbound.append(line)
    return calls, outbound


def _canary_in_store(paths: list[Path]) -> list[str]:
    hits = []
    needle = CANARY.encode()
    for path in paths:
        for extra in ("", "-wal", "-shm"):
            f = Path(str(path) + extra)
            if f.exists() and needle in f.read_bytes():
                hits.append(f"bytes of {f.name}")
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = [
                r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            for table in tables:
                try:
                    rows = con.execute(f'SELECT * FROM "{table}"')
                except sqlite3.DatabaseError:
                    continue
                hits.extend(
                    f"{path.name}:{table}"
                    for row in rows
                    for value in row
                    if (isinstance(value, str) and CANARY in value)
                    or (isinstance(value, bytes) and needle in value)
                )
        finally:
            con.close()
    return hits


@pytest.fixture(scope="module")
def corpus_run(hostile_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Run:
    started = time.perf_counter()
    cases = build_corpus(
        hostile_server.city,
        hostile_server.canary,
        tmp_path_factory.mktemp("hostile_corpus"),
        max_upload_bytes=hostile_server.max_upload_bytes,
    )
    outcomes = []
    headers = {"Authorization": f"Bearer {hostile_server.federation_key}"}
    with httpx.Client(base_url=hostile_server.url, headers=headers, timeout=120) as client:
        outcomes = [_send(client, hostile_server, case) for case in cases]
    stop_server(hostile_server)
    calls, outbound = _outbound(hostile_server.strace_log)
    hits = _canary_in_store(
        [hostile_server.settings.store_path, hostile_server.settings.service_db]
    )
    if CANARY in hostile_server.log.read_text(errors="replace"):
        hits.append("server log")
    work = hostile_server.settings.work_dir
    assert work is not None
    leftovers = [p for p in work.rglob("*") if p.is_file()] if work.exists() else []
    return Run(outcomes, calls, outbound, hits, leftovers, time.perf_counter() - started)


def _summary(run: Run) -> str:
    by_cat: dict[str, Counter[str]] = {}
    for o in run.outcomes:
        by_cat.setdefault(o.case.category, Counter())[o.outcome] += 1
    cols = ("sync", "job_failed", "accepted", "5xx", "error")
    lines = [f"{'category':<16}{'files':>6}" + "".join(f"{c:>12}" for c in cols)]
    total: Counter[str] = Counter()
    for cat, counts in sorted(by_cat.items()):
        total.update(counts)
        lines.append(
            f"{cat:<16}{sum(counts.values()):>6}" + "".join(f"{counts[c]:>12}" for c in cols)
        )
    lines.append(
        f"{'total':<16}{sum(total.values()):>6}" + "".join(f"{total[c]:>12}" for c in cols)
    )
    lines.append(
        f"connect() calls {len(run.connects)}, outbound {len(run.outbound)}; canary hits "
        f"{len(run.canary_hits) + sum('canary' in p for o in run.outcomes for p in o.problems)}; "
        f"leftover staged files {len(run.leftovers)}; {run.seconds:.0f} s"
    )
    status = Counter(o.status for o in run.outcomes if o.outcome == "sync")
    lines.append(
        "synchronous statuses: " + ", ".join(f"{k}: {v}" for k, v in sorted(status.items()))
    )
    lines.append(
        "accepted: "
        + "; ".join(f"{o.case.name} ({o.detail})" for o in run.outcomes if o.outcome == "accepted")
    )
    slow = sorted(run.outcomes, key=lambda o: -o.seconds)[:5]
    lines.append("slowest: " + ", ".join(f"{o.case.name} {o.seconds:.1f} s" for o in slow))
    return "\n".join(lines)


@pytest.mark.timeout(1200)  # ~2.5 min alone on 2 cores (each upload is a job)
def test_hostile_corpus_is_refused_without_leaks(corpus_run: Run) -> None:
    run = corpus_run
    print("\n" + _summary(run))
    for o in run.outcomes:
        print(f"  {o.case.name:<60} {o.outcome:<11} {o.detail}")
    assert len(run.outcomes) >= MIN_CASES
    problems = [f"{o.case.name}: {p}" for o in run.outcomes for p in o.problems]
    assert not problems, "\n".join(problems)
    assert not run.outbound, run.outbound
    assert not run.canary_hits, run.canary_hits
    assert not run.leftovers, run.leftovers


def test_every_case_is_read_or_refused_by_the_pipeline(
    small_demo: tuple[Path, Path], tmp_path: Path
) -> None:
    """The whole corpus through the validation pipeline in-process (the fast twin of the HTTP
    run above, in the default suite): every file is read or refused with a ProfilingError,
    never another exception, and the canary never shows in what comes back."""
    _, city = small_demo
    canary = plant_canary(tmp_path / "secret")
    cases = build_corpus(city, canary, tmp_path / "corpus", max_upload_bytes=16 * 1024 * 1024)
    assert len(cases) >= MIN_CASES
    settings = Settings(store_path=tmp_path / "store.gpkg", work_dir=tmp_path / "jobs")
    crashed, outcomes = [], Counter[str]()
    for case in cases:
        path = tmp_path / "in" / "upload.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(case.content())
        fields = {k: v for k, v in case.fields.items() if k in ("layer", "mapping", "round")}
        try:
            result = validate_file(path, IngestRequest(**fields), settings=settings)
            text = str(getattr(result, "report", result))
            outcomes["read"] += 1
        except ProfilingError as exc:
            text = str(exc)
            outcomes["refused"] += 1
        except Exception as exc:
            crashed.append(f"{case.name}: {type(exc).__name__}: {exc}"[:300])
            continue
        assert CANARY not in text, case.name
    print(f"\n{len(cases)} cases through validate_file: {dict(outcomes)}")
    assert not crashed, "\n".join(crashed)
