"""A customer in a real browser proves their number: the form asks for the code texted to it, in Persian; a wrong
code is explained next to the box; the right one stores the request."""

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


@pytest.fixture
def form_app(
    app_config: dict[str, Any], sqlite_db: Database, centre: ContactCentre, clock: FrozenClock, tmp_path: Path
) -> Any:
    from ivr.app import create_app

    queues = {qid: q.model_copy(update={"verify": "sms"}) for qid, q in centre.queues.items()}
    config = {**app_config, "public_base_url": "http://127.0.0.1:5000", "SIMULATOR_THREAD": False,
              "twilio_account_sid": "", "twilio_auth_token": ""}
    return create_app({**config, "DATABASE": sqlite_db, "CENTRE": centre.model_copy(update={"queues": queues}),
                       "CLOCK": clock})


def test_persian_customer_types_the_texted_code_and_the_request_is_stored(
    live_server: Callable[[Any], str], page: Any, form_app: Any, sqlite_db: Database
) -> None:
    base_url = live_server(form_app)
    page.goto(f"{base_url}/callback?lang=fa")
    page.fill("#phone", "۰۹۱۲ ۳۴۵ ۶۷۸۹")
    page.select_option("#queue", "general")
    page.click("form.form button[type=submit]")
    page.wait_for_selector("#code")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert stored_callbacks(sqlite_db) == []
    [message] = [m for m in form_app.extensions["simulator"].engine.board.messages if m["to"] == "+989123456789"]
    found = re.search(r"\b(\d{6})\b", message["body"])
    assert found is not None, message
    code = found[1]
    wrong = "000000" if code != "000000" else "111111"
    page.fill("#code", wrong)
    page.click("#verify-submit")
    page.wait_for_selector("#code-error")
    assert page.locator("#code").get_attribute("aria-invalid") == "true"
    screenshot(page, "callback-code-wrong-fa")
    page.fill("#code", "".join("۰۱۲۳۴۵۶۷۸۹"[int(d)] for d in code))  # typed with Persian digits
    page.click("#verify-submit")
    page.wait_for_selector("#status-link")
    assert len(stored_callbacks(sqlite_db)) == 1
