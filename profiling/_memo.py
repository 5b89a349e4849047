"""Work shared within one computation: code-list lookups, ladders, group codes, deprivations.

Inside :func:`shared_work`, :func:`memo` keeps each result for the lifetime of the block, keyed
by the frame it was computed from (by identity, which the entry holds so it cannot be reused)
and a hashable key. Outside the block nothing is kept. Frames must not be modified inside the
block (results read from them would go stale); callers must not modify what ``memo`` returns.

>>> import pandas as pd
>>> frame, calls = pd.DataFrame({"a": [1]}), []
>>> with shared_work():
...     _ = [memo(frame, "k", lambda: calls.append(1)) for _ in range(3)]
>>> len(calls)
1
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

__all__ = ["memo", "shared_work"]

T = TypeVar("T")

_STORE: ContextVar[dict[tuple[int, Hashable], tuple[Any, Any]] | None] = ContextVar(
    "indicator_shared_work", default=None
)


@contextmanager
def shared_work() -> Iterator[None]:
    """Share :func:`memo` results within the block (nested blocks share the outer store)."""
    if _STORE.get() is not None:
        yield
        return
    token = _STORE.set({})
    try:
        yield
    finally:
        _STORE.reset(token)


def memo(frame: object, key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()`` once per (``frame``, ``key``) inside :func:`shared_work`, else always."""
    store = _STORE.get()
    if store is None:
        return compute()
    slot = (id(frame), key)
    entry = store.get(slot)
    if entry is not None and entry[0] is frame:
        return entry[1]  # type: ignore[no-any-return,unused-ignore]
    value = compute()
    store[slot] = (frame, value)
    return value
