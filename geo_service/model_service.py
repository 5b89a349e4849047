"""The trained models the service serves: loaded once at start, predictions per city.

Models are the files ``geo-service models train-expansion`` / ``train-informality`` write
(``<name>.skops`` + ``<name>.json``, :mod:`models.persistence`) in ``Settings.models_folder``.
:meth:`ModelShelf.load` loads every one at start; a file that fails its checks (SHA-256
differs from its metadata, untrusted types, unreadable) is *refused*, with the reason shown
by ``GET /models``, and never stops the service.

Predictions run on the city's data of one data version (:class:`UrbanData`):

* ``informality``: footprint features per grid cell of the city's area, the probability that
  the cell is informal-like, and the cells **flagged** (probability >= the threshold, centre
  outside every known settlement): candidates for profiling. Cells whose centre lies in a
  settlement the caller may not see are dropped.
* ``expansion_forecast``: the probability that each non-built cell of the city's built-up
  raster is built by the next epoch, from the latest epoch, and the expected new built-up
  area (sum of probabilities).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from geo_service.urban_analyses import EpochRaster, UrbanData
from models.expansion_forecast import expected_new_built_ha, predict_probability
from models.informality import predict_cells
from models.persistence import ModelMeta, load_model

__all__ = [
    "EXPANSION_FORECAST",
    "INFORMALITY",
    "Forecast",
    "LoadedModel",
    "ModelShelf",
    "expansion_forecast",
    "informality_cells",
]

log = logging.getLogger(__name__)

EXPANSION_FORECAST = "expansion_forecast"
INFORMALITY = "informality"


@dataclass(frozen=True)
class LoadedModel:
    """A model and its metadata."""

    model: Any
    meta: ModelMeta

    def describe(self) -> dict[str, Any]:
        """The metadata as plain data (for ``GET /models``)."""
        return {**asdict(self.meta), "status": "loaded"}


@dataclass(frozen=True)
class ModelShelf:
    """The models of one folder: those loaded and those refused (name -> reason)."""

    folder: Path | None = None
    loaded: Mapping[str, LoadedModel] = field(default_factory=dict)
    refused: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path | None) -> ModelShelf:
        """Load every ``<name>.json`` + ``<name>.skops`` pair of ``folder`` (missing: none)."""
        if folder is None or not folder.is_dir():
            return cls(folder=folder)
        loaded: dict[str, LoadedModel] = {}
        refused: dict[str, str] = {}
        for meta_path in sorted(folder.glob("*.json")):
            name = meta_path.stem
            try:
                model, meta = load_model(folder, name)
            except Exception as exc:  # any bad file is refused, never fatal
                refused[name] = f"{type(exc).__name__}: {exc}"
                log.warning("model %s refused: %s", name, refused[name])
                continue
            loaded[name] = LoadedModel(model=model, meta=meta)
        return cls(folder=folder, loaded=loaded, refused=refused)

    def get(self, name: str) -> LoadedModel | None:
        """The loaded model ``name`` or ``None``."""
        return self.loaded.get(name)

    def describe(self) -> list[dict[str, Any]]:
        """Every model, loaded or refused, as plain data."""
        out = [model.describe() for model in self.loaded.values()]
        out += [{"name": n, "status": "refused", "reason": r} for n, r in self.refused.items()]
        return sorted(out, key=lambda record: str(record["name"]))


def informality_cells(
    urban: UrbanData,
    loaded: LoadedModel,
    *,
    hidden: frozenset[str] = frozenset(),
    threshold: float = 0.5,
) -> gpd.GeoDataFrame:
    """Informality probability per grid cell of the city's footprints (metric CRS).

    Parameters
    ----------
    urban : UrbanData
        The city's footprints and settlements.
    loaded : LoadedModel
        The ``informality`` model.
    hidden : frozenset of str, keyword-only
        Settlements the caller may not see: their cells are left out.
    threshold : float, keyword-only
        Probability from which a cell outside the known settlements is flagged.

    Returns
    -------
    geopandas.GeoDataFrame
        :func:`models.informality.predict_cells` rows (``probability``, ``known_settlement``,
        ``flagged``, the features, the cell square).
    """
    cells = predict_cells(
        loaded.model, loaded.meta, urban.footprints, urban.settlements, threshold=threshold
    )
    secret = urban.settlements[urban.settlements["settlement_id"].astype(str).isin(hidden)]
    if len(secret) and len(cells):
        centres = shapely.centroid(np.asarray(cells.geometry.array, dtype=object))
        inside, _ = shapely.STRtree(np.asarray(secret.geometry.array, dtype=object)).query(
            centres, predicate="within"
        )
        keep = np.ones(len(cells), dtype=bool)
        keep[inside] = False
        cells = cells[keep]
    return gpd.GeoDataFrame(cells)


@dataclass(frozen=True)
class Forecast:
    """Probability of new built-up by the epoch after ``epoch``.

    Attributes
    ----------
    raster : EpochRaster
        The built-up raster the forecast starts from (grid, CRS).
    epoch : int
        The start epoch (the raster's latest).
    probability : numpy.ndarray
        float32, NaN where built at ``epoch`` or outside the data.
    expected_new_ha : float
        Sum of probabilities x cell area (ha).
    """

    raster: EpochRaster
    epoch: int
    probability: np.ndarray
    expected_new_ha: float

    def summary(self) -> dict[str, Any]:
        """Counts by probability class and the expected new built-up area."""
        p = self.probability[np.isfinite(self.probability)]
        cell_ha = self.raster.pixel_m**2 / 10_000.0
        edges = (0.0, 0.25, 0.5, 0.75, 1.000001)
        counts, _ = np.histogram(p, bins=edges)
        return {
            "from_epoch": self.epoch,
            "pixel_m": self.raster.pixel_m,
            "candidate_cells": int(p.size),
            "expected_new_built_ha": round(self.expected_new_ha, 2),
            "mean_probability": float(p.mean()) if p.size else None,
            "classes": [
                {"probability": f"{lo:g}-{min(hi, 1.0):g}", "cells": int(n), "ha": n * cell_ha}
                for lo, hi, n in zip(edges[:-1], edges[1:], counts, strict=True)
            ],
        }

    def geotiff(self) -> bytes:
        """The probability as a float32 GeoTIFF (NaN nodata) on the raster's grid."""
        return self.raster.geotiff(self.probability, nodata=float("nan"))


def expansion_forecast(urban: UrbanData, loaded: LoadedModel) -> Forecast | None:
    """The forecast from the city's latest built-up epoch (``None`` without a raster)."""
    expansion = urban.expansion
    if expansion is None:
        return None
    raster = expansion.raster
    epoch = expansion.epochs[-1]
    probability = predict_probability(
        loaded.model, loaded.meta, raster.array, epoch, raster.pixel_m, nodata=raster.nodata
    )
    return Forecast(
        raster=raster,
        epoch=epoch,
        probability=probability,
        expected_new_ha=expected_new_built_ha(probability, raster.pixel_m),
    )
