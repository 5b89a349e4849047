"""scikit-learn models built on :mod:`profiling`: urban expansion forecast (and, next,
informality from building morphology). Saved with skops (no pickle) beside a JSON metadata
file (:mod:`models.persistence`)."""
