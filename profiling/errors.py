"""Domain errors raised by :mod:`profiling`.

Plain exceptions, no HTTP. ``geo_service`` maps each class to a status code in one place
(titiler's ``DEFAULT_STATUS_CODES`` pattern). Every error has a one-line ``str`` fit for a CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from profiling.report import Report

__all__ = [
    "InputTooLarge",
    "MissingCRS",
    "ProfilingError",
    "UnsafeInput",
    "UnsupportedFormat",
    "ValidationFailed",
]


class ProfilingError(Exception):
    """Base class of every error :mod:`profiling` raises on purpose."""


class UnsupportedFormat(ProfilingError):
    """The content is not one of the accepted formats (or is empty / truncated)."""


class UnsafeInput(ProfilingError):
    """The content tries something a reader refuses: path escape, external entity, VRT..."""


class InputTooLarge(ProfilingError):
    """A size limit is exceeded (bytes, expansion ratio, features, vertices)."""


class MissingCRS(ProfilingError):
    """A layer has no coordinate reference system and none was stated by the user."""


class ValidationFailed(ProfilingError):
    """Validation found errors; ``report`` carries every problem found."""

    def __init__(self, report: Report, message: str | None = None) -> None:
        self.report = report
        super().__init__(message or report.summary())
