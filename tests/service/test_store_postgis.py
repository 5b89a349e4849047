"""What only the PostGIS store has: migrations, GiST indexes, schemas, secrets, failures.

The shared behaviour (types, filters, transactions, concurrency) is in ``test_store.py``, which
runs on both backends. These tests skip with the reason when no PostGIS server is configured
(:mod:`tests.postgis`).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import geopandas as gpd
import psycopg
import pytest
import shapely

from geo_service.settings import Settings
from geo_service.storage import StoreUnavailable, open_store
from geo_service.storage.migrations import HEAD, SCRIPT_LOCATION, current_revision
from geo_service.storage.postgis import PostGISStore
from tests.service.test_store import LAYERS, households, upload

REPO = Path(__file__).resolve().parents[2]


def test_alembic_head_is_the_one_the_store_checks() -> None:
    from alembic.config import Config  # noqa: PLC0415
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD


def test_opening_migrates_to_head_once(postgis_url: str) -> None:
    assert current_revision(postgis_url, schema="geo_service") is None
    PostGISStore(postgis_url, layers=LAYERS).close()
    assert current_revision(postgis_url, schema="geo_service") == HEAD
    with psycopg.connect(postgis_url) as con:
        tables = {
            r[0]
            for r in con.execute("SELECT tablename FROM pg_tables WHERE schemaname='geo_service'")
        }
    assert tables == {
        "alembic_version",
        "store_meta",
        "raw_files",
        "uploads",
        "rounds",
        "rasters",
        "layer_extents",
    }


OPENER = textwrap.dedent(
    """
    import sys, time
    sys.path[:0] = [{repo!r}]
    from tests.service.test_store import LAYERS
    from geo_service.storage.postgis import PostGISStore
    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
    PostGISStore(sys.argv[1], layers=LAYERS).close()
    """
)


def test_processes_opening_a_new_store_at_once_migrate_it_once(
    postgis_url: str, tmp_path: Path
) -> None:
    script = tmp_path / "open.py"
    script.write_text(OPENER.format(repo=str(REPO)))
    start = str(time.time() + 2.0)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), postgis_url, start],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    with psycopg.connect(postgis_url) as con:
        assert con.execute("SELECT count(*) FROM geo_service.alembic_version").fetchone() == (1,)


def test_layer_tables_have_gist_indexes_that_bbox_reads_use(
    postgis_url: str, tmp_path: Path
) -> None:
    with PostGISStore(postgis_url, layers=LAYERS) as store:
        store.write_upload(upload(tmp_path, {"households": households(5000)}))
        box = (36.81, -1.29, 36.82, -1.28)
        got = store.read_layer("households", bbox=box)
        everything = store.read_layer("households")
    inside = everything.cx[box[0] : box[2], box[1] : box[3]]
    assert 0 < len(got) < 5000 and got.index.tolist() == sorted(inside.index)
    with psycopg.connect(postgis_url) as con:
        indexes = dict(
            con.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'geo_service' "
                "AND tablename = 'households'"
            ).fetchall()
        )
        assert "USING gist (geom)" in indexes["gist_households_geom"]
        assert {"idx_households_settlement_id", "idx_households_round"} <= set(indexes)
        con.execute("ANALYZE geo_service.households")
        con.execute("SET enable_seqscan = off")  # tiny table: ask whether the index *can* serve
        plan = "\n".join(
            r[0]
            for r in con.execute(
                "EXPLAIN SELECT fid FROM geo_service.households "
                "WHERE geom && ST_MakeEnvelope(36.81, -1.29, 36.82, -1.28, 4326)"
            ).fetchall()
        )
    assert "gist_households_geom" in plan


def test_two_stores_share_a_database_in_their_own_schemas(postgis_url: str, tmp_path: Path) -> None:
    with (
        PostGISStore(postgis_url, schema="city_a", layers=LAYERS) as a,
        PostGISStore(postgis_url, schema="city_b", layers=LAYERS) as b,
    ):
        a.write_upload(upload(tmp_path, {"households": households()}))
        assert len(a.read_layer("households")) == 3
        assert b.read_layer("households").empty and b.data_version() == (0, 0)
        assert a.location.endswith("#city_a") and b.location != a.location


def test_text_with_nul_and_copy_escapes_round_trips(postgis_url: str, tmp_path: Path) -> None:
    frame = households()
    frame["head_name"] = ["tab\there", "back\\slash\nnew line\r", "nul\x00byte"]
    frame["household_id"] = ["\\N", "", "é漢字"]
    with PostGISStore(postgis_url, layers=LAYERS) as store:
        store.write_upload(upload(tmp_path, {"households": frame}))
        got = store.read_layer("households", include_personal=True)
    assert got["head_name"].tolist() == ["tab\there", "back\\slash\nnew line\r", "nul\ufffdbyte"]
    assert got["household_id"].tolist() == ["\\N", "", "é漢字"]  # text, not NULL


def test_any_geometry_layer_keeps_mixed_types(postgis_url: str, tmp_path: Path) -> None:
    from profiling.schema import Field, LayerSchema  # noqa: PLC0415

    anything = LayerSchema(
        name="structures",
        description="",
        geometry="Any",
        key="sid",
        fields=(Field("sid", "str", "Structure"),),
    )
    geoms = [shapely.Point(1, 1), shapely.box(0, 0, 1, 1), shapely.LineString([(0, 0), (1, 1)])]
    frame = gpd.GeoDataFrame({"sid": ["p", "q", "l"]}, geometry=geoms, crs=4326)
    with PostGISStore(postgis_url, layers={"structures": anything}) as store:
        store.write_upload(upload(tmp_path, {"structures": frame}, layer="structures"))
        got = store.read_layer("structures")
    assert [g.wkt for g in got.geometry] == [g.wkt for g in geoms]


def test_password_never_shows_and_unreachable_server_is_unavailable() -> None:
    url = "postgresql://geo:hunter2@127.0.0.1:1/nowhere"
    t0 = time.perf_counter()
    with pytest.raises(StoreUnavailable) as caught:
        PostGISStore(url)
    assert time.perf_counter() - t0 < 10
    assert "hunter2" not in str(caught.value) and "***" in str(caught.value)
    settings = Settings(database_url=url)
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())
    with pytest.raises(ValueError, match="postgresql://"):
        Settings(database_url="mysql://root@localhost/db")


def test_settings_pick_the_backend(postgis_url: str, tmp_path: Path) -> None:
    with open_store(Settings(store_path=tmp_path / "x.gpkg", database_url=postgis_url)) as s:
        assert isinstance(s, PostGISStore)
    assert not (tmp_path / "x.gpkg").exists()  # the file is never created for PostGIS
    with open_store(Settings(store_path=tmp_path / "x.gpkg")) as s:
        assert type(s).__name__ == "GeoPackageStore"


def test_cli_migrate_creates_the_schema_and_says_where(
    postgis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner  # noqa: PLC0415

    from geo_service.cli import app  # noqa: PLC0415
    from geo_service.settings import get_settings  # noqa: PLC0415

    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", postgis_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["migrate"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert f"schema revision {HEAD}" in result.output and "0 upload(s)" in result.output
    assert current_revision(postgis_url, schema="geo_service") == HEAD
