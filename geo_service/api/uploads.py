"""Uploads (``POST /uploads``) and the jobs that ingest them (``GET /jobs/{job_id}``).

The request thread only receives, sniffs and queues: the multipart body is parsed as a
stream straight into a private job folder under a generated name (never Starlette's
``UploadFile``, which spools the whole part before the handler runs), counting bytes so that
an upload over ``Settings.max_upload_bytes`` is refused with 413 while it arrives. The format
is decided from the content (415 otherwise), ownership of a named settlement is checked
(another federation's published settlement is a 404; an unpublished one is unknown to the
caller, so the job's validation reports it as ``unknown_settlement``, exactly like a typo),
the idempotency key is recorded and the ingest runs as a background job
(:class:`geo_service.jobs.JobRunner`).

The job reads, maps and validates the file with the same code as the CLI
(:mod:`geo_service.ingestion`), checks that every settlement the rows name belongs to the
uploading federation (or to nobody: it then claims them), and writes everything in one
transaction. A failed job stores nothing.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import orjson
from fastapi import APIRouter, Depends, Header, HTTPException, Request, status
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from geo_service.access import Principal
from geo_service.api.deps import Services, audit, get_services, require
from geo_service.api.errors import problem
from geo_service.api.responses import JSONBytes
from geo_service.ingestion import IngestRequest, IngestResult, ingest_staged
from geo_service.jobs import JobError, JobOutcome, Progress
from geo_service.servicedb import Job, JobStatus, Role
from geo_service.settings import Settings
from geo_service.storage.base import StoreBusy, StoreError, StoreUnavailable
from profiling.errors import (
    InputTooLarge,
    MissingCRS,
    ProfilingError,
    UnsafeInput,
    UnsupportedFormat,
    ValidationFailed,
)
from profiling.ingest.mapping import bundled_mappings
from profiling.ingest.pipeline import Ingested
from profiling.ingest.safety import Limits, StagedFile, parse_user_crs, sanitize_name, sniff
from profiling.schema import LAYERS, RASTER_KINDS

__all__ = ["router"]

log = logging.getLogger("geo_service.api.uploads")

router = APIRouter(tags=["uploads"])

ENVELOPE_BYTES = 64 * 1024
"""Allowance for the multipart envelope (boundaries, part headers, form fields) on top of
``max_upload_bytes`` when the whole body is counted."""
FIELD_MAX_BYTES = 1024
"""Longest accepted form field value."""
FIELDS = ("layer", "mapping", "settlement", "round", "skip_invalid_rows", "source_layer", "crs")
"""Form fields besides ``file``."""
BUSY_RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0)
"""Pauses before each new attempt when the store stays busy (then the job fails)."""

_ID_RE = re.compile(r"^[^\x00-\x1f\x7f/\\]{1,100}$")
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


# ------------------------------------------------------------------------- streaming the body


class _TooLarge(Exception):
    """The body or its file passed the size limit."""


class _BadForm(Exception):
    """The multipart body is malformed or holds unexpected parts."""


@dataclass
class _Received:
    """A multipart body received into a job folder."""

    path: Path | None = None
    sha256: str = ""
    size: int = 0
    original_name: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


class _FormSink:
    """Callbacks of :class:`python_multipart.MultipartParser`: the ``file`` part goes
    straight to ``target`` (hashed and counted), other parts are small text fields."""

    def __init__(self, target: Path, max_file_bytes: int) -> None:
        self.target = target
        self.max_file_bytes = max_file_bytes
        self.received = _Received()
        self.complete = False
        self._digest = hashlib.sha256()
        self._out: BinaryIO | None = None
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._value = bytearray()
        self._file_part = False

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self._headers = {}
        self._value = bytearray()
        self._file_part = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field = bytearray()
        self._header_value = bytearray()

    def on_headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get(b"content-disposition"))
        raw_name = options.get(b"name")
        if disposition != b"form-data" or raw_name is None:
            raise _BadForm("every part needs 'Content-Disposition: form-data; name=...'")
        self._name = raw_name.decode("utf-8", "replace")
        if self._name == "file":
            if self.received.path is not None:
                raise _BadForm("send one file per upload (two 'file' parts)")
            filename = options.get(b"filename")
            self.received.original_name = sanitize_name(
                filename.decode("utf-8", "replace") if filename else None
            )
            fd = os.open(self.target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            self._out = os.fdopen(fd, "wb")
            self.received.path = self.target
            self._file_part = True
        elif self._name not in FIELDS:
            raise _BadForm(
                f"unexpected form field {self._name[:40]!r} (expected: file, {', '.join(FIELDS)})"
            )
        elif self._name in self.received.fields:
            raise _BadForm(f"form field {self._name!r} given twice")
        elif b"filename" in options:
            raise _BadForm(f"form field {self._name!r} must be text, not a file")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._file_part:
            assert self._out is not None
            self.received.size += len(chunk)
            if self.received.size > self.max_file_bytes:
                raise _TooLarge
            self._digest.update(chunk)
            self._out.write(chunk)
        else:
            self._value += chunk
            if len(self._value) > FIELD_MAX_BYTES:
                raise _BadForm(f"form field {self._name!r} is longer than {FIELD_MAX_BYTES} bytes")

    def on_part_end(self) -> None:
        if self._file_part:
            self.close()
            self.received.sha256 = self._digest.hexdigest()
            return
        try:
            self.received.fields[self._name] = self._value.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise _BadForm(f"form field {self._name!r} is not UTF-8 text") from None

    def on_end(self) -> None:
        self.complete = True

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


async def _receive(request: Request, job_dir: Path, settings: Settings) -> _Received:
    """Parse the multipart body as it arrives; the file goes to ``job_dir``.

    Raises
    ------
    HTTPException
        415 (not multipart), 400 (malformed), 413 (too large), 422 (unexpected parts).
    """
    media, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if media != b"multipart/form-data" or not boundary:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "send the upload as multipart/form-data (a 'file' part and form fields)",
        )
    limit = settings.max_upload_bytes
    sink = _FormSink(job_dir / f"upload-{uuid.uuid4().hex}.bin", limit)
    parser = MultipartParser(boundary, sink.callbacks())  # type: ignore[arg-type]
    seen = 0
    try:
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > limit + ENVELOPE_BYTES:
                raise _TooLarge
            if chunk:
                await run_in_threadpool(parser.write, chunk)  # disk writes off the event loop
        parser.finalize()
    except _TooLarge:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"the upload is larger than the limit of {settings.max_upload_mb:g} MB",
        ) from None
    except _BadForm as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except ClientDisconnect:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the client went away") from None
    except Exception as exc:  # the parser's own errors: malformed multipart
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"malformed multipart body ({type(exc).__name__})"
        ) from None
    finally:
        sink.close()
    if not sink.complete:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the multipart body is truncated")
    if sink.received.path is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "no 'file' part was sent")
    return sink.received


# ------------------------------------------------------------------------------ form fields


def _field_error(name: str, message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name}: {message}")


def _ingest_request(received: _Received) -> IngestRequest:
    """The form fields checked and turned into an :class:`IngestRequest` (422 otherwise).

    ``mapping`` must be a bundled mapping id (user text never names a server file).
    """
    f = {k: v for k, v in received.fields.items() if v != ""}
    layer = f.get("layer")
    if layer is not None and layer not in LAYERS and layer not in RASTER_KINDS:
        known = ", ".join([*LAYERS, *RASTER_KINDS])
        raise _field_error("layer", f"unknown layer {layer[:40]!r} (known: {known})")
    mapping = f.get("mapping")
    if mapping is not None:
        bundled = bundled_mappings()
        if mapping not in bundled:
            raise _field_error(
                "mapping", f"unknown mapping {mapping[:40]!r} (known: {', '.join(sorted(bundled))})"
            )
    for name in ("settlement", "round", "source_layer"):
        value = f.get(name)
        if value is not None and not _ID_RE.match(value):
            raise _field_error(name, "1 to 100 characters, no control characters or slashes")
    crs = f.get("crs")
    if crs is not None:
        try:
            parse_user_crs(crs)
        except MissingCRS as exc:
            raise _field_error("crs", str(exc)) from None
    skip = f.get("skip_invalid_rows", "").lower()
    if skip not in _TRUE | _FALSE:
        raise _field_error("skip_invalid_rows", "true or false")
    return IngestRequest(
        layer=layer,
        mapping=mapping,
        settlement=f.get("settlement"),
        round=f.get("round"),
        source_layer=f.get("source_layer"),
        crs=crs,
        original_name=received.original_name,
        skip_invalid_rows=skip in _TRUE,
    )


def _request_fields(request: IngestRequest) -> dict[str, Any]:
    return {
        "layer": request.layer,
        "mapping": str(request.mapping) if request.mapping is not None else None,
        "settlement": request.settlement,
        "round": request.round,
        "source_layer": request.source_layer,
        "crs": request.crs,
        "skip_invalid_rows": request.skip_invalid_rows,
    }


# ------------------------------------------------------------------------------- the job


def _touched_settlements(ingested: Ingested, request: IngestRequest) -> list[str]:
    """Every settlement id the stored rows carry (and the one the form named)."""
    ids: set[str] = {request.settlement} if request.settlement else set()
    for frame in ingested.frames.values():
        if "settlement_id" in frame.columns:
            ids.update(str(v) for v in frame["settlement_id"].dropna().unique() if str(v))
    return sorted(ids)


def _hidden_from(services: Services, principal: Principal) -> list[str]:
    """Settlements a federation may not see (another's, unpublished): to its uploads they
    are unknown settlements, exactly like a typo, so a refusal reveals nothing."""
    if principal.role is not Role.federation:
        return []
    return sorted(
        s for s, (org, published) in services.db.owners().items()
        if org != principal.org and not published
    )  # fmt: skip


def _check_owner(services: Services, principal: Principal, settlements: list[str]) -> None:
    """Claim unowned settlements for a federation; fail when one belongs to another.

    Nothing is claimed when any settlement belongs to someone else. Admins claim nothing.
    """
    if principal.role is not Role.federation or not settlements:
        return
    org = principal.org or ""
    owners = services.db.owners()
    others = sorted(s for s in settlements if s in owners and owners[s][0] != org)
    if not others:
        others = services.db.claim_settlements(settlements, org)  # atomic; races show here
    if others:
        raise JobError(
            "the file holds rows of settlements that belong to another organisation: "
            f"{', '.join(others)}; nothing was stored"
        )


def _ingest_once(
    services: Services,
    principal: Principal,
    staged: StagedFile,
    request: IngestRequest,
    work: Path,
    progress: Progress,
) -> tuple[IngestResult, list[str]]:
    """One attempt of :func:`geo_service.ingestion.ingest_staged`, checking settlement
    ownership between validation and the write (the file was staged as it arrived)."""
    touched: list[str] = []

    def check(ingested: Ingested) -> None:
        touched.extend(_touched_settlements(ingested, request))
        _check_owner(services, principal, touched)

    result = ingest_staged(
        staged, request, settings=services.settings, job=work, progress=progress,
        before_write=check, hidden_settlements=_hidden_from(services, principal),
    )  # fmt: skip
    return result, ([] if result.duplicate else touched)


def _is_busy(exc: BaseException) -> bool:
    if isinstance(exc, StoreBusy | StoreUnavailable):
        return True
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


def _upload_job(
    services: Services,
    principal: Principal,
    job_id: str,
    staged: StagedFile,
    request: IngestRequest,
) -> Callable[[Progress], JobOutcome]:
    """The job function of one upload (removes the job folder when it ends)."""

    def run(progress: Progress) -> JobOutcome:
        job_dir = staged.path.parent
        try:
            for attempt, delay in enumerate((*BUSY_RETRY_DELAYS_S, None)):
                try:
                    work = job_dir / f"attempt-{attempt}"
                    result, touched = _ingest_once(
                        services, principal, staged, request, work, progress
                    )
                    break
                except ValidationFailed as exc:
                    raise JobError(str(exc), report=exc.report.to_dict(limit=1000)) from None
                except (ProfilingError, StoreError) as exc:
                    if not _is_busy(exc):
                        raise JobError(str(exc)) from None
                    if delay is None:
                        raise JobError(
                            f"the store stayed busy (other uploads were writing) after "
                            f"{attempt + 1} attempts; nothing was stored, send the file again"
                        ) from None
                    log.info("job %s: store busy, attempt %d again", job_id, attempt + 2)
                    time.sleep(delay)
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc) or delay is None:
                        raise
                    time.sleep(delay)
        finally:
            shutil.rmtree(job_dir, ignore_errors=True)
        followup = (
            None if result.duplicate else _queue_followup(services, principal, job_id, touched)
        )
        return JobOutcome(
            result={
                "layer": result.layer,
                "rows": result.rows,
                "upload_id": result.upload_id,
                "duplicate": result.duplicate,
                "settlements": touched,
                "notes": result.notes,
                "followup_job": followup,
            },
            report=result.report.to_dict(limit=1000),
        )

    return run


def _queue_followup(
    services: Services, principal: Principal, job_id: str, settlements: list[str]
) -> str | None:
    """Queue the ``after_upload`` hooks as a job of their own, the uploader's like the upload
    (``GET /jobs/{id}`` answers them); its id, or ``None``."""
    hooks = list(services.after_upload)
    if not hooks:
        return None
    job, _ = services.db.create_job(
        "after_upload",
        {"upload_job": job_id, "settlements": settlements},
        key_id=principal.key_id,
        org=principal.org,
    )

    def run(progress: Progress) -> JobOutcome:
        failed: list[str] = []
        for i, hook in enumerate(hooks):
            progress(i, len(hooks))
            try:
                hook(services, settlements)
            except Exception:
                log.exception("after_upload hook %r failed (upload job %s)", hook, job_id)
                failed.append(getattr(hook, "__name__", repr(hook)))
        if failed:
            raise JobError(f"after-upload step(s) failed: {', '.join(failed)}")
        return JobOutcome(result={"hooks": len(hooks), "settlements": settlements})

    try:
        services.jobs.submit(job.job_id, run)
    except RuntimeError:
        return job.job_id  # shutting down: the runner marked it failed
    return job.job_id


# ------------------------------------------------------------------------------ responses


def _job_body(job: Job, request: Request) -> dict[str, Any]:
    href = str(request.url_for("get_job", job_id=job.job_id))
    return {
        "job_id": job.job_id,
        "kind": job.kind,
        "status": job.status.value,
        "progress": {"done": job.progress, "total": job.total},
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "request": job.request,
        "result": job.result,
        "error": job.error,
        "report": job.report,
        "links": [{"rel": "self", "href": href, "type": "application/json"}],
    }


def _accept(
    services: Services,
    principal: Principal,
    request: Request,
    received: _Received,
    idempotency_key: str | None,
) -> tuple[JSONBytes, bool]:
    """Everything after the body arrived (a worker thread): sniff, check, record, queue.

    Returns the response and whether a job was queued (it then owns the job folder).
    """
    assert received.path is not None
    ingest = _ingest_request(received)
    limits = Limits(max_upload_bytes=services.settings.max_upload_bytes)
    try:
        fmt = sniff(received.path, limits=limits)
    except (UnsupportedFormat, UnsafeInput) as exc:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"the file is refused: {exc}"
        ) from None
    except InputTooLarge as exc:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(exc)) from None
    if principal.role is Role.federation and ingest.settlement:
        # another federation's published settlement: visible, so refused at once; an
        # unpublished one is left to the job, where it reads as unknown (like a typo)
        owner = services.db.owners().get(ingest.settlement)
        if owner is not None and owner[0] != principal.org and owner[1]:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"settlement {ingest.settlement!r} not found"
            )
    fields = _request_fields(ingest)
    digest = hashlib.sha256(
        orjson.dumps({"sha256": received.sha256, "fields": fields}, option=orjson.OPT_SORT_KEYS)
    ).hexdigest()
    record = {
        **fields,
        "original_name": received.original_name,
        "size": received.size,
        "sha256": received.sha256,
        "format": fmt,
    }
    job, created = _create_job(services, principal, record, digest, idempotency_key)
    try:
        audit(
            services,
            principal,
            "upload",
            f"jobs/{job.job_id}",
            {**record, "replay": not created, "idempotency_key": idempotency_key},
        )
    except Exception:
        if created:  # never run an upload the audit log does not know of
            services.db.update_job(
                job.job_id, status=JobStatus.failed, error="the audit log could not be written"
            )
        raise
    headers = {"Location": str(request.url_for("get_job", job_id=job.job_id))}
    if not created:
        if job.status in (JobStatus.queued, JobStatus.running):
            conflict = problem(
                status.HTTP_409_CONFLICT,
                "an upload with this idempotency key is still running; poll the job",
                headers=headers,
                job_id=job.job_id,
            )
            return conflict, False
        replay = JSONBytes(_job_body(job, request), status_code=status.HTTP_200_OK, headers=headers)
        return replay, False
    staged = StagedFile(received.path, received.sha256, received.size, received.original_name)
    fn = _upload_job(services, principal, job.job_id, staged, ingest)
    try:
        services.jobs.submit(job.job_id, fn, lock=(ingest.settlement or "", ingest.round or ""))
    except RuntimeError:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the service is shutting down; send the file again shortly",
            headers={"Retry-After": "5"},
        ) from None
    accepted = JSONBytes(
        _job_body(job, request), status_code=status.HTTP_202_ACCEPTED, headers=headers
    )
    return accepted, True


def _create_job(
    services: Services,
    principal: Principal,
    record: dict[str, Any],
    digest: str,
    idempotency_key: str | None,
) -> tuple[Job, bool]:
    """The job of this request: new, or the one already recorded under its key.

    With an ``Idempotency-Key`` the recorded job is answered whatever its outcome. Without
    one, the key is the request's hash; a *failed* job recorded under it does not block a
    new attempt (e.g. after the store was busy): the new job is chained after it.
    """
    if idempotency_key is not None:
        try:
            return services.db.create_job(
                "upload",
                record,
                key_id=principal.key_id,
                org=principal.org,
                idempotency=(idempotency_key, digest),
            )
        except ValueError:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                "this Idempotency-Key was already used for a different upload "
                "(another file or other form fields); use a new key",
            ) from None
    key = f"sha256:{digest}"
    for _ in range(100):
        job, created = services.db.create_job(
            "upload", record, key_id=principal.key_id, org=principal.org, idempotency=(key, digest)
        )
        if created or job.status is not JobStatus.failed:
            return job, created
        key = f"sha256:{digest}:after:{job.job_id}"
    raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "this file failed too many times")


# ------------------------------------------------------------------------------- endpoints

_JOB_EXAMPLE: dict[str, Any] = {
    "job_id": "3f2a9c0d1e4b5a67",
    "kind": "upload",
    "status": "succeeded",
    "progress": {"done": 1200, "total": 1200},
    "created_at": "2025-06-01T09:30:00.120+00:00",
    "started_at": "2025-06-01T09:30:00.180+00:00",
    "finished_at": "2025-06-01T09:30:04.910+00:00",
    "request": {
        "layer": "households",
        "mapping": "demo_households",
        "settlement": "mtoni",
        "round": "2025-06",
        "source_layer": None,
        "crs": None,
        "skip_invalid_rows": False,
        "original_name": "households_kobo.csv",
        "size": 482113,
        "sha256": "9b1f...",
        "format": "csv",
    },
    "result": {
        "layer": "households",
        "rows": 1200,
        "upload_id": 12,
        "duplicate": False,
        "settlements": ["mtoni"],
        "notes": [],
        "followup_job": None,
    },
    "error": None,
    "report": {"summary": "1200 rows, no errors", "valid": True, "problems": []},
    "links": [{"rel": "self", "href": "https://example.org/jobs/3f2a9c0d1e4b5a67"}],
}

_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "The file: Kobo/ODK CSV or XLSX, ODK Central zip, "
                        "GeoJSON, GeoPackage, zipped Shapefile, KML/KMZ or GeoTIFF (the "
                        "format is read from the content, not the name).",
                    },
                    "layer": {
                        "type": "string",
                        "description": "Canonical target layer (or raster kind).",
                        "enum": [*LAYERS, *RASTER_KINDS],
                        "example": "households",
                    },
                    "mapping": {
                        "type": "string",
                        "description": "Id of a bundled column mapping (form).",
                        "example": "demo_households",
                    },
                    "settlement": {
                        "type": "string",
                        "description": "Settlement the rows belong to (yours or unowned).",
                        "example": "mtoni",
                    },
                    "round": {
                        "type": "string",
                        "description": "Enumeration round (an ISO date names its date).",
                        "example": "2025-06",
                    },
                    "skip_invalid_rows": {
                        "type": "boolean",
                        "default": False,
                        "description": "Store the valid rows and set the others aside "
                        "(listed in the report); by default any error stores nothing.",
                    },
                    "source_layer": {
                        "type": "string",
                        "description": "Sheet / layer / member file to read.",
                    },
                    "crs": {
                        "type": "string",
                        "description": "CRS of files without one (authority code).",
                        "example": "EPSG:32737",
                    },
                },
            },
            "encoding": {"file": {"contentType": "application/octet-stream"}},
        }
    },
}

_PROBLEM = {"content": {"application/problem+json": {}}}


@router.post(
    "/uploads",
    summary="Upload a file for ingestion (background job)",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=JSONBytes,
    openapi_extra={"requestBody": _UPLOAD_BODY},
    responses={
        202: {
            "description": "Accepted: the job is queued; poll `Location` (`/jobs/{job_id}`).",
            "content": {"application/json": {"example": {**_JOB_EXAMPLE, "status": "queued"}}},
        },
        200: {
            "description": "A retry of a finished upload (same idempotency key and body): "
            "the recorded job, nothing is ingested again.",
            "content": {"application/json": {"example": _JOB_EXAMPLE}},
        },
        400: {"description": "Malformed multipart body or Content-Length.", **_PROBLEM},
        401: {"description": "No API key.", **_PROBLEM},
        403: {"description": "Only federations and admins upload.", **_PROBLEM},
        404: {"description": "The settlement belongs to another federation.", **_PROBLEM},
        409: {"description": "The same upload is still running.", **_PROBLEM},
        413: {"description": "Larger than the upload limit.", **_PROBLEM},
        415: {"description": "Not multipart, or a file format that is refused.", **_PROBLEM},
        422: {
            "description": "Bad form fields, or an Idempotency-Key reused for another body.",
            **_PROBLEM,
        },
        503: {"description": "The service is shutting down; retry shortly.", **_PROBLEM},
    },
)
async def create_upload(
    request: Request,
    principal: Annotated[Principal, Depends(require(Role.federation))],
    services: Annotated[Services, Depends(get_services)],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Client key making retries safe (default: the file's SHA-256 "
            "with the form fields).",
        ),
    ] = None,
) -> JSONBytes:
    """Upload one file (multipart form: `file` and the fields below); answers **202** with
    the job and its `Location`.

    The body is read as a stream and refused with **413** as soon as it passes the upload
    limit; the format is decided from the content (**415** for anything else: images,
    executables, GDAL virtual files, XML with entities...). A federation uploads only for
    its own settlements or unowned ones (it then becomes the owner); another federation's
    published settlement is a **404**. Another federation's unpublished settlement is
    unknown to the caller: the job fails with `unknown_settlement` in its report, exactly
    as for a settlement that does not exist, and stores nothing.

    Idempotency: the same `Idempotency-Key` and the same body answer the recorded job
    (**200** when finished, **409** while it runs); the same key with another body is a
    **422**. Without a key, the file's SHA-256 and the fields are the key.

    The job validates the file like `geo-service ingest`; a file with errors stores nothing
    (unless `skip_invalid_rows`) and the job's `report` lists each row and column.
    """
    length = request.headers.get("content-length")
    limit = services.settings.max_upload_bytes
    if length is not None:
        if not length.isdigit():
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "invalid Content-Length")
        if int(length) > limit + ENVELOPE_BYTES:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE,
                f"the upload is larger than the limit of {services.settings.max_upload_mb:g} MB",
            )
    if idempotency_key is not None and not _KEY_RE.match(idempotency_key):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "Idempotency-Key: 1 to 255 printable ASCII characters",
        )
    assert services.settings.work_dir is not None
    services.settings.work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    job_dir = services.settings.work_dir / f"upload-{uuid.uuid4().hex}"
    job_dir.mkdir(mode=0o700)
    queued = False
    try:
        received = await _receive(request, job_dir, services.settings)
        response, queued = await run_in_threadpool(
            _accept, services, principal, request, received, idempotency_key
        )
        return response
    finally:
        if not queued:  # refused or answered by a replay; a queued job removes its folder
            shutil.rmtree(job_dir, ignore_errors=True)


@router.get(
    "/jobs/{job_id}",
    name="get_job",
    summary="Status, progress and outcome of a job",
    response_class=JSONBytes,
    responses={
        200: {"content": {"application/json": {"example": _JOB_EXAMPLE}}},
        401: {"description": "No API key.", **_PROBLEM},
        404: {"description": "No such job, or not yours.", **_PROBLEM},
    },
)
def get_job(
    job_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require(Role.federation, Role.planner, Role.mel))],
    services: Annotated[Services, Depends(get_services)],
) -> JSONBytes:
    """A job: `status` (queued → running → succeeded | failed), `progress` (done / total),
    times, the `result` of an upload (layer, rows, upload id, whether the file was already
    stored), the validation `report` (every problem with its row and column) and the
    `error` of a failed job. Only the key that created the job (or an admin) may read it;
    anyone else gets a 404.
    """
    job = services.db.job(job_id) if len(job_id) <= 64 else None
    if job is None or (principal.role is not Role.admin and job.key_id != principal.key_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id[:64]!r} not found")
    return JSONBytes(_job_body(job, request))
