"""A synthetic demo city, *Mto Mji*, and the files its users would upload.

Everything here is **synthetic**: Mto Mji ("river town") does not exist. It is loosely shaped
like an East African secondary city (a grid of roads around a small core, informal settlements
along a flood-prone river and on its edges) and placed on made-up coordinates in UTM zone 37S.
Names, phone numbers and ID numbers are random and deliberately invalid.

Run ``python -m sample_data.generate --out sample_data/out`` to write the files; see
``sample_data/README.md``.
"""

# The GDAL/PROJ hardening in profiling._gdal_env must run before pyogrio / rasterio load.
import profiling  # noqa: F401
