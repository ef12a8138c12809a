"""What the worker checks before it dials: the do-not-call list, the per-number daily cap, the hourly spending
breaker. A listed number is never dialled (its callback is canceled with the reason); a capped one waits, or is
missed with the reason when waiting would pass its deadline; the breaker pauses dispatch and alerts once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from callbacks.guard import DNC_REASON, add_to_dnc, breaker_state
from callbacks.models import CANCELED, DIALING, MISSED, PENDING, Alert, Callback, CallbackEvent
from telephony.fake import FakeProvider
from tests.support.network import PhoneNetwork, add_agents, attempts_of, make_dispatcher, reload, request_callback

CUSTOMER = "+989121234567"


@pytest.fixture
def provider(clock):
    return FakeProvider(clock=clock)


def with_limits(app: Any, **changes: Any) -> None:
    rt = app.extensions["ivr"]
    rt.centre = rt.centre.model_copy(update={"limits": rt.centre.limits.model_copy(update=changes)})


def test_a_number_put_on_the_list_after_its_request_is_never_dialled(app, provider, clock):
    add_agents(app, 1)
    callback = request_callback(app, CUSTOMER)
    rt = app.extensions["ivr"]
    with rt.db.session() as session:
        add_to_dnc(session, CUSTOMER, clock.now(), source="supervisor", actor="boss@example.com")
    report = make_dispatcher(app, provider).tick()
    assert report.dialed == 0 and provider.requests == []
    done = reload(app, callback)
    assert done.status == CANCELED
    assert done.end_reason == DNC_REASON
    assert attempts_of(app, callback) == []


def test_a_number_gets_at_most_n_calls_a_day_across_queues(app, provider, clock, client):
    with_limits(app, calls_per_number_per_day=2)
    rt = app.extensions["ivr"]
    dispatch = rt.centre.dispatch.model_copy(update={"wrap_up": timedelta(0)})
    rt.centre = rt.centre.model_copy(update={"dispatch": dispatch})
    add_agents(app, 1)
    network = PhoneNetwork(client, provider)
    dispatcher = make_dispatcher(app, provider)
    # Two different queues, one number: the cap counts every callback of the number.
    first = request_callback(app, CUSTOMER, queue="general")
    assert dispatcher.tick().dialed == 1
    network.agent_first_call("no-answer")
    second = request_callback(app, CUSTOMER, queue="billing")
    clock.advance(minutes=1)
    assert dispatcher.tick().dialed == 1
    network.agent_first_call("no-answer")
    clock.advance(minutes=30)  # both are due again now (retry delays)
    before = len(provider.requests)
    assert dispatcher.tick().dialed == 0
    assert len(provider.requests) == before
    assert len(attempts_of(app, first)) + len(attempts_of(app, second)) == 2
    # The cap frees up 24 hours after the first call: past both deadlines, so both are missed, with the reason.
    for callback in (first, second):
        done = reload(app, callback)
        assert done.status == MISSED
        assert "daily cap" in done.end_reason


def test_a_capped_callback_with_time_left_waits_until_the_oldest_call_leaves_the_day(app, provider, clock, client):
    with_limits(app, calls_per_number_per_day=1)
    add_agents(app, 1)
    network = PhoneNetwork(client, provider)
    dispatcher = make_dispatcher(app, provider)
    first_at = clock.now()
    request_callback(app, CUSTOMER, queue="general")
    dispatcher.tick()
    network.agent_first_call("no-answer")
    later = request_callback(app, CUSTOMER, queue="billing")
    rt = app.extensions["ivr"]
    with rt.db.session() as session:  # a customer's window two days out: time enough to wait for the cap
        session.get(Callback, later.id).deadline_at = clock.now() + timedelta(days=2)
    clock.advance(minutes=1)
    assert dispatcher.tick().dialed == 0
    waiting = reload(app, later)
    assert waiting.status == PENDING
    assert waiting.next_attempt_at == first_at + timedelta(hours=24)
    with rt.db.session() as session:
        event = session.scalar(select(CallbackEvent).where(CallbackEvent.callback_id == later.id,
                                                           CallbackEvent.kind == "capped"))
    assert "daily cap" in event.reason


def test_a_capped_callback_whose_next_allowed_call_is_past_its_deadline_is_missed_with_the_reason(
        app, provider, clock, client):
    with_limits(app, calls_per_number_per_day=1)
    add_agents(app, 1)
    network = PhoneNetwork(client, provider)
    dispatcher = make_dispatcher(app, provider)
    request_callback(app, CUSTOMER, queue="general")
    dispatcher.tick()
    network.agent_first_call("no-answer")
    urgent = request_callback(app, CUSTOMER, queue="urgent")  # 30 minutes: the cap frees up in 24 hours
    clock.advance(minutes=1)
    dispatcher.tick()
    done = reload(app, urgent)
    assert done.status == MISSED
    assert "daily cap" in done.end_reason
    rt = app.extensions["ivr"]
    with rt.db.session() as session:
        assert session.scalar(select(Alert).where(Alert.callback_id == urgent.id, Alert.kind == "missed"))


def test_the_hourly_breaker_pauses_dispatch_alerts_once_and_closes_when_the_hour_passes(app, provider, clock):
    with_limits(app, dials_per_hour=2)
    rt = app.extensions["ivr"]
    rt.centre = rt.centre.model_copy(update={"dispatch": rt.centre.dispatch.model_copy(
        update={"calls_per_second": 50})})
    add_agents(app, 5)
    callbacks = [request_callback(app, f"+98912{i:07d}") for i in range(5)]
    dispatcher = make_dispatcher(app, provider)
    assert dispatcher.tick().dialed == 2
    clock.advance(seconds=5)
    assert dispatcher.tick().dialed == 0
    clock.advance(seconds=5)
    assert dispatcher.tick().dialed == 0
    with rt.db.session() as session:
        alerts = list(session.scalars(select(Alert).where(Alert.kind == "dial_breaker")))
        state = breaker_state(session, rt.centre, clock.now())
    assert len(alerts) == 1, "one alert per trip, not one per tick"
    assert state.is_open and state.dials_last_hour == 2
    assert sum(reload(app, c).status == PENDING for c in callbacks) == 3, "paused, not dropped"
    clock.advance(hours=1)
    assert dispatcher.tick().claimed > 0
    with rt.db.session() as session:
        assert not breaker_state(session, rt.centre, clock.now()).is_open


def test_two_workers_together_never_start_more_than_the_hourly_cap(app, provider, clock):
    with_limits(app, dials_per_hour=3)
    add_agents(app, 6)
    for i in range(6):
        request_callback(app, f"+98912{i:07d}")
    one, two = make_dispatcher(app, provider, worker_id="w1"), make_dispatcher(app, provider, worker_id="w2")
    started = 0
    for _ in range(4):
        started += len(one.claim(clock.now())) + len(two.claim(clock.now()))
        clock.advance(seconds=3)
    assert started == 3
    rt = app.extensions["ivr"]
    with rt.db.session() as session:
        assert session.scalar(select(Callback).where(Callback.status == DIALING)) is not None


def test_the_open_breaker_shows_on_the_board_and_in_both_processes_metrics(app, provider, clock, client):
    from prometheus_client import generate_latest

    from scheduler.worker import Worker
    from tests.support.network import BASE_URL, CALLER_ID
    from tests.support.supervisor import add_account, log_in

    with_limits(app, dials_per_hour=1)
    rt = app.extensions["ivr"]
    add_agents(app, 2)
    request_callback(app, "+989120000001")
    request_callback(app, "+989120000002")
    worker = Worker(rt.db, rt.centre, provider, clock, base_url=BASE_URL, caller_id=CALLER_ID, worker_id="w-cap",
                    sleep=lambda _s: None)
    worker.dispatch_job()
    clock.advance(seconds=5)
    worker.dispatch_job()
    scraped = generate_latest(worker.metrics.registry).decode()
    assert "ivr_dial_breaker_open 1.0" in scraped and "ivr_dials_last_hour 1.0" in scraped
    web = client.get("/metrics").get_data(as_text=True)
    assert "ivr_dial_breaker_open 1.0" in web
    log_in(client, add_account(app))
    board = client.get("/supervisor/board.json?lang=en").get_json()
    assert board["breaker"]["open"] is True
    assert "Dialling is paused" in board["breaker"]["text"]
    assert any(a["kind"] == "dial_breaker" for a in board["alerts"])
    page = client.get("/supervisor/?lang=fa").get_data(as_text=True)
    assert 'id="breaker"' in page and 'data-open="1"' in page
