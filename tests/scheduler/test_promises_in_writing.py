"""The promise in writing: where the centre enables it, the customer gets a text message with the promised time,
the reference and the private status link, whatever the channel; another when an attempt failed, with the time of
the next one. Sent by the worker from durable outbox rows, in the customer's language, short."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from callbacks.models import CustomerSms
from callbacks.sms import message, sms_parts, when_text
from scheduler.customer_sms import CLAIM_TIMEOUT, send_customer_sms
from telephony.fake import FakeProvider
from telephony.provider import ProviderTransientError
from tests.support.network import (
    BASE_URL,
    CALLER_ID,
    PhoneNetwork,
    add_agents,
    make_dispatcher,
    reload,
    request_callback,
)


@pytest.fixture
def provider(clock):
    return FakeProvider(clock=clock)


@pytest.fixture
def texting(app):
    rt = app.extensions["ivr"]
    rt.centre = rt.centre.model_copy(update={"customer_sms": rt.centre.customer_sms.model_copy(
        update={"enabled": True})})
    rt.service.centre = rt.centre
    return app


def send(app: Any, provider: FakeProvider, worker: str = "w1") -> int:
    rt = app.extensions["ivr"]
    return send_customer_sms(rt.db, rt.centre, provider, sender=CALLER_ID, base_url=BASE_URL, worker_id=worker,
                             now=rt.clock.now())


def test_a_persian_customer_gets_the_promise_reference_and_status_link_by_text(texting, provider, client, auth):
    created = client.post("/api/v1/callbacks", headers=auth, json={"phone": "09121234567", "language": "fa"})
    body = created.get_json()
    assert send(texting, provider) == 1
    [sms] = provider.messages
    assert sms["to"] == "+989121234567" and sms["from"] == CALLER_ID
    assert "امروز ۱۲:۰۰" in sms["body"] and body["reference"] in sms["body"]
    assert body["status_url"].split("/callback/status/")[1] in sms["body"]
    assert sms["body"].endswith(body["status_url"].split("support.example.com")[1])
    # Sent once; the stored copy no longer holds the link's secret.
    assert send(texting, provider) == 0
    with texting.extensions["ivr"].db.session() as session:
        row = session.scalar(select(CustomerSms))
        assert row.result == "sent" and row.provider_id == sms["sid"]
        assert body["status_url"].split("/callback/status/")[1] not in row.body


def test_the_phone_channel_gets_the_same_text_in_english(texting, provider):
    request_callback(texting, language="en", queue="billing")
    send(texting, provider)
    [sms] = provider.messages
    assert sms["body"].startswith("We will call you back by today 14:00. Ref ")
    assert f"{BASE_URL}/callback/status/" in sms["body"]


def test_the_persian_promise_fits_one_sms_part_without_the_link_and_the_retry_fits_with_everything(clock):
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Asia/Tehran")
    when = when_text(clock.now() + timedelta(hours=2), clock.now(), zone, "fa")
    promise = message("promise", "fa", when=when, reference="K7PQ-4QXM", link="")
    retry = message("retry", "fa", when=when, reference="K7PQ-4QXM")
    assert sms_parts(promise) == 1 and sms_parts(retry) == 1
    # With a status link of 60 characters or so, a Persian promise takes two parts (UCS-2: 67 per part).
    assert sms_parts(promise + "\nhttps://s.example/callback/status/" + "x" * 32) == 2
    assert sms_parts("We will call you back by today 12:00. Ref K7PQ-4QXM\nhttps://support.example.com/callback/"
                     "status/" + "x" * 32) == 1


def test_nothing_is_sent_where_the_centre_does_not_enable_it(app, provider):
    request_callback(app)
    assert send(app, provider) == 0 and provider.messages == []


def test_a_worker_that_died_while_sending_loses_nothing(texting, provider, clock):
    request_callback(texting)
    rt = texting.extensions["ivr"]
    with rt.db.session() as session:  # a worker claimed it and was killed before sending
        session.execute(update(CustomerSms).values(claimed_by="dead", claimed_at=clock.now()))
    assert send(texting, provider, "alive") == 0
    clock.advance(CLAIM_TIMEOUT + timedelta(seconds=1))
    assert send(texting, provider, "alive") == 1
    assert len(provider.messages) == 1


def test_a_provider_refusal_is_tried_again_later(texting, provider):
    request_callback(texting)

    class Refusing(FakeProvider):
        def send_sms(self, *, to: str, from_: str, body: str) -> str:
            raise ProviderTransientError("429 too many requests")

    assert send(texting, Refusing()) == 0
    assert send(texting, provider) == 1


def test_a_failed_attempt_brings_a_text_with_the_time_of_the_next_one(texting, provider, clock, client):
    add_agents(texting, 1)
    callback = request_callback(texting, language="en")
    send(texting, provider)
    make_dispatcher(texting, provider).tick()
    PhoneNetwork(client, provider).agent_first_call("no-answer")
    after = reload(texting, callback)
    assert after.status == "pending" and after.attempts_made == 1
    assert send(texting, provider) == 1
    retry = provider.messages[-1]["body"]
    assert retry.startswith("We called but could not reach you. Next try today ")
    assert after.next_attempt_at.astimezone(texting.extensions["ivr"].centre.zone).strftime("%H:%M") in retry
    assert send(texting, provider) == 0  # one per failed attempt


def test_a_retry_text_that_would_arrive_after_the_retry_is_not_sent(texting, provider, clock, client):
    add_agents(texting, 1)
    request_callback(texting, language="en")
    send(texting, provider)
    make_dispatcher(texting, provider).tick()
    PhoneNetwork(client, provider).agent_first_call("busy")
    clock.advance(minutes=11)  # the worker was down past the next try
    assert send(texting, provider) == 0
    assert len(provider.messages) == 1
