"""The service database: API keys, settlement ownership and publication, audit log, jobs,
idempotency keys and MEL targets.

A small SQLite file beside the GeoPackage store (``Settings.service_db_path``), kept apart so
that audit writes and job updates never contend with an upload's long write transaction.
WAL mode, a busy timeout and ``BEGIN IMMEDIATE`` for writes, one short connection per call
(safe from any thread).

API keys are random 32-byte tokens shown once at creation (``gs_<key_id>_<secret>``); only
the SHA-256 of the secret is stored, compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "ApiKey",
    "Job",
    "JobStatus",
    "Role",
    "ServiceDB",
    "Target",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL,
    role TEXT NOT NULL,
    org TEXT,
    label TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS settlement_owners (
    settlement_id TEXT PRIMARY KEY,
    org TEXT NOT NULL,
    published INTEGER NOT NULL DEFAULT 0,
    published_at TEXT,
    published_by TEXT
);
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    key_id TEXT,
    role TEXT NOT NULL,
    org TEXT,
    action TEXT NOT NULL,
    resource TEXT NOT NULL,
    detail TEXT
);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    progress INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    key_id TEXT,
    org TEXT,
    request TEXT NOT NULL,
    result TEXT,
    report TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT NOT NULL,
    key_id TEXT NOT NULL,
    request_sha256 TEXT NOT NULL,
    job_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (key, key_id)
);
CREATE TABLE IF NOT EXISTS targets (
    city TEXT NOT NULL,
    indicator_id TEXT NOT NULL,
    "group" TEXT NOT NULL DEFAULT '',
    baseline REAL NOT NULL,
    baseline_year INTEGER NOT NULL,
    target REAL NOT NULL,
    target_year INTEGER NOT NULL,
    set_by TEXT,
    set_at TEXT NOT NULL,
    PRIMARY KEY (city, indicator_id, "group")
);
"""


class Role(StrEnum):
    """Who a caller is. ``public`` is the anonymous caller (no key)."""

    admin = "admin"
    federation = "federation"
    planner = "planner"
    mel = "mel"
    public = "public"


class JobStatus(StrEnum):
    """Life of a job: queued → running → succeeded | failed."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


@dataclass(frozen=True)
class ApiKey:
    """A stored key (never the secret)."""

    key_id: str
    role: Role
    org: str | None
    label: str | None
    created_at: str
    revoked_at: str | None


@dataclass(frozen=True)
class Job:
    """A background job and what it produced."""

    job_id: str
    kind: str
    status: JobStatus
    progress: int
    total: int
    key_id: str | None
    org: str | None
    request: dict[str, Any]
    result: dict[str, Any] | None
    report: dict[str, Any] | None
    error: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None


@dataclass(frozen=True)
class Target:
    """A baseline and target set by MEL for one indicator and group of a city."""

    city: str
    indicator_id: str
    group: str
    baseline: float
    baseline_year: int
    target: float
    target_year: int
    set_by: str | None = None
    set_at: str | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _load(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


class ServiceDB:
    """The service's own small database (see the module docstring).

    Parameters
    ----------
    path : Path
        SQLite file, created with its tables when missing.
    busy_timeout_ms : int
        How long a writer waits for another (ms).
    """

    def __init__(self, path: Path, *, busy_timeout_ms: int = 30_000) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._read() as con:
            con.executescript(_SCHEMA)  # IF NOT EXISTS: idempotent, runs its own transaction

    # -- connections --------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None)
        con.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA synchronous = NORMAL")
        return con

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        con = self._connect()
        try:
            yield con
        finally:
            con.close()

    # -- API keys -----------------------------------------------------------------------------

    def create_key(
        self, role: Role | str, *, org: str | None = None, label: str | None = None
    ) -> tuple[ApiKey, str]:
        """Create a key; returns it and the token (shown once, never stored).

        A ``federation`` key needs ``org``; ``public`` is not a key role.
        """
        role = Role(role)
        if role is Role.public:
            raise ValueError("public is the role of callers without a key; no key is needed")
        if role is Role.federation and not org:
            raise ValueError("a federation key needs --org (the federation it speaks for)")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        created = _now()
        with self._write() as con:
            con.execute(
                "INSERT INTO api_keys (key_id, secret_sha256, role, org, label, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key_id, _sha256(secret), role.value, org, label, created),
            )
        return ApiKey(key_id, role, org, label, created, None), f"gs_{key_id}_{secret}"

    def authenticate(self, token: str) -> ApiKey | None:
        """The active key a token belongs to, or ``None`` (malformed, unknown, revoked)."""
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != "gs" or not parts[1] or not parts[2]:
            return None
        with self._read() as con:
            row = con.execute(
                "SELECT key_id, secret_sha256, role, org, label, created_at, revoked_at "
                "FROM api_keys WHERE key_id = ?",
                (parts[1],),
            ).fetchone()
        if row is None or row[6] is not None:
            return None
        if not hmac.compare_digest(row[1], _sha256(parts[2])):
            return None
        return ApiKey(row[0], Role(row[2]), row[3], row[4], row[5], row[6])

    def api_keys(self) -> list[ApiKey]:
        """Every key, newest first."""
        with self._read() as con:
            rows = con.execute(
                "SELECT key_id, role, org, label, created_at, revoked_at FROM api_keys "
                "ORDER BY created_at DESC"
            ).fetchall()
        return [ApiKey(r[0], Role(r[1]), r[2], r[3], r[4], r[5]) for r in rows]

    def revoke_key(self, key_id: str) -> bool:
        """Revoke a key; ``False`` when no active key has that id."""
        with self._write() as con:
            cur = con.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (_now(), key_id),
            )
        return cur.rowcount == 1

    # -- settlement ownership and publication ---------------------------------------------------

    def claim_settlements(self, settlement_ids: Sequence[str], org: str) -> list[str]:
        """Record ``org`` as the owner of settlements that have none; returns those that
        belong to another organisation (left unchanged)."""
        ids = sorted({s for s in settlement_ids if s})
        if not ids:
            return []
        with self._write() as con:
            con.executemany(
                "INSERT OR IGNORE INTO settlement_owners (settlement_id, org) VALUES (?, ?)",
                [(s, org) for s in ids],
            )
            marks = ",".join("?" * len(ids))
            rows = con.execute(
                f"SELECT settlement_id FROM settlement_owners WHERE settlement_id IN ({marks}) "
                "AND org != ?",
                (*ids, org),
            ).fetchall()
        return [r[0] for r in rows]

    def assign_settlement(self, settlement_id: str, org: str) -> None:
        """Set (or change) the owner of a settlement (admin)."""
        with self._write() as con:
            con.execute(
                "INSERT INTO settlement_owners (settlement_id, org) VALUES (?, ?) "
                "ON CONFLICT(settlement_id) DO UPDATE SET org = excluded.org",
                (settlement_id, org),
            )

    def set_published(self, settlement_id: str, published: bool, *, by: str | None) -> bool:
        """Publish or withdraw a settlement; ``False`` when it has no owner record."""
        with self._write() as con:
            cur = con.execute(
                "UPDATE settlement_owners SET published = ?, published_at = ?, published_by = ? "
                "WHERE settlement_id = ?",
                (int(published), _now() if published else None, by, settlement_id),
            )
        return cur.rowcount == 1

    def owners(self) -> dict[str, tuple[str, bool]]:
        """Settlement id → (owning organisation, published)."""
        with self._read() as con:
            rows = con.execute(
                "SELECT settlement_id, org, published FROM settlement_owners"
            ).fetchall()
        return {r[0]: (r[1], bool(r[2])) for r in rows}

    # -- audit --------------------------------------------------------------------------------

    def audit(
        self,
        *,
        key_id: str | None,
        role: Role | str,
        org: str | None,
        action: str,
        resource: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Append one line to the audit log."""
        with self._write() as con:
            con.execute(
                "INSERT INTO audit_log (at, key_id, role, org, action, resource, detail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (_now(), key_id, str(role), org, action, resource, _json(detail)),
            )

    def audit_log(self, *, limit: int = 100) -> list[dict[str, Any]]:
        """The newest audit lines first."""
        with self._read() as con:
            rows = con.execute(
                "SELECT id, at, key_id, role, org, action, resource, detail FROM audit_log "
                "ORDER BY id DESC LIMIT ?",
                (int(limit),),
            ).fetchall()
        names = ("id", "at", "key_id", "role", "org", "action", "resource", "detail")
        return [dict(zip(names, (*r[:7], _load(r[7])), strict=True)) for r in rows]

    # -- jobs ---------------------------------------------------------------------------------

    def create_job(
        self,
        kind: str,
        request: dict[str, Any],
        *,
        key_id: str | None = None,
        org: str | None = None,
        idempotency: tuple[str, str] | None = None,
    ) -> tuple[Job, bool]:
        """A new queued job, or the job already recorded for an idempotency key.

        ``idempotency`` is ``(key, request_sha256)``. With the same key and the same request
        hash the existing job is returned with ``False`` (a retry); with another hash
        ``ValueError`` is raised (the key was used for a different request).
        """
        job_id = secrets.token_hex(8)
        now = _now()
        with self._write() as con:
            if idempotency is not None:
                row = con.execute(
                    "SELECT request_sha256, job_id FROM idempotency WHERE key = ? AND key_id = ?",
                    (idempotency[0], key_id or ""),
                ).fetchone()
                if row is not None:
                    if row[0] != idempotency[1]:
                        raise ValueError("Idempotency-Key already used for a different request")
                    existing = self._job(con, row[1])
                    if existing is not None:
                        return existing, False
                con.execute(
                    "INSERT OR REPLACE INTO idempotency "
                    "(key, key_id, request_sha256, job_id, created_at) VALUES (?, ?, ?, ?, ?)",
                    (idempotency[0], key_id or "", idempotency[1], job_id, now),
                )
            con.execute(
                "INSERT INTO jobs (job_id, kind, status, key_id, org, request, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (job_id, kind, JobStatus.queued.value, key_id, org, _json(request), now),
            )
            job = self._job(con, job_id)
        assert job is not None
        return job, True

    def update_job(
        self,
        job_id: str,
        *,
        status: JobStatus | None = None,
        progress: int | None = None,
        total: int | None = None,
        result: dict[str, Any] | None = None,
        report: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """Record a job's progress or outcome (only the fields given change)."""
        sets: list[str] = []
        values: list[Any] = []
        if status is not None:
            sets.append("status = ?")
            values.append(JobStatus(status).value)
            if status is JobStatus.running:
                sets.append("started_at = ?")
                values.append(_now())
            if status in (JobStatus.succeeded, JobStatus.failed):
                sets.append("finished_at = ?")
                values.append(_now())
        for name, value in (("progress", progress), ("total", total)):
            if value is not None:
                sets.append(f"{name} = ?")
                values.append(int(value))
        for name, obj in (("result", result), ("report", report)):
            if obj is not None:
                sets.append(f"{name} = ?")
                values.append(_json(obj))
        if error is not None:
            sets.append("error = ?")
            values.append(error)
        if not sets:
            return
        with self._write() as con:
            con.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE job_id = ?", (*values, job_id))

    @staticmethod
    def _job(con: sqlite3.Connection, job_id: str) -> Job | None:
        row = con.execute(
            "SELECT job_id, kind, status, progress, total, key_id, org, request, result, "
            "report, error, created_at, started_at, finished_at FROM jobs WHERE job_id = ?",
            (job_id,),
        ).fetchone()
        if row is None:
            return None
        return Job(
            job_id=row[0],
            kind=row[1],
            status=JobStatus(row[2]),
            progress=row[3],
            total=row[4],
            key_id=row[5],
            org=row[6],
            request=_load(row[7]) or {},
            result=_load(row[8]),
            report=_load(row[9]),
            error=row[10],
            created_at=row[11],
            started_at=row[12],
            finished_at=row[13],
        )

    def job(self, job_id: str) -> Job | None:
        """One job, or ``None``."""
        with self._read() as con:
            return self._job(con, job_id)

    def fail_unfinished_jobs(self, reason: str = "the service restarted") -> int:
        """Mark queued / running jobs failed (at start-up: their worker is gone)."""
        with self._write() as con:
            cur = con.execute(
                "UPDATE jobs SET status = ?, error = ?, finished_at = ? WHERE status IN (?, ?)",
                (
                    JobStatus.failed.value,
                    reason,
                    _now(),
                    JobStatus.queued.value,
                    JobStatus.running.value,
                ),
            )
        return cur.rowcount

    # -- targets ------------------------------------------------------------------------------

    def set_target(self, target: Target) -> Target:
        """Insert or replace a baseline / target; returns it as stored."""
        stored = Target(**{**target.__dict__, "set_at": _now()})
        with self._write() as con:
            con.execute(
                'INSERT OR REPLACE INTO targets (city, indicator_id, "group", baseline, '
                "baseline_year, target, target_year, set_by, set_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    stored.city,
                    stored.indicator_id,
                    stored.group,
                    stored.baseline,
                    stored.baseline_year,
                    stored.target,
                    stored.target_year,
                    stored.set_by,
                    stored.set_at,
                ),
            )
        return stored

    def targets(self, city: str) -> list[Target]:
        """Baselines and targets of a city."""
        with self._read() as con:
            rows = con.execute(
                'SELECT city, indicator_id, "group", baseline, baseline_year, target, '
                "target_year, set_by, set_at FROM targets WHERE city = ? "
                'ORDER BY indicator_id, "group"',
                (city,),
            ).fetchall()
        return [Target(*r) for r in rows]
