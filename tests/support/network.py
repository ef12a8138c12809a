"""A pretend phone network for the callback worker: it plays Twilio's part for our outbound calls.

The dispatcher dials through a FakeProvider; `PhoneNetwork` then answers the agent's phone, presses keys,
rings the customer and posts signed status callbacks to the app, checking every TwiML answer against
Twilio's schema, the way Twilio would drive a real call.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lxml import etree
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from callbacks.agents import add_agent
from callbacks.models import Agent, Attempt, Callback
from scheduler.dispatcher import Dispatcher
from telephony.fake import FakeProvider
from tests.conftest import SHARED

BASE_URL = "https://support.example.com"
CALLER_ID = "+14155550100"
TOKEN = "test-auth-token"
CUSTOMER = "+989121234567"
_seq = itertools.count(1)


@cache
def twiml_schema() -> etree.XMLSchema | None:
    path = SHARED / "twilio" / "twiml-voice.xsd"
    if not path.is_file():
        print(f"TwiML schema not found at {path}: responses are not schema-checked")
        return None
    return etree.XMLSchema(etree.parse(str(path)))


def valid_twiml(body: bytes) -> Any:
    root = etree.fromstring(body)
    schema = twiml_schema()
    if schema is not None and not schema.validate(root):
        raise AssertionError(f"TwiML not valid against twiml-voice.xsd: {schema.error_log}\n{body.decode()}")
    return root


def said(root: Any) -> str:
    return " ".join(el.text or "" for el in root.iter("Say"))


def attempt_id_of(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["attempt"][0])


@dataclass
class PhoneNetwork:
    """Drives calls for one app: signed posts to our Twilio URLs, in the order Twilio would make them."""

    client: Any
    provider: FakeProvider
    posted: list[tuple[str, dict[str, str], int]] = field(default_factory=list)

    def post(self, url: str, form: dict[str, str]) -> Any:
        parts = urlsplit(url)
        signature = RequestValidator(TOKEN).compute_signature(url, form)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        response = self.client.post(path, data=form, headers={"X-Twilio-Signature": signature})
        self.posted.append((url, form, response.status_code))
        return response

    def twiml(self, url: str, form: dict[str, str]) -> Any:
        response = self.post(url, form)
        assert response.status_code == 200, response.data
        return valid_twiml(response.data)

    def status(self, attempt: int, leg: str, sid: str, status: str, sequence: int | None = None,
               **extra: str) -> int:
        form = {"CallSid": sid, "CallStatus": status, "SequenceNumber": str(sequence if sequence is not None
                                                                            else next(_seq))}
        form.update(extra)
        response = self.post(f"{BASE_URL}/twilio/status?attempt={attempt}&leg={leg}", form)
        assert response.status_code == 204, response.data
        return response.status_code

    # -- agent first -----------------------------------------------------------------------------------------------
    def agent_answers(self, index: int = -1) -> tuple[int, str, Any]:
        """The agent's phone (the call the worker placed) rings and is answered; returns (attempt, sid, TwiML)."""
        request = self.provider.requests[index]
        call = self.provider.calls_to(request.to)[-1]
        attempt = attempt_id_of(request.url)
        self.status(attempt, "agent", call.sid, "ringing", 1)
        self.status(attempt, "agent", call.sid, "in-progress", 2)
        root = self.twiml(request.url, {"CallSid": call.sid, "CallStatus": "in-progress", "To": request.to})
        return attempt, call.sid, root

    def agent_presses(self, root: Any, digits: str, agent_sid: str) -> Any:
        action = root.find("Gather").get("action")
        return self.twiml(action, {"CallSid": agent_sid, "Digits": digits})

    def customer_leg(self, dial_root: Any, agent_sid: str) -> tuple[int, str, str, str]:
        """Twilio starts the <Dial> child leg; returns (attempt, child sid, status URL, whisper URL)."""
        number = dial_root.find("Dial/Number")
        child = self.provider.add_child(agent_sid, number.text, dial_root.find("Dial").get("callerId"))
        status_url = number.get("statusCallback")
        return attempt_id_of(status_url), child.sid, status_url, number.get("url")

    def agent_first_call(self, customer_status: str, *, talk: int = 0, answered_by: str = "human",
                         error_code: str | None = None, index: int = -1) -> dict[str, Any]:
        """A whole agent-first call: agent answers and presses 1, the customer leg ends with `customer_status`."""
        attempt, agent_sid, root = self.agent_answers(index)
        dial = self.agent_presses(root, "1", agent_sid)
        attempt, child, _status_url, whisper_url = self.customer_leg(dial, agent_sid)
        self.status(attempt, "customer", child, "initiated", 0)
        self.status(attempt, "customer", child, "ringing", 1)
        whisper = None
        if customer_status == "completed":
            self.status(attempt, "customer", child, "in-progress", 2)
            whisper = self.twiml(whisper_url, {"CallSid": child, "AnsweredBy": answered_by})
        extra = {"CallDuration": str(talk)} if customer_status == "completed" else {}
        if answered_by != "human":
            extra["AnsweredBy"] = answered_by
        if error_code:
            extra["ErrorCode"] = error_code
        self.status(attempt, "customer", child, customer_status, 3, **extra)
        done = self.twiml(dial.find("Dial").get("action"), {"CallSid": agent_sid, "DialCallStatus": customer_status})
        self.status(attempt, "agent", agent_sid, "completed", 3, CallDuration=str(talk + 20))
        return {"attempt": attempt, "agent_sid": agent_sid, "customer_sid": child, "whisper": whisper,
                "dial": dial, "done": done}


def make_dispatcher(app: Any, provider: FakeProvider, *, worker_id: str = "w1", order: str = "edf") -> Dispatcher:
    rt = app.extensions["ivr"]
    return Dispatcher(rt.db, rt.centre, provider, rt.clock, worker_id=worker_id, base_url=BASE_URL,
                      caller_id=CALLER_ID, order=order, sleep=lambda _s: None)


def add_agents(app: Any, count: int = 1, queues: list[str] | None = None) -> list[Agent]:
    rt = app.extensions["ivr"]
    return [add_agent(rt.db, f"Agent {i}", f"+98912000{i:04d}", rt.clock.now(), "IR", queues)
            for i in range(count)]


def request_callback(app: Any, phone: str = CUSTOMER, queue: str | None = None, **kw: Any) -> Callback:
    rt = app.extensions["ivr"]
    return rt.service.request(phone=phone, channel="api", actor="test", queue=queue, **kw).callback


def reload(app: Any, callback: Callback) -> Callback:
    with app.extensions["ivr"].db.session() as session:
        return session.get(Callback, callback.id)


def attempts_of(app: Any, callback: Callback) -> list[Attempt]:
    with app.extensions["ivr"].db.session() as session:
        return list(session.scalars(select(Attempt).where(Attempt.callback_id == callback.id)
                                    .order_by(Attempt.number)))


def agent(app: Any, agent_id: int) -> Agent:
    with app.extensions["ivr"].db.session() as session:
        return session.get(Agent, agent_id)
