"""Hexagonal binning of points in a metric CRS (pointy-top hexagons, axial coordinates).

Vectorised with numpy: points are converted to fractional axial coordinates, rounded to the
nearest hexagon with cube rounding, and counted with :func:`numpy.unique`. The grid is
anchored at the CRS origin, so the same points always fall in the same cells.

References
----------
Red Blob Games, "Hexagonal Grids", https://www.redblobgames.com/grids/hexagons/ (axial
coordinates, cube rounding).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

__all__ = ["HexBins", "hex_bin", "hex_polygons"]

_SQRT3 = float(np.sqrt(3.0))


@dataclass(frozen=True)
class HexBins:
    """Occupied hexagons.

    Attributes
    ----------
    q, r : numpy.ndarray of int64
        Axial coordinates of each occupied cell.
    count : numpy.ndarray of int64
        Points per cell.
    sums : numpy.ndarray of float64, shape (cells, k)
        Per-cell sums of the ``weights`` columns given to :func:`hex_bin`.
    size : float
        Circumradius of the hexagons (CRS units).
    """

    q: np.ndarray
    r: np.ndarray
    count: np.ndarray
    sums: np.ndarray
    size: float

    def __len__(self) -> int:
        return len(self.q)


def _axial(x: np.ndarray, y: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    """Nearest hexagon (axial q, r) of each point: cube rounding."""
    qf = (_SQRT3 / 3.0 * x - y / 3.0) / size
    rf = (2.0 / 3.0 * y) / size
    sf = -qf - rf
    q, r, s = np.rint(qf), np.rint(rf), np.rint(sf)
    dq, dr, ds = np.abs(q - qf), np.abs(r - rf), np.abs(s - sf)
    fix_q = (dq > dr) & (dq > ds)
    fix_r = ~fix_q & (dr > ds)
    q = np.where(fix_q, -r - s, q)
    r = np.where(fix_r, -q - s, r)
    return q.astype(np.int64), r.astype(np.int64)


def hex_bin(
    x: np.ndarray, y: np.ndarray, *, width: float, weights: np.ndarray | None = None
) -> HexBins:
    """Count points (and sum weights) per hexagon.

    Parameters
    ----------
    x, y : numpy.ndarray
        Coordinates in a metric CRS.
    width : float, keyword-only
        Flat-to-flat width of the hexagons (e.g. 100 m); the circumradius is
        ``width / sqrt(3)``.
    weights : numpy.ndarray, optional, keyword-only
        ``(n,)`` or ``(n, k)`` values summed per cell (e.g. a 0/1 flag).

    Returns
    -------
    HexBins

    Examples
    --------
    >>> bins = hex_bin(np.array([0.0, 1.0, 500.0]), np.array([0.0, 2.0, 0.0]), width=100.0)
    >>> sorted(bins.count.tolist())
    [1, 2]
    """
    size = width / _SQRT3
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y, dtype="float64")
    w = np.zeros((len(x), 0)) if weights is None else np.asarray(weights, dtype="float64")
    if w.ndim == 1:
        w = w[:, None]
    if len(x) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return HexBins(empty, empty, empty, np.zeros((0, w.shape[1])), size)
    q, r = _axial(x, y, size)
    keys, inverse, count = np.unique(
        np.stack([q, r], axis=1), axis=0, return_inverse=True, return_counts=True
    )
    inverse = inverse.reshape(-1)
    sums = np.zeros((len(keys), w.shape[1]))
    np.add.at(sums, inverse, w)
    return HexBins(keys[:, 0], keys[:, 1], count.astype(np.int64), sums, size)


def hex_polygons(bins: HexBins) -> np.ndarray:
    """The cells of ``bins`` as shapely polygons (same CRS as the binned points).

    Returns
    -------
    numpy.ndarray of shapely.Polygon
    """
    size = bins.size
    cx = size * _SQRT3 * (bins.q + bins.r / 2.0)
    cy = size * 1.5 * bins.r
    angles = np.deg2rad(30.0 + 60.0 * np.arange(7))  # closed ring, pointy top
    xs = cx[:, None] + size * np.cos(angles)[None, :]
    ys = cy[:, None] + size * np.sin(angles)[None, :]
    return shapely.polygons(np.stack([xs, ys], axis=2))
