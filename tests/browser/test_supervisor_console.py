"""A supervisor in a real browser: logs in, watches the live board (pending and at-risk callbacks, agents),
filters the missed report, downloads its CSV, opens one callback's history, and switches to Persian."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from callbacks.clock import FrozenClock
from callbacks.db import Database
from config import ContactCentre
from tests.conftest import TEHRAN
from tests.support.browser import screenshot
from tests.support.supervisor import PASSWORD, add_account, make_agent, make_alert, make_callback

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def console_app(
    app_config: dict[str, Any], sqlite_db: Database, centre: ContactCentre, clock: FrozenClock, tmp_path: Path
) -> Any:
    """The app on SQLite at Sunday 22 November 2026, 10:00 Tehran, over plain HTTP, the board polling every second."""
    from ivr.app import create_app

    config = {**app_config, "public_base_url": "http://127.0.0.1:5000", "SUPERVISOR_POLL_SECONDS": 1}
    return create_app({**config, "DATABASE": sqlite_db, "CENTRE": centre, "CLOCK": clock})


@pytest.fixture
def floor(console_app: Any, sqlite_db: Database, clock: FrozenClock) -> dict[str, Any]:
    """A morning on the floor: one callback waiting, one at risk, two agents, three missed yesterday and before."""
    now = clock.now()
    waiting = make_callback(sqlite_db, now, deadline_in=timedelta(minutes=45), name="Reza")
    at_risk = make_callback(
        sqlite_db,
        now,
        queue="billing",
        deadline_in=timedelta(minutes=25),
        at_risk_reason="7 callbacks ahead need 40 min with 1 agent free",
    )
    make_alert(sqlite_db, now, at_risk, reason="7 callbacks ahead need 40 min with 1 agent free")
    make_agent(sqlite_db, now, "Ali")
    make_agent(sqlite_db, now, "Bahar", busy=True)

    def missed(deadline: datetime, queue: str, reason: str, outcomes: list[str]) -> Any:
        return make_callback(
            sqlite_db,
            now,
            status="missed",
            queue=queue,
            deadline_in=deadline - now,
            requested_ago=now - deadline + timedelta(hours=2),
            end_reason=reason,
            attempts=[{"outcome": o} for o in outcomes],
        )

    return {
        "waiting": waiting,
        "at_risk": at_risk,
        "missed_a": missed(
            datetime(2026, 11, 21, 11, 0, tzinfo=TEHRAN),
            "general",
            "no free agent before the deadline",
            ["no-answer", "busy"],
        ),
        "missed_b": missed(
            datetime(2026, 11, 21, 15, 0, tzinfo=TEHRAN), "general", "provider failure (Twilio 503)", ["failed"]
        ),
        "missed_other_queue": missed(
            datetime(2026, 11, 21, 12, 0, tzinfo=TEHRAN), "billing", "no free agent before the deadline", []
        ),
        "missed_earlier": missed(
            datetime(2026, 11, 18, 9, 0, tzinfo=TEHRAN), "general", "no free agent before the deadline", []
        ),
    }


def _log_in(page: Any, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/supervisor/")
    page.wait_for_url(re.compile(r"/supervisor/login\?next="))
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r"/supervisor/$"))


def test_supervisor_watches_the_board_reads_the_missed_report_and_switches_to_persian(
    live_server: Callable[[Any], str],
    page: Any,
    console_app: Any,
    floor: dict[str, Any],
    sqlite_db: Database,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    base_url = live_server(console_app)
    add_account(console_app, "lead@example.com")
    _log_in(page, base_url, "lead@example.com")

    # The board: the at-risk callback on top, highlighted, with the forecast's reason; the waiting one below.
    rows = page.locator("#callbacks tbody tr")
    rows.first.wait_for()
    assert rows.count() == 2
    assert "at-risk" in (rows.nth(0).get_attribute("class") or "")
    assert floor["at_risk"].reference in rows.nth(0).inner_text()
    assert "7 callbacks ahead need 40 min" in rows.nth(0).inner_text()
    assert floor["waiting"].reference in rows.nth(1).inner_text()
    assert "at-risk" not in (rows.nth(1).get_attribute("class") or "")
    # The countdown runs in the page.
    countdown = rows.nth(1).locator("td.countdown")
    first = countdown.inner_text()
    page.wait_for_function(
        "(t) => document.querySelectorAll('#callbacks td.countdown')[1].textContent !== t", arg=first
    )
    assert re.fullmatch(r"4[45]:\d\d", countdown.inner_text())
    assert page.locator("#alerts li.alert-at_risk").count() == 1
    assert page.locator("#agents li[data-agent=Ali] .agent-state").inner_text() == "free"
    assert page.locator("#agents li[data-agent=Bahar] .agent-state").inner_text() == "on a call"
    screenshot(page, "supervisor-board-en")

    # A new request appears without reloading the page.
    newcomer = make_callback(sqlite_db, clock.now(), deadline_in=timedelta(hours=2))
    page.locator(f"#callbacks tr[data-id='{newcomer.public_id}']").wait_for()
    assert page.locator("#open-total").inner_text() == "3"

    # Ali goes off shift from the board.
    page.locator("#agents li[data-agent=Ali] button.shift-toggle").click()
    page.wait_for_function(
        "() => document.querySelector('#agents li[data-agent=Ali] .agent-state').textContent === 'off shift'"
    )

    # The missed report, filtered to Saturday 21 November in the general queue.
    page.click("nav a[href='/supervisor/reports/missed']")
    page.fill("#since", "2026-11-21")
    page.fill("#until", "2026-11-21")
    page.select_option("#queue", "general")
    page.click("#apply-filter")
    page.wait_for_url(re.compile(r"queue=general"))
    references = page.locator("#missed-rows tbody tr a.ref").all_inner_texts()
    assert references == [floor["missed_a"].reference, floor["missed_b"].reference]
    screenshot(page, "supervisor-missed-report-en")

    # The CSV download holds exactly the filtered rows.
    with page.expect_download() as download_info:
        page.click("#download-csv")
    download = download_info.value
    assert download.suggested_filename == "missed-callbacks-2026-11-21-2026-11-21.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(str(saved))
    with saved.open(newline="", encoding="utf-8") as handle:
        csv_rows = list(csv.DictReader(handle))
    assert [(r["reference"], r["queue"], r["reason"]) for r in csv_rows] == [
        (floor["missed_a"].reference, "general", "no free agent before the deadline"),
        (floor["missed_b"].reference, "general", "provider failure (Twilio 503)"),
    ]

    # One callback's full history: every event and every attempt with its outcome.
    page.click(f"#missed-rows a.ref:text('{floor['missed_a'].reference}')")
    page.wait_for_url(re.compile(rf"/supervisor/callbacks/{floor['missed_a'].public_id}"))
    assert page.locator("#history-reference").inner_text() == floor["missed_a"].reference
    assert page.locator("#attempts td.outcome").all_inner_texts() == ["no-answer", "busy"]
    events = page.locator("#events tbody").inner_text()
    assert "requested by web" in events and "no free agent before the deadline" in events
    screenshot(page, "supervisor-history-en")

    # Persian: right to left, Solar Hijri dates with Persian digits.
    page.click("#lang-switch")
    page.wait_for_url(re.compile(r"lang=fa"))
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    assert "۱۴۰۵/۰۸/۳۰" in page.locator(".facts").inner_text()  # 21 November 2026 = 30 Aban 1405
    brand = page.locator(".brand").bounding_box()
    tools = page.locator(".tools").bounding_box()
    assert brand is not None and tools is not None and brand["x"] > tools["x"]  # the title starts on the right
    screenshot(page, "supervisor-history-fa")
    page.click("nav a[href='/supervisor/']")
    page.locator("#callbacks tbody tr").first.wait_for()
    assert page.locator("#callbacks tbody tr.at-risk").count() == 1
    assert "در خطر" in page.locator("#callbacks tbody tr.at-risk").inner_text()
    first_cell = page.locator("#callbacks thead th").first.bounding_box()
    last_cell = page.locator("#callbacks thead th").last.bounding_box()
    assert first_cell is not None and last_cell is not None and first_cell["x"] > last_cell["x"]
    screenshot(page, "supervisor-board-fa")
    page.goto(f"{base_url}/supervisor/reports/sla?since=1405/08/25&until=1405/09/01")
    assert page.locator("svg.chart").count() >= 1
    screenshot(page, "supervisor-sla-fa")


def test_viewer_on_a_phone_sees_the_board_without_shift_buttons(
    live_server: Callable[[Any], str], browser: Any, console_app: Any, floor: dict[str, Any]
) -> None:
    base_url = live_server(console_app)
    add_account(console_app, "viewer@example.com", role="viewer")
    context = browser.new_context(locale="fa-IR", viewport={"width": 390, "height": 844}, is_mobile=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        _log_in(page, base_url, "viewer@example.com")
        page.locator("#callbacks tbody tr").first.wait_for()
        assert page.locator("html").get_attribute("dir") == "rtl"  # chosen from the browser's language
        assert page.locator("#agents li").count() == 2
        assert page.locator("button.shift-toggle").count() == 0
        assert page.locator("button.ack").count() == 0
        # Readable on a phone: nothing but the tables' own scroll boxes is wider than the screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        screenshot(page, "supervisor-board-fa-phone-viewer")
    finally:
        context.close()
