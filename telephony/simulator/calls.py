"""One simulated call leg as Twilio shows it (`Call`), what happens on it (`Line`), and the signals its script gets.

Each leg runs as a generator script (see `telephony.simulator.twiml`) that yields `Wait`s and receives `Event`s;
`CallerHungUp` and `Dequeued` are thrown into it.
"""

from __future__ import annotations

import re
import secrets
from collections import deque
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from callbacks.calls import TERMINAL_CALL_STATUSES

API_VERSION = "2010-04-01"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# Twilio's default ring time for a REST call.
RING_TIMEOUT = 60
MAX_LINES = 400


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
        return self.status in TERMINAL_CALL_STATUSES

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


__all__ = ["API_VERSION", "E164", "MAX_LINES", "RING_TIMEOUT", "Call", "CallerHungUp", "Dequeued",
           "Document", "Event", "Executed", "Line", "Wait", "new_account", "rfc2822"]
