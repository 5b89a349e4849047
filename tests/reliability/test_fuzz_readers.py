"""Hypothesis fuzzing of every reader entry point (issue 8).

Each test feeds a reader generated content -- raw random bytes, and *structured* inputs:
GeoJSON with random nesting, geometry types, coordinates (NaN, inf, huge) and properties of
any JSON type; CSV with random columns, quoting, delimiters, encodings and BOMs; KML with
random elements; XLSX written with openpyxl with random cells; ODK zips with random members;
bit flips and truncations of small valid files (GeoPackage, zipped Shapefile, GeoTIFF, XLSX)
built here. The contract checked is the one of :mod:`profiling.errors`: a reader returns a
sane result (a report, frames with the declared columns) or raises a
:class:`~profiling.errors.ProfilingError` with a non-empty message -- never another exception
and never a warning (``filterwarnings = error`` turns one into a failure).

Runs are deterministic (``derandomize=True``) and sized to keep the module under a minute on
two shared cores. ``FUZZ_EXAMPLES=500 pytest tests/reliability/test_fuzz_readers.py`` runs
that many examples per test with a fresh random seed (printed on failure; replay it with
``--hypothesis-seed``).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from xml.sax.saxutils import escape

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st
from rasterio.io import MemoryFile

from geo_service.ingestion import IngestRequest, IngestResult, validate_file
from geo_service.settings import Settings
from profiling.errors import ProfilingError
from profiling.ingest.kobo import FormExport, read_kobo_csv, read_kobo_xlsx
from profiling.ingest.mapping import (
    FormMapping,
    MappedLayer,
    apply_mapping,
    bundled_mappings,
    load_mapping,
)
from profiling.ingest.odk import read_odk_csv, read_odk_zip
from profiling.ingest.raster import RasterRead, inspect_raster
from profiling.ingest.safety import FORMATS, StagedFile, sniff, stage_upload
from profiling.ingest.vector import VECTOR_FORMATS, VectorRead, read_vector
from profiling.report import Report
from profiling.schema import LAYERS, RASTER_KINDS, layer_schema

T = TypeVar("T")

# ------------------------------------------------------------------------------ settings

_DEEP = os.environ.get("FUZZ_EXAMPLES")


def fuzz(examples: int) -> settings:
    """Settings of one test: ``examples`` derandomized examples, or ``FUZZ_EXAMPLES`` random."""
    return settings(
        max_examples=int(_DEEP) if _DEEP else examples,
        derandomize=not _DEEP,
        database=None,
        # A generous deadline: it flags a reader that stalls, not a loaded machine.
        deadline=timedelta(seconds=10),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
    )


# ------------------------------------------------------------------------------ contract


KNOWN_BUGS: tuple[tuple[type[BaseException], str], ...] = ()
"""Bugs found by these fuzzers and not fixed yet: ``(exception type, message part)``, each
pinned by a strict-xfail test at the end of the module and tolerated meanwhile so the fuzzers
keep looking for others. The three found so far are fixed (regression tests at the end)."""


def outcome(call: Callable[[], T]) -> T | None:
    """``call()``'s result, or ``None`` when it refused the input with a ProfilingError.

    Any other exception (and any warning, through ``filterwarnings = error``) propagates and
    fails the test, except the :data:`KNOWN_BUGS` already reported.
    """
    try:
        return call()
    except ProfilingError as exc:
        assert str(exc).strip(), f"{type(exc).__name__} raised with an empty message"
        return None
    except Exception as exc:
        if any(isinstance(exc, kind) and text in str(exc) for kind, text in KNOWN_BUGS):
            return None
        raise


@dataclass
class Work:
    """A private scratch folder for one example."""

    root: Path

    def stage(self, data: bytes, name: str = "upload.bin") -> StagedFile | None:
        """The bytes staged as an upload (``None`` when refused, e.g. empty)."""
        return outcome(
            lambda: stage_upload(data, self.root / "job", original_name=name, max_bytes=10**7)
        )

    def file(self, data: bytes, name: str) -> Path:
        path = self.root / name
        path.write_bytes(data)
        return path


class scratch_dir:  # noqa: N801 - used like a function
    """``with scratch_dir() as w:`` a fresh :class:`Work` folder, removed afterwards."""

    def __enter__(self) -> Work:
        self._tmp = tempfile.TemporaryDirectory(prefix="fuzz-")
        return Work(Path(self._tmp.name))

    def __exit__(self, *exc: object) -> None:
        self._tmp.cleanup()


def check_report(report: object) -> None:
    assert isinstance(report, Report)
    for problem in report.problems:
        assert problem.message.strip(), problem


def check_frame_rows(frame: pd.DataFrame) -> None:
    assert "source_row" in frame.columns
    rows = frame["source_row"].to_numpy()
    assert rows.dtype.kind == "i", frame["source_row"].dtype
    assert (rows >= 1).all()


def check_form_export(export: FormExport | None) -> None:
    if export is None:
        return
    assert isinstance(export, FormExport)
    check_report(export.report)
    check_frame_rows(export.main)
    # data rows of the source, 1-based and increasing; a blank sheet row keeps its number
    rows = export.main["source_row"].to_numpy()
    assert (rows >= 1).all() and (np.diff(rows) > 0).all()
    assert export.main.columns.is_unique
    for frame in export.repeats.values():
        check_frame_rows(frame)
        assert "_parent_row" in frame.columns


def check_vector(read: VectorRead | None) -> None:
    if read is None:
        return
    assert isinstance(read, VectorRead)
    check_report(read.report)
    assert isinstance(read.frame, gpd.GeoDataFrame)
    check_frame_rows(read.frame)
    assert read.source_layer in read.layers
    if read.frame.crs is not None:
        assert read.frame.crs.to_epsg() == 4326
    assert read.frame.columns.is_unique


def check_raster(read: RasterRead | None) -> None:
    if read is None:
        return
    assert isinstance(read, RasterRead)
    check_report(read.report)
    assert read.width >= 1 and read.height >= 1 and read.count >= 1
    assert len(read.bounds) == 4 and len(read.bounds_4326) == 4


def check_mapped(out: MappedLayer | None, raw: pd.DataFrame) -> None:
    if out is None:
        return
    assert isinstance(out, MappedLayer)
    check_report(out.report)
    assert out.layer in out.frames and out.frame is out.frames[out.layer]
    for name, frame in out.frames.items():
        assert set(layer_schema(name).names) <= set(frame.columns), name
        assert "source_row" in frame.columns
    assert len(out.frame) <= len(raw)


# ------------------------------------------------------------------------------ mutations

_MAGIC = [
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"SQLite format 3\x00",
    b"II*\x00",
    b"MM\x00*",
    b"II+\x00",
    b"{",
    b'{"type":"FeatureCollection","features":[',
    b"[",
    b"<",
    b'<?xml version="1.0"?><kml>',
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"a,b\n",
    b"",
]


def mutations() -> st.SearchStrategy[list[tuple[str, float, bytes]]]:
    """Edits applied in order: bit flips, truncations, insertions, deletions, duplications."""
    op = st.sampled_from(["flip", "flip", "flip", "truncate", "insert", "delete", "dup", "head"])
    return st.lists(
        st.tuples(op, st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=8)),
        min_size=1,
        max_size=4,
    )


def mutate(data: bytes, edits: list[tuple[str, float, bytes]]) -> bytes:
    out = bytearray(data)
    for op, where, payload in edits:
        if not out:
            break
        i = int(where * len(out))
        if op == "flip":
            out[i] ^= 1 << (payload[0] % 8)
        elif op == "head":  # headers hold the offsets and sizes: flip there more often
            j = int(where * min(len(out), 512))
            out[j] ^= payload[0] or 1
        elif op == "truncate":
            del out[i:]
        elif op == "insert":
            out[i:i] = payload
        elif op == "delete":
            del out[i : i + len(payload) * 7]
        else:
            out[i:i] = out[i : i + len(payload) * 16]
    return bytes(out)


# ------------------------------------------------------------------------------ GeoJSON

_GEOMETRY_TYPES = [
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
    "GeometryCollection",
    "Feature",
    "point",
    "Circle",
    "",
]
_NUMBER = st.one_of(
    st.floats(-200, 200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, -0.0, 1e308, -1e308, 5e-324, 180.0000001, 90, -90, 2**53 + 1]),
)
_POSITION = st.one_of(
    st.lists(_NUMBER, min_size=2, max_size=3),
    st.lists(_NUMBER, max_size=5),
    st.lists(st.one_of(st.none(), st.text(max_size=3), st.booleans()), max_size=3),
)
_COORDINATES = st.recursive(
    _POSITION, lambda inner: st.lists(inner, max_size=5), max_leaves=25
) | st.one_of(
    st.none(),
    st.text(max_size=5),
    st.integers(),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@st.composite
def ring(draw: st.DrawFn) -> list[list[Any]]:
    points = draw(st.lists(st.lists(_NUMBER, min_size=2, max_size=3), min_size=1, max_size=6))
    return [*points, points[0]] if draw(st.booleans()) else points


_WELL_FORMED = st.one_of(
    st.builds(
        lambda p: {"type": "Point", "coordinates": p}, st.lists(_NUMBER, min_size=2, max_size=3)
    ),
    st.builds(
        lambda ps: {"type": "LineString", "coordinates": ps},
        st.lists(st.lists(_NUMBER, min_size=2, max_size=2), max_size=5),
    ),
    st.builds(lambda rs: {"type": "Polygon", "coordinates": rs}, st.lists(ring(), max_size=3)),
    st.builds(
        lambda ps: {"type": "MultiPolygon", "coordinates": ps},
        st.lists(st.lists(ring(), max_size=2), max_size=2),
    ),
)
_ANY_GEOMETRY = st.builds(
    lambda t, c: {"type": t, "coordinates": c}, st.sampled_from(_GEOMETRY_TYPES), _COORDINATES
)
_GEOMETRY = st.recursive(
    st.one_of(st.none(), _WELL_FORMED, _WELL_FORMED, _ANY_GEOMETRY),
    lambda inner: st.builds(
        lambda gs: {"type": "GeometryCollection", "geometries": gs}, st.lists(inner, max_size=3)
    ),
    max_leaves=6,
)
_JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["=cmd|' /C calc'!A0", "2024-02-05", "2024-13-45T99:00", "1e400", "NaN"]),
)
_JSON_VALUE = st.recursive(
    _JSON_SCALAR,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_PROPERTY_NAME = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["fid", "FID", "geometry", "source_row", "id", "OGC_FID", "name", "Name", ""]),
)
_PROPERTIES = st.one_of(
    st.dictionaries(_PROPERTY_NAME, _JSON_VALUE, max_size=6),
    st.none(),
    _JSON_SCALAR,
)


@st.composite
def feature(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {"type": draw(st.sampled_from(["Feature", "Feature", "feature", "X"]))}
    if draw(st.integers(0, 9)):
        out["geometry"] = draw(_GEOMETRY)
    if draw(st.integers(0, 9)):
        out["properties"] = draw(_PROPERTIES)
    if draw(st.booleans()):
        out["id"] = draw(_JSON_SCALAR)
    return out


@st.composite
def geojson_doc(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["collection", "collection", "collection", "feature", "geometry"]))
    if kind == "collection":
        doc: Any = {"type": "FeatureCollection"}
        if draw(st.integers(0, 9)):
            doc["features"] = draw(
                st.one_of(
                    st.lists(feature(), max_size=6), st.lists(feature(), max_size=1), _JSON_SCALAR
                )
            )
        if draw(st.booleans()):
            doc["crs"] = draw(
                st.one_of(
                    _JSON_VALUE,
                    st.builds(
                        lambda n: {"type": "name", "properties": {"name": n}},
                        st.sampled_from(
                            [
                                "EPSG:32737",
                                "urn:ogc:def:crs:EPSG::4326",
                                "EPSG:999999",
                                "/etc/passwd",
                                "",
                            ]
                        ),
                    ),
                )
            )
        if draw(st.booleans()):
            doc["name"] = draw(_JSON_SCALAR)
    elif kind == "feature":
        doc = draw(feature())
    else:
        doc = draw(_GEOMETRY) or {"type": "Point"}
    text = json.dumps(doc, allow_nan=True, ensure_ascii=draw(st.booleans()))
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    if draw(st.integers(0, 3)) == 0:
        data = mutate(data, draw(mutations()))
    return data


# ------------------------------------------------------------------------------ CSV

_CELL = st.one_of(
    st.text(max_size=12),
    st.text(alphabet="\",;\t|\r\n '=\\", max_size=6),
    st.sampled_from(["", "NA", "n/a", "-1.9 37.6 0 5", "1e400", "nan", "=1+1", "\u200b", "é"]),
)
_HEADER_NAME = st.one_of(
    st.text(max_size=10),
    st.sampled_from(
        [
            "_uuid",
            "KEY",
            "PARENT_KEY",
            "meta-instanceID",
            "source_row",
            "_parent_row",
            "hh/hh_size",
            "intro/settlement",
            "hh/_gps_latitude",
            "hh/_gps_longitude",
            "_submission__uuid",
            "_parent_index",
            "",
        ]
    ),
)


@st.composite
def csv_text(draw: st.DrawFn, header: list[str] | None = None) -> bytes:
    names = header or draw(st.lists(_HEADER_NAME, min_size=1, max_size=6))
    width = len(names)
    rows = draw(
        st.lists(
            st.lists(_CELL, min_size=max(0, width - 1), max_size=width + 1),
            max_size=6,
        )
    )
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, quoting=quoting, lineterminator=newline)
    writer.writerow(names)
    writer.writerows(rows)
    text = buffer.getvalue()
    if draw(st.integers(0, 4)) == 0:  # an unbalanced quote somewhere
        at = draw(st.integers(0, len(text)))
        text = text[:at] + '"' + text[at:]
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "cp1252", "latin-1"]))
    data = (
        text.encode(encoding, "replace")
        if encoding != "utf-8"
        else text.encode("utf-8", "surrogatepass")
    )
    if draw(st.integers(0, 5)) == 0:
        data = mutate(data, draw(mutations()))
    return data


# ------------------------------------------------------------------------------ KML

_KML_TEXT = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12),
    st.sampled_from(["]]>", "&amp;", "<![CDATA[x]]>", "&#0;", "&unknown;"]),
)


def _coords_text(draw: st.DrawFn) -> str:
    points = draw(st.lists(st.lists(_NUMBER, min_size=1, max_size=3), max_size=6))
    sep = draw(st.sampled_from([" ", "\n", ",", "  \t"]))
    return sep.join(
        ",".join(repr(float(v)) if isinstance(v, float) else str(v) for v in p) for p in points
    )


@st.composite
def kml_element(draw: st.DrawFn, depth: int = 0) -> str:
    choices = ["placemark", "placemark", "unknown", "data", "networklink", "style"]
    if depth < 2:
        choices += ["folder", "folder"]
    kind = draw(st.sampled_from(choices))
    raw = draw(st.integers(0, 9)) == 0  # unescaped text: may break the XML on purpose

    def text() -> str:
        value = draw(_KML_TEXT)
        return value if raw else escape(value)

    if kind == "folder":
        children = "".join(draw(st.lists(kml_element(depth + 1), max_size=3)))
        return f"<Folder><name>{text()}</name>{children}</Folder>"
    if kind == "networklink":
        return "<NetworkLink><Link><href>file:///etc/passwd</href></Link></NetworkLink>"
    if kind == "style":
        return f'<Style id="{escape(draw(st.text(max_size=4)), {chr(34): "&quot;"})}"/>'
    if kind == "data":
        return (
            f'<ExtendedData><Data name="{escape(draw(st.text(max_size=6)), {chr(34): "&quot;"})}">'
            f"<value>{text()}</value></Data></ExtendedData>"
        )
    if kind == "unknown":
        tag = draw(st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,6}", fullmatch=True))
        return f"<{tag}>{text()}</{tag}>"
    geometry = draw(st.sampled_from(["Point", "LineString", "Polygon", "MultiGeometry", "None"]))
    coords = _coords_text(draw)
    if geometry == "Polygon":
        geom = (
            "<Polygon><outerBoundaryIs><LinearRing><coordinates>"
            f"{coords}</coordinates></LinearRing></outerBoundaryIs></Polygon>"
        )
    elif geometry == "MultiGeometry":
        geom = f"<MultiGeometry><Point><coordinates>{coords}</coordinates></Point></MultiGeometry>"
    elif geometry == "None":
        geom = ""
    else:
        geom = f"<{geometry}><coordinates>{coords}</coordinates></{geometry}>"
    data = ""
    if draw(st.booleans()):
        name = escape(draw(st.text(max_size=6)), {'"': "&quot;"})
        data = f'<ExtendedData><Data name="{name}"><value>{text()}</value></Data></ExtendedData>'
    return (
        f"<Placemark><name>{text()}</name><description>{text()}</description>"
        f"{data}{geom}</Placemark>"
    )


@st.composite
def kml_doc(draw: st.DrawFn) -> bytes:
    body = "".join(draw(st.lists(kml_element(), max_size=5)))
    namespace = draw(
        st.sampled_from(
            [
                ' xmlns="http://www.opengis.net/kml/2.2"',
                "",
                ' xmlns="http://earth.google.com/kml/2.1"',
            ]
        )
    )
    prolog = draw(st.sampled_from(['<?xml version="1.0" encoding="UTF-8"?>\n', "", "\ufeff"]))
    wrapper = draw(st.sampled_from(["Document", "Folder", ""]))
    inner = f"<{wrapper}>{body}</{wrapper}>" if wrapper else body
    data = f"{prolog}<kml{namespace}>{inner}</kml>".encode()
    if draw(st.integers(0, 4)) == 0:
        data = mutate(data, draw(mutations()))
    return data


# ------------------------------------------------------------------------------ XLSX

_XLSX_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12
)
_XLSX_CELL = st.one_of(
    st.none(),
    _XLSX_TEXT,
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(2100, 1, 1)),
    st.dates(min_value=date(1900, 3, 1), max_value=date(2100, 1, 1)),
    st.sampled_from(["=1+1", "=1/0", "=A1", '=HYPERLINK("http://x","y")', "#N/A", "=NA()"]),
)


@st.composite
def xlsx_doc(draw: st.DrawFn) -> bytes:
    wb = openpyxl.Workbook()
    sheets = draw(st.integers(1, 3))
    titles = draw(
        st.lists(
            st.from_regex(r"[A-Za-z0-9_ ]{1,12}", fullmatch=True),
            min_size=sheets,
            max_size=sheets,
            unique_by=str.lower,
        )
    )
    for index, title in enumerate(titles):
        ws = wb.active if index == 0 else wb.create_sheet()
        ws.title = title
        header = draw(
            st.lists(
                st.one_of(_HEADER_NAME.filter(lambda s: "\x00" not in s), _XLSX_CELL), max_size=6
            )
        )
        rows = draw(st.lists(st.lists(_XLSX_CELL, max_size=7), max_size=5))
        for r, row in enumerate([header, *rows], start=1):
            for c, value in enumerate(row, start=1):
                if isinstance(value, str) and any(
                    ord(ch) < 32 and ch not in "\t\n\r" for ch in value
                ):
                    continue
                ws.cell(row=r, column=c, value=value)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# ------------------------------------------------------------------------------ ODK zip

_ODK_MEMBER = st.one_of(
    st.sampled_from(
        [
            "form.csv",
            "form-rep.csv",
            "form-rep-inner.csv",
            "media/photo.jpg",
            "a/b.csv",
            "FORM.CSV",
            "notes.txt",
            "../evil.csv",
            "/abs.csv",
            "dir/",
            "inner.zip",
        ]
    ),
    st.text(min_size=1, max_size=10).map(lambda s: s + ".csv"),
)


@st.composite
def odk_zip(draw: st.DrawFn) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        names = draw(st.lists(_ODK_MEMBER, min_size=1, max_size=4, unique_by=str.lower))
        for name in names:
            if name == "form.csv":
                content = draw(csv_text(header=["SubmissionDate", "hh-size", "KEY"]))
            elif name.startswith("form-rep"):
                content = draw(csv_text(header=["name", "PARENT_KEY", "KEY"]))
            elif name == "inner.zip":
                content = draw(st.binary(max_size=64))
            else:
                content = draw(st.one_of(csv_text(), st.binary(max_size=32)))
            method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
            info = zipfile.ZipInfo(name)
            info.compress_type = method
            zf.writestr(info, b"" if name.endswith("/") else content)
    data = buffer.getvalue()
    if draw(st.integers(0, 4)) == 0:
        data = mutate(data, draw(mutations()))
    return data


# ------------------------------------------------------------------------------ raster

_DTYPES = ["uint8", "int16", "uint16", "int32", "float32", "float64", "int8", "uint32"]


@st.composite
def geotiff(draw: st.DrawFn) -> bytes:
    dtype = draw(st.sampled_from(_DTYPES))
    width, height, count = draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 3))
    crs = draw(st.sampled_from([None, "EPSG:4326", "EPSG:32737", "EPSG:3857", "EPSG:3395"]))
    size = draw(st.sampled_from([1.0, 0.0001, 30.0, 1e6, -2.0]))
    origin = draw(st.sampled_from([(0.0, 0.0), (37.6, -1.9), (252048.0, 9855356.0), (1e9, 1e9)]))
    shear = draw(st.sampled_from([0.0, 0.0, 0.5]))
    transform = draw(
        st.sampled_from(
            [Affine(size, shear, origin[0], 0.0, -abs(size) or -1.0, origin[1]), Affine.identity()]
        )
    )
    floating = dtype.startswith("float")
    nodata = draw(st.sampled_from([None, 0, float("nan"), -9999.0] if floating else [None, 0, 1]))
    if floating:
        values = draw(
            st.lists(
                st.floats(allow_nan=True, allow_infinity=True, width=32),
                min_size=width * height * count,
                max_size=width * height * count,
            )
        )
        array = np.array(values, dtype=dtype)
    else:
        info = np.iinfo(dtype)
        seed = draw(st.integers(0, 2**32 - 1))
        array = np.random.default_rng(seed).integers(
            info.min, info.max, width * height * count, dtype=dtype, endpoint=True
        )
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": count,
        "dtype": dtype,
        "transform": transform,
        "nodata": nodata,
        "compress": draw(st.sampled_from([None, "deflate", "lzw"])),
    }
    if crs is not None:
        profile["crs"] = crs
    with MemoryFile() as memfile, warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with memfile.open(**profile) as dst:
            dst.write(array.reshape(count, height, width))
        data = memfile.read()
    if draw(st.integers(0, 2)) == 0:
        data = mutate(data, draw(mutations()))
    return data


# ------------------------------------------------------------------------------ seeds


@functools.cache
def _seeds() -> dict[str, bytes]:
    """Small valid files of every format, written here, as bytes (built once)."""
    with tempfile.TemporaryDirectory(prefix="fuzz-seeds-") as tmp:
        root = Path(tmp)
        frame = gpd.GeoDataFrame(
            {
                "sp_id": ["WP-1", "WP-2", "WP-3"],
                "category": ["water", "sanitation", "health"],
                "settlement": ["mtoni", "mtoni", None],
                "taps_total": [2, 0, None],
                "survey_date": ["2024-02-05", "2024-02-06", ""],
            },
            geometry=shapely.points([[37.63, -1.9], [37.64, -1.91], [37.65, -1.89]]),
            crs="EPSG:4326",
        )
        frame.to_file(root / "seed.gpkg", driver="GPKG", layer="points")
        projected = frame.to_crs(32737)
        polygons = projected[["sp_id", "category", "geometry"]].assign(
            geometry=projected.buffer(100.0)
        )
        polygons.to_file(root / "blocks.shp")
        shp = io.BytesIO()
        with zipfile.ZipFile(shp, "w", zipfile.ZIP_DEFLATED) as zf:
            for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
                member = root / f"blocks{ext}"
                if member.exists():
                    zf.write(member, member.name)
        kml = root / "seed.kml"
        frame[["sp_id", "geometry"]].rename(columns={"sp_id": "Name"}).to_file(kml, driver="KML")
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = "households"
        for row in [
            ["_uuid", "_index", "hh/hh_size", "hh/_gps_latitude", "hh/_gps_longitude"],
            ["u1", 1, 4, -1.9, 37.63],
            ["u2", 2, "=1+1", -1.91, 37.64],
        ]:
            ws.append(row)
        rep = wb.create_sheet("members")
        for row in [["name", "_parent_index", "_submission__uuid"], ["a", 1, "u1"], ["b", 2, "u2"]]:
            rep.append(row)
        xlsx = io.BytesIO()
        wb.save(xlsx)
        with MemoryFile() as memfile:
            with memfile.open(
                driver="GTiff",
                width=4,
                height=3,
                count=1,
                dtype="uint16",
                crs="EPSG:32737",
                nodata=0,
                transform=Affine(30, 0, 252048, 0, -30, 9855356),
            ) as dst:
                dst.write(np.array([[[1990, 2000, 2014, 0]] * 3], dtype="uint16"))
            tiff = memfile.read()
        odk = io.BytesIO()
        with zipfile.ZipFile(odk, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("form.csv", "SubmissionDate,hh-size,KEY\n2024-02-05,4,uuid:1\n")
            zf.writestr("form-rep.csv", "name,PARENT_KEY,KEY\nx,uuid:1,uuid:1/rep[1]\n")
        geojson = frame.to_json().encode()
        return {
            "gpkg": (root / "seed.gpkg").read_bytes(),
            "shapefile_zip": shp.getvalue(),
            "kml": kml.read_bytes(),
            "xlsx": xlsx.getvalue(),
            "geotiff": tiff,
            "odk_zip": odk.getvalue(),
            "geojson": geojson,
            "csv": b"_uuid,hh/hh_size,intro/settlement\nu1,4,mtoni\nu2,x,\n",
        }


def test_seeds_are_read() -> None:
    """The unmutated seeds are valid: each is sniffed as its own format and read."""
    seeds = _seeds()
    with scratch_dir() as w:
        for fmt, data in seeds.items():
            staged = w.stage(data)
            assert staged is not None
            assert sniff(staged.path) == fmt
            if fmt in VECTOR_FORMATS:
                assert len(read_vector(staged.path, fmt).frame) == 3  # type: ignore[arg-type]
        assert inspect_raster(w.stage(seeds["geotiff"]).path).value_range == (1990.0, 2014.0)  # type: ignore[union-attr]


# ------------------------------------------------------------------------------ tests


@fuzz(150)
@given(
    data=st.one_of(
        st.binary(max_size=2048),
        st.builds(lambda m, tail: m + tail, st.sampled_from(_MAGIC), st.binary(max_size=512)),
        geojson_doc(),
        csv_text(),
        kml_doc(),
    )
)
def test_stage_and_sniff(data: bytes) -> None:
    """Staging + sniffing (safety.py): a format of FORMATS, or a ProfilingError."""
    with scratch_dir() as w:
        staged = w.stage(data, name="x.bin")
        if not data:
            assert staged is None
            return
        assert staged is not None and staged.size == len(data)
        fmt = outcome(lambda: sniff(staged.path))
        assert fmt is None or fmt in FORMATS


@fuzz(60)
@given(data=st.one_of(csv_text(), st.binary(max_size=512)))
def test_kobo_and_odk_csv(data: bytes) -> None:
    """The Kobo CSV reader and the ODK single-CSV reader on structured and random text."""
    with scratch_dir() as w:
        path = w.file(data, "export.csv")
        check_form_export(outcome(lambda: read_kobo_csv(path)))
        check_form_export(outcome(lambda: read_odk_csv(path)))


@fuzz(30)
@given(data=st.one_of(xlsx_doc(), st.builds(mutate, st.just(b""), mutations())))
def test_kobo_xlsx(data: bytes) -> None:
    """The Kobo XLSX reader on workbooks with random sheets and cells."""
    with scratch_dir() as w:
        path = w.file(data, "export.xlsx")
        check_form_export(outcome(lambda: read_kobo_xlsx(path)))


@fuzz(30)
@given(edits=mutations())
def test_kobo_xlsx_mutated(edits: list[tuple[str, float, bytes]]) -> None:
    """The Kobo XLSX reader on bit flips and truncations of a valid two-sheet export."""
    with scratch_dir() as w:
        path = w.file(mutate(_seeds()["xlsx"], edits), "export.xlsx")
        check_form_export(outcome(lambda: read_kobo_xlsx(path)))


@fuzz(40)
@given(data=st.one_of(odk_zip(), st.binary(max_size=256)))
def test_odk_zip(data: bytes) -> None:
    """The ODK Central zip reader on archives with random members and CSVs."""
    with scratch_dir() as w:
        path = w.file(data, "submissions.csv.zip")
        check_form_export(outcome(lambda: read_odk_zip(path, w.root / "work")))


def _read_as_sniffed(w: Work, data: bytes) -> VectorRead | None:
    staged = w.stage(data)
    if staged is None:
        return None
    fmt = outcome(lambda: sniff(staged.path))
    if fmt not in VECTOR_FORMATS:
        return None
    return outcome(lambda: read_vector(staged.path, fmt))  # type: ignore[arg-type]


@fuzz(80)
@given(data=geojson_doc())
def test_read_vector_geojson(data: bytes) -> None:
    """read_vector on GeoJSON with random structure, coordinates and properties."""
    with scratch_dir() as w:
        check_vector(_read_as_sniffed(w, data))


@fuzz(50)
@given(data=kml_doc())
def test_read_vector_kml(data: bytes) -> None:
    """read_vector on KML with random elements, text and coordinates."""
    with scratch_dir() as w:
        check_vector(_read_as_sniffed(w, data))


@fuzz(40)
@given(
    fmt=st.sampled_from(["gpkg", "shapefile_zip", "kml", "geojson"]),
    edits=mutations(),
    layer=st.one_of(st.none(), st.sampled_from(["points", "blocks", "nope", "", "../x"])),
    crs=st.one_of(
        st.none(), st.sampled_from(["4326", "EPSG:32737", "EPSG:0", "+proj=longlat", "x"])
    ),
)
def test_read_vector_mutated(
    fmt: str,
    edits: list[tuple[str, float, bytes]],
    layer: str | None,
    crs: str | None,
) -> None:
    """read_vector on bit flips / truncations of a valid GPKG, zipped SHP, KML, GeoJSON."""
    with scratch_dir() as w:
        staged = w.stage(mutate(_seeds()[fmt], edits))
        if staged is None:
            return
        check_vector(outcome(lambda: read_vector(staged.path, fmt, layer=layer, crs=crs)))  # type: ignore[arg-type]


@st.composite
def shapefile_members(draw: st.DrawFn, seed: bytes) -> bytes:
    """A re-zipped Shapefile whose members are corrupted, dropped, renamed or duplicated."""
    with zipfile.ZipFile(io.BytesIO(seed)) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, content in members.items():
            action = draw(st.sampled_from(["keep", "keep", "mutate", "mutate", "drop", "rename"]))
            if action == "drop":
                continue
            data = mutate(content, draw(mutations())) if action == "mutate" else content
            target = name
            if action == "rename":
                target = draw(st.sampled_from([name.upper(), "sub/" + name, "other" + name[-4:]]))
            zf.writestr(target, data)
        if draw(st.booleans()):
            zf.writestr(
                draw(st.sampled_from(["x.shp", "readme.txt", "blocks.qix"])),
                draw(st.binary(max_size=100)),
            )
    return out.getvalue()


@fuzz(40)
@given(data=st.data())
def test_read_vector_shapefile_members(data: st.DataObject) -> None:
    """read_vector on zipped Shapefiles with corrupted, missing or renamed members."""
    zipped = data.draw(shapefile_members(_seeds()["shapefile_zip"]))
    crs = data.draw(st.one_of(st.none(), st.just("EPSG:32737")))
    with scratch_dir() as w:
        staged = w.stage(zipped)
        assert staged is not None
        check_vector(outcome(lambda: read_vector(staged.path, "shapefile_zip", crs=crs)))


@fuzz(60)
@given(
    data=st.one_of(
        geotiff(),
        st.builds(lambda m, t: m + t, st.sampled_from(_MAGIC[3:6]), st.binary(max_size=256)),
    ),
    crs=st.one_of(st.none(), st.sampled_from(["EPSG:4326", "EPSG:32737", "bogus"])),
)
def test_inspect_raster(data: bytes, crs: str | None) -> None:
    """inspect_raster on random small GeoTIFFs (dtypes, CRS, transforms, NaN/inf cells) and
    on their bit flips / truncations."""
    with scratch_dir() as w:
        staged = w.stage(data)
        if staged is None:
            return
        check_raster(outcome(lambda: inspect_raster(staged.path, crs=crs)))


@fuzz(30)
@given(edits=mutations())
def test_inspect_raster_mutated(
    edits: list[tuple[str, float, bytes]],
) -> None:
    """inspect_raster on bit flips / truncations of a valid built-up-epoch GeoTIFF."""
    with scratch_dir() as w:
        staged = w.stage(mutate(_seeds()["geotiff"], edits))
        if staged is None:
            return
        check_raster(outcome(lambda: inspect_raster(staged.path)))


# ------------------------------------------------------------------------------ mapping

_BUNDLED_TEXT = (
    Path(__file__).resolve().parents[2] / "profiling" / "mappings" / "demo_households.toml"
).read_text(encoding="utf-8")
_TOML_VALUE = st.one_of(
    st.sampled_from(
        ['"household_id"', '"nope"', "3", "true", "[]", '["a", 1]', "{}", '""', "1e400"]
    ),
    st.text(max_size=8).map(json.dumps),
)


_SECTIONS = [
    "form",
    "columns",
    "values.head_sex",
    "repeats.x",
    "geometry",
    "x.y",
    "multiple",
    "skip",
]


@st.composite
def mapping_text(draw: st.DrawFn) -> str:
    lines = _BUNDLED_TEXT.splitlines()
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "dup", "value", "key", "section", "garbage"]))
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "value" and "=" in lines[i]:
            lines[i] = lines[i].split("=", 1)[0] + "= " + draw(_TOML_VALUE)
        elif op == "key" and "=" in lines[i]:
            lines[i] = json.dumps(draw(st.text(max_size=8))) + " =" + lines[i].split("=", 1)[1]
        elif op == "section":
            lines.insert(i, f"[{draw(st.sampled_from(_SECTIONS))}]")
        elif op == "garbage":
            lines.insert(i, draw(st.text(max_size=10)))
    return "\n".join(lines) + "\n"


@fuzz(80)
@given(text=mapping_text(), yaml_syntax=st.integers(0, 5).map(lambda n: n == 0))
def test_load_mapping(text: str, yaml_syntax: bool) -> None:
    """load_mapping on line-level mutations of a bundled mapping (TOML, and as YAML)."""
    result = outcome(lambda: load_mapping(text, syntax="yaml" if yaml_syntax else "toml"))
    if result is not None:
        assert isinstance(result, FormMapping)
        assert result.layer in LAYERS


_HOUSEHOLDS = bundled_mappings()["demo_households"]
_SERVICE_POINTS = bundled_mappings()["demo_service_points"]
_TEXT_VALUE = st.one_of(
    st.none(),
    _CELL,
    st.sampled_from(
        ["4", "-3", "1e400", "2024-02-05", "37.63", "-1.9", "f", "m", "yes", "no", "99"]
    ),
)


@st.composite
def raw_table(draw: st.DrawFn, mapping: FormMapping) -> pd.DataFrame:
    names = draw(
        st.lists(
            st.one_of(st.sampled_from(list(mapping.source_columns)), _HEADER_NAME),
            min_size=1,
            max_size=8,
            unique=True,
        )
    )
    n = draw(st.integers(0, 5))
    columns = {name: draw(st.lists(_TEXT_VALUE, min_size=n, max_size=n)) for name in names}
    return pd.DataFrame(columns, dtype="string").astype(object)


@fuzz(40)
@given(data=st.data())
def test_apply_mapping_form(data: st.DataObject) -> None:
    """apply_mapping of the Kobo households mapping on text tables with random columns and
    values (codes, numbers, coordinates, junk)."""
    raw = data.draw(raw_table(_HOUSEHOLDS))
    separator = data.draw(st.sampled_from(["/", "-", ".", ":"]))
    out = outcome(
        lambda: apply_mapping(raw, _HOUSEHOLDS, source_layer="fuzz", group_separator=separator)
    )
    check_mapped(out, raw)


_ATTRIBUTE = st.one_of(
    st.lists(_TEXT_VALUE, min_size=1, max_size=1),
    st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), min_size=1, max_size=1),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=1),
    st.lists(st.booleans(), min_size=1, max_size=1),
    st.lists(
        st.datetimes(min_value=datetime(1678, 1, 1), max_value=datetime(2261, 1, 1)),
        min_size=1,
        max_size=1,
    ),
    st.lists(
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), min_size=1, max_size=1
    ),
)


@st.composite
def vector_table(draw: st.DrawFn) -> gpd.GeoDataFrame:
    n = draw(st.integers(0, 5))
    names = draw(
        st.lists(
            st.one_of(st.sampled_from(list(_SERVICE_POINTS.source_columns)), _PROPERTY_NAME),
            max_size=6,
            unique=True,
        ).map(lambda ns: [x for x in ns if x not in ("geometry", "source_row")])
    )
    columns: dict[str, list[Any]] = {}
    for name in names:
        kind = draw(_ATTRIBUTE)
        columns[name] = (kind * n)[:n]
    geoms = draw(
        st.lists(
            st.one_of(
                st.none(),
                st.builds(shapely.Point, _NUMBER.map(float), _NUMBER.map(float)),
                st.just(shapely.Point()),
                st.just(shapely.MultiPoint([(1, 1), (2, 2)])),
                st.just(shapely.box(37.6, -1.9, 37.7, -1.8)),
            ),
            min_size=n,
            max_size=n,
        )
    )
    crs = draw(st.sampled_from(["EPSG:4326", "EPSG:4326", "EPSG:32737", None]))
    return gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries(geoms, crs=crs), crs=crs)


@fuzz(40)
@given(raw=vector_table())
def test_apply_mapping_vector(raw: gpd.GeoDataFrame) -> None:
    """apply_mapping of a vector mapping on GeoDataFrames with attributes of random dtypes
    and geometries (None, empty, NaN/inf/huge coordinates, wrong types, no CRS)."""
    check_mapped(outcome(lambda: apply_mapping(raw, _SERVICE_POINTS, source_layer="fuzz")), raw)


# ------------------------------------------------------------------------------ pipeline


@st.composite
def any_upload(draw: st.DrawFn) -> bytes:
    seeds = _seeds()
    kind = draw(
        st.sampled_from(["seed", "seed", "geojson", "csv", "kml", "xlsx", "odk", "tiff", "bytes"])
    )
    if kind == "seed":
        data = seeds[draw(st.sampled_from(sorted(seeds)))]
        return mutate(data, draw(mutations())) if draw(st.booleans()) else data
    strategy = {
        "geojson": geojson_doc(),
        "csv": csv_text(),
        "kml": kml_doc(),
        "xlsx": xlsx_doc(),
        "odk": odk_zip(),
        "tiff": geotiff(),
        "bytes": st.binary(max_size=512),
    }[kind]
    return draw(strategy)


_REQUEST = st.builds(
    IngestRequest,
    layer=st.one_of(st.none(), st.sampled_from([*LAYERS, *sorted(RASTER_KINDS)])),
    mapping=st.one_of(st.none(), st.sampled_from([*sorted(bundled_mappings()), "nope", "."])),
    settlement=st.one_of(st.none(), st.text(max_size=8)),
    round=st.one_of(st.none(), st.sampled_from(["2024-02-05", "r1", ""])),
    source_layer=st.one_of(st.none(), st.sampled_from(["points", "households", "nope", ""])),
    crs=st.one_of(st.none(), st.sampled_from(["EPSG:4326", "EPSG:32737", "junk"])),
    original_name=st.one_of(st.none(), st.sampled_from(["x.csv", "x.geojson", "../../x", "a.tif"])),
)


@fuzz(60)
@given(data=st.data(), request=_REQUEST)
def test_validate_file(data: st.DataObject, request: IngestRequest) -> None:
    """The whole validate pipeline (geo_service.ingestion.validate_file) on any upload and any
    stated options."""
    upload = data.draw(any_upload())
    assume(upload)
    with scratch_dir() as w:
        path = w.file(upload, "upload.bin")
        settings_ = Settings(store_path=w.root / "store.gpkg", work_dir=w.root / "jobs")
        result = outcome(lambda: validate_file(path, request, settings=settings_))
        if result is not None:
            assert isinstance(result, IngestResult)
            check_report(result.report)
            assert result.rows >= 0 and result.layer


# ------------------------------------------------------------------------------ regressions
# Minimal inputs the fuzzers above found (bugs since fixed): each must now be read or refused
# with a ProfilingError, through the reader and through the whole validate pipeline.

_ONLY_EXAMPLES = settings(phases=[Phase.explicit], database=None, deadline=None)


def _through(entry: str, data: bytes, reader: Callable[[Path], object]) -> None:
    """Feed ``data`` to ``reader`` directly, or to the whole validate pipeline: a result or a
    ProfilingError, nothing else."""
    with scratch_dir() as w:
        path = w.file(data, "upload.bin")
        if entry == "reader":
            outcome(lambda: reader(path))
        else:
            options = Settings(store_path=w.root / "store.gpkg", work_dir=w.root / "jobs")
            outcome(lambda: validate_file(path, IngestRequest(), settings=options))


@pytest.mark.parametrize("entry", ["reader", "validate_file"])
@_ONLY_EXAMPLES
@given(data=csv_text())
@example(data=b"a\n\x9d\n")
@example(data=b"a,b\n1,\x81\n")
def test_regression_csv_undefined_cp1252_byte(entry: str, data: bytes) -> None:
    _through(entry, data, read_kobo_csv)


@pytest.mark.parametrize("entry", ["reader", "validate_file"])
@_ONLY_EXAMPLES
@given(data=csv_text())
@example(data=b'a"\nb"\n')
@example(data=b'x,a"\nb",c\n1,2\n')
def test_regression_csv_quote_inside_unquoted_header_field(entry: str, data: bytes) -> None:
    _through(entry, data, read_kobo_csv)


def _xlsx_with_corrupt_member(member: str, fill: bytes) -> bytes:
    """A valid workbook whose ``member``'s deflate stream is overwritten with ``fill``."""
    source = _seeds()["xlsx"]
    out = bytearray(source)
    with zipfile.ZipFile(io.BytesIO(source)) as zf:
        info = zf.getinfo(member)
    name_len = int.from_bytes(out[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(out[info.header_offset + 28 : info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    out[start : start + info.compress_size] = (fill * info.compress_size)[: info.compress_size]
    return bytes(out)


@pytest.mark.parametrize("entry", ["reader", "validate_file"])
@_ONLY_EXAMPLES
@given(member=st.just("xl/worksheets/sheet1.xml"), fill=st.binary(min_size=1, max_size=1))
@example(member="xl/worksheets/sheet1.xml", fill=b"\xff")
def test_regression_xlsx_corrupt_deflate_stream(entry: str, member: str, fill: bytes) -> None:
    _through(entry, _xlsx_with_corrupt_member(member, fill), read_kobo_xlsx)
