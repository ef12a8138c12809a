"""The softphone in headless Chromium: a caller asks for a callback, the worker dials it, agent and customer answer.

While the caller waits in the queue the worker rings the agent for them; when they leave it for a callback, the
worker cancels that ring and rings the same agent for the callback.

The app is served on a loopback port with the simulator in real time (its thread), reaching our webhooks over
HTTP with signed requests; the dispatcher runs in a background thread and dials through the real Twilio adapter
pointed at the simulator's REST API. Time runs ten times faster than the wall clock (one clock for app,
simulator and dispatcher), so the 20 s minimum talk time takes 2 s. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from callbacks.models import AgentCall, Attempt, Callback
from scheduler.dispatcher import Dispatcher
from telephony.simulator import make_provider
from tests.conftest import DEFAULT_NOW
from tests.support.browser import screenshot
from tests.support.phone import add_agent

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SPEED = 10.0
CUSTOMER = "+989121234567"
AGENT = "+989121110000"
ENGLISH_LINE = "+442080000000"
PERSIAN_LINE = "+982191000000"


class FastClock:
    """Wall-clock time from `start`, running `speed` times faster (one clock for app, simulator and worker)."""

    def __init__(self, start: datetime, speed: float):
        from datetime import UTC

        self.start = start.astimezone(UTC)
        self.speed = speed
        self.origin = time.monotonic()

    def now(self) -> datetime:
        from datetime import timedelta

        return self.start + timedelta(seconds=(time.monotonic() - self.origin) * self.speed)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def line(app_config: dict[str, Any], sqlite_db: Any, centre: Any) -> Iterator[dict[str, Any]]:
    """The whole contact centre on a loopback port: web + simulator thread + a dispatcher thread."""
    from ivr.app import create_app

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    clock = FastClock(DEFAULT_NOW, SPEED)
    app = create_app({**app_config, "public_base_url": url, "twilio_account_sid": "", "twilio_auth_token": "",
                      "DATABASE": sqlite_db, "CENTRE": centre,
                      "CLOCK": clock})
    add_agent(app, "Sara", AGENT)
    server = make_server("127.0.0.1", port, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, name="softphone-server", daemon=True)
    serving.start()
    rt = app.extensions["ivr"]
    dispatcher = Dispatcher(sqlite_db, centre, make_provider(rt.settings), clock, worker_id="browser-test",
                            base_url=url, caller_id=PERSIAN_LINE, sleep=lambda s: time.sleep(s / SPEED))
    stopping = threading.Event()
    dialed: list[Any] = []  # ticks that placed callback attempt calls
    queue_rung: list[Any] = []  # ticks that rang an agent for a caller waiting in a queue

    def work() -> None:
        while not stopping.is_set():
            report = dispatcher.tick()
            if report.dialed:
                dialed.append(report)
            if report.queue_dialed:
                queue_rung.append(report)
            dispatcher.sweep()
            stopping.wait(0.3)

    worker = threading.Thread(target=work, name="softphone-dispatcher", daemon=True)
    worker.start()
    try:
        yield {"url": url, "app": app, "db": sqlite_db, "dialed": dialed, "queue_rung": queue_rung}
    finally:
        stopping.set()
        worker.join(timeout=10)
        app.extensions["simulator"].stop()
        server.shutdown()
        server.server_close()


def _callbacks(db: Any) -> list[tuple[str, str]]:
    with db.session() as session:
        return [(c.phone, c.status) for c in session.scalars(select(Callback))]


def _attempt_call_sid(db: Any, seconds: float = 30) -> str:
    """The call id of the callback attempt's first leg (the agent's phone), once the worker has placed it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with db.session() as session:
            sid = session.scalar(select(Attempt.agent_call_sid).where(Attempt.agent_call_sid.is_not(None)))
        if sid:
            return str(sid)
        time.sleep(0.2)
    raise AssertionError(f"no callback attempt was dialed within {seconds:g} s")


def _queue_agent_calls(db: Any) -> list[tuple[str, str | None, Any]]:
    with db.session() as session:
        return [(c.state, c.outcome, c.answered_at) for c in session.scalars(select(AgentCall))]


def test_a_caller_asks_for_a_callback_and_answers_it_with_the_agent(line: dict[str, Any], page: Any) -> None:
    page.goto(line["url"] + "/simulator")
    me = page.locator("#my-phone")
    agent = page.locator(f'section.phone.agent[data-phone="{AGENT}"]')
    assert agent.count() == 1
    screenshot(page, "softphone-1-idle")

    page.click(f'button.call-line[data-to="{ENGLISH_LINE}"]')
    page.wait_for_selector('#my-phone[data-listening="1"]')
    assert "For billing press 1" in me.locator(".transcript").inner_text()
    me.locator('[data-key="0"]').click()
    page.wait_for_selector('#my-phone[data-state="queued"][data-listening="1"]')
    screenshot(page, "softphone-2-in-queue")
    me.locator('[data-key="1"]').click()  # leave the queue for a callback that keeps my place
    page.wait_for_selector('#my-phone[data-state="in-call"][data-listening="1"]')
    assert "We can call you back" in me.locator(".transcript").inner_text()
    me.locator('[data-key="1"]').click()  # on this number
    page.wait_for_function("document.querySelector('#my-phone').innerText.includes('We will call you back')")
    screenshot(page, "softphone-3-callback-booked")
    assert _callbacks(line["db"]) in ([(CUSTOMER, "pending")], [(CUSTOMER, "dialing")])

    # While I waited in the queue the worker rang Sara for me; when I left, it stopped her phone (she did not
    # answer) and freed her at once, so the phone that rings now is the callback.
    callback_call = _attempt_call_sid(line["db"])
    assert all((state, outcome, answered) == ("ended", "caller_left", None)
               for state, outcome, answered in _queue_agent_calls(line["db"])), _queue_agent_calls(line["db"])
    assert len(_queue_agent_calls(line["db"])) == sum(r.queue_dialed for r in line["queue_rung"])
    page.wait_for_selector(f'section.phone.agent[data-phone="{AGENT}"][data-ringing="{callback_call}"]',
                           timeout=30_000)
    screenshot(page, "softphone-4-agent-ringing")
    agent.locator('[data-action="answer"]').click()
    page.wait_for_selector(f'section.phone.agent[data-phone="{AGENT}"][data-listening="1"]')
    agent.locator('[data-key="1"]').click()  # connect me to the customer
    page.wait_for_selector("#my-phone.is-ringing")
    screenshot(page, "softphone-5-customer-ringing")
    me.locator('[data-action="answer"]').click()
    page.wait_for_selector('#my-phone[data-state="talking"]')
    page.wait_for_selector(f'section.phone.agent[data-phone="{AGENT}"][data-state="talking"]')
    screenshot(page, "softphone-6-talking")
    time.sleep(30 / SPEED)  # half a minute of conversation, above the queue's 20 s minimum
    me.locator('[data-action="hangup"]').click()

    deadline = time.monotonic() + 20
    while _callbacks(line["db"]) != [(CUSTOMER, "completed")] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _callbacks(line["db"]) == [(CUSTOMER, "completed")]
    # Exactly one call for the one attempt (agent calls for the queue are counted apart, in queue_rung).
    assert sum(r.dialed for r in line["dialed"]) == 1
    page.wait_for_selector('#my-phone[data-state="idle"]')
    screenshot(page, "softphone-7-callback-completed")
    assert "completed" in me.locator(".status").inner_text()


def test_the_softphone_speaks_persian_right_to_left_and_hears_spoken_words(line: dict[str, Any], page: Any) -> None:
    page.goto(line["url"] + "/simulator")
    page.click("#ui-fa")
    assert page.get_attribute("html", "dir") == "rtl"
    assert page.locator("#my-phone h2").inner_text() == "گوشی شما"
    page.click(f'button.call-line[data-to="{PERSIAN_LINE}"]')
    page.wait_for_selector('#my-phone[data-listening="1"]')
    page.fill("#my-phone form.speech input", "اپراتور")
    page.click("#my-phone form.speech button")
    page.wait_for_selector('#my-phone[data-state="queued"]')
    transcript = page.locator("#my-phone .transcript").inner_text()
    assert "اپراتور" in transcript
    screenshot(page, "softphone-persian-in-queue")
    page.click('#my-phone [data-action="hangup"]')
    page.wait_for_selector('#my-phone[data-state="idle"]')
