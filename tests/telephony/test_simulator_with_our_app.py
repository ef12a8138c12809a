"""The simulator against our real app: the phone tree, the worker's Twilio adapter, the status callbacks.

Everything goes through HTTP requests (Flask's test client here) with Twilio's parameters and signatures; the
engine only interprets the TwiML our endpoints return. The dispatcher dials through the real `TwilioProvider`
(the `twilio` REST client) whose requests land on the simulator's REST API under /simulator.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree

import pytest
from sqlalchemy import select
from twilio.http import HttpClient as TwilioHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client

from callbacks.models import Attempt, Callback
from scheduler.dispatcher import Dispatcher
from telephony.simulator import make_provider, rest_base_url
from telephony.simulator.engine import Call, Simulator
from telephony.simulator.http import FlaskClientHttp, RecordingHttp
from telephony.twilio import TwilioProvider
from tests.support.phone import add_agent, assert_valid_twiml

CUSTOMER = "+989121234567"
AGENT_PHONE = "+989121110000"
PERSIAN_LINE = "+982191000000"
ENGLISH_LINE = "+442080000000"


class FlaskTwilioHttp(TwilioHttpClient):
    """Carries the real `twilio` client's requests to the app's test client (in-process, no sockets)."""

    def __init__(self, test_client: Any, rest_base: str):
        super().__init__(logger=logging.getLogger("twilio.http_client"), is_async=False)
        self.test_client = test_client
        self.rest_base = rest_base
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    def request(self, method: str, uri: str, params: Any = None, data: Any = None, headers: Any = None,
                auth: Any = None, timeout: Any = None, allow_redirects: bool = False) -> TwilioResponse:
        import base64

        path = uri.replace("https://api.twilio.com", "")
        self.sent.append((method, path, dict(data or {})))
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode() if auth else ""
        response = self.test_client.open(
            "/simulator" + path, method=method, query_string=params or None, data=data or None,
            headers={"Authorization": f"Basic {token}", **(headers or {})},
            base_url=self.rest_base.removesuffix("/simulator"),
        )
        return TwilioResponse(response.status_code, response.get_data(as_text=True), response.headers)


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    # No Twilio credential (the simulator makes its own account); a public-looking address, so the demo flag.
    return {**app_config, "SIMULATOR_THREAD": False, "twilio_account_sid": "", "twilio_auth_token": "",
            "simulator_public_demo": True}


@pytest.fixture
def wire(app: Any) -> RecordingHttp:
    return RecordingHttp(FlaskClientHttp(app.test_client()))


@pytest.fixture
def sim(app: Any, wire: RecordingHttp) -> Simulator:
    engine: Simulator = app.extensions["simulator"].engine
    engine.http = wire
    return engine


@pytest.fixture
def provider(app: Any) -> Iterator[TwilioProvider]:
    settings = app.extensions["ivr"].settings
    found = make_provider(settings)
    found.client = Client(found.client.username, found.client.password,
                          http_client=FlaskTwilioHttp(app.test_client(), rest_base_url(settings)))
    yield found


def said(call: Call) -> str:
    return " | ".join(line.text for line in call.lines if line.kind == "say")


def wait_for_gather(sim: Simulator, sid: str) -> None:
    assert sim.run_until(lambda: sim.call(sid).listening is not None or sim.call(sid).ended, 120), \
        sim.call(sid).lines
    assert sim.call(sid).listening is not None, [line.text for line in sim.call(sid).lines]


def assert_executed_exactly_what_was_answered(sim: Simulator, wire: RecordingHttp) -> None:
    """Every document the engine ran is byte for byte a response on the wire; every verb it ran is in it, in order."""
    answered = {(e.url, tuple(sorted(e.params.items()))): e.body for e in wire.exchanges}
    assert all(e.status in (200, 204) for e in wire.exchanges), [(e.url, e.status) for e in wire.exchanges]
    checked = 0
    for call in sim.calls.values():
        for index, document in enumerate(call.documents):
            assert answered[(document.url, tuple(sorted(document.params.items())))] == document.body
            if document.body:
                assert_valid_twiml(document.body)
            root = ElementTree.fromstring(document.body) if document.body.strip() else None
            in_document = [(el.tag, dict(el.attrib), (el.text or "").strip()) for el in root.iter()][1:] \
                if root is not None else []
            ran = [(v.tag, v.attrs, v.text) for v in call.executed if v.document == index]
            position = 0
            for verb in ran:
                position = in_document.index(verb, position) + 1  # ValueError: a verb that was never answered
                checked += 1
    assert checked > 0


def test_a_caller_reaches_the_queue_leaves_for_a_callback_and_the_request_is_stored(
    app: Any, sim: Simulator, wire: RecordingHttp
) -> None:
    add_agent(app, "Sara", AGENT_PHONE)
    sid = sim.dial_in(CUSTOMER, ENGLISH_LINE)
    wait_for_gather(sim, sid)
    assert "For billing press 1" in said(sim.call(sid))
    sim.press(sid, "0")
    assert sim.run_until(lambda: sim.call(sid).queue == "general", 60)
    wait_for_gather(sim, sid)
    assert "press 1" in said(sim.call(sid))
    sim.press(sid, "1")  # leave the queue for a callback
    assert sim.run_until(lambda: sim.call(sid).queue is None, 30)
    wait_for_gather(sim, sid)
    sim.press(sid, "1")  # call me back on this number
    assert sim.run_until(lambda: sim.call(sid).ended, 120)
    assert sim.call(sid).status == "completed"
    with app.extensions["ivr"].db.session() as session:
        callback = session.scalar(select(Callback))
        assert callback is not None and callback.phone == CUSTOMER and callback.status == "pending"
        reference = callback.reference
    assert " ".join(reference.replace("-", "")) in said(sim.call(sid))
    # Only signed requests get through (403 otherwise), and the engine ran nothing it was not given.
    queue_results = [e.params.get("QueueResult") for e in wire.exchanges if "/queue/done" in e.url]
    assert queue_results == ["leave"]
    assert_executed_exactly_what_was_answered(sim, wire)


def test_a_persian_caller_can_say_operator(app: Any, sim: Simulator) -> None:
    add_agent(app, "Sara", AGENT_PHONE)
    sid = sim.dial_in(CUSTOMER, PERSIAN_LINE)
    wait_for_gather(sim, sid)
    listening = sim.call(sid).listening
    assert listening is not None and listening["input"] == ["dtmf", "speech"]
    sim.speak(sid, "اپراتور")
    assert sim.run_until(lambda: sim.call(sid).queue == "general", 60), [line.text for line in sim.call(sid).lines]
    assert any(line.language == "fa-IR" for line in sim.call(sid).lines if line.kind == "say")


def test_requests_signed_with_another_token_are_refused_and_the_caller_hears_an_error(
    app: Any, sim: Simulator, wire: RecordingHttp
) -> None:
    impostor = Simulator(base_url=sim.base_url, account_sid=sim.account_sid, auth_token="not-our-token",
                         http=wire, clock=sim.clock)
    sid = impostor.dial_in(CUSTOMER, ENGLISH_LINE)
    impostor.run_until(lambda: impostor.call(sid).ended, 30)
    assert wire.exchanges[0].status == 403
    assert any(line.kind == "error" for line in impostor.call(sid).lines)


def test_the_worker_dials_through_the_real_twilio_client_and_the_callback_is_completed(
    app: Any, sim: Simulator, wire: RecordingHttp, provider: TwilioProvider, clock: Any
) -> None:
    rt = app.extensions["ivr"]
    add_agent(app, "Sara", AGENT_PHONE)
    rt.service.request(phone=CUSTOMER, queue="general", language="en", channel="phone", actor="test")
    dispatcher = Dispatcher(rt.db, rt.centre, provider, clock, worker_id="test", base_url=rt.settings.public_base_url,
                            caller_id="+982191000000", sleep=lambda _s: None)
    report = dispatcher.tick()
    assert report.dialed == 1, report
    sim.run_due()
    agent_call = sim.ringing(AGENT_PHONE)[0]
    assert agent_call.direction == "outbound-api" and agent_call.from_ == "+982191000000"
    sim.answer(agent_call.sid)
    wait_for_gather(sim, agent_call.sid)
    assert agent_call.listening is not None and said(agent_call)  # the whisper: who, and press 1
    sim.press(agent_call.sid, "1")
    assert sim.run_until(lambda: bool(sim.ringing(CUSTOMER)), 30)
    customer_call = sim.ringing(CUSTOMER)[0]
    sim.answer(customer_call.sid)
    assert sim.run_until(lambda: agent_call.bridged_to == customer_call.sid, 30)
    sim.advance(45)  # they talk
    sim.hangup(customer_call.sid)
    assert sim.run_until(lambda: agent_call.ended and customer_call.ended, 60)
    with rt.db.session() as session:
        callback = session.scalar(select(Callback))
        attempt = session.scalar(select(Attempt))
        assert (callback.status, attempt.outcome) == ("completed", "connected"), (callback.status, attempt.outcome)
        assert attempt.agent_call_sid == agent_call.sid and attempt.customer_call_sid == customer_call.sid
    # The dispatcher's reconciliation reads the same calls back through the REST API.
    assert provider.fetch_call(agent_call.sid).status == "completed"
    assert [c.sid for c in provider.list_calls(parent_sid=agent_call.sid)] == [customer_call.sid]
    statuses = [e.params["CallStatus"] for e in wire.exchanges if "/twilio/status" in e.url and "leg=customer" in e.url]
    assert statuses == ["initiated", "ringing", "in-progress", "completed"]
    assert_executed_exactly_what_was_answered(sim, wire)


def test_the_rest_api_answers_like_twilio_to_a_bad_request(app: Any, provider: TwilioProvider) -> None:
    from telephony.provider import CallRequest, ProviderPermanentError

    with pytest.raises(ProviderPermanentError) as refused:
        provider.create_call(CallRequest(to="0912", from_="+10000000000", url="https://support.example.com/x",
                                         status_callback="https://support.example.com/twilio/status"))
    assert refused.value.code == "21211"
    response = app.test_client().post(
        "/simulator/2010-04-01/Accounts/AC00000000000000000000000000000000/Calls.json", data={"To": "+1"})
    assert response.status_code == 401 and response.get_json()["code"] == 20003


def test_the_softphone_page_and_its_api_place_a_call(app: Any, sim: Simulator) -> None:
    client = app.test_client()
    page = client.get("/simulator")
    assert page.status_code == 200 and PERSIAN_LINE.encode() in page.data
    assert b"<script src=\"http" not in page.data and b"<link rel=\"stylesheet\" href=\"http" not in page.data
    assert client.post("/simulator/api/calls", data={"from": CUSTOMER}).status_code == 415
    placed = client.post("/simulator/api/calls", json={"from": CUSTOMER, "to": ENGLISH_LINE})
    assert placed.status_code == 201
    sid = placed.get_json()["sid"]
    wait_for_gather(sim, sid)
    client.post(f"/simulator/api/calls/{sid}/press", json={"digits": "3"})
    sim.advance(2)
    state = client.get("/simulator/api/state").get_json()
    mine = next(c for c in state["calls"] if c["sid"] == sid)
    assert any(line["kind"] == "pressed" and line["text"] == "3" for line in mine["lines"])
    assert any("open" in line["text"] for line in mine["lines"] if line["kind"] == "say")


def test_with_twilio_credentials_the_simulator_is_not_mounted(app_config: dict[str, Any], sqlite_db: Any,
                                                             centre: Any, clock: Any) -> None:
    from ivr.app import create_app

    real = create_app({**app_config, "twilio_account_sid": "AC" + "2" * 32, "twilio_auth_token": "real-token",
                       "simulator_public_demo": False, "DATABASE": sqlite_db, "CENTRE": centre,
                       "CLOCK": clock})
    assert "simulator" not in real.extensions
    assert real.test_client().get("/simulator").status_code == 404


def test_a_caller_waiting_in_the_queue_is_answered_by_the_agent_the_worker_rings(
    app: Any, sim: Simulator, wire: RecordingHttp, provider: TwilioProvider, clock: Any
) -> None:
    from callbacks.attempts import free_agents
    from callbacks.models import Agent, AgentCall, InboundCall

    rt = app.extensions["ivr"]
    add_agent(app, "Sara", AGENT_PHONE)
    sid = sim.dial_in(CUSTOMER, ENGLISH_LINE)
    wait_for_gather(sim, sid)
    sim.press(sid, "0")
    assert sim.run_until(lambda: sim.call(sid).queue == "general", 60)
    sim.advance(40)  # the caller waits, hearing their place in line
    dispatcher = Dispatcher(rt.db, rt.centre, provider, clock, worker_id="test", base_url=rt.settings.public_base_url,
                            caller_id="+982191000000", sleep=lambda _s: None)
    report = dispatcher.tick()
    assert report.queue_dialed == 1, report
    sim.run_due()
    [agent_call] = sim.ringing(AGENT_PHONE)
    assert agent_call.direction == "outbound-api" and agent_call.from_ == "+982191000000"
    sim.answer(agent_call.sid)
    wait_for_gather(sim, agent_call.sid)
    assert "پشتیبانی عمومی" in said(agent_call)  # the whisper names the queue: general support
    sim.press(agent_call.sid, "1")
    assert sim.run_until(lambda: agent_call.bridged_to == sid, 30), [line.text for line in agent_call.lines]
    assert sim.call(sid).queue is None
    sim.advance(90)  # they talk
    sim.hangup(agent_call.sid)
    assert sim.run_until(lambda: agent_call.ended and sim.call(sid).ended, 60)
    queue_results = [e.params.get("QueueResult") for e in wire.exchanges if "/ivr/queue/done" in e.url]
    assert queue_results == ["bridged"]
    taken = [e.params for e in wire.exchanges if "/outbound/queue/bridge" in e.url]
    assert [p["CallSid"] for p in taken] == [sid]  # the <Queue url> ran on the caller Twilio took
    with rt.db.session() as session:
        journey = session.scalar(select(InboundCall).where(InboundCall.call_sid == sid))
        made = session.scalar(select(AgentCall))
        sara = session.scalar(select(Agent))
        assert journey.outcome == "human" and journey.answered_at is not None and journey.agent_id == sara.id
        assert (made.outcome, made.call_sid, made.inbound_call_id) == ("bridged", agent_call.sid, journey.id)
        assert sara.busy_call_sid is None and sara.available_at == clock.now() + rt.centre.dispatch.wrap_up
        assert free_agents(session, clock.now()) == []
        assert [a.id for a in free_agents(session, clock.now() + rt.centre.dispatch.wrap_up)] == [sara.id]
    assert_executed_exactly_what_was_answered(sim, wire)


def test_a_caller_who_leaves_the_queue_for_a_callback_stops_the_agents_phone_and_that_agent_calls_back(
    app: Any, sim: Simulator, wire: RecordingHttp, provider: TwilioProvider, clock: Any
) -> None:
    from callbacks.models import Agent, AgentCall

    rt = app.extensions["ivr"]
    add_agent(app, "Sara", AGENT_PHONE)
    dispatcher = Dispatcher(rt.db, rt.centre, provider, clock, worker_id="test", base_url=rt.settings.public_base_url,
                            caller_id="+982191000000", sleep=lambda _s: None)
    sid = sim.dial_in(CUSTOMER, ENGLISH_LINE)
    wait_for_gather(sim, sid)
    sim.press(sid, "0")
    assert sim.run_until(lambda: sim.call(sid).queue == "general", 60)
    wait_for_gather(sim, sid)
    assert dispatcher.tick().queue_dialed == 1
    sim.run_due()
    [queue_ring] = sim.ringing(AGENT_PHONE)
    sim.press(sid, "1")  # leave the queue while Sara's phone rings for me
    assert sim.run_until(lambda: sim.call(sid).queue is None, 30)
    wait_for_gather(sim, sid)
    sim.press(sid, "1")  # call me back on this number
    assert sim.run_until(lambda: sim.call(sid).ended, 120)

    report = dispatcher.tick()  # the worker's next tick
    assert (report.queue_canceled, report.dialed) == (1, 1), report
    assert queue_ring.status == "canceled" and queue_ring.answered_at is None
    sim.run_due()
    [callback_ring] = sim.ringing(AGENT_PHONE)  # Sara's phone rings again at once: the callback
    assert callback_ring.sid != queue_ring.sid
    statuses = [(e.params["CallStatus"], e.params["SequenceNumber"]) for e in wire.exchanges
                if "/twilio/status?agent_call=" in e.url]
    assert statuses == [("initiated", "0"), ("ringing", "1"), ("canceled", "2")]
    update = [(method, path, data) for method, path, data in provider.client.http_client.sent if method == "POST"
              and path.endswith(f"/Calls/{queue_ring.sid}.json")]
    assert [data for _m, _p, data in update] == [{"Status": "canceled"}]
    with rt.db.session() as session:
        made = session.scalar(select(AgentCall))
        attempt = session.scalar(select(Attempt))
        sara = session.scalar(select(Agent))
        assert (made.state, made.outcome, made.call_status) == ("ended", "caller_left", "canceled")
        assert attempt.agent_call_sid == callback_ring.sid and sara.busy_call_sid == f"attempt:{attempt.id}"
    assert_executed_exactly_what_was_answered(sim, wire)
