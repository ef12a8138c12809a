"""A pretend caller for the phone tree: signed webhook requests, every answer checked against Twilio's schema.

call = Caller(client, app).dial()
call.expect("For billing press 1").press("1").expect("payment")
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lxml import etree
from twilio.request_validator import RequestValidator

from callbacks.models import Agent
from tests.conftest import SHARED

XSD_PATH = SHARED / "twilio" / "twiml-voice.xsd"
_sids = itertools.count(1)


@cache
def twiml_schema() -> etree.XMLSchema | None:
    if not XSD_PATH.is_file():
        print(f"TwiML schema not found at {XSD_PATH}: responses are not schema-checked")
        return None
    return etree.XMLSchema(etree.parse(str(XSD_PATH)))


def assert_valid_twiml(body: bytes) -> etree._Element:
    root = etree.fromstring(body)
    schema = twiml_schema()
    if schema is not None and not schema.validate(root):
        raise AssertionError(f"TwiML not valid against {XSD_PATH.name}: {schema.error_log}\n{body.decode()}")
    return root


def sign(token: str, url: str, params: dict[str, str]) -> str:
    return RequestValidator(token).compute_signature(url, params)


@dataclass
class Answer:
    """One TwiML response, read the way Twilio would."""

    status: int
    body: bytes
    root: Any = None

    @property
    def said(self) -> str:
        return " ".join(el.text or "" for el in self.root.iter("Say"))

    @property
    def gather(self) -> Any:
        return self.root.find("Gather")

    @property
    def redirect(self) -> str | None:
        el = self.root.find("Redirect")
        return el.text if el is not None else None

    @property
    def verbs(self) -> list[str]:
        return [el.tag for el in self.root]

    @property
    def hangs_up(self) -> bool:
        return "Hangup" in self.verbs

    @property
    def enqueued(self) -> bool:
        return "Enqueue" in self.verbs

    @property
    def dials(self) -> list[str]:
        dial = self.root.find("Dial")
        return [n.text for n in dial.iter("Number")] if dial is not None else []

    @property
    def listens_at(self) -> str:
        """Path of the Gather action ('' without a Gather)."""
        return urlsplit(self.gather.get("action")).path if self.gather is not None else ""

    @property
    def reaches_human_or_offer(self) -> bool:
        return self.enqueued or bool(self.dials) or self.listens_at in ("/twilio/ivr/offer", "/twilio/ivr/number")


@dataclass
class Caller:
    """One phone call into the app through Flask's test client, with Twilio-signed requests."""

    client: Any
    app: Any
    caller: str = "+989121234567"
    called: str = "+982191000001"
    call_sid: str = field(default_factory=lambda: f"CA{next(_sids):032d}")
    token: str | None = None
    history: list[Answer] = field(default_factory=list)

    @property
    def last(self) -> Answer:
        """The latest answer the app gave on this call."""
        assert self.history, "nothing has been posted on this call yet"
        return self.history[-1]

    @property
    def base(self) -> str:
        return self.app.extensions["ivr"].settings.public_base_url

    def post(self, url: str, extra: dict[str, str] | None = None, *, signature: str | None = None) -> Answer:
        if not url.startswith("http"):
            url = self.base + url
        params = {
            "CallSid": self.call_sid,
            "AccountSid": "AC" + "0" * 32,
            "From": self.caller,
            "To": self.called,
            "CallStatus": "in-progress",
            "Direction": "inbound",
            **(extra or {}),
        }
        token = self.token or self.app.extensions["ivr"].settings.twilio_auth_token
        headers = {"X-Twilio-Signature": signature if signature is not None else sign(token, url, params)}
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        response = self.client.post(path, data=params, headers=headers, base_url=f"{parts.scheme}://{parts.netloc}")
        answer = Answer(response.status_code, response.data)
        if response.status_code == 200:
            assert response.mimetype == "text/xml", response.data
            answer.root = assert_valid_twiml(response.data)
        self.history.append(answer)
        return answer

    # -- the conversation ------------------------------------------------------------------------------------
    def dial(self) -> Caller:
        answer = self.post("/twilio/voice")
        assert answer.status == 200, answer.body
        return self

    def press(self, keys: str) -> Caller:
        assert self.last is not None and self.last.gather is not None, f"nothing listens for keys: {self.last.body!r}"
        self.post(self.last.gather.get("action"), {"Digits": keys})
        assert self.last.status == 200, self.last.body
        return self

    def say(self, words: str) -> Caller:
        assert self.last is not None and self.last.gather is not None
        assert "speech" in self.last.gather.get("input", ""), "this prompt does not listen for speech"
        self.post(self.last.gather.get("action"), {"SpeechResult": words, "Confidence": "0.9"})
        return self

    def stay_silent(self) -> Caller:
        """What Twilio does when the caller says nothing: post the empty result, or follow the Redirect."""
        assert self.last is not None
        gather = self.last.gather
        if gather is not None and gather.get("actionOnEmptyResult") == "true":
            self.post(gather.get("action"), {})
        else:
            assert self.last.redirect, f"silence leads nowhere: {self.last.body!r}"
            self.post(self.last.redirect, {})
        return self

    def follow(self) -> Caller:
        assert self.last is not None and self.last.redirect, self.last.body
        self.post(self.last.redirect, {})
        return self

    def expect(self, text: str) -> Caller:
        assert self.last is not None
        assert text in self.last.said, f"expected to hear {text!r}, heard {self.last.said!r}"
        return self

    def visit(self, node: str, language: str = "en") -> Caller:
        self.post(f"/twilio/ivr/node?n={node}&l={language}")
        assert self.last is not None and self.last.status == 200, self.last.body
        return self


def add_agent(app: Any, name: str = "Sara", phone: str = "+989121110000", *, queues: list[str] | None = None) -> None:
    rt = app.extensions["ivr"]
    with rt.db.session() as session:
        session.add(
            Agent(
                name=name,
                phone=phone,
                on_shift=True,
                shift_changed_at=rt.clock.now(),
                created_at=rt.clock.now(),
                queues=queues or [],
            )
        )


def local(app: Any, year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    centre = app.extensions["ivr"].centre
    return datetime(year, month, day, hour, minute, tzinfo=centre.zone)


__all__ = ["Answer", "Caller", "Path", "add_agent", "assert_valid_twiml", "local", "sign", "twiml_schema"]
