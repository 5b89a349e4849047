"""Informality from building morphology: which grid cells look like informal settlements.

Each grid cell (default 100 m) with buildings is described by footprint features
(:data:`FEATURES`): building count and coverage, mean size and its spread, the spread of
building orientations (informal fabric is irregular) and the mean distance to the nearest
neighbouring building. Cells are labelled 1 when their centre lies in a known settlement
boundary. A gradient-boosted classifier is evaluated by **spatial** cross-validation: folds are
coarse tiles (default 500 m), so neighbouring cells never sit on both sides of a split (random
row splits would leak and overstate skill) [Roberts2017]_. Cells predicted informal outside
the known settlements are candidates for profiling.

References
----------
.. [Roberts2017] D. R. Roberts et al., "Cross-validation strategies for data with temporal,
   spatial, hierarchical, or phylogenetic structure", *Ecography* 40 (2017) 913-929.
.. [Taubenbock2018] H. Taubenböck et al., "A new ranking of the world's largest cities: do
   administrative units obscure morphological realities?" and related work on morphological
   slum mapping: building size, density and orientation regularity as slum indicators.
"""

from __future__ import annotations

import re
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import precision_score, recall_score, roc_auc_score
from sklearn.model_selection import GroupKFold

from models.persistence import ModelMeta, data_sha256
from profiling.crs import require_metric

__all__ = [
    "FEATURES",
    "cell_features",
    "label_cells",
    "orientation_deg",
    "predict_cells",
    "spatial_cv",
]

FEATURES: tuple[str, ...] = (
    "buildings",
    "coverage",
    "mean_area_m2",
    "cv_area",
    "orientation_spread_deg",
    "mean_nn_m",
)
"""Feature names in model order."""


def orientation_deg(polygons: np.ndarray) -> np.ndarray:
    """Orientation of each footprint in [0, 90) degrees: the angle of the longest side of its
    minimum rotated rectangle, modulo 90 (a rectangle's orientation is defined up to 90°).

    Examples
    --------
    >>> orientation_deg(np.array([shapely.box(0, 0, 4, 2)])).round(6).tolist()
    [0.0]
    """
    rect = shapely.minimum_rotated_rectangle(polygons)
    coords = shapely.get_coordinates(rect).reshape(len(polygons), -1, 2)[:, :3, :]
    e1 = coords[:, 1] - coords[:, 0]
    e2 = coords[:, 2] - coords[:, 1]
    longer = np.where((np.hypot(*e1.T) >= np.hypot(*e2.T))[:, None], e1, e2)
    return np.mod(np.degrees(np.arctan2(longer[:, 1], longer[:, 0])), 90.0)


def _circular_spread_90(angles: np.ndarray, groups: np.ndarray, n: int) -> np.ndarray:
    """Circular standard deviation of angles with period 90° per group (degrees)."""
    theta = np.radians(angles) * 4.0  # period 90° -> full circle
    c = np.bincount(groups, weights=np.cos(theta), minlength=n)
    s = np.bincount(groups, weights=np.sin(theta), minlength=n)
    k = np.bincount(groups, minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.hypot(c, s) / k
        spread = np.degrees(np.sqrt(-2.0 * np.log(np.clip(r, 1e-12, 1.0)))) / 4.0
    return np.where(k > 0, spread, np.nan)


def cell_features(buildings: gpd.GeoDataFrame, *, cell_m: float = 100.0) -> gpd.GeoDataFrame:
    """Footprint features per grid cell (only cells with buildings).

    Parameters
    ----------
    buildings : GeoDataFrame
        Building footprints (polygons), metric CRS.
    cell_m : float, keyword-only
        Grid cell size, metres.

    Returns
    -------
    GeoDataFrame
        One row per occupied cell: ``cell_x``, ``cell_y`` (grid indices), the
        :data:`FEATURES` and the cell square as geometry.
    """
    require_metric(buildings, what="buildings")
    geoms = buildings.geometry.to_numpy()
    geoms = geoms[~shapely.is_empty(geoms)]
    centroids = shapely.get_coordinates(shapely.centroid(geoms))
    ix = np.floor(centroids[:, 0] / cell_m).astype(np.int64)
    iy = np.floor(centroids[:, 1] / cell_m).astype(np.int64)
    keys, cell = np.unique(np.column_stack([ix, iy]), axis=0, return_inverse=True)
    cell = cell.reshape(-1)
    n = len(keys)
    area = shapely.area(geoms)
    count = np.bincount(cell, minlength=n)
    total = np.bincount(cell, weights=area, minlength=n)
    sq = np.bincount(cell, weights=area * area, minlength=n)
    mean = total / count
    std = np.sqrt(np.maximum(sq / count - mean * mean, 0.0))
    if len(centroids) > 1:
        dist, _ = cKDTree(centroids).query(centroids, k=2)
        nn = dist[:, 1]
    else:
        nn = np.full(len(centroids), np.nan)
    frame = pd.DataFrame(
        {
            "cell_x": keys[:, 0],
            "cell_y": keys[:, 1],
            "buildings": count.astype(float),
            "coverage": total / (cell_m * cell_m),
            "mean_area_m2": mean,
            "cv_area": np.where(mean > 0, std / mean, np.nan),
            "orientation_spread_deg": _circular_spread_90(orientation_deg(geoms), cell, n),
            "mean_nn_m": np.bincount(cell, weights=nn, minlength=n) / count,
        }
    )
    squares = shapely.box(
        keys[:, 0] * cell_m,
        keys[:, 1] * cell_m,
        (keys[:, 0] + 1) * cell_m,
        (keys[:, 1] + 1) * cell_m,
    )
    return gpd.GeoDataFrame(frame, geometry=squares, crs=buildings.crs)


def label_cells(cells: gpd.GeoDataFrame, settlements: gpd.GeoDataFrame) -> np.ndarray:
    """1 where the cell's centre lies in a settlement boundary, else 0."""
    boundaries = settlements.to_crs(cells.crs).geometry.to_numpy()
    centres = shapely.centroid(cells.geometry.to_numpy())
    tree = shapely.STRtree(boundaries)
    hit = tree.query(centres, predicate="within")
    out = np.zeros(len(cells), dtype=np.int8)
    out[np.unique(hit[0])] = 1
    return out


def spatial_cv(
    cells: gpd.GeoDataFrame,
    labels: np.ndarray,
    *,
    block_m: float = 500.0,
    cell_m: float = 100.0,
    n_splits: int = 5,
    seed: int = 0,
) -> tuple[HistGradientBoostingClassifier, dict[str, float], ModelMeta]:
    """Spatially blocked cross-validation, then a model fitted on every cell.

    Returns
    -------
    (model, metrics, meta)
        ``metrics``: ``precision``, ``recall`` and ``auc`` pooled over the out-of-fold
        predictions, with the number of cells, positives and spatial blocks.
    """
    x = cells[list(FEATURES)].to_numpy(dtype=float)
    y = np.asarray(labels).astype(int)
    per_block = max(1, round(block_m / cell_m))
    bx = np.floor_divide(cells["cell_x"].to_numpy(), per_block)
    by = np.floor_divide(cells["cell_y"].to_numpy(), per_block)
    _, groups = np.unique(np.column_stack([bx, by]), axis=0, return_inverse=True)
    groups = groups.reshape(-1)
    splits = min(n_splits, len(np.unique(groups)))
    if splits < 2:
        raise ValueError(
            f"spatial cross-validation needs at least 2 spatial blocks of {block_m:g} m; "
            f"the {len(y)} cells fall in {len(np.unique(groups))}"
        )
    probability = np.full(len(y), np.nan)
    for train, test in GroupKFold(n_splits=splits).split(x, y, groups):
        if len(np.unique(y[train])) < 2:
            continue
        fold = HistGradientBoostingClassifier(max_iter=150, random_state=seed)
        fold.fit(x[train], y[train])
        probability[test] = fold.predict_proba(x[test])[:, 1]
    done = np.isfinite(probability)
    predicted = probability[done] >= 0.5
    both = len(np.unique(y[done])) == 2
    metrics: dict[str, Any] = {
        "precision": float(precision_score(y[done], predicted, zero_division=0)),
        "recall": float(recall_score(y[done], predicted, zero_division=0)),
        "auc": float(roc_auc_score(y[done], probability[done])) if both else float("nan"),
        "cells": float(len(y)),
        "positives": float(y.sum()),
        "spatial_blocks": float(len(np.unique(groups))),
    }
    model = HistGradientBoostingClassifier(max_iter=150, random_state=seed).fit(x, y)
    meta = ModelMeta(
        name="informality",
        features=list(FEATURES),
        training_data_sha256=data_sha256(x, y),
        metrics=metrics,
        notes=f"{cell_m:g} m cells, spatial folds of {block_m:g} m tiles",
        parameters={
            "cell_m": float(cell_m),
            "block_m": float(block_m),
            "n_splits": float(splits),
            "seed": float(seed),
        },
    )
    return model, metrics, meta


def _cell_size(meta: ModelMeta) -> float:
    """The model's cell size (m): ``meta.parameters['cell_m']``, else the older ``notes``."""
    if "cell_m" in meta.parameters:
        return float(meta.parameters["cell_m"])
    found = re.match(r"\s*([0-9.]+) m cells", meta.notes)
    if found is None:
        raise ValueError(
            f"model {meta.name!r}: its metadata records no cell size (parameters['cell_m'])"
        )
    return float(found.group(1))


def predict_cells(
    model: Any,
    meta: ModelMeta,
    buildings: gpd.GeoDataFrame,
    settlements: gpd.GeoDataFrame | None = None,
    *,
    threshold: float = 0.5,
) -> gpd.GeoDataFrame:
    """Probability that each occupied grid cell is informal fabric, and the cells to profile.

    The cells and their :data:`FEATURES` are computed by :func:`cell_features` with the cell
    size the model was trained with (``meta.parameters['cell_m']``, metres), so a model is
    never applied to cells of another size.

    Parameters
    ----------
    model : classifier
        A fitted model with ``predict_proba`` (from :func:`spatial_cv` or
        :func:`models.persistence.load_model`).
    meta : ModelMeta
        Its metadata; ``meta.features`` must equal :data:`FEATURES` (same names, same order).
    buildings : GeoDataFrame
        Building footprints (polygons) in a metric CRS.
    settlements : GeoDataFrame, optional
        Known settlement boundaries (any CRS, projected to the buildings' CRS).
    threshold : float, keyword-only
        Probability from which a cell is flagged (0-1).

    Returns
    -------
    GeoDataFrame
        One row per occupied cell, in the buildings' CRS, geometry = the cell square:
        ``cell_x``, ``cell_y`` (grid indices), the :data:`FEATURES`, ``probability`` (float,
        0-1), ``known_settlement`` (bool: the cell centre lies in a settlement boundary; False
        when ``settlements`` is None) and ``flagged`` (bool: ``probability >= threshold`` and
        not ``known_settlement``: a candidate informal area outside the known ones).

    Raises
    ------
    GeographicCRSError
        When the buildings are not in a metric CRS.
    ValueError
        When ``meta.features`` differ from :data:`FEATURES` or no cell size is recorded.

    Examples
    --------
    >>> b = gpd.GeoDataFrame(geometry=[shapely.box(x, 0, x + 4, 3) for x in range(0, 400, 6)],
    ...                      crs=32737)
    >>> cells = cell_features(b)
    >>> model, _, meta = spatial_cv(cells, np.arange(len(cells)) % 2, block_m=100)
    >>> predict_cells(model, meta, b)[["cell_x", "known_settlement"]].to_numpy().tolist()
    [[0, False], [1, False], [2, False], [3, False]]
    """
    if list(meta.features) != list(FEATURES):
        missing = [f for f in FEATURES if f not in meta.features]
        extra = [f for f in meta.features if f not in FEATURES]
        raise ValueError(
            f"model {meta.name!r} was trained on features {list(meta.features)}, this code "
            f"computes {list(FEATURES)} (missing: {missing}, unexpected: {extra}"
            + (", order differs" if not missing and not extra else "")
            + ")"
        )
    require_metric(buildings, what="informality prediction")
    cells = cell_features(buildings, cell_m=_cell_size(meta))
    x = cells[list(FEATURES)].to_numpy(dtype=float)
    probability = model.predict_proba(x)[:, 1] if len(cells) else np.zeros(0)
    cells["probability"] = probability.astype(float)
    if settlements is not None and len(settlements) and len(cells):
        known = label_cells(cells, settlements).astype(bool)
    else:
        known = np.zeros(len(cells), dtype=bool)
    cells["known_settlement"] = known
    cells["flagged"] = (cells["probability"].to_numpy() >= threshold) & ~known
    return cells
