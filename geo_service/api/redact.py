"""Keep API keys out of the logs: a filter for uvicorn's access log (and any other logger).

Keys belong in the ``Authorization`` or ``X-API-Key`` header, which uvicorn never logs; but a
client may put one in a query string (``?api_key=...``), and the access log writes the whole
request line. :class:`RedactSecrets` rewrites such records before any handler sees them.
"""

from __future__ import annotations

import logging
import re

__all__ = ["RedactSecrets", "install", "redact"]

_KEY = re.compile(r"gs_[0-9a-f]{12}_[A-Za-z0-9_\-]+")
_PARAMETER = re.compile(
    r"(?i)\b(api[_-]?key|key|token|access[_-]?token|password|secret)=[^&\s\"']*"
)


def redact(text: str) -> str:
    """``text`` with API keys and secret-looking query parameters replaced by ``***``.

    Examples
    --------
    >>> redact("GET /models?api_key=gs_0123456789ab_s3cr3t-_x&f=json HTTP/1.1")
    'GET /models?api_key=***&f=json HTTP/1.1'
    >>> redact("bearer gs_0123456789ab_abc def")
    'bearer gs_*** def'
    """
    text = _PARAMETER.sub(lambda m: f"{m.group(1)}=***", text)
    return _KEY.sub("gs_***", text)


class RedactSecrets(logging.Filter):
    """Rewrites a record's message and arguments with :func:`redact` (never drops it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True


def install(*names: str) -> None:
    """Add one :class:`RedactSecrets` to each named logger (idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
