"""The ``geo-service`` command line: validate, ingest, list, export and the demo.

Every command prints one clear line on error (never a traceback) and exits non-zero:
1 when validation found errors, 2 for any other refusal (unsafe or unreadable input, a
missing CRS, a busy store...).
"""

from __future__ import annotations

import getpass
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from geo_service.access import HOUSEHOLD_LEVEL_LAYERS
from geo_service.ingestion import IngestRequest, ingest_file, validate_file
from geo_service.servicedb import Role, ServiceDB
from geo_service.settings import Settings, get_settings
from geo_service.storage import StoreError, open_store
from profiling.errors import ProfilingError, ValidationFailed
from profiling.ingest.mapping import bundled_mappings
from profiling.report import Report

__all__ = ["app", "main"]

app = typer.Typer(
    name="geo-service",
    help="Slum-profiling service: validate and ingest enumeration data, list and export layers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # docstrings wrap at 100 columns: markdown joins their lines into paragraphs
    rich_markup_mode="markdown",
)
out = Console()
err = Console(stderr=True)

StoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--store",
        help="GeoPackage store file (default: the PostGIS store of GEO_SERVICE_DATABASE_URL "
        "when set, else GEO_SERVICE_STORE_PATH).",
    ),
]
LayerOpt = Annotated[
    str | None,
    typer.Option("--layer", "-l", help="Canonical layer (households, structures, ...)."),
]
MappingOpt = Annotated[
    str | None,
    typer.Option("--mapping", "-m", help="Mapping file (TOML/YAML) or a bundled mapping id."),
]
SourceLayerOpt = Annotated[
    str | None,
    typer.Option("--source-layer", help="Layer / sheet inside the file (GeoPackage, KML)."),
]
CrsOpt = Annotated[
    str | None,
    typer.Option("--crs", help="CRS to assume when the file has none, e.g. EPSG:4326."),
]
SettlementOpt = Annotated[
    str | None, typer.Option("--settlement", "-s", help="Settlement id of the records.")
]


def _settings(store: Path | None) -> Settings:
    settings = get_settings()
    if store is not None:
        # an explicit --store file is the embedded store, whatever GEO_SERVICE_DATABASE_URL says
        update = {"store_path": store, "work_dir": None, "database_url": None}
        settings = settings.model_copy(update=update)
        settings = Settings.model_validate(settings.model_dump())
    return settings


def _table(*columns: str) -> Table:
    """A table whose cells wrap rather than being cut on narrow terminals."""
    table = Table()
    for name in columns:
        table.add_column(name, overflow="fold")
    return table


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def _clear_errors() -> Iterator[None]:
    """Turn domain errors into one line and an exit code."""
    try:
        yield
    except typer.Exit:
        raise  # already reported by _fail
    except ValidationFailed as exc:
        _print_report(exc.report, as_json=False, to=err)
        raise _fail(f"validation failed: {exc.report.summary()}; nothing was stored", 1) from None
    except (ProfilingError, StoreError) as exc:
        raise _fail(str(exc)) from None
    except (OSError, KeyError, ValueError) as exc:
        raise _fail(f"{type(exc).__name__}: {exc}") from None
    except Exception as exc:
        if os.environ.get("GEO_SERVICE_DEBUG"):
            raise
        raise _fail(
            f"unexpected {type(exc).__name__}: {exc} (a bug: please report it; "
            "GEO_SERVICE_DEBUG=1 shows the traceback)"
        ) from None


@contextmanager
def _progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar handing out a ``(done, total)`` callback."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _print_report(report: Report, *, as_json: bool, to: Console = out) -> None:
    if as_json:
        sys.stdout.write(report.to_json() + "\n")
    else:
        to.print(report.to_text(), highlight=False, markup=False, soft_wrap=True)


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="File to check.")],
    layer: LayerOpt = None,
    mapping: MappingOpt = None,
    source_layer: SourceLayerOpt = None,
    crs: CrsOpt = None,
    settlement: SettlementOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    store: StoreOpt = None,
) -> None:
    """Check a file and print its validation report; store nothing.

    The format is detected from the content; the layer and the mapping are inferred (and
    said) when not given. Settlement boundaries already in the store are used to check that
    points fall inside their settlement. Exits 1 when the report has errors.
    """
    settings = _settings(store)
    request = IngestRequest(
        layer=layer, mapping=mapping, source_layer=source_layer, crs=crs, settlement=settlement
    )
    with _clear_errors(), _progress("reading") as progress:
        result = validate_file(file, request, settings=settings, progress=progress)
    for note in result.notes:
        err.print(f"[cyan]note:[/] {note}", highlight=False)
    _print_report(result.report, as_json=as_json)
    if result.report.has_errors:
        raise typer.Exit(1)


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="File to store.")],
    layer: LayerOpt = None,
    mapping: MappingOpt = None,
    settlement: SettlementOpt = None,
    round_: Annotated[
        str | None,
        typer.Option("--round", "-r", help="Enumeration round (ISO date, e.g. 2024-03-01)."),
    ] = None,
    source_layer: SourceLayerOpt = None,
    crs: CrsOpt = None,
    report_json: Annotated[
        Path | None, typer.Option("--report-json", help="Also write the report here (JSON).")
    ] = None,
    skip_invalid_rows: Annotated[
        bool,
        typer.Option(
            "--skip-invalid-rows",
            help="Store the rows without errors and set the others aside (listed in the "
            "report). Default: any error stores nothing.",
        ),
    ] = False,
    store: StoreOpt = None,
) -> None:
    """Validate a file and store it as one transaction: all of it or none of it.

    The raw file is kept with its SHA-256; ingesting the same file again is a no-op.
    """
    settings = _settings(store)
    request = IngestRequest(
        layer=layer,
        mapping=mapping,
        source_layer=source_layer,
        crs=crs,
        settlement=settlement,
        round=round_,
        skip_invalid_rows=skip_invalid_rows,
    )
    with _clear_errors(), _progress("ingesting") as progress:
        result = ingest_file(file, request, settings=settings, progress=progress)
    if report_json is not None:
        report_json.write_text(result.report.to_json(), encoding="utf-8")
    for note in result.notes:
        err.print(f"[cyan]note:[/] {note}", highlight=False)
    if result.duplicate:
        out.print(
            f"already stored as upload {result.upload_id} (same file, same layer): nothing to do"
        )
        return
    with _clear_errors():
        _audit(
            _service_db(store),
            "upload",
            f"uploads/{result.upload_id}",
            {"original_name": file.name, "layer": result.layer, "rows": result.rows},
        )
    aside = result.report.facts.get("rows_set_aside")
    if aside:
        _print_report(result.report, as_json=False, to=err)
    out.print(
        f"stored upload {result.upload_id}: {result.rows:,} {result.layer} row(s) "
        f"({result.report.summary()}" + (f"; set aside: {aside}" if aside else "") + ")",
        highlight=False,
    )


@app.command()
def layers(store: StoreOpt = None) -> None:
    """List the stored layers with their row counts, settlements and rounds."""
    settings = _settings(store)
    with _clear_errors(), open_store(settings) as db:
        infos = db.list_layers()
        rasters = db.rasters()
    table = _table("layer", "rows", "settlements", "rounds", "bbox (lon/lat)")
    for info in infos:
        bbox = "" if info.bbox is None else ", ".join(f"{v:.4f}" for v in info.bbox)
        table.add_row(
            info.name,
            f"{info.rows:,}",
            ", ".join(info.settlements[:6]) + (" ..." if len(info.settlements) > 6 else ""),
            ", ".join(str(r) for r in info.rounds[:4]),
            bbox,
        )
    for raster in rasters:
        table.add_row(
            f"raster:{raster.kind}",
            f"{raster.width}x{raster.height} cells",
            raster.settlement_id or "",
            "",
            raster.name or "",
        )
    out.print(table)


@app.command()
def migrate(store: StoreOpt = None) -> None:
    """Create the store, or bring its schema up to date (Alembic migrations for PostGIS), and
    say where it is. The service and every command also do this when they open the store."""
    settings = _settings(store)
    with _clear_errors(), open_store(settings) as db:
        version = db.data_version()
    revision = ""
    if settings.database_url is not None:
        from geo_service.storage.migrations import current_revision  # noqa: PLC0415

        url = settings.database_url.get_secret_value()
        revision = f", schema revision {current_revision(url, schema=settings.database_schema)}"
    out.print(
        f"store ready: {settings.store_location}{revision}; {version[0]:,} upload(s)",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def uploads(store: StoreOpt = None) -> None:
    """List uploads: id, time, file, layer, rows and hash."""
    settings = _settings(store)
    with _clear_errors(), open_store(settings) as db:
        records = db.uploads()
    table = _table("id", "created (UTC)", "file", "format", "layer", "settlement", "round", "rows")
    for r in records:
        table.add_row(
            str(r.upload_id),
            r.created_at[:19],
            r.original_name or "",
            r.format,
            r.layer,
            r.settlement_id or "",
            r.round or "",
            f"{r.rows:,}",
        )
    out.print(table)


@app.command()
def export(
    layer: Annotated[str, typer.Argument(help="Layer to export.")],
    dest: Annotated[Path, typer.Argument(dir_okay=False, help="Output file.")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", "-f", help="gpkg, geojson or csv (default: from the suffix)."),
    ] = None,
    settlement: SettlementOpt = None,
    round_: Annotated[str | None, typer.Option("--round", "-r", help="Round.")] = None,
    bbox: Annotated[
        str | None, typer.Option("--bbox", help="minx,miny,maxx,maxy in lon/lat.")
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Export a layer to GeoPackage, GeoJSON (RFC 7946) or CSV (formula-safe)."""
    settings = _settings(store)
    fmt = (fmt or dest.suffix.lstrip(".")).lower()
    if fmt not in {"gpkg", "geojson", "csv"}:
        raise _fail(f"unknown export format {fmt!r}; use gpkg, geojson or csv")
    box = None
    if bbox:
        try:
            minx, miny, maxx, maxy = (float(v) for v in bbox.split(","))
        except ValueError:
            raise _fail(f"--bbox must be four numbers minx,miny,maxx,maxy, not {bbox!r}") from None
        box = (minx, miny, maxx, maxy)
    with _clear_errors(), open_store(settings) as db:
        rows = db.export(layer, dest, fmt=fmt, settlement=settlement, round=round_, bbox=box)
        if layer in HOUSEHOLD_LEVEL_LAYERS:
            query = {"settlement": settlement, "round": round_, "bbox": bbox, "format": fmt}
            try:
                _audit(_service_db(store), "read", f"export/{layer}", {**query, "rows": rows})
            except BaseException:
                dest.unlink(missing_ok=True)  # no household rows leave without an audit line
                raise
    out.print(f"wrote {rows:,} {layer} row(s) to {dest}")


@app.command()
def mappings() -> None:
    """List the bundled mappings (form id, canonical layer, title)."""
    table = _table("id", "layer", "source", "title")
    for mapping_id, m in sorted(bundled_mappings().items()):
        table.add_row(mapping_id, m.layer, m.source, m.title)
    out.print(table)


@app.command()
def demo(
    dest: Annotated[Path, typer.Option("--out", help="Folder for the generated city.")] = Path(
        "sample_data/out"
    ),
    store: StoreOpt = None,
    households: Annotated[int, typer.Option(help="Households to generate.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve/--no-serve",
            help="Then serve the API on the demo store (blocks until Ctrl+C).",
        ),
    ] = False,
    host: Annotated[
        str | None, typer.Option(help="Address to serve on [env GEO_SERVICE_HOST].")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to serve on [env GEO_SERVICE_PORT].")
    ] = None,
) -> None:
    """Generate the synthetic demo city, validate and ingest every layer, publish it, create a
    planner key, compute the indicators, print a summary and the URLs; with --serve, serve
    the API (its indicator cache already warm)."""
    from geo_service.demo import finish_demo, run_demo, serve_demo  # noqa: PLC0415  (heavy)

    settings = _settings(store or Path("data/demo.gpkg"))
    with _clear_errors():
        run_demo(dest, settings=settings, households=households, seed=seed, console=out)
        finish_demo(settings, console=out, host=host, port=port)
    if not serve:
        out.print(
            f"start the service with: geo-service serve --store {settings.store_path}",
            highlight=False,
            soft_wrap=True,
        )
        return
    with _clear_errors():
        serve_demo(settings, host=host, port=port, console=out)


@app.command()
def serve(
    store: StoreOpt = None,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on [env GEO_SERVICE_HOST].")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port [env GEO_SERVICE_PORT].")] = None,
) -> None:
    """Serve the HTTP API (OGC API Features, indicators, uploads) with uvicorn."""
    import uvicorn  # noqa: PLC0415  (only for this command)

    from geo_service.api import create_app  # noqa: PLC0415
    from geo_service.instance import AlreadyServing, check_free  # noqa: PLC0415

    settings = _settings(store)
    with _clear_errors():
        try:
            check_free(settings.service_db)
        except AlreadyServing as exc:
            raise _fail(str(exc)) from None
        application = create_app(settings)
        out.print(
            f"serving {settings.store_location} on http://{host or settings.host}:"
            f"{port or settings.port} (docs at /docs)"
        )
        uvicorn.run(application, host=host or settings.host, port=port or settings.port)


@app.command()
def analyse(
    city: Annotated[str, typer.Option("--city", help="City (`settlements.city`) to analyse.")],
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="local: this process; dask: spatial partitions on a Dask cluster (same results).",
        ),
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786 "
            "(default: a local cluster of --workers processes).",
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Worker processes of the local cluster.")
    ] = 2,
    partitions: Annotated[
        int | None,
        typer.Option(
            "--partitions",
            min=1,
            help="Household partitions (default: ~100,000 households each, 2 per worker at least).",
        ),
    ] = None,
    dest: Annotated[
        Path | None,
        typer.Option("--out", dir_okay=False, help="Write the household indicator table (CSV)."),
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Access, hazard exposure and the household indicators of one city, in this process or
    partition by partition on Dask (--engine dask), with the same results; prints the city's
    figures of the latest round and writes every row with --out."""
    from contextlib import ExitStack  # noqa: PLC0415

    import pandas as pd  # noqa: PLC0415

    from geo_service.analyse import ENGINES, analyse_city, local_cluster  # noqa: PLC0415  (dask)
    from profiling.indicators import to_csv_bytes  # noqa: PLC0415

    if engine not in ENGINES:
        raise _fail(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if scheduler is not None and engine != "dask":
        raise _fail("--scheduler needs --engine dask")
    settings = _settings(store)
    where = "this process"
    with _clear_errors(), open_store(settings) as db, ExitStack() as stack:
        client = None
        if engine == "dask" and scheduler is None:
            from distributed import Client  # noqa: PLC0415

            cluster = stack.enter_context(local_cluster(workers))
            client = stack.enter_context(Client(cluster))
            where = f"a local cluster of {workers} worker process(es)"
        elif scheduler is not None:
            where = scheduler
        with _progress("analysing") as update:
            try:
                result = analyse_city(
                    db, city, engine=engine, client=client, address=scheduler,
                    npartitions=partitions, progress=update,
                )  # fmt: skip
            except LookupError as exc:
                raise ProfilingError(str(exc)) from None
    out.print(
        f"analysed {len(result.units):,} households of {city} in {result.seconds:.1f} s "
        f"({engine}: {result.npartitions} partition(s) on {where})",
        highlight=False,
        soft_wrap=True,
    )
    rows = result.table
    if not rows.empty:
        city_rows = rows[rows["group"].astype(str).eq("").to_numpy()]
        latest = city_rows["round"].dropna().astype(str).max()
        stats = ("value", "numerator", "denominator")
        shown = _table("indicator", "round", *stats, "unknown")
        for _, row in city_rows[city_rows["round"].astype(str).eq(latest).to_numpy()].iterrows():
            shown.add_row(
                str(row["indicator_id"]),
                str(row["round"]),
                *("" if pd.isna(row[c]) else f"{row[c]:,.4g}" for c in stats),
                f"{int(row['unknown']):,}",
            )
        out.print(shown)
    if result.skipped:
        out.print(f"not computed: {', '.join(sorted(result.skipped))}", highlight=False)
    if dest is not None:
        dest.write_bytes(to_csv_bytes(rows))
        out.print(f"wrote {len(rows):,} indicator row(s) to {dest}", highlight=False)


keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
settlements_app = typer.Typer(help="Settlement owners and publication.", no_args_is_help=True)
app.add_typer(settlements_app, name="settlements")


def _service_db(store: Path | None) -> ServiceDB:
    settings = _settings(store)
    return ServiceDB(settings.service_db, busy_timeout_ms=settings.busy_timeout_ms)


def _system_user() -> str:
    """Who runs this command: the operating-system user (``uid N`` when it has no name)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def _audit(
    db: ServiceDB, action: str, resource: str, detail: dict[str, object] | None = None
) -> None:
    """One audit-log line for this command, as the API writes one for its callers: role
    ``cli``, no key, the system user in the detail. Commands that change keys, owners or
    publication, store an upload or read household-level rows call it."""
    try:
        db.audit(
            key_id=None,
            role="cli",
            org=None,
            action=action,
            resource=resource,
            detail={"user": _system_user(), **(detail or {})},
        )
    except sqlite3.Error as exc:
        raise _fail(f"could not write the audit log ({exc}): {action} {resource}") from None


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option("--role", help="admin, federation, planner or mel.")],
    org: Annotated[
        str | None, typer.Option("--org", help="Organisation (required for federations).")
    ] = None,
    label: Annotated[str | None, typer.Option("--label", help="Free note.")] = None,
    store: StoreOpt = None,
) -> None:
    """Create an API key and print it once (only its hash is kept)."""
    with _clear_errors():
        db = _service_db(store)
        key, token = db.create_key(role, org=org, label=label)
        _audit(db, "create_key", f"keys/{key.key_id}", {"role": role.value, "org": org})
    err.print(f"created key {key.key_id} ({key.role.value}, org={key.org}); store it now:")
    sys.stdout.write(token + "\n")


@keys_app.command("list")
def keys_list(store: StoreOpt = None) -> None:
    """List keys (ids, roles, organisations; never the secrets)."""
    table = _table("key id", "role", "org", "label", "created", "revoked")
    with _clear_errors():
        for key in _service_db(store).api_keys():
            table.add_row(
                key.key_id, key.role.value, key.org or "", key.label or "", key.created_at,
                key.revoked_at or "",
            )  # fmt: skip
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str, store: StoreOpt = None) -> None:
    """Revoke a key at once."""
    with _clear_errors():
        db = _service_db(store)
        if not db.revoke_key(key_id):
            raise _fail(f"no active key {key_id!r}")
        _audit(db, "revoke_key", f"keys/{key_id}")
    out.print(f"revoked {key_id}")


@settlements_app.command("assign")
def settlements_assign(
    settlement: str,
    org: Annotated[str, typer.Option("--org", help="The owning federation.")],
    store: StoreOpt = None,
) -> None:
    """Record which federation owns a settlement's data."""
    with _clear_errors():
        db = _service_db(store)
        db.assign_settlement(settlement, org)
        _audit(db, "assign", f"settlements/{settlement}", {"org": org})
    out.print(f"{settlement} is owned by {org}")


@settlements_app.command("publish")
def settlements_publish(
    settlement: str,
    withdraw: Annotated[bool, typer.Option("--withdraw", help="Unpublish instead.")] = False,
    store: StoreOpt = None,
) -> None:
    """Publish a settlement (it then appears in public outputs) or withdraw it."""
    with _clear_errors():
        db = _service_db(store)
        if not db.set_published(settlement, not withdraw, by=_system_user()):
            raise _fail(f"{settlement!r} has no owner record; assign it first")
        _audit(db, "withdraw" if withdraw else "publish", f"settlements/{settlement}")
    out.print(f"{settlement} {'withdrawn' if withdraw else 'published'}")


@settlements_app.command("list")
def settlements_list(store: StoreOpt = None) -> None:
    """Owners and publication state."""
    table = _table("settlement", "owner", "published")
    with _clear_errors():
        for sid, (org, published) in sorted(_service_db(store).owners().items()):
            table.add_row(sid, org, "yes" if published else "no")
    out.print(table)


@app.command()
def audit(
    limit: Annotated[int, typer.Option(help="Lines to show.")] = 50,
    store: StoreOpt = None,
) -> None:
    """The newest audit-log lines (uploads, household-level reads, publications)."""
    table = _table("at", "key", "role", "org", "action", "resource")
    with _clear_errors():
        for line in _service_db(store).audit_log(limit=limit):
            table.add_row(
                line["at"], line["key_id"] or "", line["role"], line["org"] or "",
                line["action"], line["resource"],
            )  # fmt: skip
    out.print(table)


@app.command("map")
def map_(
    kind: Annotated[str, typer.Argument(help="`city` or `settlement`.")],
    name: Annotated[str, typer.Argument(help="City name, or settlement id.")],
    dest: Annotated[Path, typer.Option("--out", "-o", dir_okay=False, help="HTML file.")],
    role: Annotated[
        str,
        typer.Option(
            "--role",
            help="Whose view: public (default: safe to share), mel, planner or admin.",
        ),
    ] = "public",
    indicator: Annotated[
        str | None, typer.Option("--indicator", help="City map: choropleth indicator id.")
    ] = None,
    color: Annotated[
        str,
        typer.Option(
            "--color", help="Settlement map: deprivation_count, hazard_class or water_distance."
        ),
    ] = "deprivation_count",
    tiles: Annotated[
        str | None,
        typer.Option("--tiles", help="Tile URL template of a base map (default: none)."),
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Export an interactive map as one standalone HTML file (Leaflet inlined: works offline).

    The map shows what ``--role`` would see through the API: the public (default) sees only
    published settlements and aggregates (no household or structure positions).
    """
    from geo_service.access import Principal, visible_settlements  # noqa: PLC0415
    from geo_service.maps.assets import Assets  # noqa: PLC0415  (heavy, only here)
    from geo_service.maps.builders import (  # noqa: PLC0415
        DEFAULT_INDICATOR,
        Audience,
        MapNotFound,
        city_map,
        settlement_map,
    )
    from geo_service.model_service import ModelShelf  # noqa: PLC0415

    roles = {"public": Role.public, "mel": Role.mel, "planner": Role.planner, "admin": Role.admin}
    if kind not in {"city", "settlement"}:
        raise _fail(f"map what? use `city` or `settlement`, not {kind!r}")
    if role not in roles:
        raise _fail(f"--role must be one of {', '.join(roles)}, not {role!r}")
    settings = _settings(store)
    principal = Principal(roles[role])
    with _clear_errors(), open_store(settings) as db:
        service_db = _service_db(store)
        owners = service_db.owners()
        names = {str(s) for s in db.read_layer("settlements", columns=["settlement_id"])[
            "settlement_id"]}  # fmt: skip
        scope = visible_settlements(principal, owners, household_level=False)
        full = principal.role in {Role.admin, Role.planner}
        audience = Audience(
            hidden=frozenset(s for s in names | set(owners) if not scope.allows(s)),
            k=None if full else settings.small_cell_k,
            detailed=full,
            informality=full,
        )
        try:
            if kind == "city":
                page = city_map(
                    db, name, audience=audience, indicator=indicator or DEFAULT_INDICATOR,
                    assets=Assets("inline"), tiles=tiles,
                    models=ModelShelf.load(settings.models_folder),
                    informality_threshold=settings.informality_threshold,
                )  # fmt: skip
            else:
                page = settlement_map(
                    db, name, audience=audience, color=color, assets=Assets("inline"),
                    tiles=tiles,
                )  # fmt: skip
        except MapNotFound as exc:
            raise _fail(f"{exc} (for role {role})") from None
        except KeyError as exc:
            raise _fail(f"unknown indicator or colour {exc}") from None
        if kind == "settlement" and audience.detailed:  # household positions, as the API's
            _audit(service_db, "read", f"maps/settlements/{name}", {"color": color, "role": role})
        dest.write_text(page.html, encoding="utf-8")
    out.print(
        f"wrote {dest} ({page.size / 1e6:.2f} MB; view of role {role}; layers: "
        f"{', '.join(page.layers)})",
        highlight=False,
    )


models_app = typer.Typer(help="Train and inspect the scikit-learn models.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("train-expansion")
def models_train_expansion(
    raster: Annotated[Path, typer.Argument(help="First-built-epoch GeoTIFF (GHSL style).")],
    folder: Annotated[Path, typer.Option("--out", help="Folder for the model files.")] = Path(
        "data/models"
    ),
    epochs: Annotated[
        str | None,
        typer.Option(help="Three epochs 'start,middle,end' (default: first, middle, last)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Train the expansion forecast on one transition, evaluate it on the next, save it."""
    import numpy as np  # noqa: PLC0415
    import rasterio  # noqa: PLC0415

    from models.expansion_forecast import forecast_report  # noqa: PLC0415
    from models.persistence import save_model  # noqa: PLC0415

    with _clear_errors():
        with rasterio.open(raster) as ds:
            values = ds.read(1)
            pixel = abs(ds.transform.a)
            if not ds.crs or not ds.crs.is_projected:
                raise ProfilingError("the raster needs a projected CRS in metres")
        present = sorted(int(v) for v in np.unique(values) if 1800 < v < 2200)
        if epochs:
            chosen = tuple(int(e) for e in epochs.split(","))
        else:
            chosen = (present[0], present[len(present) // 2], present[-1]) if present else ()
        if len(chosen) != 3 or not set(chosen) <= set(present):
            raise ProfilingError(f"need three epochs among {present}, got {chosen}")
        with _progress("training") as update:
            update(0, 1)
            report = forecast_report(values, chosen, pixel, seed=seed)  # type: ignore[arg-type]
            update(1, 1)
        path = save_model(report.model, report.meta, folder)
    table = _table("metric", "model", "distance-only baseline")
    m = report.metrics
    table.add_row("ROC AUC", f"{m['auc']:.3f}", f"{m['baseline_auc']:.3f}")
    table.add_row("figure of merit", f"{m['fom']:.3f}", f"{m['baseline_fom']:.3f}")
    out.print(table)
    out.print(f"saved {path} and {path.with_suffix('.json')} ({report.meta.notes})")


def _read_polygons(path: Path, layer: str | None, crs: str | None, what: str):
    """Polygon features of one layer of any file pyogrio reads (a local, trusted file).

    Keeps non-empty (multi)polygons; when the layer has an OSM ``building`` tag column, only
    the features tagged as buildings (not ``building=no``). Raises ``ProfilingError`` (one
    line, exit 2) when the file is missing or unreadable, holds no polygons, or has no CRS and
    none is given.
    """
    import pyogrio  # noqa: PLC0415
    import pyogrio.errors  # noqa: PLC0415

    if not path.is_file():
        raise ProfilingError(f"{what}: no such file {path}")
    try:
        frame = pyogrio.read_dataframe(path, layer=layer)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise ProfilingError(f"{what}: cannot read {path}: {exc}") from None
    if not hasattr(frame, "geometry"):
        raise ProfilingError(f"{what}: {path} (layer {layer or 'first'}) has no geometry column")
    keep = frame.geometry.notna() & ~frame.geometry.is_empty
    keep &= frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"])
    if what == "buildings" and "building" in frame.columns:
        tag = frame["building"]
        keep &= tag.notna() & (tag.astype(str).str.lower() != "no")
    frame = frame[keep.to_numpy()]
    if frame.empty:
        raise ProfilingError(
            f"{what}: no polygon features in {path} (layer {layer or 'first'}); "
            "footprints and boundaries must be polygons"
        )
    if frame.crs is None:
        if crs is None:
            raise ProfilingError(
                f"{what}: {path} has no CRS; state it with --crs, e.g. --crs EPSG:4326"
            )
        frame = frame.set_crs(crs)
    return frame


def _project_metric(buildings, settlements):
    """Both layers in the buildings' local metric CRS (UTM zone), or ``ProfilingError``."""
    import numpy as np  # noqa: PLC0415
    import pyproj  # noqa: PLC0415

    from profiling.crs import metric_crs, to_metric  # noqa: PLC0415

    for what, frame in (("buildings", buildings), ("settlements", settlements)):
        crs = frame.crs
        x0, y0, x1, y1 = frame.total_bounds
        in_range = -180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90
        if crs.is_geographic and not in_range:
            raise ProfilingError(
                f"{what}: the CRS {crs.to_string()} is geographic but the coordinates "
                f"({x0:g}, {y0:g}, {x1:g}, {y1:g}) are not longitudes/latitudes: the layer "
                "cannot be projected to metres (wrong --crs?)"
            )
    try:
        target = metric_crs(buildings)
        projected = to_metric(buildings, settlements, crs=target)
    except (RuntimeError, pyproj.exceptions.CRSError) as exc:
        raise ProfilingError(f"cannot project the layers to a metric CRS: {exc}") from None
    for frame in projected:
        if not np.isfinite(frame.total_bounds).all():
            raise ProfilingError(
                f"the layers cannot be projected to {target.name}: infinite coordinates"
            )
    return projected[0], projected[1]


@models_app.command("train-informality")
def models_train_informality(
    buildings_path: Annotated[
        Path, typer.Argument(metavar="BUILDINGS", help="Building footprints (any vector file).")
    ],
    settlements_path: Annotated[
        Path, typer.Argument(metavar="SETTLEMENTS", help="Known settlement boundaries.")
    ],
    folder: Annotated[Path, typer.Option("--out", help="Folder for the model files.")] = Path(
        "data/models"
    ),
    cell_m: Annotated[float, typer.Option("--cell-m", help="Grid cell size, metres.")] = 100.0,
    block_m: Annotated[
        float, typer.Option("--block-m", help="Spatial cross-validation tile size, metres.")
    ] = 500.0,
    buildings_layer: Annotated[
        str | None,
        typer.Option("--buildings-layer", help="Layer of BUILDINGS (OSM XML: multipolygons)."),
    ] = None,
    settlements_layer: Annotated[
        str | None, typer.Option("--settlements-layer", help="Layer of SETTLEMENTS.")
    ] = None,
    crs: CrsOpt = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Train the informality model on building footprints labelled by known settlements.

    Reads any vector file GDAL reads (GeoPackage, GeoJSON, zipped Shapefile, OSM XML with
    --buildings-layer multipolygons: only features with a building tag are kept), projects
    both layers to the local UTM zone, evaluates by spatially blocked cross-validation, then
    saves the model fitted on every cell (skops + JSON metadata).
    """
    if cell_m <= 0 or block_m < cell_m:
        raise _fail(f"need 0 < --cell-m <= --block-m, got {cell_m:g} and {block_m:g}")
    from models.informality import cell_features, label_cells, spatial_cv  # noqa: PLC0415
    from models.persistence import save_model  # noqa: PLC0415

    with _clear_errors():
        footprints = _read_polygons(buildings_path, buildings_layer, crs, "buildings")
        boundaries = _read_polygons(settlements_path, settlements_layer, crs, "settlements")
        footprints, boundaries = _project_metric(footprints, boundaries)
        with _progress("training") as update:
            update(0, 1)
            cells = cell_features(footprints, cell_m=cell_m)
            labels = label_cells(cells, boundaries)
            positives = int(labels.sum())
            if positives in (0, len(labels)):
                cover = "every one" if positives else "none"
                raise ProfilingError(
                    f"the settlements cover {cover} of the {len(labels)} cells with buildings: "
                    "need both (cells inside and outside the settlements) to train"
                )
            model, metrics, meta = spatial_cv(
                cells, labels, block_m=block_m, cell_m=cell_m, seed=seed
            )
            update(1, 1)
        path = save_model(model, meta, folder)
    table = _table("metric", "value")
    table.add_row("precision", f"{metrics['precision']:.3f}")
    table.add_row("recall", f"{metrics['recall']:.3f}")
    table.add_row("ROC AUC", f"{metrics['auc']:.3f}")
    table.add_row("cells", f"{metrics['cells']:,.0f}")
    table.add_row("positives", f"{metrics['positives']:,.0f}")
    table.add_row("spatial blocks", f"{metrics['spatial_blocks']:,.0f}")
    out.print(table)
    out.print(
        f"saved {path} and {path.with_suffix('.json')} ({meta.notes}; "
        f"{len(footprints):,} footprints in {footprints.crs.name})",
        highlight=False,
        soft_wrap=True,
    )


@models_app.command("train")
def models_train(
    city: Annotated[str, typer.Option(help="City (`settlements.city`) whose data train them.")],
    store: Annotated[
        Path | None, typer.Option(help="Store file [env GEO_SERVICE_STORE_PATH].")
    ] = None,
    folder: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for the model files [default: the service's models "
            "folder, GEO_SERVICE_MODELS_DIR].",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Train both models on one city of the store: the expansion forecast from its built-up
    raster and the informality model from the footprints of its area labelled by its
    settlements; save them where the service loads models (restart the service after)."""
    from geo_service.model_training import describe_metrics, train_city_models  # noqa: PLC0415

    settings = _settings(store)
    dest = folder or settings.models_folder
    with (
        _clear_errors(),
        open_store(settings) as db,
        _progress("training") as update,
    ):
        update(0, 1)
        try:
            results = train_city_models(db, city, dest, seed=seed)
        except LookupError as exc:
            raise ProfilingError(str(exc)) from None
        update(1, 1)
    table = _table("model", "evaluation", "saved")
    for result in results:
        table.add_row(result.name, describe_metrics(result), str(result.path or "-"))
    out.print(table)


@models_app.command("list")
def models_list(
    store: Annotated[
        Path | None, typer.Option(help="Store file [env GEO_SERVICE_STORE_PATH].")
    ] = None,
    folder: Annotated[
        Path | None, typer.Option("--dir", help="Models folder [default: the service's].")
    ] = None,
) -> None:
    """The models a service would load at start, with their metrics (or why one is refused)."""
    from geo_service.model_service import ModelShelf  # noqa: PLC0415

    settings = _settings(store)
    shelf = ModelShelf.load(folder or settings.models_folder)
    table = _table("model", "status", "trained", "metrics / reason")
    for record in shelf.describe():
        metrics = record.get("metrics") or {}
        shown = ", ".join(f"{k} {v:.3g}" for k, v in metrics.items()) or record.get("reason", "")
        table.add_row(record["name"], record["status"], record.get("trained_at", ""), shown)
    out.print(table)
    if not shelf.loaded and not shelf.refused:
        out.print(f"no model in {shelf.folder}: geo-service models train --city <city>")


def main() -> None:
    """Entry point of the ``geo-service`` console script."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
