"""The callback promise under the faults a hostile review found: each test is one finding, played through the real
dispatcher, the fake provider and signed Twilio webhooks, on SQLite and PostgreSQL, with the clock moved by hand.

1 the last-moment retry is dialled; 2 no agent stays reserved (a worker dies after its claim, the provider loses a
dial, the agent leg's last status is lost); 3 the lost-call lookup never adopts another call; 4 a stalled worker's
late call is never bridged and is canceled; 5 an idle agent is not blocked by callbacks nobody free can take; 6 a
cancel between claim and dial rings nobody; 8 a stopped SQLite worker that was replaced stops. (7, a window in
closed hours, is in `tests/callbacks/test_deadlines.py`.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from callbacks.models import CANCELED, COMPLETED, PENDING, Agent, AgentCall, Alert, Attempt, WorkerLock
from scheduler.dispatcher import Dispatcher
from scheduler.worker import Worker
from telephony.fake import FakeProvider
from telephony.provider import CallInfo, CallRequest, OutcomeUnknown, ProviderTransientError
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


def rt(app: Any) -> Any:
    return app.extensions["ivr"]


def with_queue(app: Any, queue: str, **changes: Any) -> None:
    """Change one queue of the app's contact centre (dial order, retry policy) for this test."""
    centre = rt(app).centre
    changed = centre.queues[queue].model_copy(update=changes)
    rt(app).centre = centre.model_copy(update={"queues": {**centre.queues, queue: changed}})


def settle(app: Any, dispatcher: Dispatcher, clock: Any, minutes: int = 3) -> None:
    """Time passes beyond every lease, and the sweep runs (as many times as a worker would)."""
    for _ in range(minutes * 2):
        clock.advance(seconds=30)
        dispatcher.sweep()


# -- 1: the last-moment retry ---------------------------------------------------------------------------------------
def test_the_last_retry_squeezed_before_the_deadline_is_dialled_by_a_worker_ticking_every_two_seconds(
        app, provider, network, clock):
    add_agents(app)
    callback = request_callback(app, queue="urgent")  # 30 minutes, wall clock; 5 minutes between attempts
    deadline = reload(app, callback).deadline_at
    dispatcher = make_dispatcher(app, provider)
    clock.set(deadline - timedelta(minutes=5, seconds=30))  # nobody could call earlier
    assert dispatcher.tick().dialed == 1
    network.agent_first_call("no-answer")  # 5 minutes more would be too late: the last try is squeezed in
    retry_at = reload(app, callback).next_attempt_at
    latest_start = deadline - rt(app).centre.queues["urgent"].retry.attempt_duration
    assert clock.now() < retry_at <= latest_start
    clock.advance(seconds=1)  # the worker's ticks do not land on any particular instant
    dialed = 0
    while clock.now() <= latest_start and not dialed:
        clock.advance(seconds=2)
        dialed = dispatcher.tick().dialed
    assert dialed == 1, "the owed last attempt was never dialled"
    assert len(provider.requests) == 2


def test_an_answering_machine_is_told_the_time_of_the_squeezed_last_retry(app, provider, network, clock):
    add_agents(app)
    callback = request_callback(app, queue="urgent", language="en")
    deadline = reload(app, callback).deadline_at
    clock.set(deadline - timedelta(minutes=5))
    make_dispatcher(app, provider).tick()
    call = network.agent_first_call("completed", talk=10, answered_by="machine_end_beep")
    retry_at = reload(app, callback).next_attempt_at.astimezone(rt(app).centre.zone)
    assert f"try again at about {retry_at:%H:%M}" in said(call["whisper"])


# -- 2: no agent stays reserved ---------------------------------------------------------------------------------------
def assert_agent_takes_the_next_callback(app: Any, dispatcher: Dispatcher, provider: FakeProvider, agent_id: int,
                                         clock: Any) -> None:
    clock.advance(minutes=5)  # past any wrap-up or missed-call pause
    assert agent(app, agent_id).busy_call_sid is None, "the agent is still reserved"
    request_callback(app, phone="+989121110099")
    before = len(provider.requests)
    assert dispatcher.tick().dialed == 1
    assert provider.requests[before].to == agent(app, agent_id).phone


def test_a_worker_that_died_after_its_claim_then_a_cancel_leaves_no_agent_reserved(app, provider, clock):
    [ag] = add_agents(app)
    callback = request_callback(app)
    dispatcher = make_dispatcher(app, provider)
    dispatcher.claim(clock.now())  # the worker dies here: nothing dialed
    rt(app).service.cancel(callback.public_id, actor="customer")
    settle(app, dispatcher, clock)
    assert reload(app, callback).status == CANCELED
    assert_agent_takes_the_next_callback(app, dispatcher, provider, ag.id, clock)


def test_a_dial_lost_with_nothing_placed_then_a_cancel_leaves_no_agent_reserved(app, provider, clock):
    [ag] = add_agents(app)
    callback = request_callback(app)
    provider.fail_next(OutcomeUnknown("read timeout"), placed=False)
    dispatcher = make_dispatcher(app, provider)
    assert dispatcher.tick().unknown == 1
    rt(app).service.cancel(callback.public_id, actor="customer")
    settle(app, dispatcher, clock)
    [attempt] = attempts_of(app, callback)
    assert attempt.state == "ended"
    assert_agent_takes_the_next_callback(app, dispatcher, provider, ag.id, clock)


def test_an_agent_whose_last_status_callback_is_lost_is_free_after_the_conversation(app, provider, network, clock):
    [ag] = add_agents(app)
    callback = request_callback(app)
    dispatcher = make_dispatcher(app, provider)
    dispatcher.tick()
    attempt_id, agent_sid, root = network.agent_answers()
    dial = network.agent_presses(root, "1", agent_sid)
    _attempt, child, _url, whisper_url = network.customer_leg(dial, agent_sid)
    network.status(attempt_id, "customer", child, "in-progress", 1)
    network.twiml(whisper_url, {"CallSid": child, "AnsweredBy": "human"})
    clock.advance(seconds=95)
    network.status(attempt_id, "customer", child, "completed", 2, CallDuration="95")
    provider.set_status(agent_sid, "completed", duration=100)  # the agent hung up; that status never reaches us
    assert reload(app, callback).status == COMPLETED
    assert_agent_takes_the_next_callback(app, dispatcher, provider, ag.id, clock)


# -- 3: the lost-call lookup never adopts another call ----------------------------------------------------------------
def test_a_lost_dial_for_a_customer_with_two_open_callbacks_never_adopts_the_other_callbacks_call(
        app, provider, clock):
    with_queue(app, "general", dial_order="customer_first")
    with_queue(app, "billing", dial_order="customer_first")
    add_agents(app, 2)
    first = request_callback(app, queue="general")
    second = request_callback(app, queue="billing")
    dispatcher = make_dispatcher(app, provider)
    provider.fail_next(OutcomeUnknown("HTTP 503"), placed=False)  # one of the two dials is lost, placing nothing
    report = dispatcher.tick()
    assert report.dialed == 1 and report.unknown == 1
    clock.advance(seconds=30)
    dispatcher.sweep()  # must not fail on the call it cannot have placed
    sids = {a.customer_call_sid for cb in (first, second) for a in attempts_of(app, cb)}
    assert len(sids - {None}) == 1, "one call, recorded once"
    lost = next(a for cb in (first, second) for a in attempts_of(app, cb) if a.customer_call_sid is None)
    assert lost.state == "ended" and lost.outcome == "not_placed"
    assert {reload(app, first).status, reload(app, second).status} == {"dialing", PENDING}
    with rt(app).db.session() as session:
        reserved = session.scalar(select(Agent).where(Agent.busy_call_sid == f"attempt:{lost.id}"))
    assert reserved is None, "the lost attempt's agent is still held"


def test_a_lost_dial_adopts_its_own_call_not_a_canceled_call_rung_for_the_queue(app, provider, network, clock):
    [ag] = add_agents(app)
    # A few seconds ago the worker rang this agent for a caller in the queue; the caller left and it was canceled.
    old = provider.create_call(CallRequest(to=ag.phone, from_=CALLER_ID, url=f"{BASE_URL}/x", status_callback="x"))
    provider.set_status(old.sid, "canceled")
    with rt(app).db.session() as session:
        session.add(AgentCall(queue="general", agent_id=ag.id, state="ended", outcome="caller_left", call_sid=old.sid,
                              created_at=clock.now() - timedelta(seconds=5), ended_at=clock.now()))
    clock.advance(seconds=5)
    callback = request_callback(app)
    provider.fail_next(OutcomeUnknown("HTTP 503"), placed=True)  # the call was placed; its answer was lost
    dispatcher = make_dispatcher(app, provider)
    dispatcher.tick()
    [real] = [c for c in provider.calls.values() if c.sid != old.sid]
    clock.advance(seconds=30)
    dispatcher.sweep()
    [attempt] = attempts_of(app, callback)
    assert attempt.agent_call_sid == real.sid
    network.agent_first_call("completed", talk=60)
    assert reload(app, callback).status == COMPLETED
    assert len(provider.requests) == 2  # the queue's call and this attempt's: the customer is not dialed again


# -- 4: fencing: a stalled worker's call is never bridged ------------------------------------------------------------
@dataclass
class StallingProvider:
    """Delegates to a FakeProvider; the first create_call stalls (the world moves on) before it is sent."""

    inner: FakeProvider
    stall: Any
    name: str = "fake"
    timeout: float = 10.0
    stalled: list[str] = field(default_factory=list)

    def create_call(self, request: CallRequest) -> CallInfo:
        if not self.stalled:
            self.stalled.append(request.url)
            self.stall()
        return self.inner.create_call(request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_worker_stalled_past_its_lease_never_bridges_its_late_call_and_cancels_it(app, provider, network, clock):
    [ag] = add_agents(app)
    callback = request_callback(app)
    other = make_dispatcher(app, provider, worker_id="w2")

    def stall() -> None:  # SIGSTOP between the last check and the send; another worker takes over meanwhile
        clock.advance(minutes=3)
        other.sweep()
        assert other.tick().dialed == 1

    stalled = Dispatcher(rt(app).db, rt(app).centre, StallingProvider(provider, stall), clock, worker_id="w1",
                         base_url=BASE_URL, caller_id=CALLER_ID, sleep=lambda _s: None)
    stalled.tick()
    late, live = provider.requests[1], provider.requests[0]  # the live worker's call went out first
    late_call = provider.calls_to(ag.phone)[-1]
    # The stale worker learned its attempt had ended: it canceled its call while it rang.
    assert late_call.sid in provider.cancel_requests
    # Had the agent answered it first, the stale call would have been hung up, never bridged.
    answered = network.twiml(late.url, {"CallSid": late_call.sid, "CallStatus": "in-progress"})
    assert answered.find("Dial") is None and answered.find("Gather") is None and answered.find("Hangup") is not None
    pressed = network.twiml(late.url.replace("/agent?", "/agent/connect?"), {"CallSid": late_call.sid, "Digits": "1"})
    assert pressed.find("Dial") is None
    # The live attempt goes on and keeps the promise; the customer is dialed once.
    network.agent_first_call("completed", talk=60, index=0)
    assert reload(app, callback).status == COMPLETED
    dials = [f for url, f, _s in network.posted if "/agent/connect" in url and f.get("Digits") == "1"]
    assert len(dials) == 2 and live.url != late.url


# -- 5: head-of-line blocking ---------------------------------------------------------------------------------------
def test_an_idle_agent_is_not_kept_from_its_queue_by_a_backlog_it_cannot_take(app, provider, clock):
    add_agents(app, 1, queues=["general"])
    for i in range(60):  # earlier deadlines than anything in general, and nobody free serves them
        request_callback(app, phone=f"+98912555{i:04d}", queue="urgent")
    mine = request_callback(app, queue="general")
    report = make_dispatcher(app, provider).tick()
    assert report.dialed == 1
    assert [a.number for a in attempts_of(app, mine)] == [1]


# -- 6: a cancel between claim and dial ----------------------------------------------------------------------------
def test_a_callback_canceled_between_its_claim_and_its_dial_rings_nobody(app, provider, clock):
    add_agents(app, 2)
    first = request_callback(app)
    second = request_callback(app, phone="+989121110055")

    def sleep(seconds: float) -> None:  # waiting for the second call's pacing slot: the customer cancels
        rt(app).service.cancel(second.public_id, actor="customer")
        clock.advance(seconds=seconds)

    dispatcher = Dispatcher(rt(app).db, rt(app).centre, provider, clock, worker_id="w1", base_url=BASE_URL,
                            caller_id=CALLER_ID, sleep=sleep)
    report = dispatcher.tick()
    assert report.claimed == 2 and report.dialed == 1
    assert len(provider.requests) == 1
    assert reload(app, first).status == "dialing" and reload(app, second).status == CANCELED
    [attempt] = attempts_of(app, second)
    assert attempt.state == "ended"
    assert agent(app, attempt.agent_id).busy_call_sid is None


# -- the sweep and the watchdog ---------------------------------------------------------------------------------------
class ProviderDown(FakeProvider):
    def fetch_call(self, sid: str) -> CallInfo:
        raise ProviderTransientError("provider unreachable")

    def list_calls(self, **_filters: Any) -> list[CallInfo]:
        raise ProviderTransientError("provider unreachable")


def test_a_callback_the_sweep_cannot_settle_is_alerted_once_past_its_deadline(app, clock):
    from scheduler.watchdog import Watchdog

    provider = ProviderDown(clock=clock)
    add_agents(app)
    callback = request_callback(app, queue="urgent")
    dispatcher = make_dispatcher(app, provider)
    dispatcher.tick()  # placed; then every status callback is lost and the provider cannot be reached
    watchdog = Watchdog(rt(app).db, rt(app).centre, clock, worker_id="w1")
    deadline = reload(app, callback).deadline_at
    while clock.now() < deadline + timedelta(minutes=5):
        clock.advance(minutes=1)
        assert dispatcher.sweep().errors <= 1
        watchdog.run()
    with rt(app).db.session() as session:
        alerts = [(a.kind, a.callback_id) for a in session.scalars(select(Alert))]
    assert alerts.count(("stuck", callback.id)) == 1


# -- 8: one worker on SQLite --------------------------------------------------------------------------------------
def test_a_stopped_sqlite_worker_that_was_replaced_stops_instead_of_dialing_beside_its_successor(
        sqlite_db, centre, clock):
    from callbacks.agents import add_agent
    from callbacks.service import CallbackService

    add_agent(sqlite_db, "Sara", "+989121110000", clock.now(), "IR", None)
    CallbackService(sqlite_db, centre, clock).request(phone=CUSTOMER, channel="api", actor="test")
    stopped_calls, new_calls = FakeProvider(clock=clock), FakeProvider(clock=clock)
    stopped = Worker(sqlite_db, centre, stopped_calls, clock, base_url=BASE_URL, caller_id=CALLER_ID, worker_id="a",
                     sleep=lambda _s: None)
    stopped.register()
    clock.advance(minutes=5)  # SIGSTOP: no heartbeat
    successor = Worker(sqlite_db, centre, new_calls, clock, base_url=BASE_URL, caller_id=CALLER_ID, worker_id="b",
                       sleep=lambda _s: None)
    successor.register()
    stopped.dispatch_job()  # SIGCONT
    assert stopped_calls.requests == []
    with sqlite_db.session() as session:
        assert [w.id for w in session.scalars(select(WorkerLock))] == ["b"]
    successor.dispatch_job()
    assert len(new_calls.requests) == 1


def test_a_worker_whose_clock_is_off_from_the_databases_does_not_dial_and_alerts(pg_db, centre, clock):
    from callbacks.agents import add_agent
    from callbacks.service import CallbackService

    add_agent(pg_db, "Sara", "+989121110000", clock.now(), "IR", None)
    CallbackService(pg_db, centre, clock).request(phone=CUSTOMER, channel="api", actor="test")
    calls = FakeProvider(clock=clock)
    # The frozen clock is days away from the database server's: a worker minutes off is just as wrong.
    worker = Worker(pg_db, centre, calls, clock, base_url=BASE_URL, caller_id=CALLER_ID, worker_id="skewed",
                    sleep=lambda _s: None, check_clock=True)
    worker.register()
    worker.run_once()
    assert calls.requests == []
    with pg_db.session() as session:
        assert [a.kind for a in session.scalars(select(Alert))] == ["worker_clock"]
    assert "ahead of the database" in (worker.paused or "") or "behind the database" in (worker.paused or "")
    with pg_db.session() as session:
        assert session.scalars(select(Attempt)).all() == []


def test_a_worker_asked_to_stop_claims_nothing_more(sqlite_db, centre, clock):
    """SIGTERM lets a running round finish; a round the timer starts after it claims nothing: a worker on its way
    out would place calls after it was told to stop, and the next worker claims them just as well."""
    from callbacks.agents import add_agent
    from callbacks.service import CallbackService

    add_agent(sqlite_db, "Sara", "+989121110000", clock.now(), "IR", None)
    CallbackService(sqlite_db, centre, clock).request(phone=CUSTOMER, channel="api", actor="test")
    calls = FakeProvider(clock=clock)
    worker = Worker(sqlite_db, centre, calls, clock, base_url=BASE_URL, caller_id=CALLER_ID, worker_id="leaving",
                    sleep=lambda _s: None)
    worker.register()
    worker.stopping.set()  # what the SIGTERM handler does
    worker.dispatch_job()
    assert calls.requests == []
    with sqlite_db.session() as session:
        assert session.scalar(select(Attempt.id)) is None
    worker.stopping.clear()
    worker.dispatch_job()
    assert len(calls.requests) == 1
