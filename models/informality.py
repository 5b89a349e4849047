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

__all__ = ["FEATURES", "cell_features", "label_cells", "orientation_deg", "spatial_cv"]

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
    )
    return model, metrics, meta
