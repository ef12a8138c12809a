"""A number on the do-not-call list that asks for a callback by phone is told so plainly; its owner, calling from
it, can opt back in with one key; nobody can opt a number they typed back in for someone else."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from callbacks.guard import add_to_dnc, is_opted_out
from callbacks.models import Callback
from tests.support.phone import Caller

ENGLISH_LINE = "+442080000000"
PERSIAN_LINE = "+982191000000"
OWN = "+989121234567"


@pytest.fixture
def phone_app(app_config: dict[str, Any], sqlite_db: Any, centre: Any, clock: Any) -> Any:
    from ivr.app import create_app

    app = create_app({**app_config, "DATABASE": sqlite_db, "CENTRE": centre, "CLOCK": clock})
    with sqlite_db.session() as session:
        add_to_dnc(session, OWN, clock.now(), source="keypress", actor="test")
        add_to_dnc(session, "+989121112233", clock.now(), source="keypress", actor="test")
    return app


def callbacks(app: Any) -> list[Callback]:
    with app.extensions["ivr"].db.session() as session:
        return list(session.scalars(select(Callback)))


def listed(app: Any, phone: str) -> bool:
    with app.extensions["ivr"].db.session() as session:
        return is_opted_out(session, phone)


def test_an_opted_out_caller_is_told_plainly_and_nothing_is_booked(phone_app: Any) -> None:
    caller = Caller(phone_app.test_client(), phone_app, called=ENGLISH_LINE).dial().press("4")
    caller.press("1").expect("This number asked never to be called by us")
    assert caller.last.listens_at == "/twilio/ivr/optin"
    caller.stay_silent()
    assert caller.last.hangs_up
    assert callbacks(phone_app) == []
    assert listed(phone_app, OWN)


def test_an_opted_out_caller_opts_back_in_with_one_key_and_is_booked(phone_app: Any) -> None:
    caller = Caller(phone_app.test_client(), phone_app, called=ENGLISH_LINE).dial().press("4").press("1")
    caller.press("1").expect("We will call you back by")
    [callback] = callbacks(phone_app)
    assert callback.phone == OWN
    assert not listed(phone_app, OWN)


def test_a_persian_caller_hears_it_in_persian(phone_app: Any) -> None:
    caller = Caller(phone_app.test_client(), phone_app, called=PERSIAN_LINE).dial()
    caller.post("/twilio/ivr/offer?n=callback&l=fa", {"Digits": "1"})
    assert caller.last.listens_at == "/twilio/ivr/optin"
    assert any("هرگز" in (el.text or "") for el in caller.last.root.iter("Say"))


def test_a_typed_number_on_the_list_is_refused_and_cannot_be_opted_back_in_by_someone_else(phone_app: Any) -> None:
    caller = Caller(phone_app.test_client(), phone_app, caller="+989123334455", called=ENGLISH_LINE).dial()
    caller.press("4").press("2").press("09121112233#").press("1")
    caller.expect("That number asked never to be called by us").expect("enter the phone number")
    assert caller.last.listens_at == "/twilio/ivr/number"
    # A forged opt-in for a number that is not the caller's own is refused too.
    caller.post("/twilio/ivr/optin?n=callback&l=en&num=%2B989121112233", {"Digits": "1"})
    assert listed(phone_app, "+989121112233")
    assert callbacks(phone_app) == []
