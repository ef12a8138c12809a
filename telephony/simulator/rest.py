"""Twilio's REST resources, simulated: Calls (create, list, fetch, update) and Messages (create).

`telephony.simulator.web` serves them over HTTP at `/simulator/2010-04-01/...`, so the worker reaches the simulator
through the real Twilio adapter; errors are Twilio's (HTTP status, error code, message).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from callbacks.calls import CANCELABLE_CALL_STATUSES
from telephony.simulator.calls import API_VERSION, E164, RING_TIMEOUT, Call, Event, rfc2822
from telephony.simulator.switchboard import Switchboard
from telephony.simulator.twiml import TwimlInterpreter


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


class RestResources:
    """The Calls and Messages resources of the simulated account."""

    def __init__(self, board: Switchboard, interpreter: TwimlInterpreter):
        self.board = board
        self.interpreter = interpreter

    def check_account(self, account_sid: str, username: str, password: str) -> None:
        """Refuse a request not made with this account's SID and auth token (HTTP basic auth), as Twilio does."""
        if username != self.board.account_sid or not secrets.compare_digest(password, self.board.auth_token):
            raise SimulatorError(401, 20003, "Authenticate")
        if account_sid != self.board.account_sid:
            raise SimulatorError(404, 20404, f"The requested resource /Accounts/{account_sid} was not found")

    def create_call(self, form: Mapping[str, Any]) -> dict[str, Any]:
        """POST .../Calls.json. `form` maps names to a value or a list of values (repeated keys)."""
        to, from_, url, twiml = (_single(form, name) for name in ("To", "From", "Url", "Twiml"))
        if not to:
            raise SimulatorError(400, 21201, "No 'To' number is specified")
        if not from_:
            raise SimulatorError(400, 21213, "No 'From' number is specified")
        if not url and not twiml:
            raise SimulatorError(400, 21205, "Url parameter is required")
        if not E164.match(to):
            raise SimulatorError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        raw_timeout = _single(form, "Timeout") or str(RING_TIMEOUT)
        if not raw_timeout.isdigit():
            raise SimulatorError(400, 21220, f"Invalid Timeout value {raw_timeout!r}")
        events_raw = form.get("StatusCallbackEvent") or []
        events = [events_raw] if isinstance(events_raw, str) else list(events_raw)
        with self.board.lock:
            call = self.board.new_call(from_, to, "outbound-api")
            call.url, call.twiml = url or None, twiml or None
            call.method = _single(form, "Method").upper() or "POST"
            call.timeout = max(1, min(600, int(raw_timeout)))
            call.status_callback = _single(form, "StatusCallback") or None
            call.status_callback_method = _single(form, "StatusCallbackMethod").upper() or "POST"
            call.status_events = frozenset(" ".join(events).split()) or frozenset({"completed"})
            call.machine_detection = _single(form, "MachineDetection") or None
            self.board.start(call, self.interpreter.outbound_script(call))
            resource = call.resource()
        self.board.wakeup.set()
        return resource

    def fetch_call(self, sid: str) -> dict[str, Any]:
        """GET .../Calls/{sid}.json."""
        with self.board.lock:
            call = self.board.calls.get(sid)
            if call is None:
                raise SimulatorError(404, 20404, f"The requested resource /Calls/{sid}.json was not found")
            return call.resource()

    def list_calls(self, filters: Mapping[str, str], limit: int = 50) -> list[dict[str, Any]]:
        """Newest first, filtered like Twilio's Calls list (To, From, ParentCallSid, Status, StartTime>, ...)."""
        after = _parse_date(filters.get("StartTime>") or filters.get("StartTime>=") or "")
        before = _parse_date(filters.get("StartTime<") or filters.get("StartTime<=") or "")
        with self.board.lock:
            found = []
            for call in reversed(list(self.board.calls.values())):
                if _matches(call, filters, after, before):
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
        with self.board.lock:
            call = self.board.calls.get(sid)
            if call is None:
                raise SimulatorError(404, 20404, f"The requested resource /Calls/{sid}.json was not found")
            # A pick-up (or a decline) already on its way wins, as when the phone is answered while Twilio
            # handles the request: the answer then shows the call still ringing, and the cancel did nothing.
            pending = {event.kind for event in call.inbox}
            if status and call.status in CANCELABLE_CALL_STATUSES and not pending & {"answer", "decline"}:
                self._cancel(call)
            elif status == "completed" and not call.ended:
                self.board.post(sid, Event("hangup"))
            resource = call.resource()
        self.board.wakeup.set()
        return resource

    def _cancel(self, call: Call) -> None:
        """End a call nobody answered yet, at once: the REST answer already shows it `canceled`, like Twilio's."""
        if call.direction == "outbound-api" and call.gen is not None:
            call.gen.close()  # the ring is over; nothing of its script runs any more
            call.gen, call.wait = None, None
            call.inbox.clear()
            self.board.end(call, "canceled")
        else:
            # A <Dial> leg: its parent's script hears of it and goes on with DialCallStatus.
            call.inbox.appendleft(Event("cancel", status="canceled"))

    def send_message(self, form: Mapping[str, str]) -> dict[str, Any]:
        """POST .../Messages.json: kept for the softphone page, and delivered at once."""
        to, from_, body = (form.get(k, "").strip() for k in ("To", "From", "Body"))
        if not to:
            raise SimulatorError(400, 21604, "A 'To' phone number is required.")
        if not body:
            raise SimulatorError(400, 21602, "Message body is required.")
        with self.board.lock:
            sid = self.board.new_message_sid()
            now = self.board.clock.now()
            message = {"sid": sid, "account_sid": self.board.account_sid, "to": to, "from": from_, "body": body,
                       "status": "delivered", "direction": "outbound-api", "date_created": rfc2822(now),
                       "date_sent": rfc2822(now), "api_version": API_VERSION, "num_segments": "1",
                       "uri": f"/{API_VERSION}/Accounts/{self.board.account_sid}/Messages/{sid}.json"}
            self.board.messages.append(message)
        return message


def _single(form: Mapping[str, Any], name: str) -> str:
    """One form field as text: the first of repeated values, stripped; "" when missing."""
    value = form.get(name)
    if isinstance(value, list | tuple):
        value = value[0] if value else ""
    return str(value or "").strip()


def _matches(call: Call, filters: Mapping[str, str], after: datetime | None, before: datetime | None) -> bool:
    """Whether the Calls list filters (To, From, ParentCallSid, Status, StartTime>, StartTime<) keep `call`."""
    for name, value in (("To", call.to), ("From", call.from_), ("ParentCallSid", call.parent_sid),
                        ("Status", call.status)):
        if filters.get(name) and value != filters[name]:
            return False
    started = call.answered_at or call.created_at
    return (after is None or started >= after) and (before is None or started < before)


def _parse_date(value: str) -> datetime | None:
    """An ISO date or time from a list filter, read as UTC when it has no offset; None when unreadable."""
    value = value.strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


__all__ = ["RestResources", "SimulatorError"]
