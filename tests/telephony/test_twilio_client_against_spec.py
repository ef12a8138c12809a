"""The real `twilio` client, pointed at a local stand-in with TWILIO_API_BASE_URL, every request it sends checked
against Twilio's official OpenAPI description (../shared/twilio/twilio_api_v2010.json)."""

from __future__ import annotations

import json
import socket
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException

from callbacks.models import Attempt
from config.settings import load_settings
from telephony import provider_for
from telephony.provider import (
    CallRequest,
    CallsLimitExceeded,
    OutcomeUnknown,
    ProviderPermanentError,
    ProviderTransientError,
)
from telephony.twilio import TwilioProvider
from telephony.twilio_standin import TwilioStub, openapi_validator
from tests.support.network import CALLER_ID, add_agents, attempts_of, make_dispatcher, request_callback

ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "secret-token"


@pytest.fixture(scope="session")
def validator(shared_dir):
    """Twilio's description, loaded once per session (about 2.6 s)."""
    return openapi_validator(json.loads((shared_dir / "twilio" / "twilio_api_v2010.json").read_text()))


@pytest.fixture
def stub(validator):
    with TwilioStub(validator=validator, auth_token=TOKEN) as server:
        yield server
    assert server.errors == [], "a request did not match Twilio's API description"


@pytest.fixture
def twilio(stub):
    return TwilioProvider(ACCOUNT, TOKEN, base_url=stub.base_url, timeout=1.0)


def a_call(**changes: Any) -> CallRequest:
    values: dict[str, Any] = {"to": "+989121234567", "from_": CALLER_ID, "url": "https://support.example.com/twilio/outbound/agent?attempt=7",
              "status_callback": "https://support.example.com/twilio/status?attempt=7&leg=agent", "timeout": 30}
    values.update(changes)
    return CallRequest(**values)


def test_a_call_create_matches_twilios_description(stub, twilio):
    info = twilio.create_call(a_call(machine_detection="Enable"))
    assert info.sid.startswith("CA") and info.status == "queued"
    [sent] = stub.requests
    assert sent["path"] == f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json"
    form = sent["form"]
    assert form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]  # repeated keys
    assert form["Timeout"] == ["30"] and form["MachineDetection"] == ["Enable"]
    assert form["StatusCallback"] == ["https://support.example.com/twilio/status?attempt=7&leg=agent"]


def test_fetch_and_list_used_for_reconciliation_match_the_description(stub, twilio):
    placed = twilio.create_call(a_call())
    stub.set_status(placed.sid, "completed", duration=42)
    fetched = twilio.fetch_call(placed.sid)
    assert fetched.status == "completed" and fetched.duration == 42
    listed = twilio.list_calls(to="+989121234567", from_=CALLER_ID, created_after=placed.created_at)
    assert [c.sid for c in listed] == [placed.sid]
    assert twilio.list_calls(parent_sid=placed.sid) == []
    assert twilio.send_sms(to="+989121111111", from_=CALLER_ID, body="Callback missed").startswith("SM")


def test_a_cancel_matches_the_description_and_leaves_an_answered_call_alone(stub, twilio):
    ringing = twilio.create_call(a_call())
    stub.set_status(ringing.sid, "ringing")
    assert twilio.cancel_call(ringing.sid).status == "canceled"
    sent = stub.requests[-1]
    assert (sent["method"], sent["path"]) == ("POST", f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{ringing.sid}.json")
    assert sent["form"] == {"Status": ["canceled"]}
    answered = twilio.create_call(a_call(to="+989121234568"))
    stub.set_status(answered.sid, "in-progress")
    assert twilio.cancel_call(answered.sid).status == "in-progress"  # too late: Twilio leaves it as it is
    with pytest.raises(ProviderPermanentError):
        twilio.cancel_call("CA" + "0" * 32)


def test_a_malformed_request_would_be_refused_by_the_description(validator):
    # The oracle itself: a create without To is rejected, so passing requests above really were checked.
    with TwilioStub(validator=validator) as server:
        provider = TwilioProvider(ACCOUNT, TOKEN, base_url=server.base_url)
        with pytest.raises(TwilioRestException):
            provider.client.calls.create(to="+989121234567", from_=CALLER_ID, url="https://x.example/t",
                                         timeout="abc")
        assert len(server.errors) == 1 and "integer" in server.errors[0]
        server.errors.clear()
        path = f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json"
        answer = provider.client.request("POST", "https://api.twilio.com" + path, data={"From": CALLER_ID})
        assert answer.status_code == 400
        assert len(server.errors) == 1 and "'To' is a required property" in server.errors[0]
        server.errors.clear()
        update = provider.client.request("POST", f"https://api.twilio.com{path[:-5]}/CA{'0' * 32}.json",
                                         data={"Status": "ringing"})
        assert update.status_code == 400  # a call can only be updated to canceled or completed
        assert len(server.errors) == 1 and "canceled" in server.errors[0]


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [(429, 20429, CallsLimitExceeded), (500, None, OutcomeUnknown), (503, None, OutcomeUnknown),
     (400, 21211, ProviderPermanentError), (401, 20003, ProviderTransientError)],
)
def test_twilio_errors_become_domain_errors(stub, twilio, status, code, error):
    stub.fail_next(status, code)
    with pytest.raises(error) as raised:
        twilio.create_call(a_call())
    assert type(raised.value) is error


def test_a_read_timeout_is_an_unknown_outcome(stub, twilio):
    stub.fail_next(200, placed=True, stall=1.5)
    with pytest.raises(OutcomeUnknown):
        twilio.create_call(a_call())


def test_a_refused_connection_is_safe_to_retry():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    provider = TwilioProvider(ACCOUNT, TOKEN, base_url=f"http://127.0.0.1:{port}", timeout=1.0)
    with pytest.raises(ProviderTransientError) as raised:
        provider.create_call(a_call())
    assert not isinstance(raised.value, OutcomeUnknown)


def test_twilio_api_base_url_is_honoured_from_the_environment(stub, monkeypatch):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("TWILIO_API_BASE_URL", stub.base_url)
    provider = provider_for(load_settings())
    provider.create_call(a_call())
    assert len(stub.calls) == 1


def test_a_5xx_after_twilio_placed_the_call_is_settled_through_the_calls_list_without_a_second_call(
    app, stub, twilio, clock
):
    add_agents(app)
    callback = request_callback(app)
    stub.fail_next(502, placed=True)
    dispatcher = make_dispatcher(app, twilio)
    assert dispatcher.tick().unknown == 1
    # The stand-in stamps calls with the real time: move the frozen clock (and the attempt) onto it.
    [call] = stub.calls.values()
    created = parsedate_to_datetime(call["date_created"])
    with app.extensions["ivr"].db.session() as session:
        session.get(Attempt, attempts_of(app, callback)[0].id).created_at = created
    clock.set(created + timedelta(seconds=11))
    dispatcher.sweep()
    dispatcher.tick()
    assert len(stub.calls) == 1
    [attempt] = attempts_of(app, callback)
    assert attempt.agent_call_sid == call["sid"] and attempt.state == "dialing"
    assert any(r["method"] == "GET" and r["args"].get("To") for r in stub.requests)


def test_a_base_url_without_a_host_name_rebases_the_voice_api_too() -> None:
    # "http://:8080" passes the settings' URL check (it has a netloc) but has no host name: not a Twilio host.
    from telephony.twilio import TWILIO_API, TWILIO_VOICE_API, RebasedHttpClient

    assert RebasedHttpClient("http://:8080").rebase == [TWILIO_API, TWILIO_VOICE_API]
