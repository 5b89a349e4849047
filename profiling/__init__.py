"""Settlement profiling: canonical schemas, safe ingestion, validation and analyses.

A library a planner can use from a notebook with no server running. It never imports the
web layer (``geo_service``) and touches files only in :mod:`profiling.ingest`.
"""

from profiling import _gdal_env  # noqa: F401  (GDAL/PROJ safety settings before GDAL loads)

__version__ = "0.1.0"
