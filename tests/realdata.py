"""Test helpers: the real-data folder (read in place, never copied) and upload packaging."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
SKIP_REASON = (
    "../shared/realdata is absent: real-data checks need the shared folder beside the repo"
)


def real_file(relative: str) -> Path:
    """A file of ../shared/realdata, or skip the test with the reason."""
    path = REALDATA / relative
    if not path.exists():
        pytest.skip(SKIP_REASON if not REALDATA.exists() else f"{relative} missing in realdata")
    return path


def zip_shapefile(shp: Path, dest: Path, *, with_prj: bool = True) -> Path:
    """Zip a Shapefile's sidecar files the way users upload them (into ``dest``)."""
    out = dest / f"{shp.stem}.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in sorted(shp.parent.glob(f"{shp.stem}.*")):
            if part.suffix.lower() in {".shp", ".shx", ".dbf", ".cpg"} or (
                with_prj and part.suffix.lower() == ".prj"
            ):
                zf.write(part, part.name)
    return out
