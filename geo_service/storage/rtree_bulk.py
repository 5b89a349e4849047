"""Bulk loading of an SQLite R*Tree by writing its shadow tables directly.

Inserting rows one by one into an SQLite ``rtree`` virtual table costs ~10 µs each (R*-tree
choose-subtree and forced reinsertion), i.e. 10-15 s for a million building points. Like GDAL's
GeoPackage driver (``sqlite_rtree_bulk_load``, GDAL >= 3.7), we instead pack the tree ourselves
and write the three shadow tables the rtree module keeps, in the same transaction as the rows.

The on-disk format is the one documented at the top of SQLite's ``ext/rtree/rtree.c``
("Database Format of R-Tree Tables")::

    <name>_node(nodeno INTEGER PRIMARY KEY, data BLOB)      every node, root is nodeno 1
    <name>_parent(nodeno INTEGER PRIMARY KEY, parentnode)   every non-root node
    <name>_rowid(rowid INTEGER PRIMARY KEY, nodeno)         every entry -> its leaf

A node blob is ``node_size`` bytes (the length of the root blob written by
``CREATE VIRTUAL TABLE``: ``min(page_size - 64, 4 + 51 * cell)``): a big-endian uint16 tree
depth (root only, 0 elsewhere), a big-endian uint16 cell count, then cells of a big-endian
int64 id (entry rowid in leaves, child nodeno above) and four big-endian float32
(minx, maxx, miny, maxy), zero padded. Coordinates are rounded outwards to float32, as the
rtree module does, so a box never shrinks.

Packing is Sort-Tile-Recursive (Leutenegger, Lopez & Edgington 1997, "STR: a simple and
efficient algorithm for R-tree packing", ICDE): sort by x centre, cut into vertical slabs of
``ceil(sqrt(P))`` nodes, sort each slab by y centre, fill nodes, repeat one level up.
``SELECT rtreecheck('<name>')`` (SQLite >= 3.24) verifies the result.
"""

from __future__ import annotations

import math
import sqlite3

import numpy as np

from geo_service.storage.sqlite_util import insert_rows
from geo_service.storage.sqlite_util import quote as _q

__all__ = ["bulk_load", "entries", "float32_down", "float32_up"]

_CELL = np.dtype([("id", ">i8"), ("box", ">f4", (4,))])  # 24 bytes for 2 dimensions


def float32_down(values: np.ndarray) -> np.ndarray:
    """Largest float32 <= each value (lower box edges)."""
    f = values.astype(np.float32)
    over = f.astype(np.float64) > values
    f[over] = np.nextafter(f[over], np.float32(-np.inf))
    return f


def float32_up(values: np.ndarray) -> np.ndarray:
    """Smallest float32 >= each value (upper box edges)."""
    f = values.astype(np.float32)
    under = f.astype(np.float64) < values
    f[under] = np.nextafter(f[under], np.float32(np.inf))
    return f


def _str_order(boxes: np.ndarray, capacity: int) -> np.ndarray:
    """Sort-Tile-Recursive order of boxes (minx, maxx, miny, maxy) for nodes of ``capacity``."""
    n = len(boxes)
    cx = (boxes[:, 0].astype(np.float64) + boxes[:, 1]) / 2
    cy = (boxes[:, 2].astype(np.float64) + boxes[:, 3]) / 2
    nodes = math.ceil(n / capacity)
    per_slab = math.ceil(math.sqrt(nodes)) * capacity
    by_x = np.argsort(cx, kind="stable")
    slab = np.arange(n) // per_slab
    within = np.lexsort((cy[by_x], slab))
    return by_x[within]


def _blobs(
    ids: np.ndarray, boxes: np.ndarray, starts: np.ndarray, node_size: int, depth: int | None
) -> list[bytes]:
    """Serialise consecutive groups of cells (already ordered) into node blobs."""
    n = len(ids)
    cells = np.empty(n, dtype=_CELL)
    cells["id"] = ids
    cells["box"] = boxes
    raw = np.frombuffer(cells.tobytes(), dtype=np.uint8).reshape(n, _CELL.itemsize)
    counts = np.diff(np.append(starts, n))
    out = np.zeros((len(starts), node_size), dtype=np.uint8)
    header = out[:, :4].view(">u2")  # (k, 2): depth, count
    header[:, 0] = 0 if depth is None else depth
    header[:, 1] = counts
    for k, (start, count) in enumerate(zip(starts.tolist(), counts.tolist(), strict=True)):
        out[k, 4 : 4 + count * _CELL.itemsize] = raw[start : start + count].reshape(-1)
    return [row.tobytes() for row in out]


def entries(con: sqlite3.Connection, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Every (id, box) stored in rtree ``name``, read from its leaf nodes.

    Returns ids (int64) and float32 boxes (minx, maxx, miny, maxy) exactly as stored.
    """
    rows = con.execute(
        f"SELECT r.rowid, r.nodeno FROM {_q(name + '_rowid')} r ORDER BY r.nodeno"
    ).fetchall()
    if not rows:
        return np.empty(0, dtype=np.int64), np.empty((0, 4), dtype=np.float32)
    leaves = sorted({nodeno for _, nodeno in rows})
    ids: list[np.ndarray] = []
    boxes: list[np.ndarray] = []
    for start in range(0, len(leaves), 500):
        chunk = leaves[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for (data,) in con.execute(
            f"SELECT data FROM {_q(name + '_node')} WHERE nodeno IN ({marks})", chunk
        ):
            count = int.from_bytes(data[2:4], "big")
            cells = np.frombuffer(data, dtype=_CELL, count=count, offset=4)
            ids.append(cells["id"].astype(np.int64))
            boxes.append(cells["box"].astype(np.float32))
    return np.concatenate(ids), np.concatenate(boxes)


def bulk_load(con: sqlite3.Connection, name: str, ids: np.ndarray, boxes: np.ndarray) -> None:
    """Replace the content of rtree ``name`` with ``ids`` and ``boxes``.

    Parameters
    ----------
    con : sqlite3.Connection
        Inside the caller's write transaction.
    name : str
        The rtree virtual table (``rtree_<t>_geom``), 2-dimensional.
    ids : int64 array
        Entry ids (feature ``fid``), unique.
    boxes : float array (n, 4)
        ``minx, maxx, miny, maxy``; float64 values are rounded outwards to float32.
    """
    node = _q(name + "_node")
    root = con.execute(f"SELECT length(data) FROM {node} WHERE nodeno = 1").fetchone()
    if root is None:
        raise ValueError(f"{name} is not an SQLite rtree (no root node)")
    node_size = int(root[0])
    capacity = (node_size - 4) // _CELL.itemsize
    ids = np.asarray(ids, dtype=np.int64)
    if boxes.dtype != np.float32:
        boxes = np.column_stack(
            [
                float32_down(boxes[:, 0]),
                float32_up(boxes[:, 1]),
                float32_down(boxes[:, 2]),
                float32_up(boxes[:, 3]),
            ]
        )

    # Bottom-up. Level k holds the cells of the nodes at height k (0 = leaves), in packing
    # order: ``refs`` index the entries (k = 0) or the nodes of level k - 1.
    levels: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (refs, boxes, starts)
    item_boxes = boxes
    while len(item_boxes) > capacity:
        order = _str_order(item_boxes, capacity)
        cell_boxes = item_boxes[order]
        starts = np.arange(0, len(order), capacity)
        levels.append((order, cell_boxes, starts))
        item_boxes = np.column_stack(
            [
                np.minimum.reduceat(cell_boxes[:, 0], starts),
                np.maximum.reduceat(cell_boxes[:, 1], starts),
                np.minimum.reduceat(cell_boxes[:, 2], starts),
                np.maximum.reduceat(cell_boxes[:, 3], starts),
            ]
        )
    depth = len(levels)

    # node numbers: root 1, then level by level from the top
    numbers: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * depth
    next_no = 2
    for k in range(depth - 1, -1, -1):
        count = len(levels[k][2])
        numbers[k] = np.arange(next_no, next_no + count, dtype=np.int64)
        next_no += count

    def cell_ids(k: int) -> np.ndarray:
        refs = levels[k][0]
        return ids[refs] if k == 0 else numbers[k - 1][refs]

    con.execute(f"DELETE FROM {node}")
    con.execute(f"DELETE FROM {_q(name + '_parent')}")
    con.execute(f"DELETE FROM {_q(name + '_rowid')}")
    root_ids = numbers[depth - 1] if depth else ids
    root_blob = _blobs(root_ids, item_boxes, np.array([0]), node_size, depth)[0]
    con.execute(f"INSERT INTO {node} (nodeno, data) VALUES (1, ?)", (root_blob,))
    for k in range(depth - 1, -1, -1):  # ascending node numbers: appends to the B-trees
        _, cell_boxes, starts = levels[k]
        this = cell_ids(k)
        con.executemany(
            f"INSERT INTO {node} (nodeno, data) VALUES (?, ?)",
            zip(
                numbers[k].tolist(), _blobs(this, cell_boxes, starts, node_size, None), strict=True
            ),
        )
        if k + 1 < depth:  # parent of each node of this level: the level-(k+1) node holding it
            up_refs, _, _ = levels[k + 1]
            parent = np.empty(len(starts), dtype=np.int64)
            parent[up_refs] = numbers[k + 1][np.arange(len(up_refs)) // capacity]
        else:
            parent = np.ones(len(starts), dtype=np.int64)
        insert_rows(
            con,
            f"INSERT INTO {_q(name + '_parent')} (nodeno, parentnode) VALUES",
            [numbers[k].tolist(), parent.tolist()],
        )
    if depth:
        leaf = numbers[0][np.arange(len(ids)) // capacity]
        entry_ids = cell_ids(0)
    else:
        leaf = np.ones(len(ids), dtype=np.int64)
        entry_ids = ids
    by_id = np.argsort(entry_ids, kind="stable")  # ascending rowids: appends to the B-tree
    insert_rows(
        con,
        f"INSERT INTO {_q(name + '_rowid')} (rowid, nodeno) VALUES",
        [entry_ids[by_id].tolist(), leaf[by_id].tolist()],
    )
