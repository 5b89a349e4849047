"""One serving process per service database.

The service database holds the jobs of the process that serves it: at start, a process marks
every unfinished job failed (it was interrupted) and deletes their staged files. A second
process on the same service database would do that to the first one's running uploads. So a
serving process holds an exclusive ``flock`` on ``<service db>.lock`` from start to stop; the
kernel drops it when the process ends, even by ``SIGKILL``, so a crash never leaves a stale
lock behind. Within one process the lock is re-entrant (an application whose lifespan is
started twice, as test harnesses do, keeps serving).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

__all__ = ["AlreadyServing", "check_free", "lock_path", "serving"]

_HELD: dict[Path, tuple[int, int]] = {}  # lock file -> (descriptor, holders in this process)
_MUTEX = threading.Lock()


class AlreadyServing(RuntimeError):
    """Another process serves this service database."""


def lock_path(service_db: Path) -> Path:
    """The lock file beside ``service_db``."""
    return service_db.with_name(service_db.name + ".lock")


def _acquire(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise AlreadyServing(
            f"another geo-service process (pid {holder}) already serves "
            f"{path.with_suffix('')}; stop it first, or give this one its own "
            "GEO_SERVICE_SERVICE_DB_PATH"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


@contextlib.contextmanager
def serving(service_db: Path) -> Iterator[None]:
    """Hold the serving lock of ``service_db`` for the block.

    Raises
    ------
    AlreadyServing
        Another process holds it (its pid is in the message).
    """
    path = lock_path(service_db).resolve()
    with _MUTEX:
        fd, holders = _HELD.get(path) or (_acquire(path), 0)
        _HELD[path] = (fd, holders + 1)
    try:
        yield
    finally:
        with _MUTEX:
            fd, holders = _HELD.pop(path)
            if holders > 1:
                _HELD[path] = (fd, holders - 1)
            else:
                os.close(fd)  # closing the last descriptor releases the lock


def check_free(service_db: Path) -> None:
    """Raise :class:`AlreadyServing` now if another process serves ``service_db``."""
    with serving(service_db):
        pass
