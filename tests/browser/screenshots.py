"""Screenshots of the map pages for the README (1280x900 PNGs), taken in headless Chromium.

    python -m tests.browser.screenshots notebooks/screenshots [--store data/demo.gpkg]

Builds the demo city (1,500 households, seed 7) in a temporary folder (or copies ``--store``
there), gives it the owners and keys of the browser tests, serves it on a free local port and
saves the public city map and the planner's settlement map of Mtoni; prints the PNGs' paths.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from tests.browser import (
    CITY,
    BrowserUnavailable,
    MapBrowser,
    build_demo_store,
    city_path,
    live_server,
    missing_browser,
    settlement_path,
    warm_up,
)

# (file name, page path, caller)
SHOTS = [
    ("city_map_public.png", city_path(CITY), "public"),
    ("settlement_map_mtoni_planner.png", settlement_path("mtoni"), "planner"),
]


def take(out_dir: Path, *, store: Path | None = None) -> list[Path]:
    """Save the README's screenshots into ``out_dir``; answer their paths."""
    reason = missing_browser()
    if reason:
        raise BrowserUnavailable(reason)
    out_dir.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="geo-service-screenshots-") as tmp:
        demo = build_demo_store(Path(tmp), store=store)
        with live_server(demo.settings) as server:
            warm_up(server, demo)
            browser = MapBrowser(server)
            try:
                for name, path, who in SHOTS:
                    browser.open(path, demo.key(who))
                    browser.wait_ready()
                    time.sleep(0.5)  # let Leaflet's fade and zoom animations finish
                    saved.append(browser.screenshot(out_dir / name))
            finally:
                browser.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    """Command line: ``OUT_DIR [--store PATH]``."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.browser.screenshots", description=__doc__
    )
    parser.add_argument("out_dir", type=Path, help="folder for the PNGs")
    parser.add_argument(
        "--store", type=Path, default=None, help="a store to show (default: a fresh demo city)"
    )
    args = parser.parse_args(argv)
    try:
        paths = take(args.out_dir, store=args.store)
    except BrowserUnavailable as exc:
        print(exc, file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
