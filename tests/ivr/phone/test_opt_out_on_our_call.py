"""Anyone we call can say "never call me again" with one key before an agent is bridged: the number goes on the
do-not-call list, the call ends politely, the callback is canceled with the reason and the agent is free at once.
Played through the fake provider and signed Twilio webhooks (agent first and customer first)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from callbacks.guard import OPT_OUT_KEY, OPTED_OUT, OPTED_OUT_REASON, is_opted_out
from callbacks.models import CANCELED, COMPLETED, DoNotCall
from telephony.fake import FakeProvider
from tests.support.network import (
    BASE_URL,
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


def _customer_answers_agent_first(network):
    attempt, agent_sid, root = network.agent_answers()
    dial = network.agent_presses(root, "1", agent_sid)
    attempt, child, _status_url, whisper_url = network.customer_leg(dial, agent_sid)
    network.status(attempt, "customer", child, "ringing", 1)
    network.status(attempt, "customer", child, "in-progress", 2)
    return attempt, child, network.twiml(whisper_url, {"CallSid": child, "AnsweredBy": "human"})


def test_the_customer_hears_the_opt_out_key_before_being_put_through(app, provider, network):
    add_agents(app)
    request_callback(app, language="en")
    make_dispatcher(app, provider).tick()
    _attempt, _child, offer = _customer_answers_agent_first(network)
    gather = offer.find("Gather")
    assert gather is not None and gather.get("numDigits") == "1"
    assert "press 9" in said(offer)


def test_pressing_9_lists_the_number_ends_the_call_cancels_the_callback_and_frees_the_agent(
        app, provider, network, clock):
    [ag] = add_agents(app)
    callback = request_callback(app, language="en")
    make_dispatcher(app, provider).tick()
    _attempt, child, offer = _customer_answers_agent_first(network)
    clock.advance(seconds=4)
    bye = network.twiml(offer.find("Gather").get("action"), {"CallSid": child, "Digits": OPT_OUT_KEY})
    assert "will not be called by us again" in said(bye)
    assert bye.find("Hangup") is not None and bye.find("Dial") is None
    done = reload(app, callback)
    assert done.status == CANCELED and done.end_reason == OPTED_OUT_REASON
    [attempt] = attempts_of(app, callback)
    assert attempt.outcome == OPTED_OUT and attempt.state == "ended"
    assert agent(app, ag.id).busy_call_sid is None
    # The agent, who waited on the line, is told why the call ended.
    told = network.twiml(f"{BASE_URL}/twilio/outbound/dial-done?attempt={attempt.id}",
                         {"CallSid": provider.calls_to(ag.phone)[-1].sid, "DialCallStatus": "completed"})
    assert "مشتری خواست دیگر هرگز" in said(told)  # agents hear the centre's own language
    with app.extensions["ivr"].db.session() as session:
        entry = session.get(DoNotCall, CUSTOMER)
        assert entry is not None and entry.source == "keypress"
    # And it is never called again: a new request for it is refused.
    from callbacks.guard import OptedOut

    with pytest.raises(OptedOut):
        request_callback(app, language="en")


def test_any_other_key_or_silence_puts_the_customer_through(app, provider, network, clock):
    add_agents(app)
    callback = request_callback(app, language="en")
    make_dispatcher(app, provider).tick()
    attempt, child, offer = _customer_answers_agent_first(network)
    through = network.twiml(offer.find("Gather").get("action"), {"CallSid": child, "Digits": "1"})
    assert through.find("Hangup") is None and through.find("Gather") is None
    network.status(attempt, "customer", child, "completed", 3, CallDuration="60")
    assert reload(app, callback).status == COMPLETED
    with app.extensions["ivr"].db.session() as session:
        assert not is_opted_out(session, CUSTOMER)


def test_customer_first_offers_the_key_before_dialling_the_agent(app, provider, network, clock):
    rt = app.extensions["ivr"]
    queues = {qid: q.model_copy(update={"dial_order": "customer_first"}) for qid, q in rt.centre.queues.items()}
    rt.centre = rt.centre.model_copy(update={"queues": queues})
    [ag] = add_agents(app)
    callback = request_callback(app, language="en")
    make_dispatcher(app, provider).tick()
    [req] = provider.requests
    call = provider.calls_to(req.to)[-1]
    answered = network.twiml(req.url, {"CallSid": call.sid, "CallStatus": "in-progress", "AnsweredBy": "human"})
    gather = answered.find("Gather")
    assert gather is not None and "press 9" in said(answered)
    # Silence: Twilio goes on past the Gather to the Dial of the reserved agent.
    assert answered.find("Dial/Number").text == ag.phone
    clock.advance(seconds=2)
    bye = network.twiml(gather.get("action"), {"CallSid": call.sid, "Digits": "9"})
    assert bye.find("Dial") is None and bye.find("Hangup") is not None
    assert reload(app, callback).status == CANCELED
    assert agent(app, ag.id).busy_call_sid is None


def test_a_persian_customer_hears_the_offer_in_persian(app, provider, network):
    add_agents(app)
    request_callback(app, language="fa")
    make_dispatcher(app, provider).tick()
    _attempt, _child, offer = _customer_answers_agent_first(network)
    assert "۹" in said(offer)


def test_the_number_stays_listed_when_the_key_comes_on_a_stale_call(app, provider, network, clock):
    add_agents(app)
    callback = request_callback(app, language="en")
    make_dispatcher(app, provider).tick()
    _attempt, child, offer = _customer_answers_agent_first(network)
    app.extensions["ivr"].service.cancel(callback.public_id, actor="test")
    network.twiml(offer.find("Gather").get("action"), {"CallSid": child, "Digits": "9"})
    with app.extensions["ivr"].db.session() as session:
        assert session.scalar(select(DoNotCall.phone)) == CUSTOMER
