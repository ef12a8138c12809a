"""Browser tests: headless Debian Chromium through Playwright against the app on a loopback port."""

from tests.support.browser import browser, live_server, page

__all__ = ["browser", "live_server", "page"]
