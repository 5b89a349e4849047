"""Small helpers for fast bulk writes with the stdlib ``sqlite3`` module."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["insert_rows", "quote"]

MAX_PARAMS = 2000
"""Parameters per statement (SQLite >= 3.32 allows 32766; small statements cache better)."""


def quote(name: str) -> str:
    """An SQL identifier in double quotes (embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def insert_rows(
    con: sqlite3.Connection,
    head: str,
    columns: Sequence[Sequence[Any]],
    *,
    row: str | None = None,
) -> None:
    """Insert rows given as columns, many rows per statement.

    ``executemany`` pays a statement reset and a Python round trip per row; binding
    ``INSERT ... VALUES (..), (..), ...`` with up to :data:`MAX_PARAMS` parameters divides that
    overhead by the rows per statement (x3.5 for two-column rows, ~x1.3 for wide rows).
    Columns are laid into an object array (references, no copies or conversions) and
    reshaped into statement-sized parameter lists.

    Parameters
    ----------
    con : sqlite3.Connection
    head : str
        ``INSERT INTO t (a, b, c) VALUES`` (trusted SQL, names already quoted).
    columns : sequence of sequences
        One sequence per column, all the same length, of Python scalars / bytes / None.
    row : str, optional
        The placeholder group of one row, default ``(?, ?, ...)``; may hold literals, e.g.
        ``(?, ?, 7)``.
    """
    width = len(columns)
    n = len(columns[0]) if width else 0
    if n == 0:
        return
    group = row or "(" + ", ".join("?" * width) + ")"
    block = np.empty((n, width), dtype=object)
    for j, col in enumerate(columns):
        block[:, j] = col
    per_stmt = max(1, MAX_PARAMS // width)
    full = (n // per_stmt) * per_stmt
    if full:
        sql = f"{head} {', '.join([group] * per_stmt)}"
        con.executemany(sql, block[:full].reshape(-1, per_stmt * width).tolist())
    if full < n:
        con.executemany(f"{head} {group}", block[full:].tolist())
