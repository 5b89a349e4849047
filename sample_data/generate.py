"""Generate the synthetic demo city Mto Mji: every file a user of the service would upload.

Usage::

    python -m sample_data.generate --out sample_data/out [--households 20000] [--seed 42]

Writes, into ``--out`` (see ``sample_data/README.md`` for every column):

=========================  =====================================================================
settlements.geojson        6 settlement boundaries with Know Your City profile attributes
settlements_profiles.csv   2 more settlements known only from their profile (a table)
households_kobo.csv        the household enumeration, a KoboToolbox CSV export
households_kobo.xlsx       the first 500 submissions as a Kobo XLSX export, with members
structures.gpkg            building footprints (layer ``structures``, EPSG:32737)
service_points.geojson     water points, toilet blocks, skips, clinics, schools, stops, parks
streets.gpkg               street and footpath network (layer ``streets``, EPSG:32737)
buildings.gpkg             city-wide building footprints, open-data style (layer ``buildings``,
                           EPSG:32737): formal plots, copies of the structures, and unprofiled
                           informal clusters listed in the manifest
flood_depth.tif            flood depth (m), 10 m, float32, nodata -9999, EPSG:32737
flood_extent.geojson       flood zones (low / medium / high depth bands)
river.geojson              the river centre line (context only)
built_up_epochs.tif        GHSL-style first-built epoch (2000/2010/2020, 0 = never), 30 m
projects.geojson           5 community infrastructure projects
injected_errors.json       every error deliberately put into the household exports
manifest.json              files, counts, CRS, hashes, canonical layer and mapping of each
=========================  =====================================================================

Everything is synthetic and deterministic: the same seed and household count give
byte-identical files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio
import shapely

from sample_data import choices as ch
from sample_data.city import (
    CITY,
    COUNTRY,
    METRIC_CRS,
    ORIGIN,
    PROFILE_ONLY,
    City,
    Raster,
    build_city,
    make_buildings,
    stream,
)
from sample_data.households import (
    ERROR_KINDS,
    FORM_TITLE,
    HouseholdExport,
    generate_households_csv,
)

__all__ = ["MANIFEST_VERSION", "generate", "generate_households_csv", "main"]

MANIFEST_VERSION = 1

LEGAL_LABELS = {
    "legal": "Declared legal",
    "partly_legal": "Partly declared",
    "not_legal": "Not declared",
    "unknown": "Unknown",
}
"""Legal status as the profiling questionnaire labels it (source value -> canonical code is
the inverse, in ``demo_settlements.toml``)."""
EVICTION_LABELS = {
    "none": "No threat",
    "rumoured": "Rumours of eviction",
    "notice": "Eviction notice served",
    "ongoing": "Evictions under way",
    "unknown": "Unknown",
}
SERVICE_CATEGORIES = {
    "water_point": "water",
    "toilet": "sanitation",
    "waste_point": "solid_waste",
    "health": "health",
    "school": "education",
    "transit_stop": "transport",
    "open_space": "public_space",
}
HIGHWAY = {
    "primary": "primary",
    "secondary": "secondary",
    "tertiary": "tertiary",
    "residential": "residential",
    "track": "track",
    "footpath": "footway",
    "bridge_foot": "footbridge",
}
"""Canonical street class -> OSM-like ``highway`` value written in streets.gpkg."""
PROJECT_CATEGORIES = {
    "water": "Water supply",
    "drainage": "Drainage",
    "sanitation": "Sanitation",
    "street": "Footpaths and lighting",
    "waste": "Solid waste",
}
PROJECT_STATUS = {"planned": "Planned", "ongoing": "In progress", "completed": "Completed"}
STRUCTURE_USE_CODES = {canon: name for name, canon, _ in ch.STRUCTURE_USE}

PROFILE_DATE = "2023-11-20"
SURVEY_SOURCE = "Mto Mji Federation (synthetic demo data)"


# -- Writers (deterministic) ------------------------------------------------------------------


def _to_wgs84(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Local metres -> EPSG:32737 -> EPSG:4326."""
    return _to_utm(frame).to_crs("EPSG:4326")


def _to_utm(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = frame.copy()
    out = out.set_geometry(out.geometry.translate(ORIGIN[0], ORIGIN[1]))
    return out.set_crs(METRIC_CRS, allow_override=True)


def write_geojson(frame: gpd.GeoDataFrame, path: Path) -> None:
    """RFC 7946 GeoJSON (EPSG:4326, lon/lat, 7 decimals, right-hand rings).

    Geometries are first snapped to the 1e-7 degree grid GDAL writes, keeping them valid
    (a ring must not come to touch another one when its coordinates are rounded).
    """
    path.unlink(missing_ok=True)
    frame = frame.set_geometry(shapely.set_precision(frame.geometry.values, 1e-7))
    pyogrio.write_dataframe(
        frame, path, driver="GeoJSON", layer=path.stem, layer_options={"RFC7946": "YES"}
    )


def write_gpkg(frame: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    """A one-layer GeoPackage with a fixed ``last_change`` date, so the bytes repeat."""
    path.unlink(missing_ok=True)
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2024-01-01T00:00:00Z"})
    try:
        pyogrio.write_dataframe(frame, path, layer=layer, driver="GPKG")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})


def write_geotiff(raster: Raster, path: Path, *, description: str, unit: str) -> None:
    """A tiled, LZW-compressed single-band GeoTIFF in EPSG:32737."""
    arr = raster.array
    predictor = 3 if arr.dtype.kind == "f" else 2
    profile = {
        "driver": "GTiff",
        "width": arr.shape[1],
        "height": arr.shape[0],
        "count": 1,
        "dtype": arr.dtype.name,
        "crs": METRIC_CRS,
        "transform": raster.transform,
        "nodata": raster.nodata,
        "compress": "lzw",
        "predictor": predictor,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr, 1)
        dst.set_band_description(1, description)
        dst.update_tags(1, unit=unit)
        dst.update_tags(SYNTHETIC="Mto Mji demo data, not a real place")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- Source-shaped frames ------------------------------------------------------------------------


def _settlement_profiles(city: City, export: HouseholdExport) -> gpd.GeoDataFrame:
    """Settlements with Know Your City profile attributes, under the profile's own names."""
    rng = stream(city.seed, "profiles")
    hh = export.households[~export.households["duplicate"]]
    per_hh = hh.groupby("settlement_id")["household_size"].agg(["size", "mean"])
    per_st = city.structures.groupby("settlement_id").size()
    sp = city.service_points
    water = sp[sp["service_type"] == "water_point"].groupby("settlement_id")
    toilets = sp[sp["service_type"] == "toilet"].groupby("settlement_id")
    rows = []
    for s in city.settlements.itertuples():
        sid = s.settlement_id
        count = int(per_hh["size"].get(sid, 0))
        mean = float(per_hh["mean"].get(sid, 4.2))
        households = int(round(count * rng.uniform(0.9, 1.12), -1))
        rows.append(
            {
                "settlement_code": sid,
                "settlement_name": s.name,
                "city": CITY,
                "country": COUNTRY,
                "area_ha": round(s.geometry.area / 10_000 * rng.uniform(0.92, 1.1), 1),
                "structures_est": int(round(per_st.get(sid, 0) * rng.uniform(0.9, 1.1), -1)),
                "households_est": households,
                "population_est": int(round(households * mean * rng.uniform(0.95, 1.05), -1)),
                "taps_total": int(water["taps_total"].sum().get(sid, 0)),
                "taps_working": int(water["taps_working"].sum().get(sid, 0)),
                "toilet_seats": int(toilets["seats_total"].sum().get(sid, 0)),
                "toilet_seats_working": int(toilets["seats_working"].sum().get(sid, 0)),
                "legal_status": LEGAL_LABELS[s.legal_status],
                "eviction": EVICTION_LABELS[s.eviction_threat],
                "garbage_collection_week": float(round(3 * s.service * rng.uniform(0.6, 1.2))),
                "year_established": int(s.year_established),
                "profile_date": PROFILE_DATE,
            }
        )
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=list(city.settlements.geometry.values))


def _profile_only(seed: int) -> pd.DataFrame:
    """Profile-only settlements: counts from the federation, no boundary, no enumeration."""
    rng = stream(seed, "profiles:only")
    rows = []
    for s in PROFILE_ONLY:
        households = int(round(s.area_ha * rng.uniform(160, 230), -1))
        structures = int(round(households / rng.uniform(1.8, 2.4), -1))
        taps = int(rng.integers(2, 9))
        seats = int(rng.integers(4, 21))
        rows.append(
            {
                "settlement_code": s.settlement_id,
                "settlement_name": s.name,
                "city": CITY,
                "country": COUNTRY,
                "area_ha": s.area_ha,
                "structures_est": structures,
                "households_est": households,
                "population_est": int(round(households * rng.uniform(3.9, 4.6), -1)),
                "taps_total": taps,
                "taps_working": int(rng.binomial(taps, 0.6)),
                "toilet_seats": seats,
                "toilet_seats_working": int(rng.binomial(seats, 0.7)),
                "legal_status": LEGAL_LABELS[s.legal_status],
                "eviction": EVICTION_LABELS[s.eviction_threat],
                "garbage_collection_week": 0.0,
                "year_established": s.year_established,
                "profile_date": PROFILE_DATE,
            }
        )
    return pd.DataFrame(rows)


def _structures(city: City, export: HouseholdExport) -> gpd.GeoDataFrame:
    """Structures with the enumeration's per-structure counts, under survey column names."""
    rng = stream(city.seed, "structures:attributes")
    st = city.structures
    hh = export.households[~export.households["duplicate"]]
    per = hh.groupby("structure_id")["household_size"].agg(["size", "sum"])
    households = st["structure_id"].map(per["size"]).fillna(0).astype(np.int64).to_numpy()
    population = st["structure_id"].map(per["sum"]).fillna(0).astype(np.int64).to_numpy()
    business = st["use"].isin(["commercial", "mixed"]).to_numpy()
    rooms = np.maximum(households, 1) + business * rng.integers(1, 3, len(st))
    start = np.datetime64("2024-01-08")
    enum_date = (start + rng.integers(0, 21, len(st))).astype(str)
    return gpd.GeoDataFrame(
        {
            "struct_no": st["structure_id"].to_numpy(),
            "settlement": st["settlement_id"].to_numpy(),
            "use": st["use"].map(STRUCTURE_USE_CODES).to_numpy(),
            "storeys": st["storeys"].to_numpy(),
            "wall": st["wall_material"].to_numpy(),
            "roof": st["roof_material"].to_numpy(),
            "hh_count": households,
            "pop": population,
            "rooms": rooms.astype(np.int64),
            "businesses": (business * rng.integers(1, 3, len(st))).astype(np.int64),
            "enum_date": enum_date,
        },
        geometry=st.geometry.values,
    )


def _service_points(city: City) -> gpd.GeoDataFrame:
    sp = city.service_points
    out = pd.DataFrame(
        {
            "sp_id": sp["service_id"],
            "category": sp["service_type"].map(SERVICE_CATEGORIES),
            "type": sp["subtype"],
            "name": sp["name"],
            "settlement": sp["settlement_id"],
            "functional": sp["functional"].astype(bool),
            "taps_total": sp["taps_total"].astype("Int64"),
            "taps_working": sp["taps_working"].astype("Int64"),
            "seats_total": sp["seats_total"].astype("Int64"),
            "seats_working": sp["seats_working"].astype("Int64"),
            "fee": sp["fee"].astype(bool),
            "cost_kes": sp["cost_per_use"].astype("Float64"),
            "operator": sp["operator"],
            "capacity_m3": sp["capacity_m3"].astype("Float64"),
            "survey_date": sp["surveyed_on"],
        }
    )
    return gpd.GeoDataFrame(out, geometry=sp.geometry.values)


def _streets(city: City) -> gpd.GeoDataFrame:
    st = city.streets
    return gpd.GeoDataFrame(
        {
            "seg_id": st["street_id"].to_numpy(),
            "highway": st["street_class"].map(HIGHWAY).to_numpy(),
            "name": st["name"].to_numpy(),
            "surface": st["surface"].to_numpy(),
            "width": st["width_m"].to_numpy(),
            "motor_access": np.where(st["motorable"].to_numpy(dtype=bool), "yes", "no"),
        },
        geometry=st.geometry.values,
    )


def _buildings(buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Footprints under OSM-like / open-dataset column names (``building:levels``...)."""
    b = buildings
    return gpd.GeoDataFrame(
        {
            "bldg_id": b["building_id"].to_numpy(),
            "source": b["source"].to_numpy(),
            "building": b["building"].to_numpy(),
            "building:levels": b["levels"].array,
            "height": b["height_m"].to_numpy(),
            "confidence": b["confidence"].to_numpy(),
            "settlement": b["settlement_id"].to_numpy(),
        },
        geometry=b.geometry.values,
    )


def _buildings_entry(buildings: gpd.GeoDataFrame, clusters: gpd.GeoDataFrame) -> dict[str, Any]:
    """Manifest fields of buildings.gpkg: rows per source and the unprofiled clusters."""
    wgs = _to_wgs84(clusters)
    centres = _to_wgs84(clusters.set_geometry(clusters.geometry.centroid))
    listed = []
    for row, centre, boundary in zip(
        clusters.itertuples(), centres.geometry, wgs.geometry, strict=True
    ):
        ring = np.round(shapely.get_coordinates(boundary.exterior), 6).tolist()
        listed.append(
            {
                "cluster_id": row.cluster_id,
                "centre": [round(centre.x, 6), round(centre.y, 6)],
                "area_ha": row.area_ha,
                "buildings": int(row.buildings),
                "boundary": ring,
            }
        )
    return {
        "kinds": {str(k): int(n) for k, n in buildings["kind"].value_counts(sort=False).items()},
        "unprofiled_clusters_crs": "EPSG:4326",
        "unprofiled_clusters": listed,
        "note": "kinds: formal plots (source osm), copies of every structure footprint (source "
        "survey, with their settlement) and unprofiled informal clusters (source google) that "
        "are in no settlement: the areas the informality model should flag. Cluster centres "
        "and boundary rings are [lon, lat] (EPSG:4326).",
    }


def _flood_zones(city: City) -> gpd.GeoDataFrame:
    z = city.hazard_zones
    return gpd.GeoDataFrame(
        {
            "zone_id": z["hazard_id"].to_numpy(),
            "hazard": z["hazard_type"].to_numpy(),
            "class": z["hazard_level"].to_numpy(),
            "mean_depth_m": z["depth_m"].to_numpy(),
            "source": "Synthetic 1-in-25-year flood model (demo)",
            "modelled_on": "2023-09-01",
        },
        geometry=z.geometry.values,
    )


def _projects(city: City) -> gpd.GeoDataFrame:
    p = city.projects
    return gpd.GeoDataFrame(
        {
            "project_code": p["project_id"].to_numpy(),
            "project_name": p["name"].to_numpy(),
            "category": p["project_type"].map(PROJECT_CATEGORIES).to_numpy(),
            "status": p["status"].map(PROJECT_STATUS).to_numpy(),
            "settlement": p["settlement_id"].to_numpy(),
            "start": p["start_date"].to_numpy(),
            "end": p["end_date"].to_numpy(),
            "budget_usd": p["budget_usd"].to_numpy(dtype=float),
            "catchment_m": p["catchment_m"].astype("Float64").to_numpy(),
            "beneficiaries": p["beneficiaries_reported"].to_numpy(dtype=np.int64),
        },
        geometry=p.geometry.values,
    )


# -- Orchestration --------------------------------------------------------------------------------


def generate(
    out: Path | str,
    *,
    households: int = 20_000,
    seed: int = 42,
    xlsx_rows: int = 500,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Write every file of the demo city into ``out`` and return the manifest.

    Parameters
    ----------
    out : path-like
        Folder (created when missing). Files of a previous run are overwritten.
    households : int, default 20_000
        Households in the enumeration (about ``households / 2.1`` structures are built).
    seed : int, default 42
        Random seed: the same seed and count give byte-identical files.
    xlsx_rows : int, default 500
        Submissions in the XLSX export (with their ``members`` repeat).
    log : callable, optional
        Called with one line per step (timings).

    Returns
    -------
    dict
        The manifest also written as ``manifest.json``.
    """
    say = log or (lambda _msg: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    city = build_city(seed, households=households)
    say(f"city built in {time.perf_counter() - t0:.2f} s")

    t1 = time.perf_counter()
    export = generate_households_csv(
        out / "households_kobo.csv",
        households,
        seed=seed,
        city=city,
        xlsx_path=out / "households_kobo.xlsx",
        xlsx_rows=xlsx_rows,
    )
    say(f"{households:,} households written in {time.perf_counter() - t1:.2f} s")

    t2 = time.perf_counter()
    settlements = _settlement_profiles(city, export)
    write_geojson(_to_wgs84(settlements), out / "settlements.geojson")
    profiles = _profile_only(seed)
    profiles.to_csv(out / "settlements_profiles.csv", index=False, lineterminator="\n")
    structures = _structures(city, export)
    write_gpkg(_to_utm(structures), out / "structures.gpkg", "structures")
    services = _service_points(city)
    write_geojson(_to_wgs84(services), out / "service_points.geojson")
    write_gpkg(_to_utm(_streets(city)), out / "streets.gpkg", "streets")
    buildings, clusters = make_buildings(city)
    write_gpkg(_to_utm(_buildings(buildings)), out / "buildings.gpkg", "buildings")
    zones = _flood_zones(city)
    write_geojson(_to_wgs84(zones), out / "flood_extent.geojson")
    river = gpd.GeoDataFrame(
        {"name": ["Mto Mji river"], "waterway": ["river"]}, geometry=[city.river]
    )
    write_geojson(_to_wgs84(river), out / "river.geojson")
    projects = _projects(city)
    write_geojson(_to_wgs84(projects), out / "projects.geojson")
    write_geotiff(city.flood, out / "flood_depth.tif", description="flood depth", unit="m")
    write_geotiff(
        city.built_up, out / "built_up_epochs.tif", description="first built epoch", unit="year"
    )
    errors = {
        "description": "Errors deliberately injected into the synthetic household exports. "
        "Rows are 1-based data rows of households_kobo.csv (= _index); rows with _index <= "
        f"{export.xlsx_rows} are also in households_kobo.xlsx (same row numbers).",
        "kinds": ERROR_KINDS,
        "counts": {k: sum(e["kind"] == k for e in export.errors) for k in ERROR_KINDS},
        "errors": [{**e, "in_xlsx": e["row"] <= export.xlsx_rows} for e in export.errors],
    }
    (out / "injected_errors.json").write_text(
        json.dumps(errors, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    say(f"other layers written in {time.perf_counter() - t2:.2f} s")

    counts = {
        "settlements.geojson": len(settlements),
        "settlements_profiles.csv": len(profiles),
        "households_kobo.csv": export.rows,
        "households_kobo.xlsx": export.xlsx_rows,
        "structures.gpkg": len(structures),
        "service_points.geojson": len(services),
        "streets.gpkg": len(city.streets),
        "buildings.gpkg": len(buildings),
        "flood_extent.geojson": len(zones),
        "river.geojson": 1,
        "projects.geojson": len(projects),
    }
    extra = {"buildings.gpkg": _buildings_entry(buildings, clusters)}
    manifest = _manifest(
        out, seed=seed, households=households, counts=counts, export=export, extra=extra
    )
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    say(f"done in {time.perf_counter() - t0:.2f} s")
    return manifest


_FILES: tuple[dict[str, Any], ...] = (
    {"path": "settlements.geojson", "kind": "vector", "format": "geojson",
     "layer": "settlements", "mapping": "demo_settlements", "crs": "EPSG:4326"},
    {"path": "settlements_profiles.csv", "kind": "table", "format": "csv",
     "layer": "settlements", "mapping": "demo_settlement_profiles", "crs": None},
    {"path": "structures.gpkg", "kind": "vector", "format": "gpkg", "source_layer": "structures",
     "layer": "structures", "mapping": "demo_structures", "crs": METRIC_CRS},
    {"path": "households_kobo.csv", "kind": "form", "format": "csv", "layer": "households",
     "mapping": "demo_households", "crs": "EPSG:4326", "round": "2024-02-05"},
    {"path": "households_kobo.xlsx", "kind": "form", "format": "xlsx", "layer": "households",
     "mapping": "demo_households", "crs": "EPSG:4326", "round": "2024-02-05",
     "ingest": False, "repeats": {"members": "members"},
     "note": "the first submissions of households_kobo.csv as a Kobo XLSX export with the "
             "members repeat sheet; ingest it instead of, not as well as, the CSV"},
    {"path": "service_points.geojson", "kind": "vector", "format": "geojson",
     "layer": "service_points", "mapping": "demo_service_points", "crs": "EPSG:4326"},
    {"path": "streets.gpkg", "kind": "vector", "format": "gpkg", "source_layer": "streets",
     "layer": "streets", "mapping": "demo_streets", "crs": METRIC_CRS},
    {"path": "buildings.gpkg", "kind": "vector", "format": "gpkg", "source_layer": "buildings",
     "layer": "buildings", "mapping": "demo_buildings", "crs": METRIC_CRS},
    {"path": "flood_extent.geojson", "kind": "vector", "format": "geojson",
     "layer": "hazard_zones", "mapping": "demo_hazard_zones", "crs": "EPSG:4326"},
    {"path": "projects.geojson", "kind": "vector", "format": "geojson", "layer": "projects",
     "mapping": "demo_projects", "crs": "EPSG:4326"},
    {"path": "flood_depth.tif", "kind": "raster", "format": "geotiff", "layer": "flood_depth",
     "mapping": None, "crs": METRIC_CRS, "unit": "m", "nodata": -9999.0, "resolution_m": 10.0},
    {"path": "built_up_epochs.tif", "kind": "raster", "format": "geotiff",
     "layer": "built_up_epoch", "mapping": None, "crs": METRIC_CRS, "unit": "year",
     "nodata": 65535, "resolution_m": 30.0, "epochs": [2000, 2010, 2020], "not_built": 0},
    {"path": "river.geojson", "kind": "vector", "format": "geojson", "layer": None,
     "mapping": None, "crs": "EPSG:4326", "ingest": False,
     "note": "context only: the river the flood model follows"},
)  # fmt: skip


def _manifest(
    out: Path,
    *,
    seed: int,
    households: int,
    counts: dict[str, int],
    export: HouseholdExport,
    extra: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    files = []
    for spec in _FILES:
        entry = {"ingest": True, **spec, **(extra or {}).get(spec["path"], {})}
        path = out / spec["path"]
        if spec["path"] in counts:
            entry["rows" if spec["kind"] in {"form", "table"} else "features"] = counts[
                spec["path"]
            ]
        if spec["path"] == "households_kobo.xlsx":
            entry["members"] = export.members
            entry["sheet"] = FORM_TITLE[:31]
        entry["bytes"] = path.stat().st_size
        entry["sha256"] = _sha256(path)
        files.append(entry)
    return {
        "manifest_version": MANIFEST_VERSION,
        "city": CITY,
        "synthetic": True,
        "note": "Synthetic demo data: Mto Mji is not a real place; names, phone numbers "
        "(+999, an unassigned country code) and ID numbers are random.",
        "seed": seed,
        "households": households,
        "metric_crs": METRIC_CRS,
        "origin_utm": list(ORIGIN),
        "injected_errors": "injected_errors.json",
        "files": files,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (``python -m sample_data.generate``)."""
    parser = argparse.ArgumentParser(
        prog="python -m sample_data.generate",
        description="Generate the synthetic demo city Mto Mji (deterministic for a seed).",
    )
    parser.add_argument("--out", type=Path, default=Path("sample_data/out"), help="output folder")
    parser.add_argument("--households", type=int, default=20_000, help="households to enumerate")
    parser.add_argument("--seed", type=int, default=42, help="random seed")
    parser.add_argument("--xlsx-rows", type=int, default=500, help="submissions in the XLSX")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    args = parser.parse_args(argv)
    if args.households < 1:
        parser.error("--households must be at least 1")

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr)

    manifest = generate(
        args.out, households=args.households, seed=args.seed, xlsx_rows=args.xlsx_rows, log=log
    )
    if not args.quiet:
        for f in manifest["files"]:
            count = f.get("rows", f.get("features", ""))
            print(f"{f['path']:<26} {count!s:>8} {f['bytes'] / 1e6:8.2f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
