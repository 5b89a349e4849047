"""GeoTIFF inspection: georeferencing, dtype, nodata, limits, value range, real raster.

Rasters are written in code (a few cells) so every expected value is checked by hand.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.errors
from affine import Affine

from profiling.errors import InputTooLarge, MissingCRS, UnsafeInput, UnsupportedFormat
from profiling.ingest.raster import inspect_raster
from profiling.ingest.safety import Limits, StagedFile, stage_upload
from tests.realdata import REALDATA

# 2 m cells, north-up, top-left corner at the equator on UTM 37S's central meridian:
# (500000, 10000000) in EPSG:32737 is lon 39, lat 0.
UTM37S = Affine(2, 0, 500000, 0, -2, 10000000)
DEPTHS = np.array([[[0.0, 0.5, 1.0, -9999.0], [1.5, 2.0, -9999.0, 3.0], [0.2, 0.1, 0.3, 0.4]]])


def tiff(tmp_path: Path, data: np.ndarray = DEPTHS, **options: object) -> StagedFile:
    profile: dict[str, object] = {
        "driver": "GTiff",
        "count": data.shape[0],
        "height": data.shape[1],
        "width": data.shape[2],
        "dtype": str(data.dtype),
        "crs": "EPSG:32737",
        "transform": UTM37S,
        "nodata": -9999.0,
    }
    profile.update(options)
    path = tmp_path / "src.tif"
    with warnings.catch_warnings():
        # Writing a raster without georeferencing on purpose (tests that set transform=None).
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data)
    return stage_upload(path, tmp_path / "job", original_name="depth.tif", max_bytes=10**8)


def test_inspect_describes_a_small_float_raster(tmp_path: Path) -> None:
    info = inspect_raster(tiff(tmp_path, DEPTHS.astype("float32")).path)
    assert (info.crs, info.epsg, info.dtype) == ("EPSG:32737", 32737, "float32")
    assert (info.width, info.height, info.count, info.nodata) == (4, 3, 1, -9999.0)
    assert info.transform == (2.0, 0.0, 500000.0, 0.0, -2.0, 10000000.0)
    # 4 columns × 2 m east, 3 rows × 2 m south of the corner.
    assert info.bounds == (500000.0, 9999994.0, 500008.0, 10000000.0)
    west, _south, east, north = info.bounds_4326
    assert west == pytest.approx(39.0, abs=1e-9)
    assert north == pytest.approx(0.0, abs=1e-9)
    assert east - west == pytest.approx(8 / 111_319.49 / 0.9996, rel=1e-3)  # 8 m of longitude
    assert info.value_range == pytest.approx((0.0, 3.0))  # the two -9999 cells are masked
    assert len(info.report) == 0


def test_no_nodata_is_a_warning(tmp_path: Path) -> None:
    data = np.arange(12, dtype="uint8").reshape(1, 3, 4)
    info = inspect_raster(tiff(tmp_path, data, nodata=None).path)
    assert info.nodata is None
    assert info.report.by_rule() == {("warning", "no_nodata"): 1}
    assert info.value_range == (0.0, 11.0)


def test_dtype_not_allowed_is_an_error(tmp_path: Path) -> None:
    staged = tiff(tmp_path, DEPTHS.astype("float32"))
    info = inspect_raster(staged.path, allowed_dtypes={"uint8", "int16"})
    problem = next(iter(info.report))
    assert (problem.rule, problem.severity, problem.column) == (
        "dtype_not_allowed",
        "error",
        "band 1",
    )
    assert info.value_range is None  # not estimated once an error blocks the upload


def test_complex_rasters_are_refused_by_default(tmp_path: Path) -> None:
    data = np.ones((1, 2, 2), dtype="complex64")
    info = inspect_raster(tiff(tmp_path, data, nodata=None).path)
    assert ("error", "dtype_not_allowed") in info.report.by_rule()


def test_missing_crs_needs_one_stated(tmp_path: Path) -> None:
    staged = tiff(tmp_path, DEPTHS.astype("float32"), crs=None)
    with pytest.raises(MissingCRS, match="--crs EPSG:xxxx"):
        inspect_raster(staged.path)
    info = inspect_raster(staged.path, crs="EPSG:32737")
    assert info.epsg == 32737
    assert info.bounds_4326[0] == pytest.approx(39.0, abs=1e-9)
    assert info.report.by_rule() == {("info", "crs_stated"): 1}


def test_no_geotransform_is_an_error(tmp_path: Path) -> None:
    staged = tiff(tmp_path, DEPTHS.astype("float32"), crs=None, transform=None)
    info = inspect_raster(staged.path, crs=32737)
    assert ("error", "no_georeferencing") in info.report.by_rule()


def test_stated_crs_does_not_override_the_file(tmp_path: Path) -> None:
    info = inspect_raster(tiff(tmp_path, DEPTHS.astype("float32")).path, crs=4326)
    assert info.epsg == 32737
    assert info.report.by_rule() == {("warning", "crs_ignored"): 1}


def test_all_nodata_is_a_warning(tmp_path: Path) -> None:
    data = np.full((1, 3, 4), -9999.0, dtype="float32")
    info = inspect_raster(tiff(tmp_path, data).path)
    assert info.value_range is None
    assert info.report.by_rule() == {("warning", "all_nodata"): 1}


def test_value_range_reads_a_decimated_grid(tmp_path: Path) -> None:
    data = np.arange(400 * 500, dtype="float32").reshape(1, 400, 500)
    staged = tiff(tmp_path, data)
    fine = inspect_raster(staged.path)
    coarse = inspect_raster(staged.path, limits=Limits(raster_overview_cells=100))
    assert fine.value_range == (0.0, 199_999.0)  # 200,000 cells ≤ 1,000,000: every cell
    # step = sqrt(200,000 / 100) = 44.7 -> a 9 × 11 grid; GDAL's nearest decimation samples
    # source row floor((i + 0.5) × 400 / 9) and column floor((j + 0.5) × 500 / 11):
    # first cell (22, 22) = 22 × 500 + 22, last cell (377, 477) = 377 × 500 + 477.
    assert coarse.value_range == (11_022.0, 188_977.0)
    assert inspect_raster(staged.path, value_range=False).value_range is None


def test_cell_and_band_limits_come_before_reading(tmp_path: Path) -> None:
    staged = tiff(tmp_path, np.zeros((3, 3, 4), dtype="uint8"), nodata=None)
    with pytest.raises(InputTooLarge, match="36 cells"):
        inspect_raster(staged.path, limits=Limits(max_raster_cells=35))
    with pytest.raises(InputTooLarge, match="3 bands"):
        inspect_raster(staged.path, limits=Limits(max_raster_bands=2))


def test_bigtiff_is_read(tmp_path: Path) -> None:
    info = inspect_raster(tiff(tmp_path, DEPTHS.astype("float32"), BIGTIFF="YES").path)
    assert info.width == 4


def test_not_a_tiff(tmp_path: Path) -> None:
    staged = stage_upload(b'{"type": "FeatureCollection", "features": []}', tmp_path, max_bytes=99)
    with pytest.raises(UnsupportedFormat, match="not a GeoTIFF"):
        inspect_raster(staged.path)


def test_vrt_named_tif_is_refused(tmp_path: Path) -> None:
    vrt = b'<VRTDataset rasterXSize="1" rasterYSize="1"><VRTRasterBand band="1"/></VRTDataset>'
    staged = stage_upload(vrt, tmp_path, original_name="depth.tif", max_bytes=999)
    with pytest.raises(UnsafeInput, match="VRT"):
        inspect_raster(staged.path)


def test_truncated_tiff_is_unsupported(tmp_path: Path) -> None:
    staged = tiff(tmp_path, np.zeros((1, 64, 64), dtype="float32"))
    cut = staged.path.read_bytes()[:200]
    short = stage_upload(cut, tmp_path / "cut", max_bytes=10**6)
    with pytest.raises(UnsupportedFormat, match="GDAL could not open it"):
        inspect_raster(short.path)


@pytest.mark.realdata
def test_real_kianda_terrain_class_raster(tmp_path: Path) -> None:
    path = REALDATA / "kibera_kianda" / "derived_kianda_terrain_class_2m.tif"
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata not present: real-data checks need the shared folder")
    info = inspect_raster(stage_upload(path, tmp_path, max_bytes=10**8).path)
    assert (info.epsg, info.width, info.height, info.count) == (32737, 290, 360, 1)
    assert (info.nodata, info.dtype) == (-9999.0, "float32")
    assert info.bounds == (252048.0, 9854636.0, 252628.0, 9855356.0)
    west, south, east, north = info.bounds_4326
    assert (round(west, 3), round(south, 3), round(east, 3), round(north, 3)) == (
        36.772,
        -1.314,
        36.777,
        -1.308,
    )
    assert info.value_range == (1.0, 32.0)  # terrain bands 1 (lowest) .. 33, decimation-free
    assert len(info.report) == 0
