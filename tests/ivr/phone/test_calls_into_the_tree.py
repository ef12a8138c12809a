"""Calls into the phone tree through the Flask test client, told as the caller's story.

Every request is signed like Twilio signs it and every answer is checked against Twilio's TwiML schema.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from callbacks.models import Callback, InboundCall
from config.menus import menu_of
from tests.conftest import DEFAULT_NOW
from tests.support.phone import Caller, add_agent, local


@pytest.fixture
def phone_app(app_config: dict[str, Any], sqlite_db: Any, centre: Any, clock: Any) -> Any:
    from ivr.app import create_app

    return create_app({**app_config, "DATABASE": sqlite_db, "CENTRE": centre, "CLOCK": clock, "IVR_DB_TIMEOUT": 2.0})


@pytest.fixture
def staffed(phone_app: Any) -> Any:
    add_agent(phone_app)
    return phone_app


def call(app: Any, **kwargs: Any) -> Caller:
    return Caller(app.test_client(), app, **kwargs)


def journey(app: Any, caller: Caller) -> InboundCall:
    with app.extensions["ivr"].db.session() as session:
        return session.scalar(select(InboundCall).where(InboundCall.call_sid == caller.call_sid))


ENGLISH_LINE = "+442080000000"
PERSIAN_LINE = "+982191000000"


# -- languages ------------------------------------------------------------------------------------------------


def test_a_caller_on_the_shared_line_chooses_english_and_hears_english_to_the_end(staffed: Any) -> None:
    caller = call(staffed).dial().expect("For English, press 2").expect("برای فارسی")
    caller.press("2").expect("For billing press 1")
    assert caller.last.gather.get("language") == "en-US"
    caller.press("1").expect("To make a payment press 1")
    assert "l=en" in caller.last.gather.get("action")
    caller.press("0").expect("Connecting you to an agent")
    assert caller.last.enqueued


def test_a_caller_of_the_persian_number_hears_persian_without_a_language_menu(staffed: Any) -> None:
    caller = call(staffed, called=PERSIAN_LINE).dial().expect("برای امور مالی")
    assert caller.last.gather.get("language") == "fa-IR"
    caller.press("0").expect("در حال وصل کردن شما به کارشناس")


def test_saying_operator_at_the_language_menu_reaches_an_agent(staffed: Any) -> None:
    caller = call(staffed).dial().expect("For English, press 2")
    assert "operator" in caller.last.gather.get("hints") and "اپراتور" in caller.last.gather.get("hints")
    caller.say("operator")
    assert caller.last.enqueued


def test_silence_at_the_language_menu_ends_with_a_human_not_a_hang_up(staffed: Any) -> None:
    caller = call(staffed).dial()
    caller.stay_silent().stay_silent().stay_silent()
    assert caller.last.enqueued
    assert not any(a.hangs_up for a in caller.history)


# -- the confusion policy -------------------------------------------------------------------------------------


def test_pressing_zero_from_billing_menu_reaches_an_agent(staffed: Any) -> None:
    caller = call(staffed, called=ENGLISH_LINE).dial().press("1").expect("To make a payment")
    caller.press("0")
    assert caller.last.enqueued
    assert "q=billing" in caller.last.root.find("Enqueue").get("waitUrl")


def test_saying_operator_in_persian_reaches_an_agent(staffed: Any) -> None:
    caller = call(staffed, called=PERSIAN_LINE).dial().say("اپراتور")
    assert caller.last.enqueued


def test_saying_billing_takes_the_caller_to_billing(staffed: Any) -> None:
    caller = call(staffed, called=ENGLISH_LINE).dial().say("Billing, please.")
    caller.expect("To make a payment")


def test_speech_in_another_script_is_asked_again_not_an_error(staffed: Any) -> None:
    caller = call(staffed, called=ENGLISH_LINE).dial().say("我想和人说话")
    caller.expect("Sorry, I did not get that").expect("For billing press 1")


def test_two_wrong_keys_are_re_asked_and_the_third_reaches_a_human(staffed: Any) -> None:
    caller = call(staffed, called=ENGLISH_LINE).dial()
    caller.press("7").expect("Sorry").press("8").expect("Sorry")
    assert not caller.last.enqueued
    caller.press("7")
    assert caller.last.enqueued
    assert not any(a.hangs_up for a in caller.history)


def test_star_repeats_the_menu(staffed: Any) -> None:
    caller = call(staffed, called=ENGLISH_LINE).dial().press("1").press("*")
    caller.expect("To make a payment press 1")


def test_a_message_plays_and_returns_to_the_menu_it_came_from(staffed: Any) -> None:
    caller = call(staffed, called=ENGLISH_LINE).dial().press("3").expect("We are open Saturday")
    caller.follow().expect("For billing press 1")


# -- collecting digits ----------------------------------------------------------------------------------------


def test_an_order_number_is_read_back_and_never_stored_in_plain_text(staffed: Any) -> None:
    caller = call(staffed, called=ENGLISH_LINE).dial().press("2").expect("eight-digit order number")
    caller.press("12345678#").expect("You entered 1 2 3 4 5 6 7 8")
    caller.press("1")
    assert caller.last.enqueued
    row = journey(staffed, caller)
    assert "12345678" not in str(row.path)
    assert [step["node"] for step in row.path][:3] == ["start", "main", "order"]


def test_a_too_short_order_number_is_asked_again(staffed: Any) -> None:
    caller = call(staffed, called=ENGLISH_LINE).dial().press("2").press("123#")
    caller.expect("does not look right").expect("eight-digit order number")


# -- hours and holidays ---------------------------------------------------------------------------------------


def test_calling_on_friday_hears_we_are_closed_and_when_we_open_with_a_callback_offer(phone_app: Any) -> None:
    add_agent(phone_app)
    phone_app.extensions["ivr"].clock.set(local(phone_app, 2026, 11, 27, 11))  # a Friday
    caller = call(phone_app, called=ENGLISH_LINE).dial().press("0")
    caller.expect("We are closed right now. We open again on Saturday at 08:00").expect("press 1")
    assert caller.last.listens_at == "/twilio/ivr/offer"
    assert not caller.last.enqueued


def test_calling_on_a_public_holiday_is_closed_too(phone_app: Any) -> None:
    add_agent(phone_app)
    calendar_day = _a_weekday_holiday(phone_app)
    phone_app.extensions["ivr"].clock.set(local(phone_app, calendar_day.year, calendar_day.month, calendar_day.day, 10))
    caller = call(phone_app, called=ENGLISH_LINE).dial().press("0")
    caller.expect("We are closed right now")
    assert caller.last.listens_at == "/twilio/ivr/offer"


def _a_weekday_holiday(app: Any) -> date:
    import holidays

    for day in sorted(holidays.country_holidays("IR", years=2026)):
        if day.weekday() in (0, 1, 2, 5, 6) and day > date(2026, 1, 1):
            return day
    raise AssertionError("no weekday holiday in 2026")


def test_nobody_on_shift_means_a_callback_offer_not_a_queue_nobody_answers(phone_app: Any) -> None:
    caller = call(phone_app, called=ENGLISH_LINE).dial().press("0")
    caller.expect("All our agents are busy")
    assert not caller.last.enqueued
    assert caller.last.listens_at == "/twilio/ivr/offer"


# -- the callback offer ---------------------------------------------------------------------------------------


def _callbacks(app: Any) -> list[Callback]:
    with app.extensions["ivr"].db.session() as session:
        return list(session.scalars(select(Callback)))


def test_pressing_one_at_the_offer_books_a_callback_on_the_callers_number(phone_app: Any) -> None:
    caller = call(phone_app, called=ENGLISH_LINE).dial().press("4").expect("press 1")
    caller.press("1").expect("We will call you back by").expect("Your reference is")
    assert caller.last.hangs_up
    [callback] = _callbacks(phone_app)
    assert callback.phone == "+989121234567" and callback.channel == "phone" and callback.language == "en"
    row = journey(phone_app, caller)
    assert row.outcome == "callback_requested" and row.callback_id == callback.id
    assert row.caller_masked is not None
    assert row.caller_masked != "+989121234567" and "4567" in row.caller_masked


def test_pressing_two_lets_the_caller_enter_another_number_read_back_digit_by_digit(phone_app: Any) -> None:
    caller = call(phone_app, called=ENGLISH_LINE).dial().press("4").press("2").expect("enter the phone number")
    caller.press("09121112233#").expect("You entered 0 9 1 2 1 1 1 2 2 3 3")
    caller.press("2").expect("enter the phone number")
    caller.press("09121112233#").press("1").expect("We will call you back by")
    [callback] = _callbacks(phone_app)
    assert callback.phone == "+989121112233"


def test_a_caller_who_already_waits_for_a_callback_hears_that_promise_not_a_new_one(phone_app: Any) -> None:
    first = call(phone_app, called=ENGLISH_LINE).dial().press("4").press("1")
    promise = first.last.said
    phone_app.extensions["ivr"].clock.advance(minutes=20)
    again = call(phone_app, called=ENGLISH_LINE).dial().press("4").press("1")
    again.expect("You already have a callback request")
    assert promise.split("by ")[1].split(".")[0] in again.last.said
    assert len(_callbacks(phone_app)) == 1


def test_zero_at_the_number_prompt_reaches_an_agent_not_an_invalid_number(staffed: Any) -> None:
    caller = call(staffed, called=ENGLISH_LINE).dial().press("4").press("2").expect("enter the phone number")
    caller.press("0")
    assert "cannot call that number" not in caller.last.said
    assert caller.last.enqueued


def test_zero_at_the_number_prompt_with_nobody_on_shift_offers_the_callback_again(phone_app: Any) -> None:
    caller = call(phone_app, called=ENGLISH_LINE).dial().press("4").press("2").press("0")
    assert "cannot call that number" not in caller.last.said
    assert caller.last.listens_at == "/twilio/ivr/offer"


def test_a_withheld_number_goes_straight_to_entering_a_number(phone_app: Any) -> None:
    caller = call(phone_app, called=ENGLISH_LINE, caller="anonymous").dial().press("4")
    caller.expect("We cannot see your number")
    assert caller.last.listens_at == "/twilio/ivr/number"


def test_a_premium_rate_number_is_refused_and_asked_again(phone_app: Any) -> None:
    caller = call(phone_app, called=ENGLISH_LINE).dial().press("4").press("2").press("12#")
    caller.expect("we cannot call that number")
    assert caller.last.listens_at == "/twilio/ivr/number"


# -- the queue ------------------------------------------------------------------------------------------------


def test_waiting_callers_hear_their_place_and_expected_wait_and_can_press_one_to_leave(staffed: Any) -> None:
    caller = call(staffed, called=ENGLISH_LINE).dial().press("0")
    wait_url = caller.last.root.find("Enqueue").get("waitUrl")
    done_url = caller.last.root.find("Enqueue").get("action")
    caller.post(wait_url, {"QueuePosition": "3", "QueueTime": "40", "AvgQueueTime": "120", "CurrentQueueSize": "3"})
    caller.expect("You are number 3 in line. The expected wait is about 6 minutes").expect("press 1")
    assert caller.last.root.find("Gather/Play") is not None  # hold music, interruptible
    caller.press("1")
    assert caller.last.verbs == ["Leave"]
    staffed.extensions["ivr"].clock.advance(minutes=5)
    caller.post(done_url, {"QueueResult": "leave", "QueueTime": "300"})
    caller.press("1").expect("We will call you back by")
    [callback] = _callbacks(staffed)
    row = journey(staffed, caller)
    # The caller's place: when they joined the queue, five minutes before asking for the callback.
    assert row.enqueued_at == DEFAULT_NOW
    assert callback.requested_at == DEFAULT_NOW  # ordered by original arrival
    # The promise counts from arrival too: two business hours after joining the queue.
    assert callback.deadline_at == DEFAULT_NOW + timedelta(hours=2)


def test_a_caller_put_through_to_an_agent_is_recorded_as_reaching_a_human(staffed: Any) -> None:
    caller = call(staffed, called=ENGLISH_LINE).dial().press("0")
    done_url = caller.last.root.find("Enqueue").get("action")
    caller.post(done_url, {"QueueResult": "bridged", "QueueTime": "45"})
    assert caller.last.hangs_up
    row = journey(staffed, caller)
    assert row.outcome == "human" and row.zero_presses == 1
    assert row.answered_at is not None and row.enqueued_at is not None
    assert row.answered_at - row.enqueued_at == timedelta(seconds=45)


def test_a_caller_who_reaches_an_agent_no_longer_waits_for_their_callback(staffed: Any) -> None:
    rt = staffed.extensions["ivr"]
    caller = call(staffed, called=ENGLISH_LINE)
    waiting = rt.service.request(phone=caller.caller, channel="web", actor="web").callback
    other = rt.service.request(phone="09351234567", channel="web", actor="web").callback
    caller.dial().press("0")
    caller.post(caller.last.root.find("Enqueue").get("action"), {"QueueResult": "bridged", "QueueTime": "45"})
    assert rt.service.get(waiting.public_id).status == "canceled"
    assert rt.service.get(waiting.public_id).end_reason == "resolved by the customer's call that reached an agent"
    assert rt.service.get(other.public_id).status == "pending"


def test_a_caller_who_hangs_up_in_the_queue_keeps_their_callback(staffed: Any) -> None:
    rt = staffed.extensions["ivr"]
    caller = call(staffed, called=ENGLISH_LINE)
    waiting = rt.service.request(phone=caller.caller, channel="web", actor="web").callback
    caller.dial().press("0")
    caller.post(caller.last.root.find("Enqueue").get("action"), {"QueueResult": "hangup", "QueueTime": "45"})
    assert rt.service.get(waiting.public_id).status == "pending"


def test_dialling_agents_that_do_not_answer_falls_back_to_the_callback_offer(phone_app: Any, centre: Any) -> None:
    add_agent(phone_app, phone="+989121110001")
    data = dict(centre.ivr)
    data["human"] = {**data["human"], "mode": "dial"}
    phone_app.extensions["ivr"].centre = centre.model_copy(update={"ivr": data})
    caller = call(phone_app, called=ENGLISH_LINE).dial().press("0")
    assert caller.last.dials == ["+989121110001"]
    assert caller.last.root.find("Dial").get("timeout") == "20"
    caller.post(caller.last.root.find("Dial").get("action"), {"DialCallStatus": "no-answer"})
    caller.expect("All our agents are busy")
    assert caller.last.listens_at == "/twilio/ivr/offer"


# -- bad input and a slow database ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/twilio/ivr/input?n=no-such-node&l=en", {"Digits": "1"}),
        ("/twilio/ivr/input?n=main&l=xx&r=abc", {"Digits": "1" * 10_000}),
        ("/twilio/ivr/input?n=main&l=en", {"Digits": "<script>"}),
        ("/twilio/ivr/node?n=%00&l=en", {}),
        ("/twilio/ivr/number/confirm?n=agent&l=en&num=%2B1900", {"Digits": "1"}),
        ("/twilio/ivr/queue/wait?n=agent&l=en", {"QueuePosition": "-4", "AvgQueueTime": "x"}),
        ("/twilio/ivr/queue/done?n=agent&l=en", {"QueueTime": "9" * 50}),
        ("/twilio/ivr/offer?l=en", {"Digits": "9" * 5000}),
        ("/twilio/ivr/language?r=99", {"SpeechResult": "ä" * 1500}),
        ("/twilio/ivr/input?n=main&l=en", {"SpeechResult": "ä" * 3000}),
    ],
)
def test_garbage_from_the_network_gets_valid_twiml_never_an_error(staffed: Any, url: str, params: dict) -> None:
    caller = call(staffed)
    answer = caller.post(url, params)
    # Valid TwiML (Caller.post checked it against the schema), or a 4xx for a body too large to be Twilio's.
    assert answer.status == 200 or (answer.status == 413 and len(urlencode(params)) > 16_000), answer.body


def test_a_slow_database_gets_one_moment_and_a_retry_then_the_callback_is_spooled(phone_app: Any) -> None:
    rt = phone_app.extensions["ivr"]

    class StuckService:
        def request(self, **_: Any) -> Any:
            import time

            time.sleep(0.5)
            raise AssertionError("too late to matter")

    phone_app.extensions["ivr_voice"].timebox.seconds = 0.1
    real = rt.service
    rt.service = StuckService()
    try:
        caller = call(phone_app, called=ENGLISH_LINE).dial().press("4")
        phone_app.extensions["ivr_voice"].timebox.seconds = 2.0
        phone_app.extensions["ivr_voice"].timebox.seconds = 0.1
        caller.press("1").expect("One moment please")
        assert caller.last.redirect is not None
        assert "t=1" in caller.last.redirect and "d=1" in caller.last.redirect
        caller.follow().expect("One moment please")
        # Out of retries: the request is kept in the local spool and the caller still hears a promise.
        caller.follow().expect("We have your number and will call you back by")
        assert len(phone_app.extensions["ivr_voice"].spool.pending()) == 1
        rt.service = real
        phone_app.extensions["ivr_voice"].timebox.seconds = 2.0
    finally:
        rt.service = real


def test_every_node_of_the_example_is_valid_in_both_languages(staffed: Any, centre: Any) -> None:
    for node in menu_of(centre).nodes:
        for language in centre.languages:
            call(staffed).visit(node, language)


def test_a_caller_hanging_up_in_a_submenu_is_recorded_as_leaving_there(staffed: Any) -> None:
    caller = call(staffed, called=ENGLISH_LINE).dial().press("1")  # the billing menu
    row = journey(staffed, caller)
    node = row.path[-1]["node"]
    for sequence, status in ((0, "in-progress"), (2, "completed"), (1, "ringing")):  # late and out of order
        caller.post("/twilio/status", {"CallStatus": status, "SequenceNumber": str(sequence), "Direction": "inbound"})
    row = journey(staffed, caller)
    assert (row.outcome, row.outcome_node) == ("hung_up", node)
    assert row.ended_at is not None


def test_a_caller_who_booked_a_callback_and_hung_up_keeps_that_outcome(staffed: Any) -> None:
    caller = call(staffed, called=ENGLISH_LINE).dial().press("0")
    caller.post(caller.last.root.find("Enqueue").get("action"), {"QueueResult": "leave", "QueueTime": "30"})
    caller.press("1").expect("We will call you back by")
    caller.post("/twilio/status", {"CallStatus": "completed", "SequenceNumber": "3", "Direction": "inbound"})
    assert journey(staffed, caller).outcome == "callback_requested"
