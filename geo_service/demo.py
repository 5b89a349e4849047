"""The one-command demo: generate the synthetic city, validate and ingest every layer.

Run by ``make demo`` (``geo-service demo``). Each file of the generated city goes through the
same path as a federation's upload (:func:`geo_service.ingestion.ingest_file`); the household
export carries deliberate errors, so the demo stores the valid rows and shows what was set
aside and why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from geo_service.ingestion import IngestRequest, ingest_file
from geo_service.settings import Settings
from geo_service.storage import GeoPackageStore
from sample_data.generate import generate

__all__ = ["run_demo"]


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
    manifest = generate(dest, households=households, seed=seed, log=lambda m: say.print(f"  {m}"))
    say.print(f"[bold]2/3[/] validating and ingesting into {settings.store_path} ...")
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
    with GeoPackageStore(settings.store_path) as store:
        layers = Table("layer", "rows", "settlements")
        for info in store.list_layers():
            layers.add_row(info.name, f"{info.rows:,}", str(len(info.settlements)))
        for raster in store.rasters():
            layers.add_row(f"raster:{raster.kind}", f"{raster.width}x{raster.height} cells", "")
    say.print(layers)
    say.print(
        f"Open {settings.store_path} in QGIS, or try: geo-service layers --store "
        f"{settings.store_path}"
    )
    return {"store": str(settings.store_path), "files": results}
