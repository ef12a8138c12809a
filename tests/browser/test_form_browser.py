"""A customer in a real browser: asks for a callback in Persian, follows it, cancels it."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from callbacks.clock import FrozenClock
from callbacks.db import Database
from config import ContactCentre
from tests.support.browser import screenshot
from tests.support.form import stored_callbacks

pytestmark = [pytest.mark.browser, pytest.mark.slow]
REFERENCE = re.compile(r"^[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}$")


@pytest.fixture
def form_app(
    app_config: dict[str, Any], sqlite_db: Database, centre: ContactCentre, clock: FrozenClock, tmp_path: Path
) -> Any:
    """The app on SQLite at Sunday 22 November 2026, 10:00 Tehran, over plain HTTP (so cookies are not Secure)."""
    from ivr.app import create_app

    config = {**app_config, "public_base_url": "http://127.0.0.1:5000"}
    return create_app({**config, "DATABASE": sqlite_db, "CENTRE": centre, "CLOCK": clock})


TEXT_BOX = """(selector) => {
    const range = document.createRange();
    range.selectNodeContents(document.querySelector(selector));
    const rect = range.getBoundingClientRect();
    return {x: rect.x, width: rect.width};
}"""


def box(page: Any, selector: str) -> dict[str, float]:
    found = page.locator(selector).first.bounding_box()
    assert found is not None, selector
    return found


def test_persian_customer_requests_follows_and_cancels_a_callback(
    live_server: Callable[[Any], str], page: Any, form_app: Any, sqlite_db: Database
) -> None:
    base_url = live_server(form_app)

    # An English-speaking browser gets the English form, and switches to Persian.
    page.goto(f"{base_url}/callback")
    assert page.locator("html").get_attribute("lang") == "en"
    page.click("a[data-lang=fa]")
    page.wait_for_url(re.compile(r"lang=fa"))
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    assert page.evaluate("getComputedStyle(document.querySelector('label[for=queue]')).direction") == "rtl"
    # Right to left for real: a label's words hug the right edge of the form, not the left.
    form, label = box(page, "form.form"), page.evaluate(TEXT_BOX, "label[for=name]")
    assert form["x"] + form["width"] - (label["x"] + label["width"]) < 40
    assert label["x"] - form["x"] > 200
    screenshot(page, "callback-form-fa")

    page.fill("#phone", "۰۹۱۲ ۳۴۵ ۶۷۸۹")
    page.fill("#name", "سارا")
    page.select_option("#queue", "billing")
    page.select_option("#window_date", "2026-11-26")
    page.fill("#window_from", "10:00")
    page.fill("#window_to", "11:00")
    page.click("button[type=submit]")

    page.wait_for_selector("#reference")
    reference = page.inner_text("#reference").strip()
    assert REFERENCE.match(reference)
    assert page.inner_text("#promise") == "حداکثر تا ساعت ۱۱:۰۰ پنج‌شنبه ۵ آذر با شما تماس می‌گیریم."
    assert page.locator("html").get_attribute("dir") == "rtl"
    screenshot(page, "callback-created-fa")

    page.click("#status-link")
    page.wait_for_selector("#state")
    assert page.inner_text("#state") == "در انتظار"
    assert page.inner_text("#reference") == reference
    assert page.inner_text("#phone") == "+98912***6789"
    assert page.inner_text("#attempts") == "۰"
    screenshot(page, "callback-status-fa")

    page.click("#cancel")
    page.wait_for_selector("#state:has-text('لغو شد')")
    assert "درخواست شما لغو شد." in page.inner_text("main")
    assert page.locator("#cancel").count() == 0
    screenshot(page, "callback-canceled-fa")

    [callback] = stored_callbacks(sqlite_db)
    assert (callback.reference, callback.status, callback.queue) == (reference, "canceled", "billing")


def test_english_customer_sees_errors_next_to_fields_on_a_phone_sized_screen(
    live_server: Callable[[Any], str], browser: Any, form_app: Any, sqlite_db: Database
) -> None:
    base_url = live_server(form_app)
    context = browser.new_context(locale="en-GB", viewport={"width": 375, "height": 740}, is_mobile=True)
    try:
        page = context.new_page()
        page.goto(f"{base_url}/callback")
        assert page.locator("html").get_attribute("dir") == "ltr"
        # Nothing wider than the phone's screen.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

        page.fill("#phone", "0912 12")
        page.select_option("#window_date", "2026-11-23")
        page.fill("#window_from", "14:00")
        page.fill("#window_to", "13:00")
        page.click("button[type=submit]")

        page.wait_for_selector("#phone-error")
        assert page.inner_text("#phone-error") == "This phone number does not exist. Check the digits."
        assert page.inner_text("#window_to-error") == "The end time must be after the start time."
        phone, error = box(page, "#phone"), box(page, "#phone-error")
        assert 0 <= error["y"] - (phone["y"] + phone["height"]) < 60  # right under its field
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        screenshot(page, "callback-form-errors-en-mobile")
    finally:
        context.close()
    assert stored_callbacks(sqlite_db) == []
