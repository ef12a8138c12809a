"""The switchboard: what the simulated Twilio knows and does to call legs, shared by every other part.

It holds the legs, the queues and the messages, creates, answers, bridges and ends legs, and is the wire to our
app: it signs and sends requests (webhooks, status callbacks) with Twilio's parameters.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import threading
from collections import deque
from collections.abc import Generator, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from callbacks.clock import Clock
from telephony.simulator.calls import API_VERSION, MAX_LINES, Call, Event, Line, Wait, rfc2822
from telephony.simulator.http import HttpClient

log = logging.getLogger(__name__)


class Switchboard:
    """The simulated account's calls, queues and messages, and the signed wire to our app."""

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
        self.calls: dict[str, Call] = {}
        self.queues: dict[str, list[str]] = {}
        self.queue_waits: dict[str, deque[float]] = {}
        self.messages: list[dict[str, Any]] = []
        self.labels: dict[str, str] = {}
        self.lock = threading.RLock()
        self.wakeup = threading.Event()
        self._ids = itertools.count(1)
        self._validator = RequestValidator(auth_token)

    # -- call legs -------------------------------------------------------------------------------------------------
    def new_call(self, from_: str, to: str, direction: str, *, status: str = "queued",
                 parent: Call | None = None) -> Call:
        sid = "CA" + f"{next(self._ids):08x}" + secrets.token_hex(12)
        call = Call(sid=sid, account_sid=self.account_sid, from_=from_, to=to, direction=direction,
                    created_at=self.clock.now(), status=status, parent_sid=parent.sid if parent else None)
        self.calls[sid] = call
        return call

    def new_message_sid(self) -> str:
        return "SM" + f"{next(self._ids):032x}"

    def start(self, call: Call, script: Generator[Wait, Event | None, None]) -> None:
        call.gen = script
        call.wait = Wait(self.clock.now())  # runs on the next run_due (never inside the caller's request)

    def post(self, sid: str, event: Event) -> None:
        with self.lock:
            call = self.calls.get(sid)
            if call is None or call.ended:
                return
            call.inbox.append(event)
        self.wakeup.set()

    def tell(self, sid: str, event: Event) -> None:
        call = self.calls.get(sid)
        if call is not None and not call.ended:
            call.inbox.append(event)

    def line(self, call: Call, kind: str, text: str = "", language: str | None = None, url: str | None = None) -> None:
        call.lines.append(Line(self.clock.now(), kind, text, language, url))
        del call.lines[:-MAX_LINES]

    def position(self, call: Call) -> int | None:
        if call.queue is None:
            return None
        members = self.queues.get(call.queue, [])
        return members.index(call.sid) + 1 if call.sid in members else None

    def end(self, call: Call, status: str) -> None:
        if call.ended:
            return
        call.status = status
        call.ended_at = self.clock.now()
        call.listening = None
        self.leave_queue(call)
        self.unbridge(call)
        self.line(call, "ended", status)
        self.status_callback(call, "completed")

    def answer(self, call: Call, event: Event | None) -> None:
        call.status = "in-progress"
        call.answered_at = self.clock.now()
        if call.machine_detection:
            machine = event is not None and event.machine
            call.answered_by = ("machine_end_beep" if call.machine_detection == "DetectMessageEnd" else
                                "machine_start") if machine else "human"
        self.line(call, "connected", "answered" + (" by voicemail" if event is not None and event.machine else ""))
        self.status_callback(call, "answered")

    # -- bridges and queues ----------------------------------------------------------------------------------------
    def bridge(self, a: Call, b: Call) -> None:
        now = self.clock.now()
        a.bridged_to, b.bridged_to = b.sid, a.sid
        a.bridged_at = b.bridged_at = now
        self.line(a, "connected", f"talking with {b.person}")
        self.line(b, "connected", f"talking with {a.person}")

    def unbridge(self, call: Call) -> None:
        other_sid, call.bridged_to = call.bridged_to, None
        if other_sid is None:
            return
        other = self.calls.get(other_sid)
        if other is not None and other.bridged_to == call.sid:
            other.bridged_to = None
            self.line(other, "info", f"{call.person} left the call")
            other.inbox.append(Event("bridge_end", sid=call.sid))

    def leave_queue(self, call: Call) -> None:
        if call.queue is None:
            return
        members = self.queues.get(call.queue, [])
        if call.sid in members:
            members.remove(call.sid)
        if call.enqueued_at is not None:
            waits = self.queue_waits.setdefault(call.queue, deque(maxlen=20))
            waits.append((self.clock.now() - call.enqueued_at).total_seconds())
        call.queue = None

    def queue_params(self, call: Call, name: str) -> dict[str, str]:
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

    # -- requests to our app ---------------------------------------------------------------------------------------
    def params(self, call: Call) -> dict[str, str]:
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

    def send(self, method: str, url: str, params: dict[str, str]) -> tuple[int, bytes] | None:
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

    def status_callback(self, call: Call, event: str) -> None:
        if not call.status_callback or event not in call.status_events:
            return
        params = self.params(call)
        params.update({"SequenceNumber": str(call.sequence), "CallbackSource": "call-progress-events",
                       "Timestamp": rfc2822(self.clock.now())})
        call.sequence += 1
        if call.ended:
            params["CallDuration"] = params["Duration"] = str(call.duration)
        self.send(call.status_callback_method, call.status_callback, params)


__all__ = ["Switchboard"]
