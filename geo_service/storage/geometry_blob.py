"""GeoPackage binary geometry encoding ("GeoPackageBinary"), vectorised with shapely.

A geometry value in a GeoPackage feature table is a header followed by ISO WKB
(OGC 12-128r18 / GeoPackage 1.3.1 and 1.4.0, clause 2.1.3 "Geometry Encoding",
Table 6 "GeoPackage SQL Geometry Binary Format")::

    magic    2 bytes  b"GP"
    version  1 byte   0 (version 1)
    flags    1 byte   bit 0 B: byte order of the header (1 = little-endian)
                      bits 1-3 E: envelope indicator (0 none, 1 xy, 2 xyz, 3 xym, 4 xyzm)
                      bit 4 Y: empty geometry
                      bit 5 X: 0 = StandardGeoPackageBinary
    srs_id   int32
    envelope 0, 4, 6 or 8 doubles: [minx, maxx, miny, maxy, (minz, maxz), (minm, maxm)]
    geometry ISO WKB (ISO/IEC 13249-3), any byte order

So the header is ``8 + {0, 32, 48, 48, 64}[E]`` bytes long. We write little-endian headers,
no envelope for points (the point *is* its envelope, as GDAL does), an xy envelope for every
other non-empty geometry, and the empty flag with no envelope for empty geometries (an
empty geometry must not carry an envelope, GeoPackage 1.4 Req 152).

The same module provides the ``ST_IsEmpty`` / ``ST_MinX`` ... SQL functions the spatial index
triggers of the RTree extension call (OGC 12-128r18 Annex F.3, "GeoPackage SQLite Extension"),
so rows edited through our own connection keep ``rtree_<t>_geom`` right.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

import numpy as np
import shapely

__all__ = [
    "ENVELOPE_BYTES",
    "decode",
    "encode",
    "header_length",
    "st_is_empty",
    "st_maxx",
    "st_maxy",
    "st_minx",
    "st_miny",
]

MAGIC = b"GP"
ENVELOPE_BYTES = (0, 32, 48, 48, 64)
"""Envelope length in bytes by envelope indicator code 0..4."""

_LITTLE_ENDIAN = 0x01
_ENVELOPE_XY = 0x01 << 1
_EMPTY = 0x01 << 4
_EXTENDED = 0x01 << 5

_HEADER = np.dtype(
    [
        ("magic", "S2"),
        ("version", "u1"),
        ("flags", "u1"),
        ("srs_id", "<i4"),
        ("envelope", "<f8", (4,)),
    ]
)
_FULL = _HEADER.itemsize  # 40 bytes: header with an xy envelope
_SHORT = 8  # header without envelope
# A whole 2D point blob: header without envelope + ISO WKB point, little-endian (29 bytes).
_POINT = np.dtype(
    [
        ("magic", "S2"),
        ("version", "u1"),
        ("flags", "u1"),
        ("srs_id", "<i4"),
        ("byte_order", "u1"),
        ("wkb_type", "<u4"),
        ("x", "<f8"),
        ("y", "<f8"),
    ]
)


def encode(geometries: Sequence[object] | np.ndarray, *, srs_id: int = 4326) -> list[bytes | None]:
    """Encode geometries as GeoPackage binary blobs (``None`` stays ``None``).

    Headers are built for all rows at once in a NumPy structured array, WKB with
    ``shapely.to_wkb`` (ISO flavour, little-endian, 2D); only the final ``header + wkb``
    concatenation is a Python loop. 2D points, the bulk of big layers, skip even that: their
    whole 29-byte blobs are laid out in one packed structured array and cut with a ``V29``
    view.

    Parameters
    ----------
    geometries : array-like of shapely geometries or None
    srs_id : int
        ``gpkg_spatial_ref_sys.srs_id`` written in every header.

    Returns
    -------
    list of bytes or None

    Examples
    --------
    >>> blob = encode([shapely.Point(1, 2)])[0]
    >>> blob[:4], len(blob)
    (b'GP\\x00\\x01', 29)
    """
    geoms = np.asarray(geometries, dtype=object)
    n = len(geoms)
    if n == 0:
        return []
    missing = shapely.is_missing(geoms)
    empty = shapely.is_empty(geoms) & ~missing
    is_point = shapely.get_type_id(geoms) == 0  # -1 for None
    fast = is_point & ~empty
    if fast.all():
        return _points(geoms, srs_id)
    if fast.any():
        out = np.empty(n, dtype=object)
        out[fast] = _points(geoms[fast], srs_id)
        out[~fast] = encode(geoms[~fast], srs_id=srs_id)
        return out.tolist()
    with_envelope = ~(missing | empty | is_point)

    header = np.zeros(n, dtype=_HEADER)
    header["magic"] = MAGIC
    header["srs_id"] = srs_id
    header["flags"] = (
        _LITTLE_ENDIAN + np.where(with_envelope, _ENVELOPE_XY, 0) + np.where(empty, _EMPTY, 0)
    ).astype(np.uint8)
    bounds = shapely.bounds(geoms)  # minx, miny, maxx, maxy; NaN for None / empty
    header["envelope"] = bounds[:, [0, 2, 1, 3]]
    raw = header.tobytes()

    wkb = shapely.to_wkb(geoms, byte_order=1, flavor="iso", output_dimension=2)
    starts = np.arange(n, dtype=np.int64) * _FULL
    ends = starts + np.where(with_envelope, _FULL, _SHORT)
    return [
        None if w is None else raw[s:e] + w
        for s, e, w in zip(starts.tolist(), ends.tolist(), wkb.tolist(), strict=True)
    ]


def _points(points: np.ndarray, srs_id: int) -> list[bytes]:
    """Blobs of non-empty points (2D), built without a per-row Python step."""
    blobs = np.zeros(len(points), dtype=_POINT)
    blobs["magic"] = MAGIC
    blobs["flags"] = _LITTLE_ENDIAN
    blobs["srs_id"] = srs_id
    blobs["byte_order"] = 1
    blobs["wkb_type"] = 1  # ISO WKB Point
    blobs["x"] = shapely.get_x(points)
    blobs["y"] = shapely.get_y(points)
    return blobs.view(f"V{_POINT.itemsize}").tolist()


def header_length(blob: bytes) -> int:
    """Length of the GeoPackage binary header of ``blob`` (8 + envelope bytes).

    Raises
    ------
    ValueError
        Not a GeoPackage binary geometry, or an extended / unknown encoding.
    """
    if len(blob) < _SHORT or blob[0] != 0x47 or blob[1] != 0x50:
        raise ValueError("not a GeoPackage binary geometry (no 'GP' magic)")
    flags = blob[3]
    code = (flags >> 1) & 0x07
    if flags & _EXTENDED or code > 4:
        raise ValueError(f"unsupported GeoPackage binary flags 0x{flags:02x}")
    return _SHORT + ENVELOPE_BYTES[code]


def decode(blobs: Sequence[bytes | None] | np.ndarray) -> np.ndarray:
    """Decode GeoPackage binary blobs to a NumPy array of shapely geometries.

    The blobs are joined into one buffer so that magic, flags and header lengths are read
    with NumPy; WKB is then parsed in one ``shapely.from_wkb`` call, or, when every blob is a
    29-byte 2D point, read straight from the buffer into ``shapely.points``.

    Raises
    ------
    ValueError
        A value that is not a standard GeoPackage binary geometry.

    Examples
    --------
    >>> decode(encode([shapely.Point(1, 2), None]))
    array([<POINT (1 2)>, None], dtype=object)
    """
    arr = np.asarray(blobs, dtype=object)
    out = np.full(len(arr), None, dtype=object)
    present = np.not_equal(arr, None)
    values = arr[present].tolist()
    if not values:
        return out
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    if (lengths < _SHORT).any():
        raise ValueError("not a GeoPackage binary geometry (shorter than its header)")
    joined = b"".join(values)
    buf = np.frombuffer(joined, dtype=np.uint8)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    if not ((buf[starts] == 0x47) & (buf[starts + 1] == 0x50)).all():
        raise ValueError("not a GeoPackage binary geometry (no 'GP' magic)")
    flags = buf[starts + 3]
    codes = (flags >> 1) & 0x07
    if ((flags & _EXTENDED) != 0).any() or (codes > 4).any():
        raise ValueError("unsupported GeoPackage binary flags (extended geometry or envelope)")
    if (lengths == _POINT.itemsize).all() and (flags == _LITTLE_ENDIAN).all():
        points = np.frombuffer(joined, dtype=_POINT)
        if (points["byte_order"] == 1).all() and (points["wkb_type"] == 1).all():
            out[present] = shapely.points(points["x"], points["y"])
            return out
    header = _SHORT + np.asarray(ENVELOPE_BYTES)[codes]
    wkb = [b[h:] for b, h in zip(values, header.tolist(), strict=True)]
    out[present] = shapely.from_wkb(np.asarray(wkb, dtype=object))
    return out


# ------------------------------------------------------------------ SQL functions (Annex F.3)
def _envelope(blob: bytes | None) -> tuple[float, float, float, float] | None:
    """(minx, maxx, miny, maxy) from the header envelope, else from the WKB; None if empty."""
    if blob is None:
        return None
    blob = bytes(blob)
    start = header_length(blob)
    flags = blob[3]
    if flags & _EMPTY:
        return None
    if start > _SHORT:
        order = "<" if flags & _LITTLE_ENDIAN else ">"
        env = struct.unpack_from(order + "4d", blob, _SHORT)
        if not any(math.isnan(v) for v in env):
            return env
    geom = shapely.from_wkb(blob[start:])
    if geom.is_empty:
        return None
    minx, miny, maxx, maxy = geom.bounds
    return (minx, maxx, miny, maxy)


def st_is_empty(blob: bytes | None) -> int | None:
    """``ST_IsEmpty(geom)``: 1 if empty, 0 if not, NULL for NULL (Annex F.3)."""
    if blob is None:
        return None
    return 1 if _envelope(blob) is None else 0


def _bound(index: int):
    def fn(blob: bytes | None) -> float | None:
        env = _envelope(blob)
        return None if env is None else env[index]

    return fn


st_minx = _bound(0)
st_maxx = _bound(1)
st_miny = _bound(2)
st_maxy = _bound(3)
