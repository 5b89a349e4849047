"""The one-command demo: generate the synthetic city, validate and ingest every layer.

Run by ``make demo`` (``geo-service demo --serve``). Each file of the generated city goes
through the same path as a federation's upload (:func:`geo_service.ingestion.ingest_file`);
the household export carries deliberate errors, so the demo stores the valid rows and shows
what was set aside and why (:func:`run_demo`).

Then :func:`finish_demo` makes the store ready to be shown: the demo settlements are owned by
:data:`DEMO_ORG` and published (so the public sees them), a planner API key is created once
and kept beside the store (:func:`demo_planner_key`), the city's analyses and indicator tables
are computed into the service's process-wide cache (:data:`geo_service.indicator_service.CACHE`)
with progress bars, a short table of key city indicators is printed, and the URLs to open.
:func:`serve_demo` then serves the API from the same process, so its first requests are
answered from the warm cache.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from geo_service.access import PUBLIC, Principal, visible_settlements
from geo_service.indicator_service import CACHE
from geo_service.ingestion import IngestRequest, ingest_file
from geo_service.model_training import describe_metrics, train_city_models
from geo_service.servicedb import Role, ServiceDB
from geo_service.settings import Settings
from geo_service.storage import open_store
from profiling.indicators import catalogue_records
from sample_data.generate import generate

__all__ = [
    "DEMO_CITY",
    "DEMO_KEY_LABEL",
    "DEMO_ORG",
    "KEY_INDICATORS",
    "city_indicator_rows",
    "demo_key_path",
    "demo_planner_key",
    "demo_urls",
    "finish_demo",
    "ingest_demo",
    "publish_demo",
    "run_demo",
    "serve_demo",
    "warm_indicators",
]

DEMO_CITY = "Mto Mji"
"""The synthetic city of :mod:`sample_data.generate`."""

DEMO_ORG = "demo federation"
"""The federation that owns (and publishes) the demo settlements."""

DEMO_KEY_LABEL = "demo planner"
"""Label of the demo's planner API key (one active key with this label at a time)."""

KEY_INDICATORS: tuple[str, ...] = (
    "people_count",
    "sdg_11_1_1_slum_population",
    "sdg_6_1_1_basic_water",
    "sdg_6_2_1_basic_sanitation",
    "sdg_6_2_1_basic_hygiene",
    "sdg_11_6_1_waste_collected",
    "sdg_1_4_2_documented_adults",
    "slum_population_in_high_hazard",
    "people_per_working_tap",
    "people_per_working_toilet_seat",
)
"""City indicators printed by :func:`finish_demo`, in this order."""


def run_demo(
    dest: Path,
    *,
    settings: Settings,
    households: int = 20_000,
    seed: int = 42,
    console: Console | None = None,
) -> dict[str, Any]:
    """Generate the demo city into ``dest`` and ingest it into ``settings.store_path``.

    Parameters
    ----------
    dest : Path
        Folder for the generated files.
    settings : Settings
        Store path and ingestion limits.
    households : int
        Households to generate.
    seed : int
        Random seed (same seed, same files).
    console : rich Console, optional
        Where progress lines and tables go.

    Returns
    -------
    dict
        Per file: layer, rows stored, errors / warnings found, rows set aside.
    """
    say = console or Console(stderr=True)
    say.print(f"[bold]1/3[/] generating the synthetic city into {dest} ...")
    generate(dest, households=households, seed=seed, log=lambda m: say.print(f"  {m}"))
    return ingest_demo(dest, settings=settings, console=say)


def ingest_demo(
    dest: Path, *, settings: Settings, console: Console | None = None
) -> dict[str, Any]:
    """Validate and ingest a generated demo city (``dest/manifest.json``) into the store.

    Returns
    -------
    dict
        As :func:`run_demo`.
    """
    say = console or Console(stderr=True)
    manifest = json.loads((dest / "manifest.json").read_text(encoding="utf-8"))
    say.print(f"[bold]2/3[/] validating and ingesting into {settings.store_location} ...")
    settings.store_path.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    table = Table()
    for name in ("file", "layer", "stored", "errors", "warnings", "set aside", "upload"):
        table.add_column(name, overflow="fold")
    details: list[str] = []
    for entry in manifest["files"]:
        if not entry.get("ingest"):
            continue
        request = IngestRequest(
            layer=entry["layer"],
            mapping=entry.get("mapping"),
            source_layer=entry.get("source_layer"),
            round=entry.get("round"),
            skip_invalid_rows=True,
        )
        result = ingest_file(dest / entry["path"], request, settings=settings)
        counts = result.report.by_rule()
        errors = sum(n for (sev, _), n in counts.items() if sev == "error")
        warnings = sum(n for (sev, _), n in counts.items() if sev == "warning")
        aside = result.report.facts.get("rows_set_aside") or {}
        aside_total = sum(aside.values()) if isinstance(aside, dict) else 0
        note = "already stored" if result.duplicate else str(result.upload_id)
        if errors or warnings:
            rules = ", ".join(
                f"{n} {rule}" for (sev, rule), n in sorted(counts.items()) if sev != "info"
            )
            details.append(f"  {entry['path']}: {rules}")
        table.add_row(
            entry["path"],
            result.layer,
            f"{result.rows:,}" if entry.get("kind") != "raster" else "GeoTIFF",
            str(errors),
            str(warnings),
            str(aside_total),
            note,
        )
        results[entry["path"]] = {
            "layer": result.layer,
            "rows": result.rows,
            "errors": errors,
            "warnings": warnings,
            "set_aside": aside,
            "upload_id": result.upload_id,
            "duplicate": result.duplicate,
            "problems_by_rule": {f"{s}:{r}": n for (s, r), n in sorted(counts.items())},
        }
    say.print(table)
    if details:
        say.print("What the reports found (rows with errors were set aside, the rest stored):")
        for line in details:
            say.print(line, highlight=False)
        say.print(f"  full reports: geo-service validate {dest}/<file> [--json]")
    say.print("[bold]3/3[/] the store now holds:")
    with open_store(settings) as store:
        layers = Table("layer", "rows", "settlements")
        for info in store.list_layers():
            layers.add_row(info.name, f"{info.rows:,}", str(len(info.settlements)))
        for raster in store.rasters():
            layers.add_row(f"raster:{raster.kind}", f"{raster.width}x{raster.height} cells", "")
    say.print(layers)
    if settings.database_url is None:
        say.print(
            f"Open {settings.store_path} in QGIS, or try: geo-service layers --store "
            f"{settings.store_path}"
        )
    return {"store": settings.store_location, "files": results}


# -- After the ingest: publication, key, warm indicators, URLs --------------------------------


def _service_db(settings: Settings) -> ServiceDB:
    return ServiceDB(settings.service_db, busy_timeout_ms=settings.busy_timeout_ms)


def _city_settlement_ids(settings: Settings, city: str) -> list[str]:
    """Ids of the stored settlements of ``city``, in store order."""
    with open_store(settings) as store:
        frame = store.read_layer("settlements", columns=["settlement_id", "city"])
    chosen = frame["city"].astype("string").eq(city).fillna(False).to_numpy(dtype=bool)
    return [str(s) for s in frame.loc[chosen, "settlement_id"]]


def publish_demo(
    settings: Settings, *, city: str = DEMO_CITY, org: str = DEMO_ORG
) -> dict[str, str]:
    """Give the city's settlements to ``org`` and publish them (idempotent).

    Settlements without an owner record are claimed for ``org``; those of ``org`` not yet
    published are published (``by="geo-service demo"``); a settlement owned by another
    organisation is left as it is.

    Parameters
    ----------
    settings : Settings
        Store and service database.
    city : str, keyword-only
        Value of the settlements' ``city`` field.
    org : str, keyword-only
        Owning federation.

    Returns
    -------
    dict
        Settlement id -> ``"published"``, ``"already published"`` or
        ``"owned by <org>, left unchanged"``.
    """
    ids = _city_settlement_ids(settings, city)
    db = _service_db(settings)
    db.claim_settlements(ids, org)
    owners = db.owners()
    outcome: dict[str, str] = {}
    for settlement_id in ids:
        owner, published = owners[settlement_id]
        if owner != org:
            outcome[settlement_id] = f"owned by {owner}, left unchanged"
        elif published:
            outcome[settlement_id] = "already published"
        else:
            db.set_published(settlement_id, True, by="geo-service demo")
            outcome[settlement_id] = "published"
    return outcome


def demo_key_path(settings: Settings) -> Path:
    """File beside the store that keeps the demo planner key (``<store>.planner-key``)."""
    return settings.store_path.with_name(settings.store_path.stem + ".planner-key")


def demo_planner_key(settings: Settings) -> tuple[str, bool]:
    """The demo's planner API key: the one kept beside the store, or a new one.

    The service keeps only a key's hash, so the token is written (mode ``0600``) to
    :func:`demo_key_path`; a kept token that still authenticates as a planner is reused.
    Otherwise the active keys labelled :data:`DEMO_KEY_LABEL` (whose token is lost) are
    revoked and a new key is created: there is at most one active demo key.

    Parameters
    ----------
    settings : Settings
        Store and service database.

    Returns
    -------
    tuple of (str, bool)
        The token, and whether it was created now.
    """
    db = _service_db(settings)
    path = demo_key_path(settings)
    if path.is_file():
        token = path.read_text(encoding="utf-8").strip()
        key = db.authenticate(token)
        if key is not None and key.role is Role.planner:
            return token, False
    for old in db.api_keys():
        if old.label == DEMO_KEY_LABEL and old.revoked_at is None:
            db.revoke_key(old.key_id)
    _, token = db.create_key(Role.planner, label=DEMO_KEY_LABEL)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    path.chmod(0o600)
    return token, True


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    )


def warm_indicators(
    settings: Settings, *, city: str = DEMO_CITY, console: Console | None = None
) -> pd.DataFrame:
    """Run the city's analyses and indicator tables into the service's cache.

    The same calls the API makes (:data:`geo_service.indicator_service.CACHE`): the layers
    read and analysed (distances to services, flood classes, adults), the full table that
    planners and admins read, and the suppressed table the public reads, with the
    settlements hidden from each audience left out as the API does. A service started in
    this process afterwards (:func:`serve_demo`) answers from the cache.

    Parameters
    ----------
    settings : Settings
        Store, service database and ``small_cell_k``.
    city : str, keyword-only
        The city.
    console : rich Console, optional, keyword-only
        Where the progress bars go (shown on a terminal only).

    Returns
    -------
    pandas.DataFrame
        The full (unsuppressed) tidy table of the city, every grouping and round.
    """
    say = console or Console(stderr=True)
    owners = _service_db(settings).owners()
    with open_store(settings) as store, _progress(say) as bar:
        version = CACHE.version(store)
        task = bar.add_task("analyses: reading layers, access, flood classes", total=3)
        data = CACHE.city_data(store, city, version)
        in_city = frozenset(data.settlement_ids)

        def hidden(principal: Principal) -> frozenset[str]:
            scope = visible_settlements(principal, owners, household_level=False)
            return frozenset(s for s in in_city if not scope.allows(s))

        bar.update(task, advance=1, description="indicators for planners (every cell)")
        _, full = CACHE.audience_table(store, city, version, hidden(Principal(Role.planner)), None)
        bar.update(task, advance=1, description="indicators for the public (small cells hidden)")
        CACHE.audience_table(store, city, version, hidden(PUBLIC), settings.small_cell_k)
        bar.update(task, advance=1, description="analyses and indicators ready")
    return full


def city_indicator_rows(
    table: pd.DataFrame, indicators: tuple[str, ...] = KEY_INDICATORS
) -> pd.DataFrame:
    """The city rows (latest round) of ``indicators``, in that order, with their names.

    Parameters
    ----------
    table : pandas.DataFrame
        A city table of :mod:`geo_service.indicator_service` (``grouping`` column).
    indicators : tuple of str
        Indicator ids; those absent from the table are left out.

    Returns
    -------
    pandas.DataFrame
        ``indicator_id``, ``name``, ``round``, ``value``, ``numerator``, ``denominator``,
        ``unit``.
    """
    columns = ["indicator_id", "name", "round", "value", "numerator", "denominator", "unit"]
    if table.empty:
        return pd.DataFrame(columns=columns)
    rows = table[(table["grouping"] == "") & table["indicator_id"].isin(indicators)]
    rows = rows.assign(_round=rows["round"].astype("string").fillna(""))
    rows = rows.sort_values("_round", kind="stable").drop_duplicates("indicator_id", keep="last")
    names = {r["id"]: r["name"] for r in catalogue_records()}
    order = {ind: i for i, ind in enumerate(indicators)}
    rows = rows.assign(
        name=rows["indicator_id"].map(names), _order=rows["indicator_id"].map(order)
    ).sort_values("_order")
    return rows[columns].reset_index(drop=True)


def _number(value: Any, unit: str | None = None) -> str:
    if value is None or pd.isna(value):
        return "–"
    if unit == "share":
        return f"{100 * float(value):.1f} %"
    number = float(value)
    return f"{number:,.0f}" if number.is_integer() else f"{number:,.1f}"


def _indicator_table(rows: pd.DataFrame, city: str) -> Table:
    table = Table(
        title=f"{city}: key indicators (whole city, latest round)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("indicator", min_width=26)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("numerator /\ndenominator", justify="right", no_wrap=True)
    table.add_column("unit", no_wrap=True)
    for row in rows.itertuples(index=False):
        table.add_row(
            str(row.name),
            _number(row.value, str(row.unit)),
            f"{_number(row.numerator)} / {_number(row.denominator)}",
            str(row.unit),
        )
    return table


def demo_urls(
    settings: Settings,
    *,
    city: str = DEMO_CITY,
    settlement_id: str = "mtoni",
    host: str | None = None,
    port: int | None = None,
) -> dict[str, str]:
    """The URLs worth opening once the demo service runs.

    Parameters
    ----------
    settings : Settings
        Default host and port.
    city, settlement_id : str, keyword-only
        The city and the settlement whose maps are linked.
    host : str, optional, keyword-only
    port : int, optional, keyword-only

    Returns
    -------
    dict
        ``city_map``, ``settlement_map``, ``docs``, ``indicators`` -> URL.

    Examples
    --------
    >>> demo_urls(Settings(store_path=Path("x.gpkg")))["city_map"]
    'http://127.0.0.1:8000/maps/cities/Mto%20Mji'
    """
    base = f"http://{host or settings.host}:{port or settings.port}"
    place = quote(city, safe="")
    return {
        "city_map": f"{base}/maps/cities/{place}",
        "settlement_map": f"{base}/maps/settlements/{quote(settlement_id, safe='')}",
        "docs": f"{base}/docs",
        "indicators": f"{base}/cities/{place}/indicators?disaggregate=sex",
    }


def finish_demo(
    settings: Settings,
    *,
    city: str = DEMO_CITY,
    org: str = DEMO_ORG,
    console: Console | None = None,
    host: str | None = None,
    port: int | None = None,
) -> dict[str, Any]:
    """Publish the demo, create its planner key, warm the indicators and print the summary.

    Runs after :func:`run_demo`; safe to run again (nothing is published or created twice).
    Prints the publication, the planner key, a table of :data:`KEY_INDICATORS` (value,
    numerator / denominator, unit) and the URLs of :func:`demo_urls`. Starts no server.

    Parameters
    ----------
    settings : Settings
        Store, service database, host and port.
    city : str, keyword-only
    org : str, keyword-only
        The federation that owns and publishes the settlements.
    console : rich Console, optional, keyword-only
        Where everything is printed.
    host : str, optional, keyword-only
    port : int, optional, keyword-only
        Where the service will listen (for the URLs).

    Returns
    -------
    dict
        ``published`` (settlement -> outcome), ``planner_key``, ``key_created``,
        ``key_file``, ``indicators`` (records of the printed rows) and ``urls``.
    """
    say = console or Console(stderr=True)
    say.print("[bold]then[/] publishing the demo settlements and creating a planner key ...")
    published = publish_demo(settings, city=city, org=org)
    newly = sorted(s for s, outcome in published.items() if outcome == "published")
    already = sorted(s for s, outcome in published.items() if outcome == "already published")
    say.print(
        f"  {len(newly)} settlement(s) published now, {len(already)} already published, "
        f"owner {org!r}: the public sees them",
        highlight=False,
    )
    for settlement_id, outcome in sorted(published.items()):
        if outcome.startswith("owned by"):
            say.print(f"  {settlement_id}: {outcome}", highlight=False)
    token, created = demo_planner_key(settings)
    say.print(
        f"  planner API key ({'created now' if created else 'kept from an earlier run'}, "
        f"also in {demo_key_path(settings)}):",
        highlight=False,
    )
    say.print(f"  {token}", highlight=False, soft_wrap=True)
    say.print("[bold]then[/] the analyses and indicators, into the service's cache ...")
    full = warm_indicators(settings, city=city, console=say)
    rows = city_indicator_rows(full)
    say.print(_indicator_table(rows, city))
    trained = train_demo_models(settings, city=city, console=say)
    ids = _city_settlement_ids(settings, city)
    urls = demo_urls(
        settings,
        city=city,
        settlement_id="mtoni" if "mtoni" in ids else (ids[0] if ids else "mtoni"),
        host=host,
        port=port,
    )
    say.print("Open, once the service runs:")
    for label, key in (
        ("city map", "city_map"),
        ("settlement map", "settlement_map"),
        ("API docs", "docs"),
        ("indicators by sex", "indicators"),
    ):
        say.print(f"  {label + ':':<19} {urls[key]}", highlight=False, soft_wrap=True)
    base = urls["docs"].removesuffix("/docs")
    say.print(
        f'  as a planner:       curl -H "Authorization: Bearer {token}" '
        f'"{base}/collections/households/items?limit=5"',
        highlight=False,
        soft_wrap=True,
    )
    return {
        "published": published,
        "planner_key": token,
        "key_created": created,
        "key_file": str(demo_key_path(settings)),
        "indicators": rows.to_dict(orient="records"),
        "models": trained,
        "urls": urls,
    }


def train_demo_models(
    settings: Settings, *, city: str = DEMO_CITY, console: Console | None = None
) -> dict[str, Any]:
    """Train the expansion and informality models on the demo city into the models folder
    (what ``geo-service models train`` does) and print their evaluation."""
    say = console or Console(stderr=True)
    say.print(f"[bold]then[/] training the models into {settings.models_folder} ...")
    with open_store(settings) as store:
        results = train_city_models(store, city, settings.models_folder)
    table = Table("model", "evaluation", "file")
    for result in results:
        table.add_row(result.name, describe_metrics(result), str(result.path or result.skipped))
    say.print(table)
    return {r.name: {"path": str(r.path) if r.path else None, **r.metrics} for r in results}


def serve_demo(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    console: Console | None = None,
) -> None:
    """Serve the API on the demo store from this process (blocks until interrupted).

    Parameters
    ----------
    settings : Settings
        Store, service database, default host and port.
    host : str, optional, keyword-only
    port : int, optional, keyword-only
    console : rich Console, optional, keyword-only
    """
    import uvicorn  # noqa: PLC0415  (only when serving)

    from geo_service.api import create_app  # noqa: PLC0415  (the web layer, only when serving)

    say = console or Console(stderr=True)
    where = f"http://{host or settings.host}:{port or settings.port}"
    say.print(f"serving {settings.store_location} on {where} (Ctrl+C to stop)", highlight=False)
    uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port)
