"""Staging uploads, content sniffing, safe zip extraction and size limits.

Everything a user uploads passes through here before any parser sees it:

1. :func:`stage_upload` copies the bytes into a private job folder under a *generated* name
   (the user's file name is kept as sanitised metadata only, never used as a path), hashing
   them on the way and stopping past the byte limit;
2. :func:`sniff` decides the format from the *content* (magic bytes, then structure), never
   from the extension; :func:`check_extension` only says when the two disagree;
3. archives are unpacked with :func:`safe_extract_zip`, which refuses path escapes, links,
   duplicate or over-long names, nested archives beyond a depth and zip bombs.

GDAL never receives a user-supplied string as a path: readers only hand it paths built here.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
import shutil
import stat
import unicodedata
import uuid
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal, get_args

import pyproj

from profiling.errors import InputTooLarge, MissingCRS, UnsafeInput, UnsupportedFormat

__all__ = [
    "FORMATS",
    "Format",
    "Limits",
    "StagedFile",
    "check_extension",
    "detect_text_encoding",
    "link_or_copy",
    "parse_user_crs",
    "safe_extract_zip",
    "sanitize_name",
    "sniff",
    "stage_upload",
]

Format = Literal[
    "csv", "xlsx", "odk_zip", "shapefile_zip", "geojson", "gpkg", "kml", "kmz", "geotiff"
]
"""Accepted upload formats, as detected by :func:`sniff` (plain strings)."""

FORMATS: tuple[Format, ...] = get_args(Format)

MiB = 1024 * 1024
GiB = 1024 * MiB
_CHUNK = MiB
_HEAD = 64 * 1024
_MAX_NAME = 255

_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "csv": (".csv", ".txt", ".tsv"),
    "xlsx": (".xlsx",),
    "odk_zip": (".zip",),
    "shapefile_zip": (".zip",),
    "geojson": (".geojson", ".json"),
    "gpkg": (".gpkg",),
    "kml": (".kml",),
    "kmz": (".kmz",),
    "geotiff": (".tif", ".tiff"),
}
_LABELS: dict[str, str] = {
    "csv": "CSV text",
    "xlsx": "an Excel workbook",
    "odk_zip": "a zip of CSV files (ODK Central export)",
    "shapefile_zip": "a zipped Shapefile",
    "geojson": "GeoJSON",
    "gpkg": "a GeoPackage",
    "kml": "KML",
    "kmz": "KMZ",
    "geotiff": "a GeoTIFF",
}
_GEOJSON_TYPES = frozenset(
    {
        "FeatureCollection",
        "Feature",
        "Point",
        "MultiPoint",
        "LineString",
        "MultiLineString",
        "Polygon",
        "MultiPolygon",
        "GeometryCollection",
    }
)
_GPKG_IDS = (b"GPKG", b"GP10", b"GP11")
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_OTHER_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip archives"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archives"),
    (b"Rar!", "RAR archives"),
    (b"%PDF", "PDF documents"),
    (b"\x89PNG", "PNG images"),
    (b"\xff\xd8\xff", "JPEG images"),
    (b"\xd0\xcf\x11\xe0", "old Office files (.xls/.doc); save as .xlsx or CSV"),
    (b"PAR1", "Parquet files"),
    (b"fgb\x03", "FlatGeobuf files"),
    (b"ARROW1", "Arrow files"),
)
_VRT_RE = re.compile(rb"<\s*(?:[\w.-]+:)?(?:OGRVRTDataSource|VRTDataset|VRTDataSource)\b", re.I)
_ENTITY_RE = re.compile(r"<!ENTITY", re.I)
_DOCTYPE_RE = re.compile(r"<!DOCTYPE", re.I)
_COMMENT_RE = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_ROOT_RE = re.compile(r"<(?![!?/])(?:[\w.-]+:)?([\w.-]+)")
_JSON_TYPE_RE = re.compile(r'"type"\s*:\s*"([^"\\]{1,64})"')
_AUTHORITY_RE = re.compile(r"^(?:EPSG|ESRI|OGC|IAU_\d{4}|IGNF):[A-Za-z0-9_.]{1,32}$", re.I)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits applied while staging and reading one upload.

    Attributes
    ----------
    max_upload_bytes : int
        Largest upload accepted, in bytes (200 MiB).
    max_features : int
        Most features (rows) read from one layer.
    max_vertices_per_feature : int
        Most coordinates in one geometry; a feature over it is a row error and its geometry
        is dropped before any slow operation.
    max_total_vertices : int
        Most coordinates in one layer (memory bound, ~16 bytes each).
    max_columns : int
        Most attribute columns in one layer.
    max_layers : int
        Most layers inspected in one GeoPackage / KML.
    zip_max_ratio : int
        Most bytes extracted per byte of archive (zip-bomb guard).
    zip_max_total_bytes : int
        Most bytes extracted from one archive, nested archives included.
    zip_max_members : int
        Most members in one archive.
    zip_max_depth : int
        How many levels of zip-inside-zip are unpacked (0: none).
    max_raster_cells : int
        Most cells (width × height × bands) in one raster.
    max_raster_bands : int
        Most bands in one raster.
    raster_overview_cells : int
        Cells read (per band, decimated) to estimate a raster's value range.
    """

    max_upload_bytes: int = 200 * MiB
    max_features: int = 2_000_000
    max_vertices_per_feature: int = 100_000
    max_total_vertices: int = 50_000_000
    max_columns: int = 2_000
    max_layers: int = 1_000
    zip_max_ratio: int = 100
    zip_max_total_bytes: int = 2 * GiB
    zip_max_members: int = 10_000
    zip_max_depth: int = 1
    max_raster_cells: int = 400_000_000
    max_raster_bands: int = 32
    raster_overview_cells: int = 1_000_000


_DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class StagedFile:
    """An upload copied into a private job folder.

    Attributes
    ----------
    path : Path
        Where the bytes now are; the name is generated, never taken from the user.
    sha256 : str
        Hex SHA-256 of the content (provenance: the "source file hash").
    size : int
        Size in bytes.
    original_name : str or None
        The name the user gave, sanitised (:func:`sanitize_name`); metadata only.
    """

    path: Path
    sha256: str
    size: int
    original_name: str | None


def _human(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def _quote(text: str, limit: int = 80) -> str:
    """``repr`` of user text, shortened, for messages."""
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def sanitize_name(name: str | None) -> str | None:
    """Reduce a user-supplied file name to a harmless base name kept as metadata.

    Keeps the last path component (``/`` and ``\\`` both separate), drops control
    characters, NFC-normalises and caps the length at 255 characters (extension kept).

    Parameters
    ----------
    name : str or None
        The name as the client sent it (may be a path, a URL, anything).

    Returns
    -------
    str or None
        The base name, or ``None`` when nothing usable is left.

    Examples
    --------
    >>> sanitize_name("/vsicurl/http://example.com/x.geojson")
    'x.geojson'
    >>> sanitize_name("..") is None
    True
    """
    if name is None:
        return None
    text = unicodedata.normalize("NFC", str(name))
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(ch for ch in text if ch.isprintable()).strip()
    if not text or set(text) == {"."}:
        return None
    if len(text) > _MAX_NAME:
        suffix = PurePosixPath(text).suffix[:16]
        text = text[: _MAX_NAME - len(suffix)] + suffix
    return text


def _chunks(source: bytes | BinaryIO | Path) -> Iterator[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source)
        for start in range(0, len(view), _CHUNK):
            yield bytes(view[start : start + _CHUNK])
        return
    if isinstance(source, Path):
        with source.open("rb") as handle:
            yield from iter(lambda: handle.read(_CHUNK), b"")
        return
    while chunk := source.read(_CHUNK):
        yield chunk


def _open_private(path: Path) -> int:
    """Open a new file for writing: fails if it exists, never follows a link, mode 0600."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    return os.open(path, flags, 0o600)


def stage_upload(
    source: bytes | BinaryIO | Path,
    job_dir: Path,
    *,
    original_name: str | None = None,
    max_bytes: int = _DEFAULT_LIMITS.max_upload_bytes,
) -> StagedFile:
    """Copy an upload into a private job folder, hashing it and enforcing the size limit.

    The copy is streamed in 1 MiB chunks; the file gets a generated name
    (``upload-<32 hex>.bin``) so no user text ever becomes a path. The job folder is
    created with mode 0700 when missing.

    Parameters
    ----------
    source : bytes, binary file object or Path
        The upload's content (a :class:`~pathlib.Path` is read by Python, never by GDAL).
    job_dir : Path
        The job's private folder.
    original_name : str, optional
        The client's file name; sanitised and kept as metadata only.
    max_bytes : int
        Largest size accepted, in bytes.

    Returns
    -------
    StagedFile
        Path, SHA-256, size in bytes and sanitised original name.

    Raises
    ------
    InputTooLarge
        The content is larger than ``max_bytes`` (the partial copy is removed).
    UnsupportedFormat
        The content is empty.
    """
    job_dir = Path(job_dir)
    job_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = job_dir / f"upload-{uuid.uuid4().hex}.bin"
    if isinstance(source, Path) and source.stat().st_size > max_bytes:
        raise InputTooLarge(f"the upload is larger than the limit of {_human(max_bytes)}")
    digest = hashlib.sha256()
    size = 0
    fd = _open_private(target)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in _chunks(source):
                size += len(chunk)
                if size > max_bytes:
                    raise InputTooLarge(
                        f"the upload is larger than the limit of {_human(max_bytes)}"
                    )
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise UnsupportedFormat("the upload is empty (0 bytes)")
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return StagedFile(target, digest.hexdigest(), size, sanitize_name(original_name))


def link_or_copy(source: Path, target: Path) -> Path:
    """Give ``source`` a second name ``target`` (hard link, or a copy across devices).

    Readers use it to present a staged file to GDAL under a fixed, conventional name
    (``data.gpkg``) inside a private folder.
    """
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    return target


# ----------------------------------------------------------------------------- sniffing


def _read_head(path: Path, n: int = _HEAD) -> bytes:
    with Path(path).open("rb") as handle:
        return handle.read(n)


def detect_text_encoding(path: Path) -> str:
    """Encoding of a text file: ``utf-8-sig``, ``utf-8``, ``cp1252`` or ``latin-1``.

    The whole file is checked (streamed), so a stray Windows byte late in a file is found.

    Raises
    ------
    UnsupportedFormat
        The content holds NUL bytes or is UTF-16 (binary, or text that must be re-saved).
    """
    head = _read_head(path, 4)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UnsupportedFormat("UTF-16 text is not accepted; save the file as UTF-8 CSV")
    candidates = ["utf-8", "cp1252"]
    decoders = {name: codecs.getincrementaldecoder(name)() for name in candidates}
    alive = set(candidates)
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            if b"\x00" in chunk:
                raise UnsupportedFormat("binary content (NUL bytes) where text was expected")
            for name in list(alive):
                try:
                    decoders[name].decode(chunk, final=False)
                except UnicodeDecodeError:
                    alive.discard(name)
    for name in list(alive):
        try:
            decoders[name].decode(b"", final=True)
        except UnicodeDecodeError:
            alive.discard(name)
    if "utf-8" in alive:
        return "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
    return "cp1252" if "cp1252" in alive else "latin-1"


def _decode_head(head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UnsupportedFormat("UTF-16 text is not accepted; save the file as UTF-8")
    if b"\x00" in head:
        raise UnsupportedFormat("binary content of an unknown format")
    try:
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
    except UnicodeDecodeError:
        text = head.decode("latin-1")
    if len(_CONTROL_RE.findall(text)) > max(2, len(text) // 100):
        raise UnsupportedFormat("binary content of an unknown format")
    return text


def _sniff_zip(path: Path, limits: Limits) -> Format:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise UnsupportedFormat(f"the zip archive is truncated or corrupt ({exc})") from None
    if len(infos) > limits.zip_max_members:
        raise InputTooLarge(
            f"the zip archive has {len(infos)} members, over the limit of {limits.zip_max_members}"
        )
    names = [i.filename.replace("\\", "/").lower() for i in infos if not i.is_dir()]
    if not names:
        raise UnsupportedFormat("the zip archive is empty")
    suffixes = {PurePosixPath(n).suffix for n in names}
    if "[content_types].xml" in names:
        if any(n.startswith("xl/") for n in names):
            return "xlsx"
        raise UnsupportedFormat("an Office document other than an Excel workbook")
    if ".shp" in suffixes:
        return "shapefile_zip"
    if ".kml" in suffixes:
        return "kmz"
    if ".csv" in suffixes:
        return "odk_zip"
    found = ", ".join(sorted(s or "(no extension)" for s in suffixes)[:10])
    raise UnsupportedFormat(f"a zip archive holding no .shp, .kml or .csv file (found: {found})")


def _sniff_sqlite(head: bytes) -> Format:
    app_id = head[68:72]
    if app_id in _GPKG_IDS:
        return "gpkg"
    if app_id == b"MPBX":
        raise UnsupportedFormat("MBTiles files are not accepted; upload a GeoPackage")
    raise UnsupportedFormat("an SQLite database that is not a GeoPackage (no GPKG application_id)")


def _sniff_xml(text: str) -> Format:
    if _ENTITY_RE.search(text):
        raise UnsafeInput("the XML declares entities (<!ENTITY>), which are refused")
    if _DOCTYPE_RE.search(text):
        raise UnsafeInput("XML document type declarations (<!DOCTYPE>) are refused")
    body = _COMMENT_RE.sub("", text)
    match = _ROOT_RE.search(body)
    if match is None:
        raise UnsupportedFormat("XML without a root element in its first 64 KiB")
    root = match.group(1)
    if root.lower() == "kml":
        return "kml"
    raise UnsupportedFormat(f"XML with root element <{root[:40]}> is not accepted (only KML)")


def _sniff_json(text: str) -> Format:
    if text.startswith("["):
        raise UnsupportedFormat("a JSON array is not GeoJSON (expected an object with 'type')")
    types = set(_JSON_TYPE_RE.findall(text))
    if "gdal_streamed_alg" in types:
        raise UnsafeInput("GDAL streamed-algorithm (GDALG) files are refused")
    if types & _GEOJSON_TYPES:
        return "geojson"
    raise UnsupportedFormat("JSON that is not GeoJSON (no GeoJSON 'type' member found)")


def _sniff_text(path: Path, text: str) -> Format:
    detect_text_encoding(path)  # refuses NUL bytes anywhere and UTF-16
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise UnsupportedFormat("the file holds only blank text")
    if len(text) >= _HEAD - 4 and len(lines) == 1:
        raise UnsupportedFormat("text without line breaks in its first 64 KiB is not a table")
    header = lines[0]
    if any(sep in header for sep in (",", ";", "\t", "|")) or len(lines) >= 2:
        return "csv"
    raise UnsupportedFormat("text that does not look like a table (one line, no delimiter)")


def sniff(path: Path, *, limits: Limits = _DEFAULT_LIMITS) -> Format:
    """Detect the format of a staged file from its content, never its name.

    Order: magic bytes (ZIP, SQLite, TIFF, known binaries), then structure of text
    (XML root element, JSON ``type`` members, tabular text). ZIP archives are classified
    by member names: ``[Content_Types].xml`` + ``xl/`` → xlsx, a ``.shp`` →
    shapefile_zip, a ``.kml`` → kmz, ``.csv`` files → odk_zip.

    Parameters
    ----------
    path : Path
        A staged file (see :func:`stage_upload`).
    limits : Limits
        Only ``zip_max_members`` is used.

    Returns
    -------
    Format
        One of :data:`FORMATS`.

    Raises
    ------
    UnsafeInput
        GDAL virtual files (OGR VRT, raster VRT, GDALG) or XML entity declarations,
        whatever the file is called.
    UnsupportedFormat
        Empty, truncated, unknown or refused content (e.g. SQLite that is not a
        GeoPackage, MBTiles, XML other than KML, JSON other than GeoJSON).
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise UnsupportedFormat("the file is empty (0 bytes)")
    head = _read_head(path)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _sniff_zip(path, limits)
    if head.startswith(b"SQLite format 3\x00"):
        return _sniff_sqlite(head)
    if head[:4] in _TIFF_MAGIC:
        return "geotiff"
    for magic, label in _OTHER_MAGIC:
        if head.startswith(magic):
            raise UnsupportedFormat(f"{label} are not accepted")
    if _VRT_RE.search(head):
        raise UnsafeInput("GDAL virtual (VRT) files are refused: they can read other files")
    text = _decode_head(head)
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("<"):
        return _sniff_xml(stripped)
    if stripped.startswith(("{", "[")):
        return _sniff_json(stripped)
    return _sniff_text(path, text)


def check_extension(original_name: str | None, fmt: Format) -> str | None:
    """Say when a file's extension disagrees with its detected content.

    Parameters
    ----------
    original_name : str or None
        The user's (sanitised) file name.
    fmt : Format
        The format :func:`sniff` detected.

    Returns
    -------
    str or None
        A warning sentence, or ``None`` when the name fits (or there is no name).

    Examples
    --------
    >>> check_extension("points.csv", "geojson")
    "the file is named 'points.csv' but holds GeoJSON; it is read as GeoJSON"
    >>> check_extension("points.geojson", "geojson") is None
    True
    """
    if not original_name:
        return None
    suffix = PurePosixPath(original_name.lower()).suffix
    if suffix in _EXTENSIONS.get(fmt, ()):
        return None
    label = _LABELS.get(fmt, fmt)
    return f"the file is named {original_name!r} but holds {label}; it is read as {label}"


# ----------------------------------------------------------------------------- zip


@dataclass
class _Budget:
    """Bytes still allowed out of one archive (nested archives share it)."""

    remaining: int
    limit: int
    reason: str

    def spend(self, n: int) -> None:
        self.remaining -= n
        if self.remaining < 0:
            raise InputTooLarge(
                f"the zip archive expands to more than {_human(self.limit)} ({self.reason})"
            )


def _member_path(name: str) -> PurePosixPath | None:
    """A safe relative path for a member name, ``None`` for the root itself."""
    if _CONTROL_RE.search(name) or "\x00" in name or "\n" in name or "\r" in name:
        raise UnsafeInput(f"zip member name with control characters: {_quote(name)}")
    if len(name) > _MAX_NAME:
        raise UnsafeInput(f"zip member name longer than {_MAX_NAME} characters")
    norm = name.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        raise UnsafeInput(f"zip member with an absolute path: {_quote(name)}")
    parts = [part for part in norm.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeInput(f"zip member escaping the folder with '..': {_quote(name)}")
    if any(len(part.encode("utf-8")) > _MAX_NAME for part in parts):
        raise UnsafeInput(f"zip member name component longer than {_MAX_NAME} bytes")
    return PurePosixPath(*parts) if parts else None


def _plan(infos: list[zipfile.ZipInfo]) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    plan: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
    files: set[str] = set()
    dirs: set[str] = set()
    for info in infos:
        rel = _member_path(info.filename)
        if rel is None:
            continue
        kind = (info.external_attr >> 16) & 0o170000
        if kind == stat.S_IFLNK:
            raise UnsafeInput(f"zip member is a symbolic link: {_quote(info.filename)}")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise UnsafeInput(f"zip member is a special file: {_quote(info.filename)}")
        if info.flag_bits & 0x1:
            raise UnsupportedFormat("the zip archive is password-protected")
        key = rel.as_posix().casefold()
        parents = {p.as_posix().casefold() for p in rel.parents if p.parts}
        if info.is_dir() or kind == stat.S_IFDIR:
            if key in files:
                raise UnsafeInput(f"zip member name used twice: {_quote(info.filename)}")
            dirs.add(key)
        else:
            if key in files or key in dirs:
                raise UnsafeInput(f"zip member name used twice: {_quote(info.filename)}")
            files.add(key)
        if parents & files:
            raise UnsafeInput(f"zip member inside a file of the same name: {_quote(info.filename)}")
        dirs |= parents
        plan.append((info, rel))
    return plan


def _extract(
    path: Path, dest: Path, budget: _Budget, *, depth: int, max_depth: int, max_members: int
) -> list[Path]:
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    root = dest.resolve()
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise UnsupportedFormat(f"the zip archive is truncated or corrupt ({exc})") from None
    out: list[Path] = []
    with zf:
        infos = zf.infolist()
        if len(infos) > max_members:
            raise InputTooLarge(
                f"the zip archive has {len(infos)} members, over the limit of {max_members}"
            )
        plan = _plan(infos)
        declared = sum(info.file_size for info, _ in plan)
        if declared > budget.remaining:
            raise InputTooLarge(
                f"the zip archive declares {_human(declared)} of content, over the limit of "
                f"{_human(budget.limit)} ({budget.reason})"
            )
        for info, rel in plan:
            target = dest.joinpath(*rel.parts)
            if not target.resolve().is_relative_to(root):  # belt and braces
                raise UnsafeInput(f"zip member escaping the folder: {_quote(info.filename)}")
            if info.is_dir():
                target.mkdir(mode=0o700, parents=True, exist_ok=True)
                continue
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, os.fdopen(_open_private(target), "wb") as dst:
                    for chunk in iter(lambda: src.read(_CHUNK), b""):
                        budget.spend(len(chunk))
                        dst.write(chunk)
            except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError) as exc:
                raise UnsupportedFormat(
                    f"the zip archive is truncated or corrupt at member "
                    f"{_quote(info.filename)} ({exc})"
                ) from None
            if rel.suffix.lower() == ".zip":
                if depth + 1 > max_depth:
                    raise UnsafeInput(
                        f"zip inside zip deeper than {max_depth} level(s): {_quote(info.filename)}"
                    )
                inner = target.with_name(target.name + ".d")
                out.extend(
                    _extract(
                        target,
                        inner,
                        budget,
                        depth=depth + 1,
                        max_depth=max_depth,
                        max_members=max_members,
                    )
                )
                target.unlink()
                continue
            out.append(target)
    return out


def safe_extract_zip(
    path: Path,
    dest: Path,
    *,
    max_ratio: int = _DEFAULT_LIMITS.zip_max_ratio,
    max_total_bytes: int = _DEFAULT_LIMITS.zip_max_total_bytes,
    max_members: int = _DEFAULT_LIMITS.zip_max_members,
    max_depth: int = _DEFAULT_LIMITS.zip_max_depth,
) -> list[Path]:
    """Extract a zip archive into ``dest``, refusing everything that could escape or explode.

    Refused (:class:`~profiling.errors.UnsafeInput`): absolute member paths, drive letters,
    ``..`` (with ``/`` or ``\\`` as separator), symbolic links and special files, duplicate
    names (case-insensitive), names over 255 characters, control characters, and zips nested
    deeper than ``max_depth``. Too big (:class:`~profiling.errors.InputTooLarge`): more than
    ``max_members`` members, or more than ``min(max_ratio × archive size, max_total_bytes)``
    bytes of content -- checked on the declared sizes first and again on the bytes actually
    written, since headers can lie. Nested archives (members named ``*.zip``) are unpacked
    into ``<member>.d/`` and share the same byte budget.

    Parameters
    ----------
    path : Path
        The archive (a staged file).
    dest : Path
        Folder to extract into (created, mode 0700). Use a private temporary folder: after an
        error it may hold partial output.
    max_ratio : int
        Most bytes extracted per byte of archive.
    max_total_bytes : int
        Most bytes extracted in total.
    max_members : int
        Most members per archive.
    max_depth : int
        Levels of nested zips unpacked.

    Returns
    -------
    list of Path
        The extracted files (not directories), in archive order.

    Raises
    ------
    UnsafeInput, InputTooLarge
        As above.
    UnsupportedFormat
        Truncated or corrupt archive, unsupported compression, password protection.
    """
    path, dest = Path(path), Path(dest)
    size = path.stat().st_size
    by_ratio = max_ratio * size
    if by_ratio < max_total_bytes:
        budget = _Budget(by_ratio, by_ratio, f"{max_ratio} × the archive's {_human(size)}")
    else:
        budget = _Budget(max_total_bytes, max_total_bytes, "the total limit")
    return _extract(path, dest, budget, depth=0, max_depth=max_depth, max_members=max_members)


# ----------------------------------------------------------------------------- CRS


def parse_user_crs(crs: str | int) -> pyproj.CRS:
    """Parse a CRS stated by the user: an EPSG number or an ``AUTHORITY:CODE`` string.

    Only authority codes are accepted (``4326``, ``"EPSG:32737"``, ``"ESRI:54009"``,
    ``"OGC:CRS84"``): PROJ strings and file names are refused, so user text never makes
    PROJ or GDAL open a file.

    Raises
    ------
    MissingCRS
        The text is not an authority code PROJ knows.
    """
    text = str(crs).strip()
    if isinstance(crs, int) or text.isdigit():
        text = f"EPSG:{int(text)}"
    if not _AUTHORITY_RE.match(text):
        raise MissingCRS(
            f"CRS {_quote(text, 40)} is not understood; give an authority code such as "
            "EPSG:4326 or EPSG:32737"
        )
    try:
        return pyproj.CRS.from_user_input(text.upper())
    except pyproj.exceptions.CRSError:
        raise MissingCRS(
            f"CRS {_quote(text, 40)} is unknown; give an authority code such as EPSG:4326"
        ) from None
