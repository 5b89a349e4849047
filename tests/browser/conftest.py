"""Fixtures of the browser tests: a demo store with owners and keys, the service on a real
socket, and one headless Chromium for the session.

Ownership (as in ``tests/service/api/conftest.py``): federation ``fed_a`` owns ``mtoni``
(published) and ``bonde_la_nyota`` (not published); ``fed_b`` owns ``kijiji_kipya`` (not
published); the other settlements have no owner record (open data, visible to all).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser import (
    DemoStore,
    LiveServer,
    MapBrowser,
    build_demo_store,
    live_server,
    missing_browser,
    warm_up,
)


@pytest.fixture(scope="session")
def browser_store(tmp_path_factory: pytest.TempPathFactory) -> DemoStore:
    """The demo city (1,500 households) with owners, publication and a key per role."""
    return build_demo_store(tmp_path_factory.mktemp("browser_demo"))


@pytest.fixture(scope="session")
def server(browser_store: DemoStore) -> Iterator[LiveServer]:
    """The service on the demo store, listening on a free local port, its city indicators
    computed (as ``make demo`` does before serving; map pages are built on first request)."""
    with live_server(browser_store.settings) as running:
        warm_up(running, browser_store)
        yield running


@pytest.fixture(scope="session")
def browser(server: LiveServer) -> Iterator[MapBrowser]:
    """One headless Chromium for the session (skips when Chromium is not installed)."""
    reason = missing_browser()
    if reason:
        pytest.skip(reason)
    chrome = MapBrowser(server)
    try:
        yield chrome
    finally:
        chrome.close()
