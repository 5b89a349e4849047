"""Geo service: the web layer, storage, maps and CLI around :mod:`profiling`.

``geo_service.storage`` keeps uploads and canonical layers in one GeoPackage file (or PostGIS);
the FastAPI app, the CLI and the maps build on it. Nothing is built at import time.
"""
