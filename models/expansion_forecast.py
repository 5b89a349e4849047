"""Urban expansion forecast: the probability that a non-built cell is built by the next epoch.

Cells of a first-built-epoch raster (GHSL style) are described by features computed at the
start epoch (:data:`FEATURES`): distance to existing built-up, the built-up share of the
neighbourhood, and, where given, distance to streets, slope and a hazard value. A
gradient-boosted classifier (scikit-learn ``HistGradientBoostingClassifier``, which takes
missing values natively) is **trained on one transition and evaluated on the next** (features
recomputed at the later start epoch), beside a distance-only logistic baseline, in one
report: ROC AUC and the figure of merit.

Figure of merit [Pontius2008]_: the predicted change is the ``n`` cells of highest probability,
``n`` = the observed number of changed cells (quantity held right, allocation tested);
``FoM = hits / (hits + misses + false alarms)``.

References
----------
.. [Pontius2008] R. G. Pontius Jr. et al., "Comparing the input, output, and validation maps
   for several models of land change", *Annals of Regional Science* 42 (2008) 11-37.
.. [Angel2016] S. Angel et al., *Atlas of Urban Expansion, 2016 Edition*: distance to the
   existing built-up area as the first predictor of new development.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.signal import fftconvolve
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from models.persistence import ModelMeta, data_sha256

__all__ = [
    "FEATURES",
    "ForecastReport",
    "cell_features",
    "expected_new_built_ha",
    "figure_of_merit",
    "forecast_report",
    "predict_probability",
    "transition_samples",
]

FEATURES: tuple[str, ...] = (
    "distance_to_built_m",
    "built_share_neighbourhood",
    "distance_to_street_m",
    "slope_deg",
    "hazard",
)
"""Feature names in model order (missing inputs are NaN columns)."""


_RADIUS_M = 500.0
"""Neighbourhood radius of the built-up share used by :func:`forecast_report` (m)."""

_INPUT_OF = {"distance_to_street_m": "streets", "slope_deg": "dem", "hazard": "hazard"}
"""The keyword input each optional feature is computed from."""


def _disk(radius_px: float) -> np.ndarray:
    r = int(np.ceil(radius_px))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return (xx * xx + yy * yy <= radius_px * radius_px).astype(float)


def cell_features(
    built: np.ndarray,
    pixel_m: float,
    *,
    radius_m: float = _RADIUS_M,
    streets: np.ndarray | None = None,
    dem: np.ndarray | None = None,
    hazard: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per-cell features at one epoch (arrays shaped like ``built``).

    Parameters
    ----------
    built : ndarray of bool
        Built-up at the epoch.
    pixel_m : float
        Cell size, metres.
    radius_m : float, keyword-only
        Radius of the neighbourhood whose built-up share is a feature (m).
    streets, dem, hazard : ndarray, optional, keyword-only
        Street cells (bool), elevation (m), hazard value; NaN features when absent.

    Returns
    -------
    dict of str to ndarray (float64)
        One array per name of :data:`FEATURES`.
    """
    built = np.asarray(built, dtype=bool)
    nan = np.full(built.shape, np.nan)
    distance = (
        ndimage.distance_transform_edt(~built) * pixel_m
        if built.any()
        else np.full(built.shape, np.inf)
    )
    kernel = _disk(radius_m / pixel_m)
    counts = fftconvolve(np.ones(built.shape), kernel, mode="same")
    share = fftconvolve(built.astype(float), kernel, mode="same") / np.maximum(counts, 1e-9)
    street_distance = (
        ndimage.distance_transform_edt(~np.asarray(streets, dtype=bool)) * pixel_m
        if streets is not None and np.asarray(streets).any()
        else nan
    )
    if dem is not None:
        gy, gx = np.gradient(np.asarray(dem, dtype=float), pixel_m)
        slope = np.degrees(np.arctan(np.hypot(gx, gy)))
    else:
        slope = nan
    return {
        "distance_to_built_m": np.asarray(distance, dtype=float),
        "built_share_neighbourhood": np.clip(share, 0.0, 1.0),
        "distance_to_street_m": np.asarray(street_distance, dtype=float),
        "slope_deg": np.asarray(slope, dtype=float),
        "hazard": nan if hazard is None else np.asarray(hazard, dtype=float),
    }


def transition_samples(
    features: Mapping[str, np.ndarray],
    built_before: np.ndarray,
    built_after: np.ndarray,
    valid: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the cells not built before (and valid), labelled 1 if built after."""
    candidates = valid & ~built_before
    x = np.column_stack([np.asarray(features[name])[candidates] for name in FEATURES])
    y = np.asarray(built_after)[candidates].astype(np.int8)
    return x, y


def figure_of_merit(y_true: np.ndarray, score: np.ndarray) -> float:
    """Pontius figure of merit with the observed quantity of change (see the module).

    Examples
    --------
    >>> figure_of_merit(np.array([1, 1, 0, 0]), np.array([0.9, 0.1, 0.8, 0.2]))
    0.3333333333333333
    """
    y = np.asarray(y_true).astype(bool)
    n = int(y.sum())
    if n == 0:
        return float("nan")
    predicted = np.zeros(len(y), dtype=bool)
    predicted[np.argsort(-np.asarray(score), kind="stable")[:n]] = True
    hits = int((predicted & y).sum())
    misses = int((~predicted & y).sum())
    false_alarms = int((predicted & ~y).sum())
    return hits / (hits + misses + false_alarms)


@dataclass
class ForecastReport:
    """Model and baseline, trained on one transition and evaluated on the next."""

    model: HistGradientBoostingClassifier
    baseline: LogisticRegression
    metrics: dict[str, float]
    meta: ModelMeta


def _baseline_x(x: np.ndarray) -> np.ndarray:
    return np.log1p(np.nan_to_num(x[:, [0]], nan=0.0, posinf=1e7))


def forecast_report(
    epoch_raster: np.ndarray,
    epochs: tuple[int, int, int],
    pixel_m: float,
    *,
    nodata: float | None = None,
    max_samples: int = 300_000,
    seed: int = 0,
    **feature_inputs: Any,
) -> ForecastReport:
    """Train on ``epochs[0] → epochs[1]``, evaluate on ``epochs[1] → epochs[2]``.

    Parameters
    ----------
    epoch_raster : ndarray
        First-built epoch per cell (e.g. GHSL: 1975, 1990, ...); ``nodata`` or 0 = never.
    epochs : (int, int, int)
        Start, middle and end epochs.
    pixel_m : float
        Cell size, metres.
    nodata : float, optional, keyword-only
        Value marking cells outside the data (excluded).
    max_samples : int, keyword-only
        Training rows drawn at random (all when fewer).
    seed : int, keyword-only
    **feature_inputs
        ``streets``, ``dem``, ``hazard`` arrays passed to :func:`cell_features`.

    Returns
    -------
    ForecastReport
        ``metrics``: ``auc``, ``fom`` (model) and ``baseline_auc``, ``baseline_fom``
        (distance only) on the evaluation transition, with the sample sizes;
        ``meta.features``: the features used, in column order (those with values).
    """
    raster = np.asarray(epoch_raster)
    valid = np.ones(raster.shape, dtype=bool) if nodata is None else raster != nodata
    first = np.where(valid, raster, 0)

    def built(epoch: int) -> np.ndarray:
        return (first > 0) & (first <= epoch)

    t0, t1, t2 = epochs
    rng = np.random.default_rng(seed)
    x_train, y_train = transition_samples(
        cell_features(built(t0), pixel_m, **feature_inputs), built(t0), built(t1), valid
    )
    if len(y_train) > max_samples:
        keep = rng.choice(len(y_train), size=max_samples, replace=False)
        x_train, y_train = x_train[keep], y_train[keep]
    x_test, y_test = transition_samples(
        cell_features(built(t1), pixel_m, **feature_inputs), built(t1), built(t2), valid
    )
    # features without any value (no streets, DEM or hazard given) are left out of the model
    used = [i for i in range(len(FEATURES)) if np.isfinite(x_train[:, i]).any()]
    x_train, x_test = x_train[:, used], x_test[:, used]
    model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, random_state=seed)
    model.fit(x_train, y_train)
    baseline = LogisticRegression()
    baseline.fit(_baseline_x(x_train), y_train)
    p_model = model.predict_proba(x_test)[:, 1]
    p_base = baseline.predict_proba(_baseline_x(x_test))[:, 1]
    both = len(np.unique(y_test)) == 2
    metrics = {
        "auc": float(roc_auc_score(y_test, p_model)) if both else float("nan"),
        "fom": figure_of_merit(y_test, p_model),
        "baseline_auc": float(roc_auc_score(y_test, p_base)) if both else float("nan"),
        "baseline_fom": figure_of_merit(y_test, p_base),
        "train_cells": float(len(y_train)),
        "train_changed": float(y_train.sum()),
        "test_cells": float(len(y_test)),
        "test_changed": float(y_test.sum()),
    }
    meta = ModelMeta(
        name="expansion_forecast",
        features=[FEATURES[i] for i in used],
        training_data_sha256=data_sha256(x_train, y_train),
        metrics=metrics,
        notes=f"trained on {t0}->{t1}, evaluated on {t1}->{t2}, {pixel_m:g} m cells",
        parameters={
            "epoch_start": float(t0),
            "epoch_middle": float(t1),
            "epoch_end": float(t2),
            "pixel_m": float(pixel_m),
            "radius_m": _RADIUS_M,
        },
    )
    return ForecastReport(model=model, baseline=baseline, metrics=metrics, meta=meta)


def predict_probability(
    model: Any,
    meta: ModelMeta,
    epoch_raster: np.ndarray,
    epoch: int,
    pixel_m: float,
    *,
    nodata: float | None = None,
    **feature_inputs: Any,
) -> np.ndarray:
    """Probability that each valid cell not built at ``epoch`` is built by the next epoch.

    The features are computed at ``epoch`` exactly as :func:`forecast_report` computes them
    (same built-up definition, neighbourhood radius from ``meta.parameters['radius_m']``,
    500 m by default) and the columns are those of ``meta.features``, in that order: the
    features :func:`forecast_report` kept because they had values.

    Parameters
    ----------
    model : classifier
        A fitted model with ``predict_proba`` (``ForecastReport.model`` or
        :func:`models.persistence.load_model`).
    meta : ModelMeta
        Its metadata; ``meta.features`` names the model's columns.
    epoch_raster : ndarray, 2-D
        First-built epoch per cell (GHSL style); ``nodata`` or 0 = never built.
    epoch : int
        The start epoch: cells with ``0 < value <= epoch`` are built.
    pixel_m : float
        Cell size, metres.
    nodata : float, optional, keyword-only
        Value marking cells outside the data.
    **feature_inputs
        ``streets``, ``dem``, ``hazard`` arrays (see :func:`cell_features`); required for each
        of those features the model was trained with.

    Returns
    -------
    ndarray of float32, shaped like ``epoch_raster``
        Probability (0-1) for the valid cells not built at ``epoch``; NaN for the cells built
        at ``epoch`` and the ``nodata`` cells.

    Raises
    ------
    ValueError
        When ``meta.features`` names an unknown feature or one whose input is not given, or the
        raster is not 2-D.

    Examples
    --------
    >>> raster = np.zeros((3, 3), dtype=np.uint16)
    >>> raster[1, 1] = 1990
    >>> meta = ModelMeta("m", ["distance_to_built_m"], "", {})
    >>> model = LogisticRegression().fit([[100.0], [300.0]], [1, 0])
    >>> p = predict_probability(model, meta, raster, 1990, 100.0)
    >>> bool(np.isnan(p[1, 1])), p.dtype.name, bool(p[0, 1] > p[0, 0])
    (True, 'float32', True)
    """
    raster = np.asarray(epoch_raster)
    if raster.ndim != 2:
        raise ValueError(f"the epoch raster must be 2-D, got shape {raster.shape}")
    unknown = [name for name in meta.features if name not in FEATURES]
    if unknown:
        raise ValueError(
            f"model {meta.name!r} uses features {unknown} unknown here (known: {list(FEATURES)})"
        )
    absent = [
        f"{name} (pass {_INPUT_OF[name]}=...)"
        for name in meta.features
        if name in _INPUT_OF and feature_inputs.get(_INPUT_OF[name]) is None
    ]
    if absent:
        raise ValueError(f"model {meta.name!r} was trained with {', '.join(absent)}")
    valid = np.ones(raster.shape, dtype=bool) if nodata is None else raster != nodata
    first = np.where(valid, raster, 0)
    built = (first > 0) & (first <= epoch)
    radius = float(meta.parameters.get("radius_m", _RADIUS_M))
    features = cell_features(built, pixel_m, radius_m=radius, **feature_inputs)
    candidates = valid & ~built
    out = np.full(raster.shape, np.nan, dtype=np.float32)
    if candidates.any():
        x = np.column_stack([features[name][candidates] for name in meta.features])
        out[candidates] = model.predict_proba(x)[:, 1]
    return out


def expected_new_built_ha(probability: np.ndarray, pixel_m: float) -> float:
    """Expected new built-up area (hectares): ``sum(probability) * pixel_m**2 / 10_000``.

    NaN cells (built already, nodata) count nothing.

    Examples
    --------
    >>> expected_new_built_ha(np.array([[0.5, np.nan], [0.25, 0.25]]), 100.0)
    1.0
    """
    total = float(np.nansum(np.asarray(probability, dtype=float)))
    return total * pixel_m * pixel_m / 10_000.0
