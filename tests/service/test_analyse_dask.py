"""``analyse_city`` and ``geo-service analyse``: the demo city on Dask partitions gives exactly
the tables of the single-machine path.

The demo city (300 households, flood raster, structures, members roster) is built once for the
module. Dask runs on the synchronous scheduler, on a threaded ``LocalCluster`` reached by its
address, and, through the CLI, on a ``LocalCluster`` of worker processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dask
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from geo_service.analyse import CityAnalysis, analyse_city, default_partitions
from geo_service.cli import app
from geo_service.demo import run_demo
from geo_service.indicator_service import _compute, _read_city
from geo_service.settings import Settings
from geo_service.storage import Store, open_store

CITY = "Mto Mji"
STAMP = datetime(2026, 1, 1, tzinfo=UTC)
runner = CliRunner()
pytestmark = pytest.mark.usefixtures("wide_cli")


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("analyse_dask")
    settings = Settings(store_path=root / "demo.gpkg", work_dir=root / "jobs")
    run_demo(root / "city", settings=settings, households=300, seed=5)
    return settings


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with open_store(settings) as opened:
        yield opened


@pytest.fixture(scope="module")
def local(settings: Settings) -> CityAnalysis:
    with open_store(settings) as opened:
        return analyse_city(opened, CITY, engine="local", computed_at=STAMP)


class WithMembers:
    """The store, with a members roster (the demo ingests none): ages, some missing."""

    def __init__(self, store: Store) -> None:
        self.store = store
        ids = store.read_layer("households")["household_id"].astype(str).to_numpy()[:120]
        rng = np.random.default_rng(3)
        owners = np.repeat(ids, rng.integers(1, 6, len(ids)))
        age = rng.integers(0, 80, len(owners)).astype(float)
        age[rng.random(len(owners)) < 0.03] = np.nan
        self.members = pd.DataFrame(
            {
                "household_id": owners,
                "age": age,
                "sex": rng.choice(["female", "male", None], len(owners)),
            }
        )

    def read_layer(self, name: str, **options: Any) -> Any:
        return self.members if name == "members" else self.store.read_layer(name, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def _same(got: CityAnalysis, expected: CityAnalysis) -> None:
    pd.testing.assert_frame_equal(got.units, expected.units, check_exact=True)
    pd.testing.assert_frame_equal(got.table, expected.table, check_exact=True)
    assert got.skipped == expected.skipped


@pytest.fixture(scope="module")
def roster_local(settings: Settings) -> CityAnalysis:
    """The local analysis of the store with a members roster."""
    with open_store(settings) as opened:
        roster = WithMembers(opened)
        return analyse_city(roster, CITY, engine="local", computed_at=STAMP)  # type: ignore[arg-type]


def test_local_engine_is_the_service_path(store: Store, roster_local: CityAnalysis) -> None:
    roster = WithMembers(store)
    local = roster_local
    assert local.analysis_columns == [
        "water_point_m",
        "toilet_m",
        "transit_stop_m",
        "open_space_m",
        "hazard_class",
        "adults",
        "adult_females",
        "adult_males",
    ]
    data = _read_city(roster, CITY)  # type: ignore[arg-type]  # what the API computes from
    pd.testing.assert_frame_equal(local.units, data.units, check_exact=True)
    service = _compute(data, frozenset(), STAMP).table
    rows = service[service["family"] == "households"].reset_index(drop=True)
    rows = rows.drop(columns=["family", "grouping"]).dropna(axis=1, how="all")
    assert set(rows.columns) <= set(local.table.columns)
    # the service table's columns are object after concatenating other families
    pd.testing.assert_frame_equal(
        local.table[rows.columns], rows, check_exact=True, check_dtype=False
    )


def test_dask_partitions_give_the_local_tables(store: Store, local: CityAnalysis) -> None:
    seen: list[tuple[int, int]] = []
    with dask.config.set(scheduler="synchronous"):
        got = analyse_city(
            store,
            CITY,
            engine="dask",
            npartitions=5,
            computed_at=STAMP,
            progress=lambda done, total: seen.append((done, total)),
        )
    assert got.engine == "dask"
    assert got.npartitions == 5
    _same(got, local)
    total = seen[0][1]
    assert seen == [(i, total) for i in range(total + 1)]  # households and structures
    assert total > got.npartitions
    assert got.units["hazard_class"].notna().sum() > 0.9 * len(got.units)


def test_members_roster_counted_in_partitions(store: Store, roster_local: CityAnalysis) -> None:
    roster = WithMembers(store)
    assert roster_local.units["adult_females"].notna().sum() > 80
    with dask.config.set(scheduler="synchronous"):
        got = analyse_city(roster, CITY, engine="dask", npartitions=3, computed_at=STAMP)  # type: ignore[arg-type]
    _same(got, roster_local)


def test_dask_cluster_reached_by_address(store: Store, local: CityAnalysis) -> None:
    from distributed import LocalCluster  # noqa: PLC0415

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        got = analyse_city(
            store, CITY, engine="dask", address=cluster.scheduler_address, computed_at=STAMP
        )
    assert got.npartitions == default_partitions(len(local.units), 2) == 4
    _same(got, local)


def test_unknown_city_and_bad_options(store: Store) -> None:
    with pytest.raises(LookupError, match="no enumerated households"):
        analyse_city(store, "Atlantis")
    with pytest.raises(ValueError, match="engine"):
        analyse_city(store, CITY, engine="spark")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="npartitions"):
        analyse_city(store, CITY, engine="dask", npartitions=0)


def test_cli_analyse_on_a_local_cluster_of_processes(
    settings: Settings, local: CityAnalysis, tmp_path: Path
) -> None:
    dest = tmp_path / "table.csv"
    args = ["analyse", "--city", CITY, "--store", str(settings.store_path), "--out", str(dest)]
    result = runner.invoke(app, [*args, "--engine", "dask", "--workers", "1", "--partitions", "3"])
    assert result.exit_code == 0, result.stderr
    assert "analysed 291 households of Mto Mji" in result.stdout
    assert "dask: 3 partition(s) on a local cluster of 1 worker process(es)" in result.stdout
    assert "sdg_11_1_1_slum_population" in result.stdout
    written = pd.read_csv(dest, keep_default_na=False)
    expected = pd.read_csv(
        pd.io.common.BytesIO(local.table.to_csv(index=False).encode()), keep_default_na=False
    )
    written = written.drop(columns="computed_at")
    pd.testing.assert_frame_equal(written, expected.drop(columns="computed_at"))


def test_cli_refusals(settings: Settings) -> None:
    store = ["--store", str(settings.store_path)]
    result = runner.invoke(app, ["analyse", "--city", "Atlantis", *store])
    assert result.exit_code == 2
    assert "no enumerated households in city 'Atlantis'" in result.stderr
    result = runner.invoke(app, ["analyse", "--city", CITY, "--engine", "spark", *store])
    assert result.exit_code == 2
    assert "--engine must be one of local, dask" in result.stderr
    result = runner.invoke(app, ["analyse", "--city", CITY, "--scheduler", "tcp://x:1", *store])
    assert result.exit_code == 2
    assert "--scheduler needs --engine dask" in result.stderr
