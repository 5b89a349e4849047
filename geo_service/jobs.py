"""Background jobs: a small thread pool that runs uploads (and their follow-ups) and records
each job's life in the service database.

A job is a function ``fn(progress) -> JobOutcome`` submitted under a job id that
:meth:`geo_service.servicedb.ServiceDB.create_job` made. The runner marks the job
``running``, hands ``fn`` a throttled ``progress(done, total)`` callback, and records
``succeeded`` with the outcome or ``failed`` with the error text (and the validation report
when there is one). A job's exception is recorded, never raised to whoever submitted it.

Jobs that write the same target (e.g. one settlement and round) are given the same ``lock``
key and run one after the other, whatever the number of workers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from geo_service.servicedb import Job, JobStatus, ServiceDB

__all__ = ["JobError", "JobOutcome", "JobRunner", "Progress"]

log = logging.getLogger("geo_service.jobs")

Progress = Callable[[int, int], None]
"""``progress(done, total)``, called by a job as it goes."""

PROGRESS_INTERVAL_S = 0.5
"""Least time between two progress writes to the service database."""


@dataclass
class JobOutcome:
    """What a successful job hands back to the runner.

    Attributes
    ----------
    result : dict
        Stored as the job's ``result`` (plain JSON data).
    report : dict or None
        Stored as the job's ``report`` (``Report.to_dict()``).
    """

    result: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] | None = None


class JobError(Exception):
    """A job failed for a reason the user should read (stored as the job's ``error``).

    Parameters
    ----------
    message : str
        The error text shown to the user.
    report : dict, optional
        A validation report (``Report.to_dict()``) stored with the failed job.
    """

    def __init__(self, message: str, *, report: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.report = report


class _Throttled:
    """A progress callback that writes at most every ``interval`` seconds (and the last
    call when the job ends: :meth:`flush`)."""

    def __init__(self, db: ServiceDB, job_id: str, interval: float) -> None:
        self.db = db
        self.job_id = job_id
        self.interval = interval
        self._last = 0.0
        self._pending: tuple[int, int] | None = None

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            self._pending = (done, total)
            return
        self._last = now
        self._pending = None
        try:
            self.db.update_job(self.job_id, progress=done, total=total)
        except Exception:  # progress is best effort: never let it fail the job
            log.warning("could not record the progress of job %s", self.job_id, exc_info=True)

    def flush(self) -> None:
        if self._pending is not None:
            self._last = 0.0
            self(*self._pending)


class _KeyedLocks:
    """One lock per key, created on demand and dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._locks: dict[Hashable, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: Hashable | None) -> Iterator[None]:
        if key is None:
            yield
            return
        with self._mutex:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._mutex:
                lock, users = self._locks[key]
                if users <= 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)


class JobRunner:
    """Runs jobs on a thread pool and records them in the service database.

    Parameters
    ----------
    db : ServiceDB
        Where job status, progress, results and errors are written.
    workers : int
        Threads (``Settings.job_workers``).
    progress_interval : float
        Least seconds between two progress writes of one job.
    """

    def __init__(
        self, db: ServiceDB, workers: int = 1, *, progress_interval: float = PROGRESS_INTERVAL_S
    ) -> None:
        self.db = db
        self.progress_interval = progress_interval
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="geo-job")
        self._futures: dict[str, Future[None]] = {}
        self._mutex = threading.Lock()
        self._locks = _KeyedLocks()
        self._closed = False

    def submit(
        self, job_id: str, fn: Callable[[Progress], JobOutcome], *, lock: Hashable | None = None
    ) -> None:
        """Queue ``fn`` as the job ``job_id`` (already created, ``queued``).

        Parameters
        ----------
        job_id : str
            The job's id in the service database.
        fn : callable
            ``fn(progress) -> JobOutcome``; raise :class:`JobError` for a failure the user
            should read. Any exception fails the job; none reaches the caller.
        lock : hashable, optional
            Jobs with equal keys run one after the other (e.g. ``(settlement, round)``).

        Raises
        ------
        RuntimeError
            The runner is shut down (the job is then marked failed).
        """
        with self._mutex:
            if self._closed:
                self._fail(job_id, "the service is shutting down; the job was not run")
                raise RuntimeError("the job runner is shut down")
            future = self._pool.submit(self._run, job_id, fn, lock)
            self._futures[job_id] = future
        future.add_done_callback(lambda f, j=job_id: self._forget(j, f))

    def _forget(self, job_id: str, future: Future[None]) -> None:
        if future.cancelled():
            self._fail(job_id, "the service stopped before the job ran")
        with self._mutex:
            if self._futures.get(job_id) is future:
                del self._futures[job_id]

    def _fail(self, job_id: str, error: str, report: dict[str, Any] | None = None) -> None:
        try:
            self.db.update_job(job_id, status=JobStatus.failed, error=error, report=report)
        except Exception:
            log.exception("could not record the failure of job %s", job_id)

    def _run(self, job_id: str, fn: Callable[[Progress], JobOutcome], lock: Hashable) -> None:
        with self._locks.hold(lock):
            progress = _Throttled(self.db, job_id, self.progress_interval)
            try:
                self.db.update_job(job_id, status=JobStatus.running)
                outcome = fn(progress)
            except JobError as exc:
                self._fail(job_id, str(exc), exc.report)
                return
            except Exception as exc:
                log.exception("job %s failed unexpectedly", job_id)
                self._fail(job_id, f"unexpected error ({type(exc).__name__}); it has been logged")
                return
            progress.flush()
            try:
                self.db.update_job(
                    job_id,
                    status=JobStatus.succeeded,
                    result=outcome.result,
                    report=outcome.report,
                )
            except Exception:
                # the work is done (and e.g. committed to the store): say so, don't hide it
                log.exception("job %s succeeded but its outcome could not be recorded", job_id)
                self._fail(job_id, "the job finished but its outcome could not be recorded")

    def wait(self, job_id: str, timeout: float | None = None) -> Job | None:
        """Wait until ``job_id`` has run (for tests and the CLI); returns the recorded job.

        Raises
        ------
        TimeoutError
            The job is still queued or running after ``timeout`` seconds.
        """
        with self._mutex:
            future = self._futures.get(job_id)
        if future is not None:
            try:
                future.result(timeout=timeout)
            except FutureTimeout:
                raise TimeoutError(f"job {job_id} still runs after {timeout} s") from None
        return self.db.job(job_id)

    def pending(self) -> int:
        """Jobs queued or running in this process."""
        with self._mutex:
            return len(self._futures)

    @property
    def stopping(self) -> bool:
        """``True`` once :meth:`shutdown` was called (long jobs may stop early)."""
        return self._closed

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop taking jobs; let running jobs finish (``wait``), mark queued ones failed.

        Jobs still unfinished when the process dies are failed at the next start by
        :meth:`ServiceDB.fail_unfinished_jobs`.
        """
        with self._mutex:
            self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=True)
