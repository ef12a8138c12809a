"""`ivr demo` as a new user runs it: one command, then a call, a callback request, and the worker's callback.

The test starts the real command (waitress, `ivr worker` as its own process, the simulator thread) on a free port
with a fresh SQLite file, and drives it only through HTTP: the softphone's API (what the browser page uses) and
the public JSON API. `drive_callback(url)` is usable against any running demo (e.g. a fresh clone's `make run`).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ROOT

CUSTOMER = "+989121234567"
ENGLISH_LINE = "+442080000000"
ENDED = ("completed", "busy", "no-answer", "failed", "canceled")


class Softphone:
    """The softphone page's API, as a script."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.http = requests.Session()

    def calls(self) -> list[dict[str, Any]]:
        return self.http.get(f"{self.url}/simulator/api/state", timeout=10).json()["calls"]

    def call(self, sid: str) -> dict[str, Any]:
        return next(c for c in self.calls() if c["sid"] == sid)

    def post(self, path: str, **body: Any) -> Any:
        response = self.http.post(f"{self.url}/simulator/api/{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def until(self, what: str, check: Callable[[], Any], seconds: float = 60) -> Any:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            time.sleep(0.2)
        raise AssertionError(f"waited {seconds:g} s for {what}; calls: {self.calls()}")

    def listening(self, sid: str) -> bool:
        return bool(self.call(sid)["listening"])

    def ringing(self, number: str | None = None, direction: str = "outbound-api") -> dict[str, Any] | None:
        return next((c for c in self.calls() if c["status"] == "ringing" and c["direction"] == direction
                     and (number is None or c["to"] == number)), None)


def answer_an_agent_call(phone: Softphone, seconds: float = 90) -> dict[str, Any]:
    """Answer whichever agent's phone rings until one answers with a whisper to press 1 for.

    While the caller waited in the queue the worker may have rung an agent for them: once they left it, the worker
    cancels that ring (it ends before anyone picks up), or, answered a moment too soon, the agent hears that the
    caller has gone and the call ends. Either way the next ring is the callback.
    """
    deadline = time.monotonic() + seconds
    while True:
        ringing = phone.until("the worker to ring an agent", lambda: phone.ringing(),
                              max(1.0, deadline - time.monotonic()))
        rang_at = time.monotonic()
        phone.post(f"calls/{ringing['sid']}/answer")

        def whisper_or_end(sid: str = ringing["sid"]) -> dict[str, Any] | None:
            call = phone.call(sid)
            return call if call["listening"] or call["status"] in ENDED else None

        if phone.until("the agent's whisper, or the call to end", whisper_or_end)["listening"]:
            return {**ringing, "rang_at": rang_at}
        if time.monotonic() > deadline:
            raise AssertionError(f"no agent call with a whisper within {seconds:g} s; calls: {phone.calls()}")


def drive_callback(url: str, customer: str = CUSTOMER, line: str = ENGLISH_LINE, talk_seconds: float = 22,
                   ) -> dict[str, float]:
    """Call in, ask for a callback from the queue, then answer the worker's call as the agent and as the customer.

    Returns seconds from the start to: callback booked, agent rang, customer rang, callback call over.
    """
    phone = Softphone(url)
    started = time.monotonic()
    marks: dict[str, float] = {}
    sid = phone.post("calls", **{"from": customer, "to": line})["sid"]
    phone.until("the main menu", lambda: phone.listening(sid))
    phone.post(f"calls/{sid}/press", digits="0")
    phone.until("the queue", lambda: phone.call(sid)["queue"])
    phone.until("the hold message", lambda: phone.listening(sid))
    phone.post(f"calls/{sid}/press", digits="1")
    phone.until("the callback offer", lambda: phone.listening(sid) and not phone.call(sid)["queue"])
    phone.post(f"calls/{sid}/press", digits="1")
    phone.until("the goodbye", lambda: phone.call(sid)["status"] in ENDED)
    marks["booked"] = time.monotonic() - started
    agent = answer_an_agent_call(phone)
    marks["agent_rang"] = agent["rang_at"] - started
    phone.post(f"calls/{agent['sid']}/press", digits="1")
    leg = phone.until("the customer's phone to ring", lambda: phone.ringing(customer, "outbound-dial"))
    marks["customer_rang"] = time.monotonic() - started
    phone.post(f"calls/{leg['sid']}/answer")
    phone.until("agent and customer to be connected", lambda: phone.call(leg["sid"])["bridged_to"])
    time.sleep(talk_seconds)
    phone.post(f"calls/{leg['sid']}/hangup")
    phone.until("both legs to end", lambda: all(phone.call(s)["status"] in ENDED for s in (agent["sid"], leg["sid"])))
    marks["over"] = time.monotonic() - started
    return marks


def completed_callbacks(url: str, api_key: str, seconds: float = 30) -> list[dict[str, Any]]:
    """The completed callbacks, through the public JSON API (waiting for the last status callback to land)."""
    deadline = time.monotonic() + seconds
    while True:
        response = requests.get(f"{url}/api/v1/callbacks", params={"status": "completed"},
                                headers={"Authorization": f"Bearer {api_key}"}, timeout=10)
        response.raise_for_status()
        body = response.json()
        items = body.get("items", body.get("callbacks", body)) if isinstance(body, dict) else body
        if items or time.monotonic() > deadline:
            return list(items or [])
        time.sleep(0.5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
           "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TELEPHONY", "IVR_CONFIG", "TWILIO_API_BASE_URL"):
        env.pop(name, None)
    ivr = [sys.executable, "-c", "from cli.entry import main; main()"]
    log = (tmp_path / "demo.log").open("wb")
    server = subprocess.Popen([*ivr, "demo", "--port", str(port)], cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/simulator", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise AssertionError((tmp_path / "demo.log").read_text())
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}", {**env, "IVR_CONFIG": ""}
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
        print((tmp_path / "demo.log").read_text()[-3000:])


@pytest.mark.slow
def test_ivr_demo_takes_a_call_and_the_worker_completes_the_callback_within_a_minute(
    demo: tuple[str, dict[str, str]],
) -> None:
    url, env = demo
    env.pop("IVR_CONFIG")
    key = subprocess.run([sys.executable, "-c", "from cli.entry import main; main()", "api-key", "create", "demo-test",
                          "--scope", "all"],  # it reads the phone's callbacks, not its own
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout.strip()
    marks = drive_callback(url)
    assert marks["agent_rang"] - marks["booked"] < 60, marks
    done = completed_callbacks(url, key)
    assert [c["phone"] for c in done] == [CUSTOMER], done
