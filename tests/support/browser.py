"""Reusable pieces for browser tests: serve a Flask app on a free loopback port, and drive Debian's Chromium.

    from tests.support.browser import live_server, browser, page   # fixtures, e.g. in a conftest.py

    def test_something(live_server, page, app):
        base_url = live_server(app)          # http://127.0.0.1:<free port>, stopped after the test
        page.goto(base_url + "/callback")

Chromium comes from Debian (`scripts/install-system-packages.sh`), not from Playwright's download (no internet).
Without /usr/bin/chromium the tests are skipped with the reason printed; in CI (CI=true) they fail instead.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import BaseWSGIServer, make_server

from tests.conftest import ROOT

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class LiveServer:
    """A WSGI app served by werkzeug on 127.0.0.1 in a background thread (threaded: one request per thread)."""

    def __init__(self, app: Any, host: str = "127.0.0.1"):
        self.server: BaseWSGIServer = make_server(host, 0, app, threaded=True)
        self.url = f"http://{host}:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, name=f"live-server-{self.url}", daemon=True)

    def start(self) -> str:
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture
def live_server() -> Iterator[Callable[[Any], str]]:
    """A function: give it an app, get its base URL. Every server it started is stopped after the test."""
    servers: list[LiveServer] = []

    def start(app: Any) -> str:
        server = LiveServer(app)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


def require_chromium() -> Path:
    """The Chromium binary, or a skip (a failure in CI) saying how to install it."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found: run scripts/install-system-packages.sh (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message + " (required in CI)")
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright, one per test session."""
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) and page, English-speaking, desktop-sized."""
    context = browser.new_context(locale="en-US", viewport={"width": 1100, "height": 900})
    context.set_default_timeout(10_000)
    new_page = context.new_page()
    try:
        yield new_page
    finally:
        context.close()


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page PNG under test-artifacts/ (kept by CI, ignored by git)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
