"""Saving and loading models safely: skops files plus a JSON metadata file.

A model is written as ``<name>.skops`` (skops' safe format: loading never runs arbitrary code,
only the types listed as trusted are rebuilt) and ``<name>.json``: the features in order, the
SHA-256 of the training data, the scikit-learn version, the metrics and when it was trained.
Loading checks the file's own SHA-256 against the metadata and refuses untrusted types.

References
----------
skops documentation, "Secure persistence with skops" (skops.io.dump / load / get_untrusted_types).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import skops.io as sio

__all__ = ["ModelMeta", "data_sha256", "load_model", "save_model"]


@dataclass
class ModelMeta:
    """What a saved model is and how it was made.

    ``parameters`` holds the settings a prediction must reuse (e.g. ``cell_m`` for the
    informality model, ``pixel_m`` and the epochs for the expansion forecast); metadata files
    written before it existed load with an empty dict.
    """

    name: str
    features: list[str]
    training_data_sha256: str
    metrics: dict[str, float]
    sklearn_version: str = field(default_factory=lambda: sklearn.__version__)
    trained_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    model_sha256: str = ""
    notes: str = ""
    parameters: dict[str, float | str] = field(default_factory=dict)
    """How the model was made, machine-readable (cell size, epochs, ...; units in the key)."""


def data_sha256(*arrays: np.ndarray) -> str:
    """SHA-256 over the bytes (and shapes, dtypes) of the training arrays."""
    digest = hashlib.sha256()
    for array in arrays:
        a = np.ascontiguousarray(array)
        digest.update(f"{a.dtype.str}{a.shape}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def save_model(model: Any, meta: ModelMeta, folder: Path) -> Path:
    """Write ``<folder>/<name>.skops`` and its metadata; returns the model path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{meta.name}.skops"
    sio.dump(model, path)
    meta.model_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    (folder / f"{meta.name}.json").write_text(json.dumps(asdict(meta), indent=2) + "\n")
    return path


def load_model(
    folder: Path, name: str, *, trusted: list[str] | None = None
) -> tuple[Any, ModelMeta]:
    """Load a model saved by :func:`save_model`.

    Raises ``ValueError`` when the file does not match its metadata or holds types outside
    scikit-learn / numpy and ``trusted`` (never executes untrusted code).
    """
    path = folder / f"{name}.skops"
    meta = ModelMeta(**json.loads((folder / f"{name}.json").read_text()))
    if hashlib.sha256(path.read_bytes()).hexdigest() != meta.model_sha256:
        raise ValueError(f"{path} does not match its metadata (sha256 differs)")
    untrusted = sio.get_untrusted_types(file=path)
    allowed = set(trusted or [])
    refused = [
        t for t in untrusted if t not in allowed and not t.startswith(("sklearn.", "numpy."))
    ]
    if refused:
        raise ValueError(f"{path} holds untrusted types: {refused}")
    model = sio.load(path, trusted=untrusted)
    return model, meta
