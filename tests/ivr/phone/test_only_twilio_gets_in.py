"""Only Twilio gets in: signatures over the public URL, with the primary or (during rotation) the secondary token."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from callbacks.models import InboundCall
from tests.support.phone import Caller, sign


@pytest.fixture
def phone_app(app_config: dict[str, Any], sqlite_db: Any, centre: Any, clock: Any) -> Any:
    from ivr.app import create_app

    config = {**app_config, "twilio_secondary_auth_token": "next-token"}
    return create_app({**config, "DATABASE": sqlite_db, "CENTRE": centre, "CLOCK": clock})


def calls_recorded(app: Any) -> int:
    with app.extensions["ivr"].db.session() as session:
        return session.scalar(select(func.count()).select_from(InboundCall))


def test_a_request_signed_by_twilio_is_answered(phone_app: Any) -> None:
    caller = Caller(phone_app.test_client(), phone_app)
    assert caller.post("/twilio/voice").status == 200
    assert calls_recorded(phone_app) == 1


def test_a_tampered_parameter_is_refused_and_nothing_is_recorded(phone_app: Any) -> None:
    caller = Caller(phone_app.test_client(), phone_app)
    url = caller.base + "/twilio/voice"
    good = sign("test-auth-token", url, {"CallSid": caller.call_sid, "From": "+989121234567"})
    client = phone_app.test_client()
    response = client.post(
        "/twilio/voice",
        data={"CallSid": caller.call_sid, "From": "+989129999999"},
        headers={"X-Twilio-Signature": good},
        base_url="https://support.example.com",
    )
    assert response.status_code == 403
    assert calls_recorded(phone_app) == 0


def test_a_signature_made_with_the_wrong_token_is_refused(phone_app: Any) -> None:
    caller = Caller(phone_app.test_client(), phone_app, token="not-our-token")
    assert caller.post("/twilio/voice").status == 403
    assert calls_recorded(phone_app) == 0


def test_a_request_without_a_signature_is_refused(phone_app: Any) -> None:
    response = phone_app.test_client().post("/twilio/ivr/input?n=main&l=en", data={"Digits": "0"})
    assert response.status_code == 403


def test_the_secondary_token_is_accepted_while_rotating(phone_app: Any) -> None:
    caller = Caller(phone_app.test_client(), phone_app, token="next-token")
    assert caller.post("/twilio/voice").status == 200


def test_the_url_is_the_public_one_not_the_host_header(phone_app: Any) -> None:
    # Signed for the public https URL but delivered to the app as plain http behind a proxy: accepted.
    caller = Caller(phone_app.test_client(), phone_app)
    params = {"CallSid": caller.call_sid}
    signature = sign("test-auth-token", "https://support.example.com/twilio/voice", params)
    response = phone_app.test_client().post(
        "/twilio/voice", data=params, headers={"X-Twilio-Signature": signature}, base_url="http://10.0.0.5:8000"
    )
    assert response.status_code == 200
    # Signed for what the Host header says instead: refused.
    forged = sign("test-auth-token", "http://evil.example/twilio/voice", params)
    response = phone_app.test_client().post(
        "/twilio/voice", data=params, headers={"X-Twilio-Signature": forged}, base_url="http://evil.example"
    )
    assert response.status_code == 403


def test_a_field_sent_twice_is_signed_with_both_values_as_twilio_signs_it(phone_app: Any) -> None:
    url = "https://support.example.com/twilio/voice"
    form = MultiDict([("CallSid", "CA" + "7" * 32), ("From", "+989121234567"), ("To", "+982191000001"),
                      ("Digits", "2"), ("Digits", "1")])
    first_only = MultiDict([(name, value) for name, value in form.items(multi=True) if value != "1"])
    client = phone_app.test_client()
    for signed_over, status in ((first_only, 403), (form, 200)):
        response = client.post("/twilio/voice", data=form, base_url="https://support.example.com",
                               headers={"X-Twilio-Signature": sign("test-auth-token", url, signed_over)})
        assert response.status_code == status
    assert calls_recorded(phone_app) == 1


def test_a_nul_behind_a_good_value_in_a_signed_webhook_reaches_no_step_of_the_tree(phone_app: Any) -> None:
    url = "https://support.example.com/twilio/voice"
    form = MultiDict([("CallSid", "CA" + "7" * 32), ("From", "+989121234567"), ("To", "+982191000001"),
                      ("Digits", "1"), ("Digits", "\x00")])
    response = phone_app.test_client().post("/twilio/voice", data=form, base_url="https://support.example.com",
                                            headers={"X-Twilio-Signature": sign("test-auth-token", url, form)})
    assert b"<Hangup" in response.data and b"<Gather" not in response.data
    assert calls_recorded(phone_app) == 0


def test_the_query_string_is_part_of_what_is_signed(phone_app: Any) -> None:
    caller = Caller(phone_app.test_client(), phone_app)
    params = {"CallSid": caller.call_sid, "Digits": "0"}
    signature = sign("test-auth-token", "https://support.example.com/twilio/ivr/input?n=main&l=en", params)
    response = phone_app.test_client().post(
        "/twilio/ivr/input?n=billing&l=en",
        data=params,
        headers={"X-Twilio-Signature": signature},
        base_url="https://support.example.com",
    )
    assert response.status_code == 403


def test_without_any_auth_token_configured_nothing_gets_in(
    app_config: dict[str, Any], sqlite_db: Any, centre: Any, clock: Any
) -> None:
    from ivr.app import create_app

    app = create_app({**app_config, "twilio_auth_token": "", "twilio_account_sid": "", "DATABASE": sqlite_db,
                      "CENTRE": centre, "CLOCK": clock})
    caller = Caller(app.test_client(), app, token="anything")
    assert caller.post("/twilio/voice").status == 403


def test_twilios_fallback_url_offers_a_callback_without_waiting_on_the_database(client):
    from twilio.request_validator import RequestValidator

    from tests.support.network import TOKEN, valid_twiml

    url = "https://support.example.com/twilio/fallback"
    form = {"CallSid": "CA" + "7" * 32, "From": "+989121234567", "To": "+982191000000", "ErrorCode": "11200",
            "ErrorUrl": "https://support.example.com/twilio/voice"}
    signature = RequestValidator(TOKEN).compute_signature(url, form)
    answer = client.post("/twilio/fallback", data=form, headers={"X-Twilio-Signature": signature})
    assert answer.status_code == 200
    root = valid_twiml(answer.data)
    gather = root.find("Gather")
    assert gather is not None and "/twilio/ivr/offer" in gather.get("action")
    assert client.post("/twilio/fallback", data=form).status_code == 403
