"""Train the service's models from the data of one city in the store.

``geo-service models train --store ... --city ...`` (and the demo) call
:func:`train_city_models`: the expansion forecast from the city's built-up raster (trained on
its first transition, evaluated on the next, beside the distance-only baseline) and the
informality model from the footprints of the city's area labelled by its settlement
boundaries (spatially blocked cross-validation). Both are saved where the service loads
models from (``Settings.models_folder``); the service picks them up at its next start.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd

from geo_service.storage import Store
from geo_service.urban_analyses import read_urban
from models.expansion_forecast import forecast_report
from models.informality import cell_features, label_cells, spatial_cv
from models.persistence import save_model

__all__ = ["TrainedModel", "describe_metrics", "train_city_models"]


@dataclass(frozen=True)
class TrainedModel:
    """One training outcome: the saved file and its metrics, or why it was not trained."""

    name: str
    path: Path | None
    metrics: dict[str, float]
    skipped: str = ""


def train_city_models(
    store: Store,
    city: str,
    folder: Path,
    *,
    cell_m: float = 100.0,
    block_m: float = 500.0,
    seed: int = 0,
) -> list[TrainedModel]:
    """Train and save the expansion forecast and the informality model of ``city``.

    Parameters
    ----------
    store : Store
    city : str
        ``settlements.city`` of the settlements whose area and labels are used.
    folder : Path
        Where the ``.skops`` and ``.json`` files go.
    cell_m, block_m : float, keyword-only
        Informality grid cell and spatial fold tile sizes (metres).
    seed : int, keyword-only

    Returns
    -------
    list of TrainedModel
        One per model, saved or skipped with the reason.

    Raises
    ------
    LookupError
        No settlement of ``city`` has an outline.
    """
    settlements = store.read_layer("settlements")
    mine = settlements[settlements["city"].astype("string").eq(city).fillna(False).to_numpy()]
    mine = mine[mine.geometry.notna().to_numpy() & ~mine.geometry.is_empty.to_numpy()]
    if mine.empty:
        raise LookupError(f"no settlement of city {city!r} has an outline")
    urban = read_urban(store, gpd.GeoDataFrame(mine))
    out: list[TrainedModel] = []
    expansion = urban.expansion
    if expansion is None or len(expansion.epochs) < 3:
        reason = "needs a built_up_epoch raster with at least three epochs"
        out.append(TrainedModel("expansion_forecast", None, {}, reason))
    else:
        e = expansion.epochs
        report = forecast_report(
            expansion.raster.array,
            (e[0], e[len(e) // 2], e[-1]),
            expansion.raster.pixel_m,
            nodata=expansion.raster.nodata,
            seed=seed,
        )
        path = save_model(report.model, report.meta, folder)
        out.append(TrainedModel("expansion_forecast", path, dict(report.metrics)))
    cells = cell_features(urban.footprints, cell_m=cell_m) if len(urban.footprints) else None
    labels = label_cells(cells, urban.settlements) if cells is not None else None
    if cells is None or labels is None or len(set(labels.tolist())) < 2:
        reason = "needs footprints both inside and outside the settlements"
        out.append(TrainedModel("informality", None, {}, reason))
    else:
        model, metrics, meta = spatial_cv(cells, labels, block_m=block_m, cell_m=cell_m, seed=seed)
        path = save_model(model, meta, folder)
        out.append(TrainedModel("informality", path, dict(metrics)))
    return out


def describe_metrics(result: TrainedModel) -> str:
    """One line of a model's evaluation (for the CLI and the demo).

    Examples
    --------
    >>> describe_metrics(TrainedModel("informality", None, {"precision": 0.9, "recall": 0.8,
    ...                  "auc": 0.95, "cells": 10.0, "positives": 4.0}))
    'precision 0.900, recall 0.800, ROC AUC 0.950 (spatial CV, 10 cells, 4 informal)'
    """
    m = result.metrics
    if not m:
        return result.skipped
    if result.name == "expansion_forecast":
        return (
            f"ROC AUC {m['auc']:.3f} (distance-only {m['baseline_auc']:.3f}), figure of merit "
            f"{m['fom']:.3f} ({m['baseline_fom']:.3f}) on the held-out transition"
        )
    return (
        f"precision {m['precision']:.3f}, recall {m['recall']:.3f}, ROC AUC {m['auc']:.3f} "
        f"(spatial CV, {m['cells']:.0f} cells, {m['positives']:.0f} informal)"
    )
