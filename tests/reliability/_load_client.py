"""The load client of ``test_load.py``: a second process that reads and uploads at once.

Run as ``python _load_client.py CONFIG.json SUMMARY.json``. It needs only the standard library
and httpx, never imports the service, and talks to it over loopback like any client.

The configuration (JSON, written by the test) names the server ``url``, the load
(``duration_s``, ``read_workers``, ``upload_interval_s``), the API ``keys`` by role, the
``reads`` (each ``{"name", "path", "params", "who"}``, sent round-robin by every read worker,
each worker starting at another offset) and the ``uploads`` (each ``{"file", "filename",
"content_type", "form", "who"}``, sent one every ``upload_interval_s`` seconds from the start
until the duration ends, in order).

Every upload that is acknowledged (202) is polled (``GET /jobs/{id}``, by its uploader) until
it ends, then its follow-up job (the indicator recompute) is polled with the admin key. Polls
keep going after the load window for at most ``drain_s`` seconds.

The summary (JSON) holds, per endpoint and overall: requests, status counts, latency p50 /
p95 / max (seconds) and errors; the throughput of the load window (requests per second); and
one record per upload (HTTP status, job id, final status, rows stored, seconds from the 202 to
the end of the job and of its follow-up). An *error* is a transport error (connection refused
or reset, timeout), a 5xx, or a status other than the one expected (200 for reads and polls,
202 for uploads).
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

POLL_S = 0.5
"""Pause between two polls of the unfinished jobs."""
MAX_ERRORS_KEPT = 50
"""Errors listed in the summary (all are counted)."""


@dataclass
class Sample:
    """One request as the client saw it."""

    name: str
    status: int | None
    seconds: float
    error: str | None = None


@dataclass
class Upload:
    """One upload and what became of it."""

    index: int
    file: str
    sent_at: float = 0.0
    status: int | None = None
    job_id: str | None = None
    final: str | None = None
    rows: int | None = None
    error: str | None = None
    job_seconds: float | None = None
    followup_job: str | None = None
    followup_final: str | None = None
    followup_seconds: float | None = None
    result: dict[str, Any] | None = None


@dataclass
class Recorder:
    """Thread-safe list of samples."""

    samples: list[Sample] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample: Sample) -> None:
        with self.lock:
            self.samples.append(sample)


def _headers(config: dict[str, Any], who: str) -> dict[str, str]:
    key = config["keys"].get(who)
    return {"Authorization": f"Bearer {key}"} if key else {}


def _send(
    client: httpx.Client,
    recorder: Recorder,
    name: str,
    expected: int,
    method: str,
    path: str,
    **kwargs: Any,
) -> httpx.Response | None:
    """Send one request and record it; ``None`` on a transport error."""
    start = time.monotonic()
    try:
        response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:  # timeouts, refused or reset connections
        recorder.add(Sample(name, None, time.monotonic() - start, f"{type(exc).__name__}: {exc}"))
        return None
    seconds = time.monotonic() - start
    error = None
    if response.status_code != expected:
        error = f"HTTP {response.status_code} (expected {expected}): {response.text[:200]}"
    recorder.add(Sample(name, response.status_code, seconds, error))
    return response


def _reader(
    config: dict[str, Any], recorder: Recorder, worker: int, deadline: float, timeout: float
) -> None:
    reads = config["reads"]
    with httpx.Client(base_url=config["url"], timeout=timeout) as client:
        i = worker
        while time.monotonic() < deadline:
            read = reads[i % len(reads)]
            i += 1
            _send(
                client,
                recorder,
                read["name"],
                200,
                "GET",
                read["path"],
                params=read.get("params") or None,
                headers=_headers(config, read["who"]),
            )


def _uploader(
    config: dict[str, Any],
    recorder: Recorder,
    uploads: list[Upload],
    lock: threading.Lock,
    start: float,
    deadline: float,
    timeout: float,
) -> None:
    specs = config["uploads"]
    interval = float(config["upload_interval_s"])
    with httpx.Client(base_url=config["url"], timeout=timeout) as client:
        for index, spec in enumerate(specs):
            due = start + index * interval
            if due >= deadline:
                break
            time.sleep(max(0.0, due - time.monotonic()))
            record = Upload(index=index, file=spec["file"], sent_at=time.monotonic())
            content = Path(spec["file"]).read_bytes()
            headers = {**_headers(config, spec["who"]), "Idempotency-Key": uuid.uuid4().hex}
            response = _send(
                client,
                recorder,
                "upload",
                202,
                "POST",
                "/uploads",
                headers=headers,
                data=spec["form"],
                files={"file": (spec["filename"], content, spec["content_type"])},
            )
            if response is None:
                record.error = "transport error"
            else:
                record.status = response.status_code
                if response.status_code == 202:
                    record.job_id = response.json()["job_id"]
                else:
                    record.error = response.text[:300]
            with lock:
                uploads.append(record)


def _poll_once(
    client: httpx.Client,
    config: dict[str, Any],
    recorder: Recorder,
    upload: Upload,
    who: str,
) -> None:
    """One poll of the upload's job, or of its follow-up once the upload ended."""
    follow = upload.final is not None
    job_id = upload.followup_job if follow else upload.job_id
    name = "job poll (follow-up)" if follow else "job poll"
    response = _send(
        client, recorder, name, 200, "GET", f"/jobs/{job_id}", headers=_headers(config, who)
    )
    if response is None or response.status_code != 200:
        return
    body = response.json()
    if body["status"] not in ("succeeded", "failed"):
        return
    seconds = time.monotonic() - upload.sent_at
    if follow:
        upload.followup_final = body["status"]
        upload.followup_seconds = seconds
        return
    upload.final = body["status"]
    upload.job_seconds = seconds
    upload.result = body.get("result")
    upload.rows = (body.get("result") or {}).get("rows")
    upload.error = body.get("error")
    upload.followup_job = (body.get("result") or {}).get("followup_job")
    if upload.followup_job is None:
        upload.followup_final = "none"


def _poller(
    config: dict[str, Any],
    recorder: Recorder,
    uploads: list[Upload],
    lock: threading.Lock,
    uploads_done: threading.Event,
    stop_at: float,
    timeout: float,
) -> None:
    uploader = config["uploads"][0]["who"] if config["uploads"] else "admin"
    with httpx.Client(base_url=config["url"], timeout=timeout) as client:
        while time.monotonic() < stop_at:
            with lock:
                pending = [u for u in uploads if u.job_id and u.followup_final is None]
            if not pending and uploads_done.is_set():
                return
            for upload in pending:
                who = uploader if upload.final is None else "admin"
                _poll_once(client, config, recorder, upload, who)
            time.sleep(POLL_S)


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 4)
    return round(statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1], 4)


def _stats(samples: list[Sample]) -> dict[str, Any]:
    seconds = [s.seconds for s in samples]
    statuses: dict[str, int] = {}
    for s in samples:
        key = str(s.status) if s.status is not None else "transport error"
        statuses[key] = statuses.get(key, 0) + 1
    return {
        "requests": len(samples),
        "status_counts": dict(sorted(statuses.items())),
        "errors": sum(1 for s in samples if s.error),
        "p50_s": _quantile(seconds, 0.50),
        "p95_s": _quantile(seconds, 0.95),
        "max_s": round(max(seconds), 4) if seconds else None,
    }


def run(config: dict[str, Any]) -> dict[str, Any]:
    """Run the load described by ``config``; returns the summary."""
    duration = float(config["duration_s"])
    timeout = float(config.get("timeout_s", 60.0))
    recorder = Recorder()
    uploads: list[Upload] = []
    lock = threading.Lock()
    uploads_done = threading.Event()
    start = time.monotonic()
    deadline = start + duration
    readers = [
        threading.Thread(target=_reader, args=(config, recorder, w, deadline, timeout))
        for w in range(int(config["read_workers"]))
    ]
    uploader = threading.Thread(
        target=_uploader, args=(config, recorder, uploads, lock, start, deadline, timeout)
    )
    poller = threading.Thread(
        target=_poller,
        args=(
            config,
            recorder,
            uploads,
            lock,
            uploads_done,
            deadline + float(config["drain_s"]),
            timeout,
        ),
    )
    for thread in (*readers, uploader, poller):
        thread.start()
    uploader.join()
    uploads_done.set()
    for thread in readers:
        thread.join()
    window = time.monotonic() - start
    in_window = list(recorder.samples)
    read_names = {r["name"] for r in config["reads"]}
    reads = [s for s in in_window if s.name in read_names]
    poller.join()
    drained = time.monotonic() - start

    names = sorted({s.name for s in recorder.samples})
    errors = [f"{s.name}: {s.error}" for s in recorder.samples if s.error]
    errors += [
        f"upload {u.index}: job {u.job_id} not finished after the drain"
        for u in uploads
        if u.job_id and u.followup_final is None
    ]
    return {
        "load": {
            "duration_s": duration,
            "read_workers": int(config["read_workers"]),
            "upload_interval_s": float(config["upload_interval_s"]),
            "reads": [r["name"] for r in config["reads"]],
        },
        "window_s": round(window, 3),
        "drained_s": round(drained, 3),
        "requests_in_window": len(in_window),
        "throughput_rps": round(len(in_window) / window, 2) if window else None,
        "reads_in_window": len(reads),
        "read_throughput_rps": round(len(reads) / window, 2) if window else None,
        "reads": _stats(reads),
        "overall": _stats(recorder.samples),
        "endpoints": {n: _stats([s for s in recorder.samples if s.name == n]) for n in names},
        "errors": errors[:MAX_ERRORS_KEPT],
        "error_count": len(errors),
        "uploads": [u.__dict__ for u in uploads],
    }


def main(argv: list[str]) -> int:
    """``_load_client.py CONFIG.json SUMMARY.json``."""
    if len(argv) != 3:
        print(__doc__.splitlines()[0], "\nusage: _load_client.py CONFIG.json SUMMARY.json")
        return 2
    config = json.loads(Path(argv[1]).read_text())
    summary = run(config)
    Path(argv[2]).write_text(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
