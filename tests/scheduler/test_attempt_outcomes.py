"""Every way a callback attempt can end, played through the fake provider and signed Twilio webhooks.

Agent first: the worker rings a free agent, the agent hears who and why and presses 1, the customer is dialed
with our caller ID; the customer leg's status callbacks decide the outcome. Time is the injected clock.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from callbacks.models import COMPLETED, DIALING, PENDING, UNREACHABLE, Alert
from telephony.fake import FakeProvider
from telephony.provider import CallsLimitExceeded, OutcomeUnknown, ProviderTransientError
from tests.support.network import (
    CALLER_ID,
    CUSTOMER,
    PhoneNetwork,
    add_agents,
    agent,
    attempts_of,
    make_dispatcher,
    reload,
    request_callback,
    said,
)


@pytest.fixture
def app_config(app_config):
    return {**app_config, "twilio_phone_number": CALLER_ID}


@pytest.fixture
def provider(clock):
    return FakeProvider(clock=clock)


@pytest.fixture
def network(client, provider):
    return PhoneNetwork(client, provider)


def test_the_agent_is_called_first_and_hears_who_and_why(app, provider, network, clock):
    [ag] = add_agents(app)
    callback = request_callback(app, name="Sara", note="invoice 42")
    report = make_dispatcher(app, provider).tick()
    assert report.dialed == 1
    [req] = provider.requests
    assert req.to == ag.phone and req.from_ == CALLER_ID
    assert req.status_callback.endswith("leg=agent") and "attempt=" in req.url
    assert reload(app, callback).status == DIALING
    _attempt, _sid, root = network.agent_answers()
    assert "Sara" in said(root) and "invoice 42" in said(root)
    assert root.find("Gather").get("numDigits") == "1"


def test_a_conversation_longer_than_the_minimum_completes_the_callback(app, provider, network, clock):
    [ag] = add_agents(app)
    callback = request_callback(app)
    make_dispatcher(app, provider).tick()
    call = network.agent_first_call("completed", talk=95)
    number = call["dial"].find("Dial/Number")
    assert number.text == CUSTOMER and number.get("machineDetection") == "Enable"
    assert call["dial"].find("Dial").get("callerId") == CALLER_ID
    done = reload(app, callback)
    assert done.status == COMPLETED and done.attempts_made == 1
    [attempt] = attempts_of(app, callback)
    assert attempt.outcome == "connected" and attempt.talk_seconds == 95
    # The conversation's start is kept on the callback for the SLA figures.
    assert done.conversation_at == (attempt.bridged_at or attempt.answered_at)
    assert done.conversation_at is not None and done.requested_at <= done.conversation_at <= clock.now()
    # The agent is not offered work again until the wrap-up time has passed.
    freed = agent(app, ag.id)
    assert freed.busy_call_sid is None and freed.available_at == clock.now() + timedelta(seconds=30)


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed", "canceled"])
def test_a_customer_not_reached_is_retried_after_the_policy_delay(app, provider, network, clock, status):
    add_agents(app)
    callback = request_callback(app)
    make_dispatcher(app, provider).tick()
    network.agent_first_call(status)
    after = reload(app, callback)
    assert after.status == PENDING and after.attempts_made == 1
    assert after.next_attempt_at == clock.now() + timedelta(minutes=10)
    assert attempts_of(app, callback)[0].outcome == status


def test_a_too_short_conversation_does_not_keep_the_promise(app, provider, network, clock):
    add_agents(app)
    callback = request_callback(app)
    make_dispatcher(app, provider).tick()
    network.agent_first_call("completed", talk=5)
    after = reload(app, callback)
    assert after.status == PENDING and after.attempts_made == 1
    assert attempts_of(app, callback)[0].outcome == "too_short"


def test_an_answering_machine_hears_when_we_call_again_and_counts_as_not_reached(app, provider, network, clock):
    add_agents(app)
    callback = request_callback(app, language="en")
    make_dispatcher(app, provider).tick()
    call = network.agent_first_call("completed", talk=12, answered_by="machine_end_beep")
    message = said(call["whisper"])
    local_retry = (clock.now() + timedelta(minutes=10)).astimezone(app.extensions["ivr"].centre.zone)
    assert f"try again at about {local_retry:%H:%M}" in message
    assert call["whisper"].find("Hangup") is not None
    after = reload(app, callback)
    assert after.status == PENDING and after.attempts_made == 1
    assert attempts_of(app, callback)[0].outcome == "voicemail"


def test_every_attempt_unanswered_makes_the_callback_unreachable(app, provider, network, clock):
    add_agents(app)
    callback = request_callback(app)
    dispatcher = make_dispatcher(app, provider)
    for expected_delay in (10, 30, None):
        dispatcher.tick()
        network.agent_first_call("no-answer")
        if expected_delay:
            assert reload(app, callback).next_attempt_at == clock.now() + timedelta(minutes=expected_delay)
            clock.advance(minutes=expected_delay)
    after = reload(app, callback)
    assert after.status == UNREACHABLE and after.attempts_made == 3
    assert "not reached in 3 attempts" in after.end_reason
    assert len(provider.requests) == 3


def test_an_invalid_customer_number_stops_and_is_reported(app, provider, network, clock):
    add_agents(app)
    callback = request_callback(app)
    make_dispatcher(app, provider).tick()
    network.agent_first_call("failed", error_code="13224")
    after = reload(app, callback)
    assert after.status == UNREACHABLE and "cannot be called" in after.end_reason
    with app.extensions["ivr"].db.session() as session:
        assert [a.kind for a in session.query(Alert).all()] == ["permanent"]


def test_customer_first_with_a_number_the_provider_refuses_stops_at_once(app, provider, clock):
    centre = app.extensions["ivr"].centre
    general = centre.queues["general"].model_copy(update={"dial_order": "customer_first"})
    app.extensions["ivr"].centre = centre.model_copy(update={"queues": {**centre.queues, "general": general}})
    add_agents(app)
    provider.invalid_numbers.add(CUSTOMER)
    callback = request_callback(app)
    report = make_dispatcher(app, provider).tick()
    assert report.permanent == 1
    after = reload(app, callback)
    assert after.status == UNREACHABLE and "21211" in after.end_reason


def test_a_429_is_not_counted_and_is_retried_after_a_backoff(app, provider, clock):
    [ag] = add_agents(app)
    callback = request_callback(app)
    provider.fail_next(CallsLimitExceeded("Too Many Requests", status=429))
    dispatcher = make_dispatcher(app, provider)
    report = dispatcher.tick()
    assert report.not_placed == 1 and provider.calls == {}
    after = reload(app, callback)
    assert after.status == PENDING and after.attempts_made == 0 and after.next_attempt_at > clock.now()
    assert agent(app, ag.id).busy_call_sid is None
    clock.advance(after.next_attempt_at - clock.now())
    assert dispatcher.tick().dialed == 1
    assert len(provider.calls) == 1


@pytest.mark.parametrize("error", [OutcomeUnknown("HTTP 503"), OutcomeUnknown("read timeout")], ids=["5xx", "timeout"])
def test_a_lost_answer_is_looked_up_before_dialing_again_and_the_call_is_kept(app, provider, network, clock, error):
    add_agents(app)
    callback = request_callback(app)
    provider.fail_next(error, placed=True)  # the provider did place the call; its answer never reached us
    dispatcher = make_dispatcher(app, provider)
    assert dispatcher.tick().unknown == 1
    [attempt] = attempts_of(app, callback)
    assert attempt.state == "unknown"
    clock.advance(seconds=11)
    dispatcher.sweep()
    dispatcher.tick()
    assert len(provider.calls) == 1, "dialed twice after an unknown outcome"
    [attempt] = attempts_of(app, callback)
    [placed] = provider.calls.values()
    assert attempt.agent_call_sid == placed.sid and attempt.state == "dialing"
    network.agent_first_call("completed", talk=60)
    assert reload(app, callback).status == COMPLETED


def test_a_lost_request_that_placed_nothing_is_dialed_again_once(app, provider, clock):
    add_agents(app)
    callback = request_callback(app)
    provider.fail_next(OutcomeUnknown("HTTP 500"), placed=False)
    dispatcher = make_dispatcher(app, provider)
    dispatcher.tick()
    clock.advance(seconds=11)
    dispatcher.sweep()
    first, = attempts_of(app, callback)
    assert first.outcome == "not_placed"
    assert dispatcher.tick().dialed == 1
    assert len(provider.calls) == 1
    assert reload(app, callback).attempts_made == 0


def test_a_refusal_before_processing_is_retried_without_counting(app, provider, clock):
    add_agents(app)
    callback = request_callback(app)
    provider.fail_next(ProviderTransientError("connection refused"))
    make_dispatcher(app, provider).tick()
    after = reload(app, callback)
    assert after.status == PENDING and after.attempts_made == 0


def test_an_agent_who_does_not_press_1_sends_the_callback_back_without_counting(app, provider, network, clock):
    [ag] = add_agents(app)
    callback = request_callback(app)
    make_dispatcher(app, provider).tick()
    attempt, agent_sid, root = network.agent_answers()
    goodbye = network.agent_presses(root, "7", agent_sid)
    assert goodbye.find("Hangup") is not None
    network.status(attempt, "agent", agent_sid, "completed", 3, CallDuration="12")
    after = reload(app, callback)
    assert after.status == PENDING and after.attempts_made == 0
    assert attempts_of(app, callback)[0].outcome == "agent_unavailable"
    assert agent(app, ag.id).busy_call_sid is None


def test_status_callbacks_out_of_order_or_repeated_are_applied_once_in_sequence(app, provider, network, clock):
    add_agents(app)
    callback = request_callback(app)
    make_dispatcher(app, provider).tick()
    attempt, agent_sid, root = network.agent_answers()
    dial = network.agent_presses(root, "1", agent_sid)
    attempt, child, _s, _w = network.customer_leg(dial, agent_sid)
    network.status(attempt, "customer", child, "completed", 4, CallDuration="80")
    network.status(attempt, "customer", child, "ringing", 1)  # late: ignored
    network.status(attempt, "customer", child, "completed", 4, CallDuration="80")  # repeated: ignored
    network.status(attempt, "agent", agent_sid, "completed", 5, CallDuration="100")
    after = reload(app, callback)
    assert after.status == COMPLETED and after.attempts_made == 1
    [row] = attempts_of(app, callback)
    assert row.customer_status == "completed" and row.sequence == {"agent": 5, "customer": 4}
    with app.extensions["ivr"].db.session() as session:
        from callbacks.models import CallbackEvent

        completions = [e for e in session.query(CallbackEvent).all() if e.to_status == COMPLETED]
    assert len(completions) == 1


def test_an_unsigned_status_callback_changes_nothing(app, provider, client, clock):
    add_agents(app)
    callback = request_callback(app)
    make_dispatcher(app, provider).tick()
    attempt = attempts_of(app, callback)[0]
    response = client.post(f"/twilio/status?attempt={attempt.id}&leg=agent",
                           data={"CallSid": "CAx", "CallStatus": "completed", "SequenceNumber": "9"})
    assert response.status_code == 403
    assert attempts_of(app, callback)[0].agent_status is None
