"""The telephony simulator: plays Twilio's part for our app by executing the TwiML our webhooks return.

It knows nothing of our Python code: it requests our webhooks over HTTP with Twilio's parameters and a valid
`X-Twilio-Signature`, interprets the TwiML it gets back (Say, Play, Pause, Gather, Redirect, Enqueue, Leave,
Dial with Number and Queue, Hangup, Reject), keeps queues, bridges legs, sends status callbacks with
`SequenceNumber`, and rings simulated phones. People (a browser softphone, a terminal script, a test) act
through `press`, `speak`, `answer`, `decline` and `hangup`.

Each call leg runs as a generator that yields `Wait`s (until a time, or until an event such as a key press or
an answer); `run_due()` resumes whatever is due at `clock.now()`. Nothing sleeps, so tests drive the engine
with a `FrozenClock` and `advance()`; `SimulatorThread` drives it in real time.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import struct
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urljoin
from xml.etree import ElementTree

from twilio.request_validator import RequestValidator

from callbacks.clock import Clock
from telephony.simulator.http import HttpClient

log = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
TERMINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# Speaking rate used to estimate how long a <Say> lasts (characters per second, about 150 words a minute).
SAY_CHARS_PER_SECOND = 15.0
# Twilio's defaults.
GATHER_TIMEOUT = 5
DIAL_TIMEOUT = 30
RING_TIMEOUT = 60
MAX_TIME_LIMIT = 4 * 3600
# A waitUrl document that takes no time must not make us hammer the app (Twilio loops it, with audio).
MIN_WAIT_LOOP = 1.0
MAX_LINES = 400


class SimulatorError(Exception):
    """A REST request the simulator refuses, as Twilio would: HTTP status, Twilio error code, message."""

    def __init__(self, status: int, code: int, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
                "status": self.status}


class CallerHungUp(Exception):
    """Thrown into a call's script when the person on it hangs up (or the far end ends it)."""


class Dequeued(Exception):
    """Thrown into a queued caller's script when a `<Dial><Queue>` takes them out of the queue."""

    def __init__(self, by: str, url: str = "", method: str = "POST"):
        super().__init__(by)
        self.by = by
        # The `<Queue url>` to run on the caller before they are connected (Twilio's "announce" document).
        self.url = url
        self.method = method


@dataclass(frozen=True)
class Wait:
    """What a call's script is waiting for: a moment (`until`), or one of the event kinds in `accepts`."""

    until: datetime | None
    accepts: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Event:
    kind: str  # input, answer, decline, cancel, hangup, dequeued, child_ready, child_failed, bridge_end
    digits: str = ""
    speech: str | None = None
    machine: bool = False
    status: str = ""
    sid: str = ""
    url: str = ""
    method: str = "POST"


@dataclass
class Line:
    """One thing the person on a call heard, did or was told (the softphone's transcript)."""

    at: datetime
    kind: str  # say, play, listen, pressed, said, ignored, queue, ring, connected, info, error, ended
    text: str = ""
    language: str | None = None
    url: str | None = None

    def public(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "kind": self.kind, "text": self.text, "language": self.language,
                "url": self.url}


@dataclass
class Executed:
    """A verb the engine executed, with the index of the document (in `Call.documents`) it came from."""

    document: int
    tag: str
    attrs: dict[str, str]
    text: str


@dataclass
class Document:
    url: str
    method: str
    params: dict[str, str]
    status: int
    body: bytes


@dataclass
class Call:
    """One call leg, with what Twilio's Calls resource shows about it and what the engine needs to run it."""

    sid: str
    account_sid: str
    from_: str
    to: str
    direction: str  # inbound, outbound-api, outbound-dial
    created_at: datetime
    status: str = "queued"
    parent_sid: str | None = None
    url: str | None = None
    method: str = "POST"
    twiml: str | None = None
    timeout: int = RING_TIMEOUT
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_events: frozenset[str] = frozenset({"completed"})
    machine_detection: str | None = None
    answered_by: str | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    sequence: int = 0
    queue: str | None = None
    enqueued_at: datetime | None = None
    bridged_to: str | None = None
    bridged_at: datetime | None = None
    listening: dict[str, Any] | None = None
    lines: list[Line] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    executed: list[Executed] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    gen: Generator[Wait, Event | None, None] | None = None
    wait: Wait | None = None
    inbox: deque[Event] = field(default_factory=deque)

    @property
    def person(self) -> str:
        """The number of the phone whose owner is on this leg (the caller inbound, the called party outbound)."""
        return self.from_ if self.direction == "inbound" else self.to

    @property
    def peer(self) -> str:
        return self.to if self.direction == "inbound" else self.from_

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL

    @property
    def duration(self) -> int:
        if self.answered_at is None:
            return 0
        end = self.ended_at or self.answered_at
        return max(0, int((end - self.answered_at).total_seconds()))

    def resource(self) -> dict[str, Any]:
        """The call as Twilio's REST API shows it (`/2010-04-01/Accounts/{sid}/Calls/{sid}.json`)."""
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.sid}.json"
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "to": self.to,
            "to_formatted": self.to,
            "from": self.from_,
            "from_formatted": self.from_,
            "status": self.status,
            "direction": self.direction,
            "parent_call_sid": self.parent_sid,
            "date_created": rfc2822(self.created_at),
            "date_updated": rfc2822(self.ended_at or self.answered_at or self.created_at),
            "start_time": rfc2822(self.answered_at) if self.answered_at else None,
            "end_time": rfc2822(self.ended_at) if self.ended_at else None,
            "duration": str(self.duration) if self.ended else None,
            "answered_by": self.answered_by,
            "caller_name": None,
            "forwarded_from": None,
            "group_sid": None,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "trunk_sid": None,
            "annotation": None,
            "uri": uri,
            "subresource_uris": {"notifications": uri.replace(".json", "/Notifications.json"),
                                 "recordings": uri.replace(".json", "/Recordings.json")},
        }

    def public(self, position: int | None = None) -> dict[str, Any]:
        """What the softphone shows."""
        return {
            "sid": self.sid, "from": self.from_, "to": self.to, "direction": self.direction, "status": self.status,
            "person": self.person, "peer": self.peer, "parent_sid": self.parent_sid, "bridged_to": self.bridged_to,
            "queue": self.queue, "position": position, "listening": self.listening, "answered_by": self.answered_by,
            "created_at": self.created_at.isoformat(), "duration": self.duration,
            "lines": [line.public() for line in self.lines[-MAX_LINES:]],
        }


def rfc2822(moment: datetime) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S +0000")


def new_account() -> tuple[str, str]:
    """A fresh simulated account: (AccountSid, auth token)."""
    return "AC" + secrets.token_hex(16), secrets.token_hex(16)


Outcome = tuple[str, ...]  # ("goto", url, method, params) | ("end",) | ("hangup",) | ("leave",)


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
        self.base_url = base_url.rstrip("/")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.http = http
        self.clock = clock
        # What an operator would type into Twilio's console for our numbers.
        self.voice_url = self.base_url + voice_path
        self.status_url = self.base_url + status_path
        self.line_numbers = list(line_numbers)
        self.say_rate = say_chars_per_second
        self.calls: dict[str, Call] = {}
        self.queues: dict[str, list[str]] = {}
        self.queue_waits: dict[str, deque[float]] = {}
        self.messages: list[dict[str, Any]] = []
        self.labels: dict[str, str] = {}
        self.lock = threading.RLock()
        self.wakeup = threading.Event()
        self._ids = itertools.count(1)
        self._audio_seconds: dict[str, float] = {}
        self._validator = RequestValidator(auth_token)

    # == what people do ============================================================================================
    def dial_in(self, from_: str, to: str) -> str:
        """A person calls one of our numbers (inbound, answered by our voice webhook). Returns the CallSid."""
        with self.lock:
            call = self._new_call(from_, to, "inbound", status="ringing")
            call.status_callback, call.status_events = self.status_url, frozenset({"completed"})
            self._line(call, "ring", f"calling {to}")
            self._start(call, self._inbound_script(call))
        self.wakeup.set()
        return call.sid

    def press(self, sid: str, digits: str) -> None:
        """Keys pressed on the phone of the person on call `sid` (0-9, *, #)."""
        clean = "".join(ch for ch in digits if ch in "0123456789*#")
        if clean:
            self._post(sid, Event("input", digits=clean))

    def speak(self, sid: str, words: str) -> None:
        """What the person says (the speech recogniser's result, as Twilio's SpeechResult)."""
        words = " ".join(words.split())[:500]
        if words:
            self._post(sid, Event("input", speech=words))

    def answer(self, sid: str, *, machine: bool = False) -> None:
        """Pick up a ringing call (`machine=True`: a voicemail answers, for answering-machine detection)."""
        self._post(sid, Event("answer", machine=machine))

    def decline(self, sid: str) -> None:
        """Reject a ringing call (the caller gets `busy`)."""
        self._post(sid, Event("decline"))

    def hangup(self, sid: str) -> None:
        """The person on `sid` hangs up (a ringing call is declined)."""
        with self.lock:
            call = self.calls.get(sid)
            kind = "decline" if call is not None and call.status in ("queued", "ringing") and \
                call.direction != "inbound" else "hangup"
        self._post(sid, Event(kind))

    # == the REST API (Twilio's Calls and Messages resources) ======================================================
    def check_account(self, account_sid: str, username: str, password: str) -> None:
        if username != self.account_sid or not secrets.compare_digest(password, self.auth_token):
            raise SimulatorError(401, 20003, "Authenticate")
        if account_sid != self.account_sid:
            raise SimulatorError(404, 20404, f"The requested resource /Accounts/{account_sid} was not found")

    def create_call(self, form: Mapping[str, Any]) -> dict[str, Any]:
        """POST .../Calls.json. `form` maps names to a value or a list of values (repeated keys)."""

        def one(name: str) -> str:
            value = form.get(name)
            if isinstance(value, list | tuple):
                value = value[0] if value else ""
            return str(value or "").strip()

        to, from_, url, twiml = one("To"), one("From"), one("Url"), one("Twiml")
        if not to:
            raise SimulatorError(400, 21201, "No 'To' number is specified")
        if not from_:
            raise SimulatorError(400, 21213, "No 'From' number is specified")
        if not url and not twiml:
            raise SimulatorError(400, 21205, "Url parameter is required")
        if not E164.match(to):
            raise SimulatorError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        raw_timeout = one("Timeout") or str(RING_TIMEOUT)
        if not raw_timeout.isdigit():
            raise SimulatorError(400, 21220, f"Invalid Timeout value {raw_timeout!r}")
        events_raw = form.get("StatusCallbackEvent") or []
        events = [events_raw] if isinstance(events_raw, str) else list(events_raw)
        with self.lock:
            call = self._new_call(from_, to, "outbound-api")
            call.url, call.twiml = url or None, twiml or None
            call.method = one("Method").upper() or "POST"
            call.timeout = max(1, min(600, int(raw_timeout)))
            call.status_callback = one("StatusCallback") or None
            call.status_callback_method = one("StatusCallbackMethod").upper() or "POST"
            call.status_events = frozenset(" ".join(events).split()) or frozenset({"completed"})
            call.machine_detection = one("MachineDetection") or None
            self._start(call, self._outbound_script(call))
            resource = call.resource()
        self.wakeup.set()
        return resource

    def fetch_call(self, sid: str) -> dict[str, Any]:
        with self.lock:
            call = self.calls.get(sid)
            if call is None:
                raise SimulatorError(404, 20404, f"The requested resource /Calls/{sid}.json was not found")
            return call.resource()

    def list_calls(self, filters: Mapping[str, str], limit: int = 50) -> list[dict[str, Any]]:
        """Newest first, filtered like Twilio's Calls list (To, From, ParentCallSid, Status, StartTime>, ...)."""
        after = _parse_date(filters.get("StartTime>") or filters.get("StartTime>=") or "")
        before = _parse_date(filters.get("StartTime<") or filters.get("StartTime<=") or "")
        with self.lock:
            found = []
            for call in reversed(list(self.calls.values())):
                if filters.get("To") and call.to != filters["To"]:
                    continue
                if filters.get("From") and call.from_ != filters["From"]:
                    continue
                if filters.get("ParentCallSid") and call.parent_sid != filters["ParentCallSid"]:
                    continue
                if filters.get("Status") and call.status != filters["Status"]:
                    continue
                started = call.answered_at or call.created_at
                if after is not None and started < after:
                    continue
                if before is not None and started >= before:
                    continue
                found.append(call.resource())
                if len(found) >= limit:
                    break
            return found

    def update_call(self, sid: str, form: Mapping[str, str]) -> dict[str, Any]:
        """POST .../Calls/{sid}.json with Status, as Twilio documents it.

        `canceled` stops a call that is queued or ringing (it ends `canceled`, and its status callback reports
        that with the next SequenceNumber) and leaves an answered call alone; `completed` also hangs up a call in
        progress. The answer is the call as it is afterwards.
        """
        status = (form.get("Status") or "").strip()
        if status and status not in ("canceled", "completed"):  # outside the enum of Twilio's description
            raise SimulatorError(400, 20001, f"Invalid Status {status!r}: must be canceled or completed")
        with self.lock:
            call = self.calls.get(sid)
            if call is None:
                raise SimulatorError(404, 20404, f"The requested resource /Calls/{sid}.json was not found")
            # A pick-up (or a decline) already on its way wins, as when the phone is answered while Twilio
            # handles the request: the answer then shows the call still ringing, and the cancel did nothing.
            pending = {event.kind for event in call.inbox}
            if status and not call.ended and call.status in ("queued", "initiated", "ringing") \
                    and not pending & {"answer", "decline"}:
                self._cancel(call)
            elif status == "completed" and not call.ended:
                self._post(sid, Event("hangup"))
            resource = call.resource()
        self.wakeup.set()
        return resource

    def _cancel(self, call: Call) -> None:
        """End a call nobody answered yet, at once: the REST answer already shows it `canceled`, like Twilio's."""
        if call.direction == "outbound-api" and call.gen is not None:
            call.gen.close()  # the ring is over; nothing of its script runs any more
            call.gen, call.wait = None, None
            call.inbox.clear()
            self._end(call, "canceled")
        else:
            # A <Dial> leg: its parent's script hears of it and goes on with DialCallStatus.
            call.inbox.appendleft(Event("cancel", status="canceled"))

    def send_message(self, form: Mapping[str, str]) -> dict[str, Any]:
        to, from_, body = (form.get(k, "").strip() for k in ("To", "From", "Body"))
        if not to:
            raise SimulatorError(400, 21604, "A 'To' phone number is required.")
        if not body:
            raise SimulatorError(400, 21602, "Message body is required.")
        with self.lock:
            sid = "SM" + f"{next(self._ids):032x}"
            now = self.clock.now()
            message = {"sid": sid, "account_sid": self.account_sid, "to": to, "from": from_, "body": body,
                       "status": "delivered", "direction": "outbound-api", "date_created": rfc2822(now),
                       "date_sent": rfc2822(now), "api_version": API_VERSION, "num_segments": "1",
                       "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json"}
            self.messages.append(message)
        return message

    # == driving time ==============================================================================================
    def run_due(self, max_steps: int = 10_000) -> int:
        """Resume every call whose wait is over or whose awaited event arrived; returns how many steps ran."""
        steps = 0
        with self.lock:
            while steps < max_steps:
                progressed = False
                now = self.clock.now()
                for call in list(self.calls.values()):
                    if call.gen is None:
                        call.inbox.clear()
                        continue
                    event = self._take_event(call)
                    if event is not None:
                        self._deliver(call, event)
                    elif call.wait is not None and call.wait.until is not None and call.wait.until <= now:
                        self._resume(call, None)
                    else:
                        continue
                    progressed = True
                    steps += 1
                if not progressed:
                    break
        return steps

    def next_wake(self) -> datetime | None:
        with self.lock:
            times = [c.wait.until for c in self.calls.values()
                     if c.gen is not None and c.wait is not None and c.wait.until is not None]
            return min(times) if times else None

    def advance(self, seconds: float) -> None:
        """Move a FrozenClock forward by `seconds`, waking calls at each moment they wait for (tests, `--local`)."""
        clock: Any = self.clock
        target = clock.now() + timedelta(seconds=seconds)
        self.run_due()
        while True:
            wake = self.next_wake()
            if wake is None or wake > target:
                break
            if wake > clock.now():
                clock.set(wake)
            if not self.run_due():
                break
        clock.set(max(target, clock.now()))
        self.run_due()

    def run_until(self, predicate: Callable[[], bool], seconds: float = 600, step: float | None = None) -> bool:
        """Advance a FrozenClock (event by event, or by `step`) until `predicate()` holds or `seconds` have passed."""
        clock: Any = self.clock
        deadline = clock.now() + timedelta(seconds=seconds)
        self.run_due()
        while not predicate():
            now = clock.now()
            if now >= deadline:
                return False
            wake = self.next_wake()
            target = min(deadline, wake if wake is not None and step is None else now + timedelta(seconds=step or 1))
            clock.set(max(target, now + timedelta(milliseconds=1)))
            self.run_due()
        return True

    # == what the softphone shows ==================================================================================
    def snapshot(self, recent: int = 30) -> dict[str, Any]:
        with self.lock:
            live = [c for c in self.calls.values() if not c.ended]
            done = [c for c in self.calls.values() if c.ended][-recent:]
            return {
                "now": self.clock.now().isoformat(),
                "calls": [c.public(self._position(c)) for c in done + live],
                "queues": {name: list(sids) for name, sids in self.queues.items()},
                "messages": self.messages[-20:],
                "labels": dict(self.labels),
                "lines": self.line_numbers,
            }

    def call(self, sid: str) -> Call:
        with self.lock:
            return self.calls[sid]

    def calls_to(self, number: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls.values() if c.to == number]

    def ringing(self, number: str) -> list[Call]:
        """Calls ringing on `number`'s phone now."""
        with self.lock:
            return [c for c in self.calls.values() if c.to == number and c.direction != "inbound"
                    and c.status == "ringing"]

    # == the engine ================================================================================================
    def _new_call(self, from_: str, to: str, direction: str, *, status: str = "queued",
                  parent: Call | None = None) -> Call:
        sid = "CA" + f"{next(self._ids):08x}" + secrets.token_hex(12)
        call = Call(sid=sid, account_sid=self.account_sid, from_=from_, to=to, direction=direction,
                    created_at=self.clock.now(), status=status, parent_sid=parent.sid if parent else None)
        self.calls[sid] = call
        return call

    def _post(self, sid: str, event: Event) -> None:
        with self.lock:
            call = self.calls.get(sid)
            if call is None or call.ended:
                return
            call.inbox.append(event)
        self.wakeup.set()

    def _take_event(self, call: Call) -> Event | None:
        """The first event this call can take now; key presses nobody listens for are dropped, as on Twilio."""
        accepts = call.wait.accepts if call.wait is not None else frozenset()
        for event in list(call.inbox):
            if event.kind == "hangup" or (event.kind == "dequeued" and call.queue is not None) \
                    or event.kind in accepts:
                call.inbox.remove(event)
                return event
            if event.kind == "input":
                call.inbox.remove(event)
                self._line(call, "ignored", f"{event.digits or event.speech} (nothing was listening)")
        return None

    def _deliver(self, call: Call, event: Event) -> None:
        if event.kind == "hangup":
            self._resume(call, None, CallerHungUp())
        elif event.kind == "dequeued":
            self._resume(call, None, Dequeued(event.sid, event.url, event.method))
        else:
            self._resume(call, event)

    def _start(self, call: Call, script: Generator[Wait, Event | None, None]) -> None:
        call.gen = script
        call.wait = Wait(self.clock.now())  # runs on the next run_due (never inside the caller's request)

    def _resume(self, call: Call, value: Event | None, error: BaseException | None = None) -> None:
        gen = call.gen
        if gen is None:
            return
        try:
            call.wait = gen.throw(error) if error is not None else gen.send(value)
        except StopIteration:
            call.gen, call.wait = None, None
            self._end(call, "completed" if call.answered_at else "canceled")
        except CallerHungUp:
            call.gen, call.wait = None, None
            self._end(call, "completed" if call.answered_at else "canceled")
        except Exception as exc:  # a bug in the engine must end one call, not the simulator
            log.exception("simulator: call %s failed", call.sid)
            call.errors.append(f"simulator error: {exc!r}")
            call.gen, call.wait = None, None
            self._end(call, "failed" if call.answered_at is None else "completed")

    def _line(self, call: Call, kind: str, text: str = "", language: str | None = None, url: str | None = None) -> None:
        call.lines.append(Line(self.clock.now(), kind, text, language, url))
        del call.lines[:-MAX_LINES]

    def _position(self, call: Call) -> int | None:
        if call.queue is None:
            return None
        members = self.queues.get(call.queue, [])
        return members.index(call.sid) + 1 if call.sid in members else None

    # -- requests to our app ---------------------------------------------------------------------------------------
    def _params(self, call: Call) -> dict[str, str]:
        params = {
            "CallSid": call.sid, "AccountSid": call.account_sid, "From": call.from_, "To": call.to,
            "Caller": call.from_, "Called": call.to, "CallStatus": call.status, "Direction": call.direction,
            "ApiVersion": API_VERSION,
        }
        if call.parent_sid:
            params["ParentCallSid"] = call.parent_sid
        if call.answered_by:
            params["AnsweredBy"] = call.answered_by
        return params

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        """Twilio's X-Twilio-Signature for a request to `url` with form `params`."""
        return self._validator.compute_signature(url, dict(params))

    def _send(self, method: str, url: str, params: dict[str, str]) -> tuple[int, bytes] | None:
        if method == "GET":
            url = url + ("&" if "?" in url else "?") + urlencode(params)
            params = {}
        headers = {"X-Twilio-Signature": self.sign(url, params), "User-Agent": "TwilioProxy/1.1 (simulator)",
                   "I-Twilio-Idempotency-Token": secrets.token_hex(16)}
        try:
            response = self.http.request(method, url, params, headers)
        except OSError as exc:
            log.warning("simulator: %s %s failed: %s", method, url, exc)
            return None
        return response.status, response.body

    def _fetch(self, call: Call, url: str, method: str, extra: Mapping[str, str]) -> ElementTree.Element | None:
        """Request a TwiML document for `call`; None (and an "application error") when there is no usable one."""
        params = {**self._params(call), **extra}
        answer = self._send(method, url, params)
        status, body = answer if answer is not None else (0, b"")
        call.documents.append(Document(url, method, params, status, body))
        if status != 200:
            call.errors.append(f"{method} {url} answered {status or 'nothing'}")
            self._line(call, "error", f"application error: {url} answered HTTP {status or 'nothing'}")
            return None
        try:
            root = parse_twiml(body)
        except ElementTree.ParseError as exc:
            call.errors.append(f"{url}: not XML ({exc})")
            self._line(call, "error", f"application error: {url} did not answer TwiML")
            return None
        if root.tag != "Response":
            call.errors.append(f"{url}: root element is {root.tag}, not Response")
            self._line(call, "error", f"application error: {url} did not answer TwiML")
            return None
        return root

    def _status_callback(self, call: Call, event: str) -> None:
        if not call.status_callback or event not in call.status_events:
            return
        params = self._params(call)
        params.update({"SequenceNumber": str(call.sequence), "CallbackSource": "call-progress-events",
                       "Timestamp": rfc2822(self.clock.now())})
        call.sequence += 1
        if call.ended:
            params["CallDuration"] = params["Duration"] = str(call.duration)
        self._send(call.status_callback_method, call.status_callback, params)

    def _end(self, call: Call, status: str) -> None:
        if call.ended:
            return
        call.status = status
        call.ended_at = self.clock.now()
        call.listening = None
        self._leave_queue(call)
        self._unbridge(call)
        self._line(call, "ended", status)
        self._status_callback(call, "completed")

    def _answer(self, call: Call, event: Event | None) -> None:
        call.status = "in-progress"
        call.answered_at = self.clock.now()
        if call.machine_detection:
            machine = event is not None and event.machine
            call.answered_by = ("machine_end_beep" if call.machine_detection == "DetectMessageEnd" else
                                "machine_start") if machine else "human"
        self._line(call, "connected", "answered" + (" by voicemail" if event is not None and event.machine else ""))
        self._status_callback(call, "answered")

    # -- bridges and queues ----------------------------------------------------------------------------------------
    def _bridge(self, a: Call, b: Call) -> None:
        now = self.clock.now()
        a.bridged_to, b.bridged_to = b.sid, a.sid
        a.bridged_at = b.bridged_at = now
        self._line(a, "connected", f"talking with {b.person}")
        self._line(b, "connected", f"talking with {a.person}")

    def _unbridge(self, call: Call) -> None:
        other_sid, call.bridged_to = call.bridged_to, None
        if other_sid is None:
            return
        other = self.calls.get(other_sid)
        if other is not None and other.bridged_to == call.sid:
            other.bridged_to = None
            self._line(other, "info", f"{call.person} left the call")
            other.inbox.append(Event("bridge_end", sid=call.sid))

    def _leave_queue(self, call: Call) -> None:
        if call.queue is None:
            return
        members = self.queues.get(call.queue, [])
        if call.sid in members:
            members.remove(call.sid)
        if call.enqueued_at is not None:
            waits = self.queue_waits.setdefault(call.queue, deque(maxlen=20))
            waits.append((self.clock.now() - call.enqueued_at).total_seconds())
        call.queue = None

    def _queue_params(self, call: Call, name: str) -> dict[str, str]:
        members = self.queues.get(name, [])
        waits = self.queue_waits.get(name) or [0.0]
        waited = (self.clock.now() - call.enqueued_at).total_seconds() if call.enqueued_at else 0
        return {
            "QueueSid": "QU" + format(abs(hash(name)) % 16**32, "032x"),
            "QueuePosition": str(members.index(call.sid) + 1 if call.sid in members else 0),
            "QueueTime": str(int(waited)),
            "AvgQueueTime": str(int(sum(waits) / len(waits))),
            "CurrentQueueSize": str(len(members)),
        }

    # -- scripts (one generator per call leg) ----------------------------------------------------------------------
    def _pause(self, seconds: float, accepts: frozenset[str] = frozenset(),
               ) -> Generator[Wait, Event | None, Event | None]:
        event = yield Wait(self.clock.now() + timedelta(seconds=max(0.0, seconds)), accepts)
        return event

    def _inbound_script(self, call: Call) -> Generator[Wait, Event | None, None]:
        self._answer(call, None)
        yield from self._run_documents(call, self.voice_url, "POST")

    def _ring(self, call: Call) -> Generator[Wait, Event | None, Event | None]:
        """Ring the called phone until it answers (returns the answer), declines, or times out (returns None)."""
        call.status = "initiated"
        self._status_callback(call, "initiated")
        call.status = "ringing"
        self._line(call, "ring", f"incoming call from {call.from_}")
        self._status_callback(call, "ringing")
        until = self.clock.now() + timedelta(seconds=call.timeout) if call.direction == "outbound-api" else None
        try:
            event = yield Wait(until, frozenset({"answer", "decline", "cancel"}))
        except CallerHungUp:
            self._end(call, "canceled")
            return None
        if event is None:
            self._end(call, "no-answer")
            return None
        if event.kind == "decline":
            self._end(call, "busy")
            return None
        if event.kind == "cancel":
            self._end(call, event.status or "canceled")
            return None
        self._answer(call, event)
        return event

    def _outbound_script(self, call: Call) -> Generator[Wait, Event | None, None]:
        if (yield from self._ring(call)) is None:
            return
        if call.twiml:
            try:
                root = parse_twiml(call.twiml.encode())
            except ElementTree.ParseError:
                self._line(call, "error", "application error: the Twiml parameter is not XML")
                return
            call.documents.append(Document("(Twiml parameter)", "", {}, 200, call.twiml.encode()))
            outcome = yield from self._execute(call, root, self.base_url + "/")
            if outcome[0] == "goto":
                yield from self._run_documents(call, outcome[1], outcome[2], outcome[3])
            return
        assert call.url is not None
        yield from self._run_documents(call, call.url, call.method)

    def _run_documents(self, call: Call, url: str, method: str, extra: Mapping[str, str] | None = None,
                       ) -> Generator[Wait, Event | None, str]:
        """Fetch and execute documents (following Redirects and actions) until one ends or hangs up."""
        target: tuple[str, str, Mapping[str, str]] | None = (url, method, extra or {})
        while target is not None:
            root = self._fetch(call, *target)
            if root is None:
                yield from self._pause(1)
                return "error"
            outcome = yield from self._execute(call, root, target[0])
            if outcome[0] != "goto":
                return outcome[0]
            target = (outcome[1], outcome[2], outcome[3])  # type: ignore[assignment]
        return "end"

    def _execute(self, call: Call, root: ElementTree.Element, doc_url: str, *, waiting: str | None = None,
                 ) -> Generator[Wait, Event | None, Outcome]:
        """Run the verbs of one document; `waiting` is the queue name when this is an Enqueue's waitUrl."""
        index = len(call.documents) - 1
        for verb in root:
            call.executed.append(Executed(index, verb.tag, dict(verb.attrib), (verb.text or "").strip()))
            tag = verb.tag
            if tag in ("Say", "Play", "Pause"):
                yield from self._media(call, verb, doc_url, frozenset())
            elif tag == "Gather":
                outcome = yield from self._gather(call, verb, doc_url, index)
                if outcome is not None:
                    return outcome
            elif tag == "Redirect":
                return ("goto", _resolve(doc_url, (verb.text or "").strip()), _method(verb), {})
            elif tag == "Hangup":
                return ("hangup",)
            elif tag == "Reject":
                self._line(call, "info", "the call was rejected")
                return ("hangup",)
            elif tag == "Leave":
                if waiting is not None:
                    return ("leave",)
            elif tag == "Enqueue" and waiting is None:
                outcome = yield from self._enqueue(call, verb, doc_url)
                if outcome is not None:
                    return outcome
            elif tag == "Dial" and waiting is None:
                outcome = yield from self._dial(call, verb, doc_url)
                if outcome is not None:
                    return outcome
            else:
                call.errors.append(f"verb {tag} not supported here")
                self._line(call, "info", f"(the simulator skipped <{tag}>)")
        return ("end",)

    def _media(self, call: Call, verb: ElementTree.Element, doc_url: str, accepts: frozenset[str],
               ) -> Generator[Wait, Event | None, Event | None]:
        """Say, Play or Pause; returns the event that interrupted it (a key press inside a Gather), if any."""
        loops = _int(verb.get("loop"), 1)
        loops = 1 if loops <= 0 else min(loops, 5)
        if verb.tag == "Pause":
            return (yield from self._pause(_int(verb.get("length"), 1), accepts))
        if verb.tag == "Say":
            text = " ".join((verb.text or "").split())
            self._line(call, "say", text, verb.get("language") or "en-US")
            seconds = max(1.0, len(text) / self.say_rate) * loops
        else:
            url = _resolve(doc_url, (verb.text or "").strip())
            self._line(call, "play", url.rsplit("/", 1)[-1], url=url)
            seconds = self._audio_length(url) * loops
        return (yield from self._pause(seconds, accepts))

    def _audio_length(self, url: str) -> float:
        """Seconds of a WAV prompt (from its header), else a guess."""
        if url not in self._audio_seconds:
            seconds = 3.0
            answer = self._send("GET", url, {}) if url.startswith(self.base_url) else None
            if answer is not None and answer[0] == 200:
                seconds = _wav_seconds(answer[1]) or seconds
            self._audio_seconds[url] = seconds
        return self._audio_seconds[url]

    def _gather(self, call: Call, verb: ElementTree.Element, doc_url: str, index: int,
                ) -> Generator[Wait, Event | None, Outcome | None]:
        modes = set((verb.get("input") or "dtmf").split())
        timeout = _int(verb.get("timeout"), GATHER_TIMEOUT)
        num_digits = _int(verb.get("numDigits"), 0) or None
        finish = verb.get("finishOnKey", "#")
        action = _resolve(doc_url, verb.get("action") or doc_url)
        call.listening = {"input": sorted(modes), "numDigits": num_digits, "finishOnKey": finish,
                          "language": verb.get("language"), "hints": verb.get("hints")}
        self._line(call, "listen", " and ".join("keys" if m == "dtmf" else m for m in sorted(modes)))
        listen = frozenset({"input"})
        event: Event | None = None
        for child in verb:
            call.executed.append(Executed(index, child.tag, dict(child.attrib), (child.text or "").strip()))
            if child.tag in ("Say", "Play", "Pause"):
                event = yield from self._media(call, child, doc_url, listen)
                if event is not None:
                    break  # barge-in: a key (or words) interrupts the prompt
        digits, speech, finished_on = "", None, ""
        while True:
            if event is None:
                event = yield Wait(self.clock.now() + timedelta(seconds=timeout), listen)
                if event is None:
                    break
            if event.speech is not None:
                if "speech" in modes:
                    self._line(call, "said", event.speech)
                    speech = event.speech
                    break
                self._line(call, "ignored", f"{event.speech} (only keys are listened for)")
            elif "dtmf" in modes:
                self._line(call, "pressed", event.digits)
                done = False
                for key in event.digits:
                    if finish and key == finish:
                        finished_on, done = key, True
                        break
                    digits += key
                    if num_digits and len(digits) >= num_digits:
                        done = True
                        break
                if done:
                    break
            else:
                self._line(call, "ignored", f"{event.digits} (only speech is listened for)")
            event = None
        call.listening = None
        params: dict[str, str] = {}
        if speech is not None:
            params = {"SpeechResult": speech, "Confidence": "0.9"}
        elif digits:
            params = {"Digits": digits}
            if finished_on:
                params["FinishedOnKey"] = finished_on
        if params or verb.get("actionOnEmptyResult") == "true":
            return ("goto", action, _method(verb), params)
        return None  # nothing heard: Twilio goes on with the next verb

    def _enqueue(self, call: Call, verb: ElementTree.Element, doc_url: str,
                 ) -> Generator[Wait, Event | None, Outcome | None]:
        name = (verb.text or "").strip() or "default"
        action = _resolve(doc_url, verb.get("action")) if verb.get("action") else None
        wait_url = _resolve(doc_url, verb.get("waitUrl")) if verb.get("waitUrl") else None
        wait_method = (verb.get("waitUrlMethod") or "POST").upper()
        self.queues.setdefault(name, []).append(call.sid)
        call.queue, call.enqueued_at = name, self.clock.now()
        self._line(call, "queue", f"waiting in queue {name}")
        result = "hangup"
        queue_params = self._queue_params(call, name)
        try:
            while True:
                if wait_url is None:
                    yield Wait(None)
                    continue
                started = self.clock.now()
                result = yield from self._wait_documents(call, name, wait_url, wait_method)
                if result in ("leave", "hangup", "error"):
                    if result == "error":
                        result = "system-error"
                    break
                spent = (self.clock.now() - started).total_seconds()
                if spent < MIN_WAIT_LOOP:
                    yield from self._pause(MIN_WAIT_LOOP - spent)
        except Dequeued as taken:
            queue_params = self._queue_params(call, name)
            self._leave_queue(call)
            call.listening = None
            if taken.url:
                # Twilio runs the <Queue url> document on the dequeued caller before connecting them.
                root = self._fetch(call, taken.url, taken.method, {**queue_params, "DequeingCallSid": taken.by})
                if root is not None:
                    yield from self._execute(call, root, taken.url)
            agent = self.calls.get(taken.by)
            if agent is not None and not agent.ended:
                self._bridge(call, agent)
                agent.inbox.append(Event("child_ready", sid=call.sid))
                try:
                    yield Wait(None, frozenset({"bridge_end"}))
                except CallerHungUp:
                    # Twilio still tells the Enqueue's action how the wait ended (its answer is not played).
                    self._unbridge(call)
                    if action:
                        self._send(_method(verb), action,
                                   {**self._params(call), **queue_params, "QueueResult": "bridged"})
                    raise
            result = "bridged"
        except CallerHungUp:
            queue_params = self._queue_params(call, name)
            self._leave_queue(call)
            if action:
                self._send(_method(verb), action, {**self._params(call), **queue_params, "QueueResult": "hangup"})
            raise
        else:
            queue_params = self._queue_params(call, name)
        finally:
            self._leave_queue(call)
        self._line(call, "info", f"left queue {name} ({result})")
        if result == "hangup":
            return ("hangup",)
        if action:
            params = {"QueueResult": result, "QueueSid": queue_params["QueueSid"],
                      "QueueTime": queue_params["QueueTime"]}
            return ("goto", action, _method(verb), params)
        return None

    def _wait_documents(self, call: Call, name: str, url: str, method: str) -> Generator[Wait, Event | None, str]:
        """One round of the waitUrl: its document and whatever its Gathers and Redirects lead to."""
        target: tuple[str, str, Mapping[str, str]] | None = (url, method, {})
        while target is not None:
            params = {**self._queue_params(call, name), **target[2]}
            root = self._fetch(call, target[0], target[1], params)
            if root is None:
                return "error"
            outcome = yield from self._execute(call, root, target[0], waiting=name)
            if outcome[0] != "goto":
                return outcome[0]
            target = (outcome[1], outcome[2], outcome[3])  # type: ignore[assignment]
        return "end"

    def _dial(self, call: Call, verb: ElementTree.Element, doc_url: str,
              ) -> Generator[Wait, Event | None, Outcome | None]:
        action = _resolve(doc_url, verb.get("action")) if verb.get("action") else None
        timeout = _int(verb.get("timeout"), DIAL_TIMEOUT) or DIAL_TIMEOUT
        time_limit = min(_int(verb.get("timeLimit"), MAX_TIME_LIMIT) or MAX_TIME_LIMIT, MAX_TIME_LIMIT)
        caller_id = verb.get("callerId") or call.from_
        nouns = list(verb) or [_number_noun((verb.text or "").strip())]
        children: list[Call] = []
        status, bridged_with, bridged_seconds = "failed", None, 0
        try:
            queue_nouns = [n for n in nouns if n.tag == "Queue"]
            if queue_nouns:
                name = (queue_nouns[0].text or "").strip()
                self._line(call, "info", f"taking the next caller from queue {name}")
                members = self.queues.get(name, [])
                until = self.clock.now() + timedelta(seconds=timeout)
                while not members:
                    if self.clock.now() >= until:
                        break
                    yield from self._pause(1)
                    members = self.queues.get(name, [])
                if not members:
                    status = "no-answer"
                else:
                    member = self.calls[members.pop(0)]
                    # Out of the line at once; its script learns it was taken when it next runs (Dequeued).
                    url = _resolve(doc_url, queue_nouns[0].get("url")) if queue_nouns[0].get("url") else ""
                    member.inbox.append(Event("dequeued", sid=call.sid, url=url,
                                              method=(queue_nouns[0].get("method") or "POST").upper()))
                    event = yield Wait(self.clock.now() + timedelta(seconds=timeout), frozenset({"child_ready"}))
                    if event is None:  # the caller hung up before being connected
                        status = "no-answer"
                    else:
                        bridged_with = member
                        started = self.clock.now()
                        event = yield Wait(started + timedelta(seconds=time_limit), frozenset({"bridge_end"}))
                        bridged_seconds = int((self.clock.now() - started).total_seconds())
                        if event is None:
                            member.inbox.append(Event("hangup"))
                        status = "completed"
            else:
                for noun in nouns:
                    if noun.tag != "Number":
                        call.errors.append(f"<Dial><{noun.tag}> is not simulated")
                        self._line(call, "info", f"(the simulator cannot dial a {noun.tag})")
                        continue
                    children.append(self._dial_number(call, noun, caller_id, doc_url))
                if children:
                    self._line(call, "info", "ringing " + ", ".join(c.to for c in children))
                    until = self.clock.now() + timedelta(seconds=timeout)
                    failed: dict[str, str] = {}
                    while True:
                        event = yield Wait(until, frozenset({"child_ready", "child_failed"}))
                        if event is None:
                            status = "no-answer"
                            break
                        if event.sid not in {c.sid for c in children}:
                            continue  # news of a leg from an earlier Dial
                        if event.kind == "child_failed":
                            failed[event.sid] = event.status
                            if len(failed) == len(children):
                                status = event.status
                                break
                            continue
                        bridged_with = self.calls[event.sid]
                        break
                    for child in children:
                        if child is not bridged_with and not child.ended:
                            child.inbox.append(Event("cancel", status="no-answer" if event is None else "canceled"))
                    if bridged_with is not None:
                        self._bridge(call, bridged_with)
                        started = self.clock.now()
                        event = yield Wait(started + timedelta(seconds=time_limit), frozenset({"bridge_end"}))
                        bridged_seconds = int((self.clock.now() - started).total_seconds())
                        if event is None:
                            bridged_with.inbox.append(Event("hangup"))
                        status = "completed"
        except CallerHungUp:
            for child in children:
                if not child.ended:
                    child.inbox.append(Event("hangup" if child.answered_at else "cancel", status="canceled"))
            if bridged_with is not None and not bridged_with.ended:
                bridged_with.inbox.append(Event("hangup"))
            if action:
                params = {**self._params(call), "DialCallStatus": "completed" if bridged_with else "canceled",
                          "DialCallSid": bridged_with.sid if bridged_with else "", "DialCallDuration": "0"}
                self._send(_method(verb), action, params)
            raise
        finally:
            self._unbridge(call)
        self._line(call, "info", f"dial ended: {status}")
        if action:
            params = {"DialCallStatus": status, "DialBridged": "true" if bridged_with else "false"}
            if bridged_with is not None:
                params.update(DialCallSid=bridged_with.sid, DialCallDuration=str(bridged_seconds))
            elif children:
                params["DialCallSid"] = children[0].sid
            return ("goto", action, _method(verb), params)
        return None

    def _dial_number(self, parent: Call, noun: ElementTree.Element, caller_id: str, doc_url: str) -> Call:
        child = self._new_call(caller_id, (noun.text or "").strip(), "outbound-dial", parent=parent)
        child.status_callback = _resolve(doc_url, noun.get("statusCallback")) if noun.get("statusCallback") else None
        child.status_callback_method = (noun.get("statusCallbackMethod") or "POST").upper()
        child.status_events = frozenset((noun.get("statusCallbackEvent") or "completed").replace(",", " ").split())
        child.url = _resolve(doc_url, noun.get("url")) if noun.get("url") else None
        child.method = (noun.get("method") or "POST").upper()
        child.machine_detection = noun.get("machineDetection")
        self._start(child, self._child_script(child, parent.sid))
        return child

    def _child_script(self, child: Call, parent_sid: str) -> Generator[Wait, Event | None, None]:
        """A leg made by <Dial><Number>: ring, run the whisper `url` if any, then stay bridged until one side ends."""
        if not E164.match(child.to):
            self._end(child, "failed")
            self._tell(parent_sid, Event("child_failed", status="failed", sid=child.sid))
            return
        answer = yield from self._ring(child)
        if answer is None:
            self._tell(parent_sid, Event("child_failed", status=child.status, sid=child.sid))
            return
        try:
            if child.url:
                outcome = yield from self._run_documents(child, child.url, child.method)
                if outcome != "end":
                    self._end(child, "completed")
                    self._tell(parent_sid, Event("child_failed", status="completed", sid=child.sid))
                    return
            self._tell(parent_sid, Event("child_ready", sid=child.sid))
            yield Wait(None, frozenset({"bridge_end"}))
        except CallerHungUp:
            if child.bridged_to is None:
                self._tell(parent_sid, Event("child_failed", status="completed", sid=child.sid))
            raise

    def _tell(self, sid: str, event: Event) -> None:
        call = self.calls.get(sid)
        if call is not None and not call.ended:
            call.inbox.append(event)


class SimulatorThread(threading.Thread):
    """Runs the engine in real time: resumes due calls every `interval` seconds, or at once when woken."""

    def __init__(self, simulator: Simulator, interval: float = 0.1):
        super().__init__(name="telephony-simulator", daemon=True)
        self.simulator = simulator
        self.interval = interval
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.simulator.wakeup.wait(self.interval)
            self.simulator.wakeup.clear()
            try:
                self.simulator.run_due()
            except Exception:  # keep the phones ringing whatever one call did
                log.exception("simulator step failed")

    def stop(self) -> None:
        self.stopping.set()
        self.simulator.wakeup.set()


def parse_twiml(body: bytes) -> ElementTree.Element:
    """Parse a TwiML document; a DOCTYPE (entity tricks) is refused, as TwiML never needs one."""
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise ElementTree.ParseError("DOCTYPE and ENTITY declarations are not accepted in TwiML")
    return ElementTree.fromstring(body)  # noqa: S314 - no DTD possible (checked above); expat fetches nothing


def _resolve(base: str, url: str | None) -> str:
    return urljoin(base, url or "")


def _method(verb: ElementTree.Element) -> str:
    return (verb.get("method") or "POST").upper()


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def _number_noun(number: str) -> ElementTree.Element:
    noun = ElementTree.Element("Number")
    noun.text = number
    return noun


def _parse_date(value: str) -> datetime | None:
    from datetime import UTC

    value = value.strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _wav_seconds(body: bytes) -> float | None:
    """Duration of a PCM WAV file from its header (espeak-ng's rendered prompts), None if not one."""
    if len(body) < 44 or body[:4] != b"RIFF" or body[8:12] != b"WAVE":
        return None
    offset, byte_rate = 12, 0
    while offset + 8 <= len(body):
        chunk, size = body[offset:offset + 4], struct.unpack("<I", body[offset + 4:offset + 8])[0]
        if chunk == b"fmt " and offset + 20 <= len(body):
            byte_rate = struct.unpack("<I", body[offset + 16:offset + 20])[0]
        if chunk == b"data" and byte_rate:
            return min(size, len(body) - offset - 8) / byte_rate
        offset += 8 + size + (size & 1)
    return None


__all__ = ["Call", "CallerHungUp", "Event", "Line", "Simulator", "SimulatorError", "SimulatorThread", "Wait",
           "new_account", "parse_twiml", "rfc2822"]
