"""A customer who follows a broken link sees the site's page in Persian, right to left, and a way back."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.browser import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_broken_link_shows_a_persian_page_with_a_way_back_to_the_form(app, live_server, browser):
    base = live_server(app)
    context = browser.new_context(locale="fa-IR", viewport={"width": 420, "height": 800})
    try:
        page: Any = context.new_page()
        answer = page.goto(base + "/callbak")
        assert answer.status == 404
        assert page.locator("html").get_attribute("dir") == "rtl"
        assert page.locator("h1").inner_text() == "صفحه پیدا نشد"
        assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
        screenshot(page, "error-404-fa")
        page.get_by_role("link", name="بازگشت به فرم درخواست تماس").click()
        page.wait_for_url(base + "/callback")
        assert page.locator("form").count() >= 1
    finally:
        context.close()
