"""The database goes away while a callback call is ringing: the legs' webhooks still answer Twilio with TwiML (a
short apology, nobody bridged), and a status callback is refused with 503 and an empty TwiML document, never an
error page. The drill with a real server stopped is `python -m bench.drills postgres`."""

from __future__ import annotations

from typing import Any

import pytest

from tests.callbacks.test_spool_while_database_down import database_down
from tests.support.phone import assert_valid_twiml, sign

BASE = "https://support.example.com"
LEG_FORM = {"CallSid": "CA" + "7" * 32, "AccountSid": "AC" + "0" * 32, "From": "+14155550100",
            "To": "+989350000000", "CallStatus": "in-progress", "Direction": "outbound-api"}


@pytest.fixture
def line(app_config: dict[str, Any], sqlite_db: Any, centre: Any, clock: Any) -> Any:
    from ivr.app import create_app

    return create_app({**app_config, "DATABASE": sqlite_db, "CENTRE": centre, "CLOCK": clock})


def post(app: Any, path: str, form: dict[str, str]) -> Any:
    token = app.extensions["ivr"].settings.twilio_auth_token
    return app.test_client().post(path, data=form, base_url=BASE,
                                  headers={"X-Twilio-Signature": sign(token, BASE + path, form)})


@pytest.mark.parametrize("path", [
    "/twilio/outbound/agent?attempt=1",
    "/twilio/outbound/agent/connect?attempt=1",
    "/twilio/outbound/customer?attempt=1",
    "/twilio/outbound/queue?agent_call=1",
])
def test_an_answered_leg_hears_an_apology_and_is_not_bridged_while_the_database_is_down(line, path):
    with database_down(line):
        answer = post(line, path, {**LEG_FORM, "Digits": "1"})
    assert answer.status_code == 200 and answer.mimetype == "text/xml"
    root = assert_valid_twiml(answer.data)
    assert [el.tag for el in root] == ["Say", "Hangup"]
    assert "امکان وصل این تماس نیست" in root.find("Say").text  # the centre's language: the agent's
    assert root.find(".//Dial") is None


def test_an_english_centre_apologises_in_english(app_config, sqlite_db, centre, clock):
    from ivr.app import create_app

    english = create_app({**app_config, "DATABASE": sqlite_db, "CLOCK": clock,
                          "CENTRE": centre.model_copy(update={"default_language": "en"})})
    with database_down(english):
        answer = post(english, "/twilio/outbound/agent?attempt=1", LEG_FORM)
    assert "cannot connect this call right now" in assert_valid_twiml(answer.data).find("Say").text


def test_a_status_callback_is_refused_with_503_and_an_empty_twiml_document(line):
    with database_down(line):
        answer = post(line, "/twilio/status?attempt=1&leg=agent",
                      {**LEG_FORM, "CallStatus": "completed", "SequenceNumber": "3", "CallDuration": "40"})
    assert answer.status_code == 503 and answer.mimetype == "text/xml"
    assert list(assert_valid_twiml(answer.data)) == []


def test_when_the_database_is_back_the_same_leg_is_answered_normally(line):
    with database_down(line):
        post(line, "/twilio/outbound/agent?attempt=1", LEG_FORM)
    answer = post(line, "/twilio/outbound/agent?attempt=1", LEG_FORM)
    assert answer.status_code == 200
    assert "امکان وصل این تماس نیست" not in answer.data.decode()
