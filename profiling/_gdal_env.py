"""Harden GDAL and PROJ before any GDAL library is loaded.

Importing this module sets process environment variables that GDAL reads when its drivers
are registered (``GDAL_SKIP``) or each time a file is opened (the others). It must therefore
be imported *before* ``pyogrio`` or ``rasterio`` register their drivers: :mod:`profiling`
imports it first thing. If one of them was imported earlier (a notebook, a test module whose
imports are sorted third-party first), its drivers are registered again so the skip list
still applies; :func:`assert_gdal_safe` verifies the result and fails closed. Both GDALs in
this environment honour it: pyogrio's wheel (GDAL 3.12) and rasterio's wheel (GDAL 3.10)
each read the same variables through ``getenv``.

What it does, and why (see https://gdal.org/user/security.html):

``GDAL_SKIP``
    Deregisters drivers that read *other* files or URLs named inside an uploaded file, run
    commands, or talk to the network. ``OGR_VRT`` / ``VRT`` / ``GTI`` / ``GDALG`` can point at
    any local file (``/etc/passwd``, another user's upload) or run a whole GDAL pipeline;
    ``KMLSUPEROVERLAY``, ``WMS``, ``WFS``, ``HTTP`` ... fetch remote data; ``GPSBabel`` spawns a
    program. Existing values are kept and ours appended. Skipping the raster ``VRT`` driver
    does not affect :class:`rasterio.vrt.WarpedVRT` or :func:`rasterio.warp.reproject`.
``PROJ_NETWORK=OFF``
    PROJ never downloads grids (pyproj and both GDALs' PROJ).
``CPL_VSIL_CURL_ALLOWED_EXTENSIONS``
    An extension no file has, so ``/vsicurl/`` and friends refuse every remote file.
``GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR``
    GDAL does not list the upload folder on open, so it never picks up side-car files
    (``.aux.xml``, ``.ovr``, world files) it was not given.
``OGR_GEOJSON_MAX_OBJ_SIZE``
    Largest single GeoJSON object the GeoJSON driver will build in memory, in MB.
``GDAL_VRT_ENABLE_PYTHON=NO`` and ``GDAL_VRT_ENABLE_RAWRASTERBAND=NO``
    Defence in depth should the raster VRT driver ever be re-enabled: no Python pixel
    functions, no raw reads of arbitrary files.
``OGR_SQLITE_ALLOW_EXTERNAL_ACCESS=NO``
    A GeoPackage view cannot call ``gdal_get_pixel_value()`` on arbitrary files.

Security settings are forced; tuning settings (``OGR_GEOJSON_MAX_OBJ_SIZE``) only default,
so an operator may change them.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

__all__ = [
    "DEFAULT_SETTINGS",
    "FORCED_SETTINGS",
    "SKIPPED_DRIVERS",
    "apply",
    "assert_gdal_safe",
    "merged_skip",
]

SKIPPED_DRIVERS: tuple[str, ...] = (
    # Open other local files by reference, or run stored pipelines.
    "OGR_VRT",
    "VRT",
    "GTI",
    "GDALG",
    "AIVector",
    # Spawn an external program.
    "GPSBabel",
    # Fetch remote data (network services and web formats).
    "HTTP",
    "WFS",
    "OAPIF",
    "OGCAPI",
    "CSW",
    "WMS",
    "WMTS",
    "WCS",
    "DAAS",
    "EEDA",
    "EEDAI",
    "Elasticsearch",
    "Carto",
    "AmigoCloud",
    "NGW",
    "PLSCENES",
    "PLMOSAIC",
    "STACIT",
    "STACTA",
    "KMLSUPEROVERLAY",
    "ADBC",
)
"""GDAL driver short names removed from every GDAL in the process."""

FORCED_SETTINGS: dict[str, str] = {
    "PROJ_NETWORK": "OFF",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".profiling-remote-reads-disabled",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_VRT_ENABLE_PYTHON": "NO",
    "GDAL_VRT_ENABLE_RAWRASTERBAND": "NO",
    "OGR_SQLITE_ALLOW_EXTERNAL_ACCESS": "NO",
}
"""Settings always overwritten on import: they close a hole."""

DEFAULT_SETTINGS: dict[str, str] = {
    # MB; GDAL's own default, stated so a reader sees the bound.
    "OGR_GEOJSON_MAX_OBJ_SIZE": "200",
}
"""Settings only set when the operator has not set them."""

_checked: set[str] = set()


def _skip_tokens(value: str) -> list[str]:
    # GDAL splits GDAL_SKIP on spaces and commas (GDALDriverManager::AutoSkipDrivers).
    return [tok for tok in value.replace(",", " ").split() if tok]


def merged_skip(value: str | None) -> str:
    """``GDAL_SKIP`` value holding ``value``'s drivers followed by :data:`SKIPPED_DRIVERS`.

    Examples
    --------
    >>> merged_skip("netCDF,HDF5").split()[:3]
    ['netCDF', 'HDF5', 'OGR_VRT']
    >>> merged_skip(merged_skip(None)) == merged_skip(None)
    True
    """
    present = _skip_tokens(value or "")
    return " ".join([*present, *(name for name in SKIPPED_DRIVERS if name not in present)])


_UNKNOWN_SKIP = "to unload from GDAL_SKIP"


class _UnknownSkipFilter(logging.Filter):
    """Drop GDAL's "Unable to find driver X to unload from GDAL_SKIP" log lines.

    One ``GDAL_SKIP`` serves two GDAL builds: rasterio's wheel lacks most vector and web
    drivers of the list, so GDAL warns for each of them at registration. Harmless: a
    driver that is not built cannot be used.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return _UNKNOWN_SKIP not in record.getMessage()


def _reregister_loaded() -> None:
    """Re-apply ``GDAL_SKIP`` to a GDAL that registered its drivers before we ran.

    ``GDALAllRegister`` ends with ``AutoSkipDrivers``, so registering again removes the
    skipped drivers. pyogrio registers at import; rasterio on the first ``Env`` start, behind
    a module flag. Both hooks are private: if they move, :func:`assert_gdal_safe` fails
    closed instead.
    """
    ogr = sys.modules.get("pyogrio._ogr")
    if ogr is not None and hasattr(ogr, "_register_drivers"):
        with warnings.catch_warnings():
            # Names of drivers this GDAL build lacks: see _UnknownSkipFilter.
            warnings.filterwarnings("ignore", f".*{_UNKNOWN_SKIP}", RuntimeWarning)
            ogr._register_drivers()
    rio_env = sys.modules.get("rasterio._env")
    if rio_env is not None and hasattr(rio_env, "_have_registered_drivers"):
        rio_env._have_registered_drivers = False  # type: ignore[attr-defined]


def apply() -> None:
    """Set the hardened GDAL/PROJ environment in :data:`os.environ` (idempotent).

    Called on import. When pyogrio or rasterio were imported first, their drivers are
    registered again so that ``GDAL_SKIP`` takes effect (see :func:`assert_gdal_safe`).
    """
    logging.getLogger("rasterio._env").addFilter(_SKIP_FILTER)
    before = os.environ.get("GDAL_SKIP")
    os.environ["GDAL_SKIP"] = merged_skip(before)
    os.environ.update(FORCED_SETTINGS)
    for key, value in DEFAULT_SETTINGS.items():
        os.environ.setdefault(key, value)
    if os.environ["GDAL_SKIP"] != before:
        _reregister_loaded()


_SKIP_FILTER = _UnknownSkipFilter()
apply()


def _pyogrio_leaks() -> list[str]:
    import pyogrio  # noqa: PLC0415  (loads GDAL: only after the environment is set)

    return sorted(set(pyogrio.list_drivers()) & set(SKIPPED_DRIVERS))


def _rasterio_leaks() -> list[str]:
    import rasterio  # noqa: PLC0415

    with rasterio.Env() as env:
        return sorted(set(env.drivers()) & set(SKIPPED_DRIVERS))


def assert_gdal_safe(*, check_rasterio: bool = True) -> None:
    """Check that the GDALs in this process cannot open VRT-like files or reach the network.

    Checks that the environment still holds the hardened values, that pyogrio's GDAL
    (and, when ``check_rasterio``, rasterio's) lists none of :data:`SKIPPED_DRIVERS` -- in
    particular no ``OGR_VRT``, ``VRT`` or ``GDALG``. A library that registered its drivers
    before this module was imported is re-registered once. Driver checks are remembered
    after the first success, so readers call this on every read at negligible cost.

    Parameters
    ----------
    check_rasterio : bool, default True
        Also import rasterio and check its bundled GDAL.

    Raises
    ------
    RuntimeError
        A setting was changed after import, or a driver could not be removed (e.g. a
        rasterio ``Env`` opened before :mod:`profiling` is still active). A deployment
        bug: import :mod:`profiling` before using ``pyogrio`` / ``rasterio``.
    """
    problems = [
        f"{key} is {os.environ.get(key)!r}, expected {value!r}"
        for key, value in FORCED_SETTINGS.items()
        if os.environ.get(key) != value
    ]
    skip = set(_skip_tokens(os.environ.get("GDAL_SKIP", "")))
    if not skip.issuperset(SKIPPED_DRIVERS):
        problems.append(f"GDAL_SKIP lacks {sorted(set(SKIPPED_DRIVERS) - skip)}")
    checks = {"pyogrio": _pyogrio_leaks}
    if check_rasterio:
        checks["rasterio"] = _rasterio_leaks
    for name, leaks in checks.items():
        if name in _checked:
            continue
        leaked = leaks()
        if leaked:
            _reregister_loaded()
            leaked = leaks()
        if leaked:
            problems.append(f"{name}'s GDAL still has drivers {leaked}")
        else:
            _checked.add(name)
    if problems:
        raise RuntimeError("GDAL is not hardened: " + "; ".join(problems))
