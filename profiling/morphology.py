"""Block street access for reblocking: blocks, parcels and block complexity *k*.

Street blocks are the faces of the planar street + footpath network
(:func:`blocks_from_streets`); each block is divided into one parcel per building with momepy's
enclosed tessellation (:func:`parcels`). The *block complexity* ``k`` of Brelsford et al.
(2018) counts how many layers of parcels must be peeled off a block before none remain
(:func:`parcel_layers`, :func:`block_complexity`):

* layer 1: the parcels with street frontage, i.e. within ``tolerance_m`` of the block
  boundary (the street edges around the block);
* layer ``i``: the parcels, not yet peeled, within ``tolerance_m`` of a parcel of layer
  ``i - 1`` (equivalently of the union of layers ``< i``: a parcel near an earlier layer
  would already have been peeled by the layer after it);
* ``k`` = the number of layers; ``k = 1`` when every parcel has street frontage, ``k = 0``
  for a block without parcels. ``k ≥ 2`` means some buildings reach a street only through
  other parcels: the blocks that reblocking targets.

Each layer is one vectorised ``STRtree`` query over *all* blocks at once
(``predicate="dwithin"``, the same as ``intersects`` on geometries buffered by the tolerance,
without building the buffers); the only Python loop is over layers. Contact within the
tolerance counts, corners included. Interior rings of a block (a street loop that encloses
another block) are street edges too, so frontage is measured to the whole block boundary.

:func:`street_access_table` summarises per block: ``k``, buildings, building density and the
share of buildings whose centroid is at least ``off_network_m`` from the nearest street
segment; :func:`building_street_access` gives the per-building rows behind it.

All inputs must be in a metric CRS (:class:`profiling.crs.GeographicCRSError` otherwise).

References
----------
Brelsford, C., Martin, T., Hand, J., & Bettencourt, L. M. A. (2018). Toward cities without
slums: topology and the spatial evolution of neighborhoods. *Science Advances* 4(8),
eaar4644 (block complexity ``k``, the weak dual of the parcel graph peeled from the street).
Mansueto Institute, *prclz* / Million Neighborhoods (block-level ``k`` from OpenStreetMap
streets and building footprints). Fleischmann, M., Feliciotti, A., Romice, O., & Porta, S.
(2022). Methodological foundation of a numerical taxonomy of urban form. *Environment and
Planning B* 49(4), 1283-1299 (enclosed tessellation, momepy).
"""

from __future__ import annotations

import logging
import warnings
from types import ModuleType

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from profiling.crs import require_metric
from profiling.errors import ProfilingError

log = logging.getLogger(__name__)


def _momepy() -> ModuleType:
    """momepy, imported on first use: it imports ``tqdm.auto``, which warns in a Jupyter
    kernel without ipywidgets ("IProgress not found") although no progress bar is shown."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        import momepy  # noqa: PLC0415

    return momepy


__all__ = [
    "FRONTAGE_TOLERANCE_M",
    "OFF_NETWORK_M",
    "block_complexity",
    "blocks_from_streets",
    "building_street_access",
    "parcel_layers",
    "parcels",
    "street_access_by_area",
    "street_access_table",
]

#: Contact tolerance (metres) for street frontage and parcel adjacency.
FRONTAGE_TOLERANCE_M = 0.5
#: Default distance (metres) from the nearest street beyond which a building is off-network.
OFF_NETWORK_M = 200.0
#: Inward shift (metres) of building footprints clipped to their block, so that a footprint
#: touching the block edge is not also taken as lying in the neighbouring block.
_INSET_M = 0.01
_SQ_M_PER_HA = 10_000.0


def _line_parts(streets: gpd.GeoDataFrame | gpd.GeoSeries) -> NDArray[np.object_]:
    geoms = np.asarray(streets.geometry.array, dtype=object)
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    parts = shapely.get_parts(geoms)
    dims = shapely.get_dimensions(parts)
    # polygons (e.g. a pedestrian area) contribute their rings as edges
    rings = shapely.get_parts(shapely.boundary(parts[dims == 2]))
    return np.concatenate([parts[dims == 1], rings])


def blocks_from_streets(
    streets: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    boundary: shapely.Geometry | None = None,
) -> gpd.GeoDataFrame:
    """Street blocks: the faces of the noded street + footpath network.

    The lines are noded at every crossing (``shapely.union_all``) and polygonised
    (``shapely.polygonize``); dangling streets (dead ends) bound no face and are ignored.
    With ``boundary`` (a polygon in the same CRS) the blocks are clipped to it and blocks
    outside it are dropped; a clipped edge then counts as a block edge.

    Parameters
    ----------
    streets : GeoDataFrame or GeoSeries
        Street and footpath centrelines (LineString / MultiLineString; polygon rings are
        used as edges), metric CRS.
    boundary : shapely Polygon or MultiPolygon, optional
        Study area to clip the blocks to.

    Returns
    -------
    GeoDataFrame
        One row per block, index ``block_id`` (0..n-1, ordered by position), columns
        ``block_id``, ``area_ha`` (hectares) and the block polygon; same CRS.

    Examples
    --------
    >>> lines = [shapely.LineString([(0, 0), (200, 0)]), shapely.LineString([(0, 100), (200, 100)]),
    ...          shapely.LineString([(0, 0), (0, 100)]), shapely.LineString([(100, 0), (100, 100)]),
    ...          shapely.LineString([(200, 0), (200, 100)])]
    >>> blocks_from_streets(gpd.GeoSeries(lines, crs=32737))["area_ha"].tolist()
    [1.0, 1.0]
    """
    require_metric(streets, what="blocks_from_streets")
    lines = _line_parts(streets)
    faces: NDArray[np.object_] = np.empty(0, dtype=object)
    if len(lines):
        noded = shapely.union_all(lines)
        faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    if boundary is not None and len(faces):
        faces = shapely.intersection(faces, boundary)
        faces = shapely.get_parts(faces)
        faces = faces[shapely.get_dimensions(faces) == 2]
    if len(faces):
        faces = faces[shapely.area(faces) > 0]
        # deterministic order: by lower-left corner of the bounds
        bounds = shapely.bounds(faces)
        faces = faces[np.lexsort((bounds[:, 0], bounds[:, 1]))]
    block_id = np.arange(len(faces), dtype=np.int64)
    return gpd.GeoDataFrame(
        {
            "block_id": block_id,
            "area_ha": shapely.area(faces) / _SQ_M_PER_HA if len(faces) else np.empty(0),
        },
        geometry=gpd.GeoSeries(faces, crs=streets.crs).array,
        index=pd.Index(block_id, name="block_id"),
        crs=streets.crs,
    )


def _block_of_buildings(
    buildings: gpd.GeoDataFrame | gpd.GeoSeries, blocks: gpd.GeoDataFrame
) -> NDArray[np.int64]:
    """Position (in ``blocks``) of the block holding each building's representative point, -1
    when none."""
    points = shapely.point_on_surface(np.asarray(buildings.geometry.array, dtype=object))
    out = np.full(len(points), -1, dtype=np.int64)
    if len(blocks) and len(points):
        tree = shapely.STRtree(np.asarray(blocks.geometry.array, dtype=object))
        pt_idx, blk_idx = tree.query(points, predicate="within")
        # a point on a shared edge is within neither; within is unique otherwise
        out[pt_idx] = blk_idx
    return out


def parcels(
    buildings: gpd.GeoDataFrame | gpd.GeoSeries,
    blocks: gpd.GeoDataFrame,
    *,
    shrink: float = 0.4,
    segment: float = 0.5,
    n_jobs: int = 1,
) -> gpd.GeoDataFrame:
    """One parcel per building: momepy's enclosed tessellation of each block.

    Each building is assigned to the block holding its representative point
    (``point_on_surface``) and clipped to that block (so a footprint crossing a street line
    yields one parcel, not one per block). ``momepy.enclosed_tessellation`` then splits each
    block between its buildings (Voronoi cells of the footprint outlines, clipped to the
    block); a block with one building is that building's parcel. Buildings outside every
    block, or too thin to survive momepy's inward ``shrink``, get no parcel.

    Parameters
    ----------
    buildings : GeoDataFrame or GeoSeries
        Building footprints (polygons), metric CRS; the index labels identify buildings.
    blocks : GeoDataFrame
        Output of :func:`blocks_from_streets` (column ``block_id``), same CRS.
    shrink, segment : float
        Metres; passed to ``momepy.enclosed_tessellation``.
    n_jobs : int
        Parallel jobs for momepy (1: in-process).

    Returns
    -------
    GeoDataFrame
        One row per building with a parcel, indexed by the building labels: ``block_id`` and
        the parcel polygon. Parcels of a block cover it (up to momepy's simplification).
    """
    require_metric(buildings, what="parcels")
    require_metric(blocks, what="parcels")
    empty = gpd.GeoDataFrame(
        {"block_id": pd.Series(dtype=np.int64)},
        geometry=gpd.GeoSeries([], crs=blocks.crs).array,
        index=buildings.index[:0],
        crs=blocks.crs,
    )
    if len(buildings) == 0 or len(blocks) == 0:
        return empty
    geoms = shapely.make_valid(np.asarray(buildings.geometry.array, dtype=object))
    block_pos = _block_of_buildings(gpd.GeoSeries(geoms, crs=buildings.crs), blocks)
    inside = np.flatnonzero(block_pos >= 0)
    block_geoms = np.asarray(blocks.geometry.array, dtype=object)
    block_ids = blocks["block_id"].to_numpy(dtype=np.int64)
    clipped = shapely.intersection(geoms[inside], block_geoms[block_pos[inside]])
    clipped = shapely.buffer(clipped, -_INSET_M)
    keep = ~shapely.is_empty(clipped) & (shapely.area(clipped) > 0)
    inside, clipped = inside[keep], clipped[keep]
    if len(inside) == 0:
        return empty
    # a block with one building is that building's parcel; momepy splits the others
    per_block = np.bincount(block_pos[inside], minlength=len(blocks))
    alone = per_block[block_pos[inside]] == 1
    cell_pos = [inside[alone]]
    cell_geom = [block_geoms[block_pos[inside[alone]]]]
    cell_block = [block_ids[block_pos[inside[alone]]]]
    shared = np.flatnonzero(per_block > 1)
    if len(shared):
        # momepy links cells to buildings by a unique non-negative index: use positions
        footprints = gpd.GeoSeries(clipped[~alone], index=pd.Index(inside[~alone]), crs=blocks.crs)
        enclosures = gpd.GeoSeries(
            block_geoms[shared], index=pd.Index(block_ids[shared], name="block_id"), crs=blocks.crs
        )
        tess = _momepy().enclosed_tessellation(
            footprints,
            enclosures,
            shrink=shrink,
            segment=segment,
            threshold=None,
            simplify=False,
            n_jobs=n_jobs,
        )
        tess = tess[tess.index >= 0]
        tess = tess[~tess.index.duplicated(keep="first")]
        cell_pos.append(tess.index.to_numpy(dtype=np.int64))
        cell_geom.append(np.asarray(tess.geometry.array, dtype=object))
        cell_block.append(tess["block_id"].to_numpy(dtype=np.int64))
    positions = np.concatenate(cell_pos)
    cells = shapely.get_parts(shapely.make_valid(np.concatenate(cell_geom)), return_index=True)
    # keep the polygonal parts only (clipping can leave stray lines / points)
    polygonal = shapely.get_dimensions(cells[0]) == 2
    used, compact = np.unique(cells[1][polygonal], return_inverse=True)
    cells_geom = shapely.multipolygons(cells[0][polygonal], indices=compact)
    order = np.argsort(positions[used], kind="stable")
    used = used[order]
    cells_geom = np.asarray(cells_geom, dtype=object)[order]
    single = shapely.get_num_geometries(cells_geom) == 1
    cells_geom[single] = shapely.get_geometry(cells_geom[single], 0)
    frame = gpd.GeoDataFrame(
        {"block_id": np.concatenate(cell_block)[used]},
        geometry=gpd.GeoSeries(cells_geom, crs=blocks.crs).array,
        index=buildings.index[positions[used]],
        crs=blocks.crs,
    )
    frame.attrs["blocks_with_overlapping_parcels"] = _overlapping_blocks(frame, blocks)
    return frame


def _overlapping_blocks(frame: gpd.GeoDataFrame, blocks: gpd.GeoDataFrame) -> list[int]:
    """Blocks whose parcels cover more than the block (overlapping cells), logged.

    GEOS ``voronoi_polygons`` can return self-intersecting cells for nearly cocircular points
    (libgeos/geos#955); repaired pieces then go to several buildings and ``k`` is unreliable.
    """
    ids = frame["block_id"].to_numpy(dtype=np.int64)
    total = (
        pd.Series(shapely.area(np.asarray(frame.geometry.array, dtype=object))).groupby(ids).sum()
    )
    area = pd.Series(
        shapely.area(np.asarray(blocks.geometry.array, dtype=object)),
        index=blocks["block_id"].to_numpy(dtype=np.int64),
    )
    over = total.index[total.to_numpy() > area.reindex(total.index).to_numpy() * 1.001 + 0.01]
    bad = [int(b) for b in over]
    if bad:
        log.warning(
            "parcels of %d block(s) overlap (degenerate Voronoi cells), k may be wrong: %s",
            len(bad),
            bad[:20],
        )
    return bad


def parcel_layers(
    parcels: gpd.GeoDataFrame,
    blocks: gpd.GeoDataFrame,
    *,
    tolerance_m: float = FRONTAGE_TOLERANCE_M,
) -> pd.Series:
    """Peeling layer of each parcel (1 = street frontage), as in Brelsford et al. (2018).

    Layer 1: parcels within ``tolerance_m`` of their block's boundary. Layer ``i``: parcels
    not yet peeled within ``tolerance_m`` of a layer ``i - 1`` parcel of the same block. One
    ``STRtree`` query per layer covers every block. Parcels never reached (not connected to
    the block edge within the tolerance) get ``<NA>``.

    Parameters
    ----------
    parcels : GeoDataFrame
        Output of :func:`parcels` (column ``block_id``), metric CRS.
    blocks : GeoDataFrame
        Output of :func:`blocks_from_streets` (column ``block_id``).
    tolerance_m : float
        Contact tolerance in metres.

    Returns
    -------
    Series
        ``Int64`` layer per parcel, indexed like ``parcels``, named ``layer``.
    """
    require_metric(parcels, what="parcel_layers")
    n = len(parcels)
    layer = np.zeros(n, dtype=np.int64)
    if n:
        geoms = np.asarray(parcels.geometry.array, dtype=object)
        parcel_block = parcels["block_id"].to_numpy(dtype=np.int64)
        tree = shapely.STRtree(geoms)
        # layer 1: frontage on the block boundary
        edges = shapely.boundary(np.asarray(blocks.geometry.array, dtype=object))
        edge_block = blocks["block_id"].to_numpy(dtype=np.int64)
        src, hit = tree.query(edges, predicate="dwithin", distance=tolerance_m)
        same = parcel_block[hit] == edge_block[src]
        front = np.unique(hit[same])
        current = 1
        while len(front):
            layer[front] = current
            current += 1
            src, hit = tree.query(geoms[front], predicate="dwithin", distance=tolerance_m)
            ok = (parcel_block[hit] == parcel_block[front[src]]) & (layer[hit] == 0)
            front = np.unique(hit[ok])
    series = pd.Series(layer, index=parcels.index, name="layer")
    return series.where(layer > 0).astype("Int64")


def block_complexity(
    parcels: gpd.GeoDataFrame,
    blocks: gpd.GeoDataFrame,
    *,
    tolerance_m: float = FRONTAGE_TOLERANCE_M,
) -> pd.Series:
    """Block complexity ``k``: the number of peeling layers (0 for a block without parcels).

    See :func:`parcel_layers`; ``k`` is the deepest layer in the block.

    Returns
    -------
    Series
        ``int64`` ``k`` per block, indexed by ``block_id``, named ``k``.

    Examples
    --------
    A 3 × 3 grid of 10 m parcels: the 8 outer ones face the street, the centre one does not.

    >>> cells = [shapely.box(x, y, x + 10, y + 10) for x in (0, 10, 20) for y in (0, 10, 20)]
    >>> p = gpd.GeoDataFrame({"block_id": [0] * 9}, geometry=cells, crs=32737)
    >>> b = gpd.GeoDataFrame({"block_id": [0]}, geometry=[shapely.box(0, 0, 30, 30)], crs=32737)
    >>> int(block_complexity(p, b).loc[0])
    2
    """
    layers = parcel_layers(parcels, blocks, tolerance_m=tolerance_m)
    return _deepest_layer(layers, parcels["block_id"], blocks)


def _deepest_layer(layers: pd.Series, block_of: pd.Series, blocks: gpd.GeoDataFrame) -> pd.Series:
    """``k`` per block of ``blocks``: the deepest of the parcels' ``layers`` (0: no parcel)."""
    deepest = layers.fillna(0).astype(np.int64).groupby(block_of.to_numpy()).max()
    ids = pd.Index(blocks["block_id"].to_numpy(dtype=np.int64), name="block_id")
    return deepest.reindex(ids, fill_value=0).astype(np.int64).rename("k")


def _distance_to_streets(
    points: NDArray[np.object_], streets: gpd.GeoDataFrame | gpd.GeoSeries
) -> NDArray[np.float64]:
    lines = _line_parts(streets)
    out = np.full(len(points), np.inf)
    if len(lines) and len(points):
        tree = shapely.STRtree(lines)
        (pt_idx, _), dist = tree.query_nearest(points, return_distance=True, all_matches=False)
        out[pt_idx] = dist
    return out


def building_street_access(
    buildings: gpd.GeoDataFrame | gpd.GeoSeries,
    streets: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    boundary: shapely.Geometry | None = None,
    off_network_m: float = OFF_NETWORK_M,
    tolerance_m: float = FRONTAGE_TOLERANCE_M,
    blocks: gpd.GeoDataFrame | None = None,
    parcel_frame: gpd.GeoDataFrame | None = None,
) -> pd.DataFrame:
    """Per building: block, peeling layer, distance to the nearest street, off-network flag.

    Parameters
    ----------
    buildings : GeoDataFrame or GeoSeries
        Building footprints, metric CRS.
    streets : GeoDataFrame or GeoSeries
        Street and footpath centrelines, same CRS.
    boundary : shapely Polygon, optional
        Study area for :func:`blocks_from_streets`.
    off_network_m : float
        Metres; a building whose centroid is at least this far from every street segment is
        off-network.
    tolerance_m : float
        Contact tolerance in metres for the peeling.
    blocks, parcel_frame : GeoDataFrame, optional
        Precomputed :func:`blocks_from_streets` / :func:`parcels` results.

    Returns
    -------
    DataFrame
        Indexed like ``buildings``: ``block_id`` (``Int64``, ``<NA>`` outside every block or
        without a parcel), ``layer`` (``Int64``), ``street_distance_m`` (centroid to nearest
        segment, ``inf`` without streets) and ``off_network`` (bool).
    """
    require_metric(buildings, what="building_street_access")
    require_metric(streets, what="building_street_access")
    if buildings.crs != streets.crs:
        raise ProfilingError("buildings and streets must share one CRS")
    if blocks is None:
        blocks = blocks_from_streets(streets, boundary=boundary)
    if parcel_frame is None:
        parcel_frame = parcels(buildings, blocks)
    layers = parcel_layers(parcel_frame, blocks, tolerance_m=tolerance_m)
    centroids = shapely.centroid(np.asarray(buildings.geometry.array, dtype=object))
    dist = _distance_to_streets(centroids, streets)
    block_id = parcel_frame["block_id"].astype("Int64").reindex(buildings.index)
    return pd.DataFrame(
        {
            "block_id": block_id.to_numpy(),
            "layer": layers.reindex(buildings.index).to_numpy(),
            "street_distance_m": dist,
            "off_network": dist >= off_network_m,
        },
        index=buildings.index,
    )


def street_access_table(
    buildings: gpd.GeoDataFrame | gpd.GeoSeries,
    streets: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    boundary: shapely.Geometry | None = None,
    off_network_m: float = OFF_NETWORK_M,
    tolerance_m: float = FRONTAGE_TOLERANCE_M,
) -> pd.DataFrame:
    """Street access per block: complexity ``k``, buildings, density, off-network share.

    Blocks come from :func:`blocks_from_streets`, parcels from :func:`parcels`, ``k`` from
    :func:`block_complexity`; buildings are counted in the block of their parcel. Buildings
    in no block are left out of the rows and counted in ``attrs["buildings_outside_blocks"]``.

    Parameters
    ----------
    buildings, streets, boundary, off_network_m, tolerance_m
        As in :func:`building_street_access`.

    Returns
    -------
    DataFrame
        Indexed by ``block_id``: ``area_ha``, ``k``, ``buildings``, ``buildings_per_ha``
        (buildings per hectare) and ``off_network_share`` (0-1; NaN for a block without
        buildings).

    Examples
    --------
    >>> lines = [shapely.LineString([(0, 0), (100, 0), (100, 100), (0, 100), (0, 0)])]
    >>> homes = [shapely.box(10, 10, 20, 20), shapely.box(40, 40, 60, 60)]
    >>> t = street_access_table(gpd.GeoSeries(homes, crs=32737), gpd.GeoSeries(lines, crs=32737))
    >>> t[["k", "buildings", "buildings_per_ha"]].to_dict("records")
    [{'k': 1, 'buildings': 2, 'buildings_per_ha': 2.0}]
    """
    table, _ = _street_access(
        buildings, streets, boundary=boundary, off_network_m=off_network_m, tolerance_m=tolerance_m
    )
    out = pd.DataFrame(table.drop(columns=table.geometry.name))
    out.attrs["buildings_outside_blocks"] = table.attrs["buildings_outside_blocks"]
    return out


def _street_access(
    buildings: gpd.GeoDataFrame | gpd.GeoSeries,
    streets: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    boundary: shapely.Geometry | None,
    off_network_m: float,
    tolerance_m: float,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Per-block rows (with the block polygons) and per-building rows, peeling once."""
    blocks = blocks_from_streets(streets, boundary=boundary)
    parcel_frame = parcels(buildings, blocks)
    per_building = building_street_access(
        buildings,
        streets,
        off_network_m=off_network_m,
        tolerance_m=tolerance_m,
        blocks=blocks,
        parcel_frame=parcel_frame,
    )
    k = _deepest_layer(per_building["layer"], per_building["block_id"], blocks)
    placed = per_building[per_building["block_id"].notna()]
    grouped = placed.groupby(placed["block_id"].astype(np.int64))
    count = grouped.size().reindex(k.index, fill_value=0).astype(np.int64)
    off = grouped["off_network"].mean().reindex(k.index)
    area = blocks["area_ha"].reindex(k.index)
    table = pd.DataFrame(
        {
            "area_ha": area,
            "k": k,
            "buildings": count,
            "buildings_per_ha": count / area,
            "off_network_share": off.astype(float),
        },
        index=k.index,
    )
    frame = gpd.GeoDataFrame(
        table, geometry=blocks.set_index("block_id").geometry.reindex(k.index).array
    )
    frame.attrs["buildings_outside_blocks"] = int(len(per_building) - len(placed))
    per_building = per_building.assign(k=per_building["block_id"].map(k).astype("Int64"))
    return frame, per_building


def street_access_by_area(
    buildings: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame | gpd.GeoSeries,
    areas: gpd.GeoDataFrame,
    *,
    id_column: str = "settlement_id",
    off_network_m: float = OFF_NETWORK_M,
    tolerance_m: float = FRONTAGE_TOLERANCE_M,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Street access of every area (settlement): blocks clipped to it, its buildings.

    Each area is one :func:`street_access_table` run with the area as ``boundary`` and the
    buildings whose centroid lies in it (a building in two overlapping areas counts in both);
    streets within ``off_network_m`` of the area are used, so the distance to the nearest
    street is not cut at the area's edge.

    Parameters
    ----------
    buildings : GeoDataFrame
        Footprints (polygons), metric CRS.
    streets : GeoDataFrame or GeoSeries
        Street and footpath centrelines, same CRS.
    areas : GeoDataFrame
        Polygons with ``id_column``, same CRS.
    id_column : str, keyword-only
        Area id column, copied onto every output row.
    off_network_m, tolerance_m : float, keyword-only
        As in :func:`building_street_access`.

    Returns
    -------
    (blocks, buildings)
        ``blocks``: one row per block with ``id_column``, ``block_id`` (per area),
        ``area_ha``, ``k``, ``buildings``, ``buildings_per_ha``, ``off_network_share`` and
        the block polygon; ``buildings``: one row per building placed in an area,
        ``id_column``, ``building_index`` (the index in ``buildings``), ``block_id``,
        ``layer``, ``k``, ``street_distance_m``, ``off_network``.
    """
    require_metric(buildings, what="street_access_by_area")
    crs = buildings.crs
    footprints = buildings[
        shapely.get_type_id(np.asarray(buildings.geometry.array, dtype=object)) >= 3
    ]
    centroids = shapely.centroid(np.asarray(footprints.geometry.array, dtype=object))
    areas = areas.to_crs(crs)
    area_geoms = np.asarray(areas.geometry.array, dtype=object)
    area_of, building_of = shapely.STRtree(centroids).query(area_geoms, predicate="contains")
    street_tree = shapely.STRtree(np.asarray(streets.geometry.array, dtype=object))
    block_parts: list[gpd.GeoDataFrame] = []
    building_parts: list[pd.DataFrame] = []
    for position, area_id in enumerate(areas[id_column].astype(str)):
        inside = footprints.iloc[building_of[area_of == position]]
        near = street_tree.query(area_geoms[position], predicate="dwithin", distance=off_network_m)
        if not len(near):
            continue
        table, per = _street_access(
            inside,
            streets.iloc[np.sort(near)],
            boundary=area_geoms[position],
            off_network_m=off_network_m,
            tolerance_m=tolerance_m,
        )
        block_parts.append(table.reset_index().assign(**{id_column: area_id}))
        building_parts.append(
            per.rename_axis("building_index").reset_index().assign(**{id_column: area_id})
        )
    columns = [id_column, "block_id", "area_ha", "k", "buildings", "buildings_per_ha"]
    columns.append("off_network_share")
    if not block_parts:
        empty = gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs=crs)
        return empty, pd.DataFrame(columns=[id_column, "building_index", "block_id", "layer"])
    blocks = pd.concat(block_parts, ignore_index=True)
    blocks = gpd.GeoDataFrame(blocks[[*columns, "geometry"]], geometry="geometry", crs=crs)
    per_building = pd.concat(building_parts, ignore_index=True)
    first = [id_column, "building_index"]
    per_building = per_building[first + [c for c in per_building.columns if c not in first]]
    return blocks, per_building
