"""The simulator interprets TwiML as Twilio documents it, shown with small hand-written documents.

A scripted web app (`FakeApp`) answers each URL with a fixed document (or a function of the request) and keeps
every request, so each test reads like a phone call: what the caller heard, which URL was asked with what.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from twilio.request_validator import RequestValidator

from callbacks.clock import FrozenClock
from telephony.simulator.engine import Simulator, SimulatorError
from telephony.simulator.http import HttpResponse

BASE = "https://app.example.com"
TOKEN = "simulated-token"
ACCOUNT = "AC" + "1" * 32
CALLER = "+989121234567"
LINE = "+982191000000"
AGENT = "+989121110000"


@dataclass
class Request:
    method: str
    url: str
    params: dict[str, str]
    signature: str


@dataclass
class FakeApp:
    """Answers the simulator's requests with hand-written TwiML by path."""

    pages: dict[str, str | Callable[[dict[str, str]], str]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def request(self, method: str, url: str, params: Mapping[str, str], headers: Mapping[str, str]) -> HttpResponse:
        self.requests.append(Request(method, url, dict(params), headers.get("X-Twilio-Signature", "")))
        path = url[len(BASE):].split("?")[0]
        page = self.pages.get(path)
        if page is None:
            return HttpResponse(404, b"not found")
        body = page(dict(params)) if callable(page) else page
        return HttpResponse(200, body.encode(), "text/xml")

    def to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.url.split("?")[0] == BASE + path]


def twiml(inner: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>'


@pytest.fixture
def web() -> FakeApp:
    return FakeApp()


@pytest.fixture
def sim(web: FakeApp) -> Simulator:
    clock = FrozenClock(datetime(2026, 11, 22, 6, 30, tzinfo=UTC))
    return Simulator(base_url=BASE, account_sid=ACCOUNT, auth_token=TOKEN, http=web, clock=clock)


def heard(sim: Simulator, sid: str, kind: str = "say") -> list[str]:
    return [line.text for line in sim.call(sid).lines if line.kind == kind]


def test_say_then_hang_up_reads_the_prompt_and_completes_the_call(sim: Simulator, web: FakeApp) -> None:
    web.pages["/twilio/voice"] = twiml('<Say language="en-US">Hello there</Say><Hangup/>')
    web.pages["/twilio/status"] = ""
    sid = sim.dial_in(CALLER, LINE)
    sim.advance(10)
    call = sim.call(sid)
    assert heard(sim, sid) == ["Hello there"]
    assert call.status == "completed"
    voice = web.to("/twilio/voice")[0]
    assert voice.params["From"] == CALLER and voice.params["To"] == LINE
    assert voice.params["Direction"] == "inbound" and voice.params["CallStatus"] == "in-progress"
    assert voice.params["AccountSid"] == ACCOUNT and voice.params["CallSid"] == sid
    status = web.to("/twilio/status")[-1].params
    assert status["CallStatus"] == "completed" and status["SequenceNumber"] == "0"


def test_every_request_carries_a_signature_twilios_validator_accepts(sim: Simulator, web: FakeApp) -> None:
    web.pages["/twilio/voice"] = twiml('<Gather action="/next?x=1" numDigits="1"><Say>Press</Say></Gather>')
    web.pages["/next"] = twiml("<Hangup/>")
    sid = sim.dial_in(CALLER, LINE)
    sim.run_due()
    sim.press(sid, "7")
    sim.advance(1)
    validator = RequestValidator(TOKEN)
    assert len(web.requests) >= 2
    for request in web.requests:
        assert validator.validate(request.url, request.params, request.signature), request.url
    assert web.to("/next")[0].params["Digits"] == "7"


def test_gather_barge_in_collects_digits_until_the_finish_key(sim: Simulator, web: FakeApp) -> None:
    web.pages["/twilio/voice"] = twiml(
        '<Gather action="/got" timeout="3"><Say>Enter your order number then hash</Say></Gather>'
        "<Say>We did not get that</Say>"
    )
    web.pages["/got"] = twiml("<Say>Thanks</Say>")
    sid = sim.dial_in(CALLER, LINE)
    sim.run_due()
    assert sim.call(sid).listening is not None
    sim.press(sid, "12")
    sim.advance(1)
    sim.press(sid, "34#")
    sim.advance(5)
    request = web.to("/got")[0]
    assert request.params["Digits"] == "1234" and request.params["FinishedOnKey"] == "#"
    assert heard(sim, sid) == ["Enter your order number then hash", "Thanks"]


def test_gather_timeout_without_input_goes_on_with_the_next_verb(sim: Simulator, web: FakeApp) -> None:
    web.pages["/twilio/voice"] = twiml('<Gather action="/got" timeout="2"><Say>Hi</Say></Gather><Say>Nothing?</Say>')
    sid = sim.dial_in(CALLER, LINE)
    sim.advance(30)
    assert web.to("/got") == []
    assert heard(sim, sid) == ["Hi", "Nothing?"]
    assert sim.call(sid).status == "completed"


def test_gather_with_action_on_empty_result_posts_silence(sim: Simulator, web: FakeApp) -> None:
    web.pages["/twilio/voice"] = twiml(
        '<Gather action="/got" timeout="2" actionOnEmptyResult="true"><Say>Hi</Say></Gather><Say>Never said</Say>'
    )
    web.pages["/got"] = twiml("<Say>You were silent</Say>")
    sid = sim.dial_in(CALLER, LINE)
    sim.advance(30)
    assert "Digits" not in web.to("/got")[0].params
    assert heard(sim, sid) == ["Hi", "You were silent"]


def test_gather_num_digits_stops_at_the_count_and_keys_outside_a_gather_are_ignored(
    sim: Simulator, web: FakeApp
) -> None:
    web.pages["/twilio/voice"] = twiml(
        '<Say>Welcome to the line</Say><Gather action="/got" numDigits="2" finishOnKey=""><Say>Two keys</Say></Gather>'
    )
    web.pages["/got"] = twiml("<Hangup/>")
    sid = sim.dial_in(CALLER, LINE)
    sim.run_due()
    sim.press(sid, "9")  # during the first Say: nobody listens
    sim.run_due()
    sim.advance(2)
    sim.press(sid, "4#56")
    sim.advance(1)
    assert web.to("/got")[0].params["Digits"] == "4#"
    assert any(line.kind == "ignored" for line in sim.call(sid).lines)


def test_speech_is_posted_as_speech_result(sim: Simulator, web: FakeApp) -> None:
    web.pages["/twilio/voice"] = twiml(
        '<Gather input="dtmf speech" action="/got" language="fa-IR"><Say language="fa-IR">سلام</Say></Gather>'
    )
    web.pages["/got"] = twiml("<Hangup/>")
    sid = sim.dial_in(CALLER, LINE)
    sim.run_due()
    sim.speak(sid, "اپراتور")
    sim.advance(1)
    params = web.to("/got")[0].params
    assert params["SpeechResult"] == "اپراتور" and "Digits" not in params


def test_redirect_is_followed_relative_to_the_document_and_pause_takes_its_time(sim: Simulator, web: FakeApp) -> None:
    web.pages["/twilio/voice"] = twiml('<Pause length="4"/><Redirect method="POST">/twilio/again?n=2</Redirect>')
    web.pages["/twilio/again"] = twiml("<Say>Second</Say>")
    sid = sim.dial_in(CALLER, LINE)
    sim.advance(3)
    assert web.to("/twilio/again") == []
    sim.advance(2)
    assert web.to("/twilio/again")[0].url == BASE + "/twilio/again?n=2"
    sim.advance(5)
    assert heard(sim, sid) == ["Second"]


def test_an_application_error_ends_the_call_instead_of_hanging_forever(sim: Simulator, web: FakeApp) -> None:
    web.pages["/twilio/voice"] = twiml('<Redirect>/missing</Redirect>')
    sid = sim.dial_in(CALLER, LINE)
    sim.advance(5)
    call = sim.call(sid)
    assert call.status == "completed"
    assert any("404" in error for error in call.errors)


def test_enqueue_loops_the_wait_url_with_queue_parameters_and_leave_posts_the_action(
    sim: Simulator, web: FakeApp
) -> None:
    web.pages["/twilio/voice"] = twiml(
        '<Enqueue action="/done" waitUrl="/wait" waitUrlMethod="POST">general</Enqueue><Say>after</Say>'
    )
    web.pages["/wait"] = twiml(
        '<Gather action="/leave" numDigits="1" timeout="1"><Say>Press 1 to leave</Say><Pause length="10"/></Gather>'
        '<Redirect>/wait</Redirect>'
    )
    web.pages["/leave"] = lambda p: twiml("<Leave/>" if p.get("Digits") == "1" else "<Redirect>/wait</Redirect>")
    web.pages["/done"] = lambda p: twiml(f"<Say>result {p['QueueResult']}</Say>")
    first = sim.dial_in(CALLER, LINE)
    second = sim.dial_in("+989121234568", LINE)
    sim.advance(30)
    waits = web.to("/wait")
    assert len(waits) >= 4  # looped
    mine = [w.params for w in waits if w.params["CallSid"] == second]
    assert mine[0]["QueuePosition"] == "2" and mine[0]["CurrentQueueSize"] == "2"
    assert {"QueueSid", "QueueTime", "AvgQueueTime"} <= set(mine[0])
    sim.press(first, "1")
    sim.advance(3)
    done = web.to("/done")[0].params
    assert done["QueueResult"] == "leave" and done["CallSid"] == first
    assert "result leave" in heard(sim, first)
    assert sim.queues["general"] == [second]
    sim.advance(12)
    assert [w.params["QueuePosition"] for w in web.to("/wait") if w.params["CallSid"] == second][-1] == "1"


def test_dial_queue_bridges_the_first_caller_and_both_actions_report_it(sim: Simulator, web: FakeApp) -> None:
    web.pages["/twilio/voice"] = lambda p: (
        twiml('<Enqueue action="/qdone" waitUrl="/wait">general</Enqueue>') if p["From"] == CALLER
        else twiml('<Dial action="/ddone" timeout="5"><Queue>general</Queue></Dial>')
    )
    web.pages["/wait"] = twiml('<Say>Please hold</Say><Pause length="20"/>')
    web.pages["/qdone"] = twiml("<Hangup/>")
    web.pages["/ddone"] = twiml("<Say>Next caller?</Say>")
    caller = sim.dial_in(CALLER, LINE)
    sim.advance(5)
    agent = sim.dial_in(AGENT, LINE)
    sim.advance(1)
    assert sim.call(caller).bridged_to == agent
    sim.advance(40)
    sim.hangup(caller)
    sim.advance(2)
    assert web.to("/qdone")[0].params["QueueResult"] == "bridged"
    dial_done = web.to("/ddone")[0].params
    assert dial_done["DialCallStatus"] == "completed" and int(dial_done["DialCallDuration"]) >= 40
    assert "Next caller?" in heard(sim, agent)


def _outbound_pages(web: FakeApp) -> None:
    web.pages["/agent"] = twiml(
        '<Gather action="/connect" numDigits="1" timeout="8"><Say>Callback for 1234. Press 1</Say></Gather>'
        "<Say>No key</Say><Hangup/>"
    )
    web.pages["/connect"] = twiml(
        '<Dial action="/dial-done" timeout="20" callerId="+982191000000">'
        '<Number statusCallback="/status?leg=customer" statusCallbackEvent="initiated ringing answered completed"'
        ' url="/customer" machineDetection="Enable">+989121234567</Number></Dial>'
    )
    web.pages["/customer"] = lambda p: twiml(
        "<Say>Hello machine</Say><Hangup/>" if p.get("AnsweredBy", "").startswith("machine") else ""
    )
    web.pages["/dial-done"] = lambda p: twiml(f"<Say>ended {p['DialCallStatus']}</Say><Hangup/>")
    web.pages["/status"] = ""


def test_rest_call_rings_the_agent_bridges_the_customer_and_reports_every_leg_in_order(
    sim: Simulator, web: FakeApp
) -> None:
    _outbound_pages(web)
    created = sim.create_call({
        "To": AGENT, "From": "+10000000000", "Url": BASE + "/agent", "Method": "POST",
        "StatusCallback": BASE + "/status?leg=agent", "StatusCallbackEvent": ["initiated", "ringing", "answered",
                                                                               "completed"], "Timeout": "30",
    })
    assert created["status"] == "queued" and created["direction"] == "outbound-api"
    sim.run_due()
    agent_sid = created["sid"]
    assert [c.sid for c in sim.ringing(AGENT)] == [agent_sid]
    sim.answer(agent_sid)
    sim.run_due()
    sim.press(agent_sid, "1")
    sim.run_due()
    customer = sim.ringing(CALLER)[0]
    assert customer.parent_sid == agent_sid and customer.from_ == "+982191000000"
    sim.answer(customer.sid)
    sim.advance(1)
    assert sim.call(agent_sid).bridged_to == customer.sid
    sim.advance(60)
    sim.hangup(customer.sid)
    sim.advance(10)
    agent_leg = [r.params for r in web.to("/status") if r.url.endswith("leg=agent")]
    customer_leg = [r.params for r in web.to("/status") if r.url.endswith("leg=customer")]
    assert [p["CallStatus"] for p in agent_leg] == ["initiated", "ringing", "in-progress", "completed"]
    assert [p["SequenceNumber"] for p in agent_leg] == ["0", "1", "2", "3"]
    assert [p["CallStatus"] for p in customer_leg] == ["initiated", "ringing", "in-progress", "completed"]
    assert customer_leg[-1]["AnsweredBy"] == "human" and int(customer_leg[-1]["CallDuration"]) >= 60
    assert customer_leg[0]["ParentCallSid"] == agent_sid
    assert web.to("/dial-done")[0].params["DialCallStatus"] == "completed"
    assert "ended completed" in heard(sim, agent_sid)
    assert sim.fetch_call(agent_sid)["status"] == "completed"
    assert [c["sid"] for c in sim.list_calls({"ParentCallSid": agent_sid})] == [customer.sid]


def test_an_answering_machine_hears_the_whisper_url_and_is_never_bridged(sim: Simulator, web: FakeApp) -> None:
    _outbound_pages(web)
    agent_sid = sim.create_call({"To": AGENT, "From": "+10000000000", "Url": BASE + "/agent"})["sid"]
    sim.run_due()
    sim.answer(agent_sid)
    sim.run_due()
    sim.press(agent_sid, "1")
    sim.run_due()
    customer = sim.ringing(CALLER)[0]
    sim.answer(customer.sid, machine=True)
    sim.advance(10)
    assert heard(sim, customer.sid) == ["Hello machine"]
    assert sim.call(customer.sid).answered_by == "machine_start"
    assert sim.call(agent_sid).bridged_to is None
    assert web.to("/dial-done")[0].params["DialBridged"] == "false"


def test_nobody_answering_means_no_answer_after_the_timeout_and_a_decline_means_busy(
    sim: Simulator, web: FakeApp
) -> None:
    web.pages["/status"] = ""
    quiet = sim.create_call({"To": AGENT, "From": "+10000000000", "Url": BASE + "/agent", "Timeout": "15",
                             "StatusCallback": BASE + "/status"})["sid"]
    busy = sim.create_call({"To": CALLER, "From": "+10000000000", "Url": BASE + "/agent",
                            "StatusCallback": BASE + "/status"})["sid"]
    sim.run_due()
    sim.decline(busy)
    sim.advance(14)
    assert sim.call(quiet).status == "ringing"
    sim.advance(2)
    assert sim.call(quiet).status == "no-answer" and sim.call(busy).status == "busy"
    assert web.to("/agent") == []
    assert {r.params["CallStatus"] for r in web.to("/status")} == {"no-answer", "busy"}


def test_the_rest_api_refuses_what_twilio_refuses(sim: Simulator) -> None:
    with pytest.raises(SimulatorError) as missing:
        sim.create_call({"From": "+10000000000", "Url": BASE + "/agent"})
    assert (missing.value.status, missing.value.code) == (400, 21201)
    with pytest.raises(SimulatorError) as invalid:
        sim.create_call({"To": "0912", "From": "+10000000000", "Url": BASE + "/agent"})
    assert invalid.value.code == 21211
    with pytest.raises(SimulatorError) as auth:
        sim.check_account(ACCOUNT, ACCOUNT, "wrong")
    assert auth.value.status == 401


def test_hanging_up_in_the_queue_tells_the_enqueue_action(sim: Simulator, web: FakeApp) -> None:
    web.pages["/twilio/voice"] = twiml('<Enqueue action="/done" waitUrl="/wait">general</Enqueue>')
    web.pages["/wait"] = twiml('<Pause length="30"/>')
    web.pages["/done"] = twiml("")
    sid = sim.dial_in(CALLER, LINE)
    sim.advance(5)
    sim.hangup(sid)
    sim.run_due()
    assert web.to("/done")[0].params["QueueResult"] == "hangup"
    assert sim.queues["general"] == [] and sim.call(sid).status == "completed"



def test_canceling_a_ringing_call_ends_it_canceled_with_its_status_callback_next_in_sequence(
    sim: Simulator, web: FakeApp
) -> None:
    _outbound_pages(web)
    sid = sim.create_call({"To": AGENT, "From": "+10000000000", "Url": BASE + "/agent",
                           "StatusCallback": BASE + "/status",
                           "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"]})["sid"]
    sim.run_due()
    assert [c.sid for c in sim.ringing(AGENT)] == [sid]
    answer = sim.update_call(sid, {"Status": "canceled"})
    assert answer["status"] == "canceled" and answer["end_time"] is not None  # ended before the REST answer
    assert sim.ringing(AGENT) == []
    sim.answer(sid)  # too late to pick up
    sim.advance(60)
    statuses = [(r.params["CallStatus"], r.params["SequenceNumber"]) for r in web.to("/status")]
    assert statuses == [("initiated", "0"), ("ringing", "1"), ("canceled", "2")]
    assert web.to("/agent") == []  # nobody answered: the call's TwiML was never asked for
    assert sim.fetch_call(sid)["status"] == "canceled"


def test_canceling_leaves_an_answered_call_alone_and_completing_hangs_it_up(sim: Simulator, web: FakeApp) -> None:
    _outbound_pages(web)
    sid = sim.create_call({"To": AGENT, "From": "+10000000000", "Url": BASE + "/agent",
                           "StatusCallback": BASE + "/status"})["sid"]
    sim.run_due()
    sim.answer(sid)
    sim.run_due()
    assert sim.update_call(sid, {"Status": "canceled"})["status"] == "in-progress"
    sim.advance(1)
    assert sim.call(sid).status == "in-progress"
    sim.update_call(sid, {"Status": "completed"})
    sim.run_due()
    assert sim.call(sid).status == "completed"
    with pytest.raises(SimulatorError) as invalid:
        sim.update_call(sid, {"Status": "busy"})
    assert invalid.value.status == 400
