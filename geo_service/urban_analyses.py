"""Urban form and expansion of one city, read from the store.

* **Block street access** (:func:`read_urban`): the footprints of the city's area (the
  ``buildings`` layer when it has rows there, else the enumerated ``structures``) and the
  ``streets`` layer, run through :func:`profiling.morphology.street_access_by_area` per
  settlement.
* **Urban expansion**: the latest ``built_up_epoch`` raster covering the city, cropped to the
  city's area, through :func:`profiling.expansion.expansion_table`.

The city's *area* is the bounding box of its settlements grown by :data:`CITY_MARGIN_M` on
every side: growth and unprofiled neighbourhoods around the settlements are in it.

The tessellation behind block complexity is the slow part (momepy, about 75 ms per block with
several buildings), so :func:`read_urban` keeps its last results keyed on the content of the
layers it reads (:func:`content_fingerprint`: the key, mapping, rows and status of every
upload to settlements, buildings, structures, streets or built-up epochs, and the row count
of those layers): a copy of a store, or a store reopened, reuses the work, and so does a new
households or service-points upload (the commonest kind), which cannot change the result.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from rasterio.io import MemoryFile
from rasterio.transform import Affine
from rasterio.windows import Window, from_bounds

from geo_service.storage import Store
from geo_service.storage.base import RasterInfo
from profiling.crs import metric_crs
from profiling.expansion import expansion_table
from profiling.morphology import street_access_by_area

__all__ = [
    "CITY_MARGIN_M",
    "URBAN_LAYERS",
    "EpochRaster",
    "Expansion",
    "UrbanData",
    "UrbanForm",
    "city_area",
    "content_fingerprint",
    "epochs_of",
    "geotiff_bytes",
    "read_expansion",
    "read_urban",
]

CITY_MARGIN_M = 5_000.0
"""Metres added around the city's settlements to make its area."""

_EPOCH_RANGE = (1800, 2200)
_M_PER_DEG = 111_320.0


@dataclass(frozen=True)
class UrbanForm:
    """Block street access of the city's settlements (metric CRS).

    Attributes
    ----------
    blocks : geopandas.GeoDataFrame
        One row per block: ``settlement_id``, ``block_id``, ``area_ha``, ``k``, ``buildings``,
        ``buildings_per_ha``, ``off_network_share``, polygon.
    buildings : pandas.DataFrame
        One row per building placed in a settlement (``layer``, ``k``, ``off_network``...).
    footprints : str
        The layer the footprints came from (``buildings`` or ``structures``).
    """

    blocks: gpd.GeoDataFrame
    buildings: pd.DataFrame
    footprints: str


@dataclass(frozen=True)
class EpochRaster:
    """A first-built-epoch raster cropped to the city (years, 0 / nodata = never)."""

    info: RasterInfo
    array: np.ndarray
    transform: Affine
    crs: pyproj.CRS
    nodata: float | None

    @property
    def pixel_m(self) -> float:
        """Cell size in metres (the raster must be in a projected CRS)."""
        return float(abs(self.transform.a))

    def geotiff(self, values: np.ndarray | None = None, *, nodata: float | None = None) -> bytes:
        """``values`` (default: the epochs) on this raster's grid as GeoTIFF bytes."""
        data = self.array if values is None else values
        return geotiff_bytes(
            data, self.transform, self.crs, self.nodata if values is None else nodata
        )


def geotiff_bytes(
    array: np.ndarray, transform: Affine, crs: pyproj.CRS, nodata: float | None
) -> bytes:
    """A single-band, deflate-compressed GeoTIFF of ``array`` in memory."""
    profile = {
        "driver": "GTiff",
        "dtype": array.dtype.name,
        "count": 1,
        "height": array.shape[0],
        "width": array.shape[1],
        "crs": crs.to_wkt(),
        "transform": transform,
        "nodata": nodata,
        "compress": "deflate",
    }
    with MemoryFile() as memfile:
        with memfile.open(**profile) as dst:
            dst.write(array, 1)
        return bytes(memfile.read())


@dataclass(frozen=True)
class Expansion:
    """The city's expansion table and the raster it came from."""

    raster: EpochRaster
    epochs: tuple[int, ...]
    table: pd.DataFrame


@dataclass(frozen=True)
class UrbanData:
    """What the urban analyses of a city read (metric CRS) and computed.

    Attributes
    ----------
    crs : pyproj.CRS
        The city's metric CRS.
    settlements : geopandas.GeoDataFrame
        The city's settlement polygons (``settlement_id``), metric CRS.
    footprints : geopandas.GeoDataFrame
        Footprints of the city's area, metric CRS (empty without any).
    form : UrbanForm or None
        ``None`` without footprints or streets.
    expansion : Expansion or None
        ``None`` without a built-up raster covering the city.
    skipped : dict
        What could not be computed, and why.
    """

    crs: pyproj.CRS
    settlements: gpd.GeoDataFrame
    footprints: gpd.GeoDataFrame
    form: UrbanForm | None
    expansion: Expansion | None
    skipped: dict[str, str]


def city_area(settlements: gpd.GeoDataFrame, margin_m: float = CITY_MARGIN_M) -> tuple[float, ...]:
    """The lon/lat box of ``settlements`` (EPSG:4326) grown by ``margin_m`` metres.

    Examples
    --------
    >>> s = gpd.GeoDataFrame(geometry=[shapely.box(36.0, -1.0, 36.01, -0.99)], crs=4326)
    >>> [round(float(v), 4) for v in city_area(s, margin_m=1113.2)]
    [35.99, -1.01, 36.02, -0.98]
    """
    west, south, east, north = settlements.to_crs(4326).total_bounds
    dy = margin_m / _M_PER_DEG
    dx = dy / max(math.cos(math.radians((south + north) / 2)), 0.01)
    return (west - dx, south - dy, east + dx, north + dy)


def _footprints(
    store: Store, area: tuple[float, ...], ids: list[str]
) -> tuple[gpd.GeoDataFrame, str]:
    buildings = store.read_layer("buildings", bbox=area) if "buildings" in store.layers else None
    if buildings is not None and len(buildings):
        chosen, layer = buildings, "buildings"
    else:
        chosen = store.read_layer("structures", settlements_in=ids)
        layer = "structures"
    geoms = np.asarray(chosen.geometry.array, dtype=object)
    polygonal = np.isin(shapely.get_type_id(geoms), (3, 6))
    return gpd.GeoDataFrame(chosen[polygonal]), layer


URBAN_LAYERS = ("settlements", "buildings", "structures", "streets", "built_up_epoch")
"""The layers (and raster kind) the urban analyses read."""


def content_fingerprint(store: Store) -> tuple[Hashable, ...]:
    """What identifies the data the urban analyses read: the id, key (file SHA-256, layer,
    source layer, settlement, round), mapping, rows and status of each upload to one of
    :data:`URBAN_LAYERS`, and the row count of those layers (an upload whose frames reach
    several layers changes the counts)."""
    uploads = tuple(
        (u.upload_id, u.upload_key, u.mapping_id, u.rows, u.status)
        for u in store.uploads()
        if u.layer in URBAN_LAYERS
    )
    counts = tuple((name, store.count(name)) for name in URBAN_LAYERS if name in store.layers)
    return (*uploads, *counts)


_RESULTS: OrderedDict[tuple[Hashable, ...], UrbanData] = OrderedDict()
_RESULTS_LOCK = threading.Lock()
_KEEP = 8


def read_urban(
    store: Store, settlements: gpd.GeoDataFrame, *, margin_m: float = CITY_MARGIN_M
) -> UrbanData:
    """Read and analyse the urban form and expansion of the city of ``settlements``
    (the last results are kept per store content, see the module docstring).

    Parameters
    ----------
    store : Store
    settlements : geopandas.GeoDataFrame
        The city's settlements with ``settlement_id`` and polygons (EPSG:4326).
    margin_m : float, keyword-only
        See :func:`city_area`.

    Returns
    -------
    UrbanData
    """
    settlements = settlements[settlements.geometry.notna() & ~settlements.geometry.is_empty]
    ids = tuple(sorted(settlements["settlement_id"].astype(str)))
    key = (content_fingerprint(store), ids, margin_m)
    with _RESULTS_LOCK:
        found = _RESULTS.get(key)
        if found is not None:
            _RESULTS.move_to_end(key)
            return found
    result = _read_urban(store, settlements, list(ids), margin_m)
    with _RESULTS_LOCK:
        _RESULTS[key] = result
        while len(_RESULTS) > _KEEP:
            _RESULTS.popitem(last=False)
    return result


def _read_urban(
    store: Store, settlements: gpd.GeoDataFrame, ids: list[str], margin_m: float
) -> UrbanData:
    skipped: dict[str, str] = {}
    crs = metric_crs(settlements)
    area = city_area(settlements, margin_m)
    footprints, layer = _footprints(store, area, ids)
    footprints_m = footprints.to_crs(crs)
    settlements_m = settlements[["settlement_id", settlements.geometry.name]].to_crs(crs)
    streets = store.read_layer("streets", bbox=area)
    form = None
    if footprints_m.empty:
        skipped["urban_form"] = "no building footprints (buildings or structures layer)"
    elif streets.empty:
        skipped["urban_form"] = "no streets layer for the city"
    else:
        blocks, per_building = street_access_by_area(
            footprints_m, streets.to_crs(crs), settlements_m
        )
        form = UrbanForm(blocks=blocks, buildings=per_building, footprints=layer)
    expansion = read_expansion(store, area)
    if expansion is None:
        skipped["urban_expansion"] = "no built_up_epoch raster covering the city"
    return UrbanData(
        crs=crs,
        settlements=gpd.GeoDataFrame(settlements_m),
        footprints=footprints_m,
        form=form,
        expansion=expansion,
        skipped=skipped,
    )


def _epoch_raster(store: Store, area: tuple[float, ...]) -> EpochRaster | None:
    """The latest ``built_up_epoch`` raster meeting ``area``, cropped to it."""
    west, south, east, north = area
    found = [
        r
        for r in store.rasters()
        if r.kind == "built_up_epoch"
        and r.bounds_4326 is not None
        and r.bounds_4326[0] < east
        and r.bounds_4326[2] > west
        and r.bounds_4326[1] < north
        and r.bounds_4326[3] > south
    ]
    if not found:
        return None
    info, tiff = store.read_raster(found[-1].raster_id)
    with MemoryFile(tiff) as memfile, memfile.open() as src:
        if src.crs is None or not src.crs.is_projected:
            return None
        box = shapely.box(*area)
        local = gpd.GeoSeries([box], crs=4326).to_crs(src.crs).total_bounds
        window = from_bounds(*local, transform=src.transform)
        window = window.round_offsets().round_lengths()
        window = window.intersection(Window(0, 0, src.width, src.height))
        array = src.read(1, window=window)
        return EpochRaster(
            info=info,
            array=array,
            transform=src.transform @ Affine.translation(window.col_off, window.row_off),
            crs=pyproj.CRS(src.crs.to_wkt()),
            nodata=src.nodata,
        )


def epochs_of(array: np.ndarray, nodata: float | None = None) -> tuple[int, ...]:
    """The epochs (years) present in a first-built-epoch raster.

    Examples
    --------
    >>> epochs_of(np.array([[0, 2000], [2010, 65535]]), nodata=65535)
    (2000, 2010)
    """
    values = np.unique(array)
    if nodata is not None:
        values = values[values != nodata]
    low, high = _EPOCH_RANGE
    return tuple(int(v) for v in values if low < v < high)


def read_expansion(store: Store, area: tuple[float, ...]) -> Expansion | None:
    """The expansion table of the latest built-up raster covering ``area`` (lon/lat box)."""
    raster = _epoch_raster(store, area)
    if raster is None:
        return None
    epochs = epochs_of(raster.array, raster.nodata)
    if not epochs:
        return None
    table = expansion_table(raster.array, epochs, raster.pixel_m, nodata=raster.nodata)
    return Expansion(raster=raster, epochs=epochs, table=table)
