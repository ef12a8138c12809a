"""The telephony simulator: plays Twilio's part for our app by executing the TwiML our webhooks return.

It knows nothing of our Python code: it requests our webhooks over HTTP with Twilio's parameters and a valid
`X-Twilio-Signature`, interprets the TwiML it gets back, keeps queues, bridges legs, sends status callbacks with
`SequenceNumber`, and rings simulated phones. `Simulator` is the one object the rest of the product uses; it puts
together the parts, each in its own module:

- `switchboard`: the legs, queues and messages, and the signed wire to our app;
- `twiml`: the TwiML interpreter (one generator script per call leg);
- `people`: what people do on a call (`dial_in`, `press`, `speak`, `answer`, `decline`, `hangup`);
- `rest`: Twilio's REST resources (Calls create/list/fetch/update, Messages);
- `loop`: the clock loop (`run_due`, `advance`, `run_until`) and `SimulatorThread` for real time.

Nothing sleeps, so tests drive the engine with a `FrozenClock` and `advance()`.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from callbacks.clock import Clock
from telephony.simulator.calls import Call, CallerHungUp, Event, Line, Wait, new_account, rfc2822
from telephony.simulator.http import HttpClient
from telephony.simulator.loop import ClockLoop, SimulatorThread
from telephony.simulator.people import People
from telephony.simulator.rest import RestResources, SimulatorError
from telephony.simulator.switchboard import Switchboard
from telephony.simulator.twiml import SAY_CHARS_PER_SECOND, TwimlInterpreter, parse_twiml


class Simulator:
    """Twilio, played locally: calls, queues, bridges, status callbacks, and a REST subset (`.web`)."""

    def __init__(
        self,
        *,
        base_url: str,
        account_sid: str,
        auth_token: str,
        http: HttpClient,
        clock: Clock,
        voice_path: str = "/twilio/voice",
        status_path: str = "/twilio/status",
        line_numbers: Iterable[str] = (),
        say_chars_per_second: float = SAY_CHARS_PER_SECOND,
    ):
        self.board = Switchboard(base_url=base_url, account_sid=account_sid, auth_token=auth_token, http=http,
                                 clock=clock, voice_path=voice_path, status_path=status_path,
                                 line_numbers=line_numbers)
        self.interpreter = TwimlInterpreter(self.board, say_chars_per_second)
        self.people = People(self.board, self.interpreter)
        self.rest = RestResources(self.board, self.interpreter)
        self.loop = ClockLoop(self.board)

    # == what the parts share (tests and the softphone swap the clock and the HTTP client) ==========================
    @property
    def http(self) -> HttpClient:
        return self.board.http

    @http.setter
    def http(self, http: HttpClient) -> None:
        self.board.http = http

    @property
    def clock(self) -> Clock:
        return self.board.clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        self.board.clock = clock

    @property
    def line_numbers(self) -> list[str]:
        return self.board.line_numbers

    @line_numbers.setter
    def line_numbers(self, numbers: Iterable[str]) -> None:
        self.board.line_numbers = list(numbers)

    @property
    def base_url(self) -> str:
        return self.board.base_url

    @property
    def account_sid(self) -> str:
        return self.board.account_sid

    @property
    def auth_token(self) -> str:
        return self.board.auth_token

    @property
    def voice_url(self) -> str:
        return self.board.voice_url

    @property
    def status_url(self) -> str:
        return self.board.status_url

    @property
    def calls(self) -> dict[str, Call]:
        return self.board.calls

    @property
    def queues(self) -> dict[str, list[str]]:
        return self.board.queues

    @property
    def queue_waits(self) -> dict[str, deque[float]]:
        return self.board.queue_waits

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.board.messages

    @property
    def labels(self) -> dict[str, str]:
        return self.board.labels

    @property
    def lock(self) -> threading.RLock:
        return self.board.lock

    @property
    def wakeup(self) -> threading.Event:
        return self.board.wakeup

    # == what people do ============================================================================================
    def dial_in(self, from_: str, to: str) -> str:
        """A person calls one of our numbers (inbound, answered by our voice webhook). Returns the CallSid."""
        return self.people.dial_in(from_, to)

    def press(self, sid: str, digits: str) -> None:
        """Keys pressed on the phone of the person on call `sid` (0-9, *, #)."""
        self.people.press(sid, digits)

    def speak(self, sid: str, words: str) -> None:
        """What the person says (the speech recogniser's result, as Twilio's SpeechResult)."""
        self.people.speak(sid, words)

    def answer(self, sid: str, *, machine: bool = False) -> None:
        """Pick up a ringing call (`machine=True`: a voicemail answers, for answering-machine detection)."""
        self.people.answer(sid, machine=machine)

    def decline(self, sid: str) -> None:
        """Reject a ringing call (the caller gets `busy`)."""
        self.people.decline(sid)

    def hangup(self, sid: str) -> None:
        """The person on `sid` hangs up (a ringing call is declined)."""
        self.people.hangup(sid)

    # == the REST API (Twilio's Calls and Messages resources) ======================================================
    def check_account(self, account_sid: str, username: str, password: str) -> None:
        """Refuse (SimulatorError) a request not made with this account's SID and token."""
        self.rest.check_account(account_sid, username, password)

    def create_call(self, form: Mapping[str, Any]) -> dict[str, Any]:
        """POST .../Calls.json. `form` maps names to a value or a list of values (repeated keys)."""
        return self.rest.create_call(form)

    def fetch_call(self, sid: str) -> dict[str, Any]:
        """GET .../Calls/{sid}.json."""
        return self.rest.fetch_call(sid)

    def list_calls(self, filters: Mapping[str, str], limit: int = 50) -> list[dict[str, Any]]:
        """GET .../Calls.json: newest first, filtered like Twilio's Calls list."""
        return self.rest.list_calls(filters, limit)

    def update_call(self, sid: str, form: Mapping[str, str]) -> dict[str, Any]:
        """POST .../Calls/{sid}.json with Status=canceled or completed."""
        return self.rest.update_call(sid, form)

    def send_message(self, form: Mapping[str, str]) -> dict[str, Any]:
        """POST .../Messages.json: the SMS is kept (and shown on the softphone page), delivered at once."""
        return self.rest.send_message(form)

    # == driving time ==============================================================================================
    def run_due(self, max_steps: int = 10_000) -> int:
        """Resume every call whose wait is over or whose awaited event arrived; returns how many steps ran."""
        return self.loop.run_due(max_steps)

    def next_wake(self) -> datetime | None:
        """The earliest moment a call waits for."""
        return self.loop.next_wake()

    def advance(self, seconds: float) -> None:
        """Move a FrozenClock forward by `seconds`, waking calls at each moment they wait for (tests, `--local`)."""
        self.loop.advance(seconds)

    def run_until(self, predicate: Callable[[], bool], seconds: float = 600, step: float | None = None) -> bool:
        """Advance a FrozenClock (event by event, or by `step`) until `predicate()` holds or `seconds` have passed."""
        return self.loop.run_until(predicate, seconds, step)

    # == what the softphone shows ==================================================================================
    def snapshot(self, recent: int = 30) -> dict[str, Any]:
        with self.lock:
            live = [c for c in self.calls.values() if not c.ended]
            done = [c for c in self.calls.values() if c.ended][-recent:]
            return {
                "now": self.clock.now().isoformat(),
                "calls": [c.public(self.board.position(c)) for c in done + live],
                "queues": {name: list(sids) for name, sids in self.queues.items()},
                "messages": self.messages[-20:],
                "labels": dict(self.labels),
                "lines": self.line_numbers,
            }

    def call(self, sid: str) -> Call:
        with self.lock:
            return self.calls[sid]

    def position(self, call: Call) -> int | None:
        """Where `call` is in its queue (1 is next), None when it waits in none."""
        with self.lock:
            return self.board.position(call)

    def calls_to(self, number: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls.values() if c.to == number]

    def ringing(self, number: str) -> list[Call]:
        """Calls ringing on `number`'s phone now."""
        with self.lock:
            return [c for c in self.calls.values() if c.to == number and c.direction != "inbound"
                    and c.status == "ringing"]

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        """Twilio's X-Twilio-Signature for a request to `url` with form `params`."""
        return self.board.sign(url, params)


__all__ = ["Call", "CallerHungUp", "Event", "Line", "Simulator", "SimulatorError", "SimulatorThread", "Wait",
           "new_account", "parse_twiml", "rfc2822"]
