"""Who gets called next: earliest deadline first, one per free agent, never faster than calls per second;
and the watchdog: at-risk forecasts with escalation and alerts, missed deadlines with reasons, the digest."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from callbacks.agents import set_shift
from callbacks.attempts import DueCallback, FreeAgent, close_on_inbound, reservation_token, start_attempts
from callbacks.models import CANCELED, DIALING, MISSED, PENDING, Alert, Callback, CallbackEvent
from scheduler.delivery import Notifier, deliver_pending
from scheduler.dispatcher import Claimed
from scheduler.watchdog import Watchdog
from telephony.fake import FakeProvider
from tests.support.network import add_agents, agent, attempts_of, make_dispatcher, reload, request_callback


@pytest.fixture
def provider(clock):
    return FakeProvider(clock=clock)


def phone(i: int) -> str:
    return f"+98912{i:07d}"


def with_dispatch(app: Any, **changes: Any) -> None:
    rt = app.extensions["ivr"]
    rt.centre = rt.centre.model_copy(update={"dispatch": rt.centre.dispatch.model_copy(update=changes)})


def test_the_earliest_deadline_is_called_first_whatever_the_arrival_order(app, provider, clock):
    add_agents(app, 1)
    general = request_callback(app, phone(1))  # 2 business hours
    clock.advance(minutes=1)
    urgent = request_callback(app, phone(2), queue="urgent")  # 30 minutes on the clock
    make_dispatcher(app, provider).tick()
    assert reload(app, urgent).status == DIALING
    assert reload(app, general).status == PENDING


def test_first_come_first_served_is_available_for_comparison(app, provider, clock):
    add_agents(app, 1)
    general = request_callback(app, phone(1))
    clock.advance(minutes=1)
    request_callback(app, phone(2), queue="urgent")
    make_dispatcher(app, provider, order="fcfs").tick()
    assert reload(app, general).status == DIALING


def test_never_more_calls_in_flight_than_free_agents(app, provider, clock):
    with_dispatch(app, calls_per_second=50)
    add_agents(app, 2)
    callbacks = [request_callback(app, phone(i)) for i in range(5)]
    dispatcher = make_dispatcher(app, provider)
    assert dispatcher.tick().dialed == 2
    clock.advance(seconds=5)
    assert dispatcher.tick().dialed == 0
    assert sum(reload(app, c).status == DIALING for c in callbacks) == 2


def test_agents_off_shift_or_in_wrap_up_are_not_offered_work(app, provider, clock):
    [ag] = add_agents(app, 1)
    rt = app.extensions["ivr"]
    set_shift(rt.db, ag.name, False, clock.now())
    request_callback(app)
    dispatcher = make_dispatcher(app, provider)
    assert dispatcher.tick().claimed == 0
    set_shift(rt.db, ag.name, True, clock.now())
    with rt.db.session() as session:
        from callbacks.models import Agent

        session.get(Agent, ag.id).available_at = clock.now() + timedelta(seconds=30)
    assert dispatcher.tick().claimed == 0
    clock.advance(seconds=30)
    assert dispatcher.tick().claimed == 1


def test_calls_per_second_is_never_exceeded(app, provider, clock):
    add_agents(app, 10)
    for i in range(10):
        request_callback(app, phone(i))
    dispatcher = make_dispatcher(app, provider)
    slots = []
    for _ in range(3):
        claimed = dispatcher.claim(clock.now())
        slots += [c.slot_at for c in claimed]
        clock.advance(seconds=2)
    assert len(slots) == 6  # 1 per second over 6 seconds with a 2 s tick
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(slots)]
    assert min(gaps) >= 1.0


def test_no_attempt_starts_that_cannot_end_before_the_deadline(app, provider, clock):
    add_agents(app, 1)
    callback = request_callback(app, queue="urgent")
    clock.set(reload(app, callback).deadline_at - timedelta(minutes=1))
    assert make_dispatcher(app, provider).tick().claimed == 0


def test_a_customer_whose_own_call_reached_an_agent_is_not_called_back(app, provider, clock):
    add_agents(app, 1)
    callback = request_callback(app)
    with app.extensions["ivr"].db.session() as session:
        closed = close_on_inbound(session, app.extensions["ivr"].centre, callback.phone, clock.now(),
                                  call_sid="CAinbound")
    assert [c.id for c in closed] == [callback.id]
    after = reload(app, callback)
    assert after.status == CANCELED and "resolved" in after.end_reason
    assert make_dispatcher(app, provider).tick().claimed == 0


def test_an_expired_lease_with_no_call_placed_comes_back_to_the_queue(app, provider, clock):
    add_agents(app, 1)
    callback = request_callback(app)
    dispatcher = make_dispatcher(app, provider)
    dispatcher.claim(clock.now())  # claimed, then the worker "dies" before dialing
    clock.advance(minutes=3)
    assert dispatcher.sweep().settled == 1
    assert reload(app, callback).status == PENDING
    assert dispatcher.tick().dialed == 1
    assert len(provider.calls) == 1


def test_a_claim_numbers_each_attempt_after_the_last_leases_it_writes_the_history_and_reserves_the_agent(
        app, provider, clock):
    rt = app.extensions["ivr"]
    urgent = rt.centre.queues["urgent"].model_copy(update={"dial_order": "customer_first"})
    rt.centre = rt.centre.model_copy(update={"queues": {**rt.centre.queues, "urgent": urgent}})
    with_dispatch(app, calls_per_second=50)
    add_agents(app, 2)
    retried = request_callback(app, phone(1))
    dispatcher = make_dispatcher(app, provider, worker_id="w7")
    dispatcher.claim(clock.now())  # claimed, then the worker "dies" before dialing: attempt 1 ends not placed
    clock.advance(minutes=3)
    assert dispatcher.sweep().settled == 1
    first = request_callback(app, phone(2), queue="urgent")
    versions = {c.id: reload(app, c).version for c in (retried, first)}
    now = clock.now()

    claimed = {c.callback_id: c for c in dispatcher.claim(now)}

    assert set(claimed) == {retried.id, first.id}
    lease = rt.centre.dispatch.lease
    for callback, number, order in ((retried, 2, "agent_first"), (first, 1, "customer_first")):
        attempt = attempts_of(app, callback)[-1]
        assert (attempt.number, attempt.state, attempt.dial_order) == (number, "created", order)
        assert (attempt.worker_id, attempt.provider, attempt.sequence) == ("w7", "fake", {})
        assert attempt.created_at == now and attempt.lease_until == now + lease
        after = reload(app, callback)
        assert (after.status, after.live_attempt_id, after.version) == (DIALING, attempt.id, versions[callback.id] + 1)
        reserved = agent(app, attempt.agent_id)
        assert (reserved.busy_call_sid, reserved.busy_since) == (reservation_token(attempt.id), now)
        assert claimed[callback.id] == Claimed(callback.id, attempt.id, callback.phone, callback.queue, order,
                                               reserved.phone, claimed[callback.id].slot_at, now + lease)
        with rt.db.session() as session:
            event = session.scalars(select(CallbackEvent).where(CallbackEvent.callback_id == callback.id)
                                    .order_by(CallbackEvent.id.desc())).first()
        assert (event.at, event.kind, event.from_status, event.to_status, event.actor, event.reason,
                event.details) == (now, "status", PENDING, DIALING, "worker w7", "claimed for dialing",
                                   {"attempt": number})


def test_a_claim_that_finds_one_of_its_callbacks_no_longer_pending_writes_nothing(app, provider, clock):
    rt = app.extensions["ivr"]
    agents = add_agents(app, 2)
    callbacks = [request_callback(app, phone(i)) for i in range(2)]
    with rt.db.session() as session:  # what the claim's locks rule out: someone closed it after it was read
        session.execute(update(Callback).where(Callback.id == callbacks[1].id).values(status=CANCELED))
    pairs = [(DueCallback(c.id, c.phone, c.queue, c.deadline_at), FreeAgent(a.id, a.phone, a.queues))
             for c, a in zip(callbacks, agents, strict=True)]
    with pytest.raises(RuntimeError, match="claimed 1 of 2"), rt.db.session() as session:
        start_attempts(session, rt.centre, pairs, worker_id="w1", provider="fake", now=clock.now(),
                       lease=rt.centre.dispatch.lease)
    assert [attempts_of(app, c) for c in callbacks] == [[], []]
    assert (reload(app, callbacks[0]).status, reload(app, callbacks[0]).live_attempt_id) == (PENDING, None)
    assert [agent(app, a.id).busy_call_sid for a in agents] == [None, None]


# -- the watchdog ---------------------------------------------------------------------------------------------------
class FakeSMTP:
    sent: list[Any] = []

    def __init__(self, host: str, port: int, timeout: float):
        self.host, self.port = host, port

    def __enter__(self) -> FakeSMTP:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def starttls(self) -> None:
        pass

    def login(self, user: str, password: str) -> None:
        self.user = user

    def send_message(self, message: Any) -> None:
        FakeSMTP.sent.append(message)


def fixed_sla(app: Any) -> None:
    """Every customer quoted the queue's SLA whatever the load (promises given before the capacity forecast)."""
    from callbacks.service import CallbackService

    rt = app.extensions["ivr"]
    queues = {q: c.model_copy(update={"promise": c.promise.model_copy(update={"forecast": False})})
              for q, c in rt.centre.queues.items()}
    rt.centre = rt.centre.model_copy(update={"queues": queues})
    rt.service = CallbackService(rt.db, rt.centre, rt.clock)


def test_a_backlog_too_big_for_the_agents_raises_at_risk_alerts_before_any_miss(app, provider, clock):
    fixed_sla(app)
    add_agents(app, 1)
    urgent = []
    for i in range(12):
        urgent.append(request_callback(app, phone(i), queue="urgent"))
        clock.advance(seconds=10)
    report = Watchdog(app.extensions["ivr"].db, app.extensions["ivr"].centre, clock, worker_id="w").run()
    # 12 callbacks x 2 minutes for 1 agent within 30 minutes (10-minute margin): the later ones are at risk.
    assert report.at_risk and not report.missed
    assert reload(app, urgent[0]).at_risk_since is None  # the earliest deadline is fine
    risky = reload(app, urgent[-1])
    assert risky.at_risk_since == clock.now() and risky.priority == 15 and "ahead" in risky.at_risk_reason
    # Alerts go out once per callback.
    again = Watchdog(app.extensions["ivr"].db, app.extensions["ivr"].centre, clock, worker_id="w").run()
    assert again.at_risk == []


def test_alerts_are_delivered_by_email_webhook_and_sms_and_recorded(app, provider, clock):
    rt = app.extensions["ivr"]
    alerts_cfg = rt.centre.alerts.model_copy(update={"email_to": ["boss@example.com"],
                                                     "smtp_url": "smtp://u:p@mail.example.com:587",
                                                     "webhook_url": "https://hooks.example.com/x",
                                                     "sms_to": ["+989121111111"]})
    posted = []
    notifier = Notifier(alerts_cfg, provider=provider, sms_from="+14155550100", smtp_factory=FakeSMTP,
                        post_json=lambda url, payload: posted.append((url, payload)) or 200)
    callback = request_callback(app, queue="urgent")
    clock.set(reload(app, callback).deadline_at + timedelta(seconds=1))
    report = Watchdog(rt.db, rt.centre, clock, worker_id="w").run()
    assert report.missed == [callback.id]
    assert deliver_pending(rt.db, rt.centre, notifier, "w", clock.now()) == 1
    assert "missed" in FakeSMTP.sent[-1]["Subject"].lower()
    assert posted[0][1]["kind"] == "missed" and posted[0][1]["reference"] == callback.reference
    assert "missed" in provider.messages[0]["body"].lower()
    with rt.db.session() as session:
        alert = session.scalar(select(Alert))
        assert alert.deliveries == {"email": "sent", "webhook": "sent", "sms": "sent"}
    assert deliver_pending(rt.db, rt.centre, notifier, "w", clock.now()) == 0


@pytest.mark.parametrize(("agents", "reason"), [(0, "no agent on shift"), (1, "no free agent")])
def test_a_deadline_passing_before_any_attempt_is_missed_with_its_reason(app, provider, clock, agents, reason):
    made = add_agents(app, agents)
    if made:  # the one agent is busy on another call the whole time
        with app.extensions["ivr"].db.session() as session:
            from callbacks.models import Agent

            session.get(Agent, made[0].id).busy_call_sid = "CAelsewhere"
    callback = request_callback(app, queue="urgent")
    rt = app.extensions["ivr"]
    dispatcher = make_dispatcher(app, provider)
    watchdog = Watchdog(rt.db, rt.centre, clock, worker_id="w")
    for _ in range(31):
        dispatcher.tick()
        watchdog.run()
        clock.advance(minutes=1)
    after = reload(app, callback)
    assert after.status == MISSED and reason in after.end_reason
    with rt.db.session() as session:
        kinds = sorted(a.kind for a in session.scalars(select(Alert)))
    assert kinds == ["at_risk", "missed"]  # warned before it was missed


def test_a_deadline_passing_after_some_attempts_says_how_many(app, provider, clock):
    add_agents(app, 1)
    callback = request_callback(app, queue="urgent")
    rt = app.extensions["ivr"]
    with rt.db.session() as session:
        session.get(Callback, callback.id).attempts_made = 2
    clock.set(reload(app, callback).deadline_at)
    Watchdog(rt.db, rt.centre, clock, worker_id="w").run()
    assert "after 2 of 3 attempts" in reload(app, callback).end_reason


def test_the_daily_digest_is_written_once_a_day_at_the_configured_time(app, clock):
    rt = app.extensions["ivr"]
    watchdog = Watchdog(rt.db, rt.centre, clock, worker_id="w")
    digest = watchdog.send_digest()  # 10:00 local, after 08:00
    assert digest is not None
    assert digest.reason.startswith("Example Support digest for 2026-11-21")
    assert watchdog.send_digest() is None
    clock.advance(hours=20)  # 06:00 next day: not yet
    assert watchdog.send_digest() is None
    clock.advance(hours=3)
    assert watchdog.send_digest() is not None


def test_the_digest_email_has_the_reports_subject_and_text(app, clock):
    from scheduler.delivery import alert_text

    rt = app.extensions["ivr"]
    digest = Watchdog(rt.db, rt.centre, clock, worker_id="w").send_digest()
    subject, text, payload = alert_text(digest, None, rt.centre)
    assert subject.startswith("Example Support digest for 2026-11-21")
    assert "Requested:" in text and "Open now:" in text
    assert payload["kind"] == "digest"


def test_an_alert_claimed_by_a_worker_that_died_is_sent_by_another(app, provider, clock):
    from scheduler.delivery import CLAIM_TIMEOUT

    rt = app.extensions["ivr"]
    alerts_cfg = rt.centre.alerts.model_copy(update={"webhook_url": "https://hooks.example.com/x"})
    posted = []
    notifier = Notifier(alerts_cfg, provider=provider, sms_from="+14155550100", smtp_factory=FakeSMTP,
                        post_json=lambda url, payload: posted.append(payload) or 200)
    callback = request_callback(app, queue="urgent")
    clock.set(reload(app, callback).deadline_at + timedelta(seconds=1))
    Watchdog(rt.db, rt.centre, clock, worker_id="w").run()
    # Worker "dead" claimed the alert and was killed before sending it.
    with rt.db.session() as session:
        session.scalar(select(Alert)).deliveries = {"claimed_by": "dead", "at": clock.now().isoformat()}
    assert deliver_pending(rt.db, rt.centre, notifier, "alive", clock.now()) == 0  # the claim is still fresh
    clock.advance(CLAIM_TIMEOUT + timedelta(seconds=1))
    assert deliver_pending(rt.db, rt.centre, notifier, "alive", clock.now()) == 1
    assert [p["kind"] for p in posted] == ["missed"]
    with rt.db.session() as session:
        assert session.scalar(select(Alert)).deliveries == {"webhook": "sent"}
    assert deliver_pending(rt.db, rt.centre, notifier, "alive", clock.now()) == 0


def test_callers_waiting_on_the_line_count_in_the_at_risk_forecast(app, provider, clock):
    from callbacks.models import InboundCall

    rt = app.extensions["ivr"]
    add_agents(app, 1)
    # A callback due in 30 minutes (urgent queue, wall clock): alone, one agent easily keeps it.
    callback = request_callback(app, queue="urgent")
    assert Watchdog(rt.db, rt.centre, clock, worker_id="w").forecast(clock.now()) == []
    # Eight callers wait on the line; they are served first, three minutes each: the callback would start too late.
    with rt.db.session() as session:
        for n in range(8):
            session.add(InboundCall(call_sid=f"CA{n:032d}", started_at=clock.now(), enqueued_at=clock.now(),
                                    queue="general", outcome="human", path=[], zero_presses=1))
    [(risky, start, why)] = Watchdog(rt.db, rt.centre, clock, worker_id="w").forecast(clock.now())
    assert risky.id == callback.id
    assert "8 callers waiting" in why
    assert start > reload(app, callback).deadline_at - timedelta(minutes=12)


def test_a_miss_is_warned_at_least_ten_minutes_ahead_even_on_the_last_attempt(app, provider, clock):
    from callbacks.models import Agent

    rt = app.extensions["ivr"]
    [busy] = add_agents(app, 1)
    callback = request_callback(app, queue="urgent")  # 30 minutes on the clock, kept by the one agent
    with rt.db.session() as session:
        session.get(Callback, callback.id).attempts_made = 2  # only the last attempt is left
        session.get(Agent, busy.id).busy_call_sid = "CAelsewhere"  # and the agent is kept on another call
    dispatcher = make_dispatcher(app, provider)
    watchdog = Watchdog(rt.db, rt.centre, clock, worker_id="w")
    for _ in range(31):
        dispatcher.tick()
        watchdog.run()
        clock.advance(minutes=1)
    after = reload(app, callback)
    assert after.status == MISSED
    assert after.deadline_at - after.at_risk_since >= timedelta(minutes=10)


def test_a_tick_at_rest_locks_no_agent_and_reads_only_whether_anything_is_due(app, provider, clock):
    """One statement at rest, and no agent row locked by it (checked from another connection while the claim's
    transaction is still open, on PostgreSQL: a locked agent would make its NOWAIT lock fail)."""
    from sqlalchemy import event, text

    add_agents(app, 2)
    waiting = request_callback(app, phone(1))
    with app.extensions["ivr"].db.session() as session:  # open, not due for hours (a retry later on)
        session.get(Callback, waiting.id).next_attempt_at = clock.now() + timedelta(hours=3)
    dispatcher = make_dispatcher(app, provider)
    db = app.extensions["ivr"].db
    statements: list[str] = []
    lockable: list[int] = []

    def after(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if conn.info.get("checker"):
            return
        statements.append(statement)
        if db.dialect == "postgresql":
            with db.engine.connect() as other:
                other.info["checker"] = True
                lockable.append(len(other.execute(text("SELECT id FROM agents FOR UPDATE NOWAIT")).all()))
                other.rollback()
                del other.info["checker"]

    event.listen(db.engine, "after_cursor_execute", after)
    try:
        assert dispatcher.claim(clock.now()) == []
    finally:
        event.remove(db.engine, "after_cursor_execute", after)
    statements = [s for s in statements if s != "BEGIN IMMEDIATE"]  # SQLite's write lock, taken by every claim
    assert len(statements) == 1 and "callbacks" in statements[0], statements
    if db.dialect == "postgresql":
        assert lockable == [2]


# -- pacing slots beside the claim (PostgreSQL) -------------------------------------------------------------------
def _pacing_at(app: Any) -> Any:
    from callbacks.models import DispatchState
    from scheduler.pacing import PACING_ROW

    with app.extensions["ivr"].db.session() as session:
        row = session.get(DispatchState, PACING_ROW)
        return row.at if row is not None else None


def test_a_claim_does_not_hold_the_pacing_row_while_it_writes(app, provider, clock, monkeypatch):
    """Two workers' claims run side by side on PostgreSQL: another worker takes its slots while this claim is still
    writing (and waits for nothing); on SQLite the claim's transaction holds the one write lock anyway."""
    from sqlalchemy import text

    from callbacks import attempts
    from scheduler import pacing

    rt = app.extensions["ivr"]
    if rt.db.dialect != "postgresql":
        pytest.skip("SQLite has one write lock: a claim holds it throughout by design")
    with_dispatch(app, calls_per_second=10)
    add_agents(app, 2)
    for i in range(2):
        request_callback(app, phone(i))
    real_start = attempts.start_attempts
    others: list[Any] = []

    def another_worker_takes_slots_meanwhile(*args: Any, **kwargs: Any) -> Any:
        with rt.db.session() as other:
            other.execute(text("SET LOCAL lock_timeout = '2s'"))  # a held row would fail this, not hang it
            others.extend(pacing.take_slots(other, rt.centre.dispatch, clock.now(), 3))
        return real_start(*args, **kwargs)

    monkeypatch.setattr(attempts, "start_attempts", another_worker_takes_slots_meanwhile)
    claimed = make_dispatcher(app, provider).claim(clock.now())
    assert len(claimed) == 2 and len(others) == 3
    slots = sorted([c.slot_at for c in claimed] + others)
    assert len(set(slots)) == 5  # no slot given twice
    assert min((b - a).total_seconds() for a, b in itertools.pairwise(slots)) >= 0.1


def test_a_claim_that_fails_gives_its_pacing_slots_back(app, provider, clock, monkeypatch):
    from callbacks import attempts

    rt = app.extensions["ivr"]
    with_dispatch(app, calls_per_second=1)
    add_agents(app, 1)
    request_callback(app, phone(1))
    before = _pacing_at(app)

    def fails(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("claimed 0 of 1")

    monkeypatch.setattr(attempts, "start_attempts", fails)
    with pytest.raises(RuntimeError, match="claimed 0 of 1"):
        make_dispatcher(app, provider).claim(clock.now())
    monkeypatch.undo()
    # The next claim gets the slot the failed one had taken: now, not a second later.
    claimed = make_dispatcher(app, provider).claim(clock.now())
    assert [c.slot_at for c in claimed] == [clock.now()]
    assert before is None and rt.db.dialect in ("postgresql", "sqlite")


def test_a_failed_claim_whose_slots_cannot_be_given_back_still_tells_its_own_error(app, provider, clock,
                                                                                  monkeypatch, caplog):
    """The database gone between the two (the slots stay used: at most one tick of calls lost to pacing)."""
    from callbacks import attempts
    from scheduler import pacing

    with_dispatch(app, calls_per_second=1)
    add_agents(app, 1)
    request_callback(app, phone(1))

    def fails(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("claimed 0 of 1")

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise OSError("database unavailable")

    monkeypatch.setattr(attempts, "start_attempts", fails)
    monkeypatch.setattr(pacing, "give_back", unreachable)
    with pytest.raises(RuntimeError, match="claimed 0 of 1"):
        make_dispatcher(app, provider).claim(clock.now())
    if app.extensions["ivr"].db.dialect == "postgresql":
        assert "not given back" in caplog.text
    monkeypatch.undo()
    claimed = make_dispatcher(app, provider).claim(clock.now())
    assert len(claimed) == 1  # still claimable; its slot is the next free one
