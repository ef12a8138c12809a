"""The capacity forecast and the honest quote, at their edges: an empty centre, nobody on shift, closing time,
holidays, a wall-clock SLA across the night, a sudden burst; and the promise is never one the forecast breaks."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from callbacks.agents import add_agent, set_shift
from callbacks.businesstime import BusinessCalendar
from callbacks.capacity import BacklogCache, Since, opening_spans, plan_shift, staffed_spans
from callbacks.clock import FrozenClock
from callbacks.forecast import (
    AttemptSample,
    AttemptStats,
    Backlog,
    Capacity,
    Staffed,
    chain,
    default_stats,
    learn_stats,
    work_for,
)
from callbacks.models import Alert, Callback, CallbackEvent
from callbacks.service import CallbackService
from scheduler.watchdog import Watchdog

TEHRAN = ZoneInfo("Asia/Tehran")
SUNDAY_10 = datetime(2026, 11, 22, 10, 0, tzinfo=TEHRAN)
STATS = AttemptStats(answer_rate=0.7, answered_seconds=100.0, unanswered_seconds=60.0, sample=500)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TEHRAN)


def phone(i: int) -> str:
    return f"+98912{i:07d}"


def service_at(db, centre, moment: datetime) -> tuple[CallbackService, FrozenClock]:
    clock = FrozenClock(moment)
    return CallbackService(db, centre, clock), clock


def agents(db, clock, count: int) -> list[str]:
    return [add_agent(db, f"Agent {i}", f"+98935{i:07d}", clock.now(), "IR").name for i in range(count)]


# -- the quote, through the service, on a real database --------------------------------------------------------------
def test_an_empty_centre_quotes_the_sla(db, centre):
    service, clock = service_at(db, centre, SUNDAY_10)
    # No agent registered at all: nothing to forecast from (a centre being set up).
    bare = service.request(phone=phone(1), channel="api", actor="t").callback
    assert bare.deadline_at == bare.sla_deadline_at == SUNDAY_10 + timedelta(hours=2)
    assert bare.deadline_from == "sla"
    # Agents, nobody waiting: the SLA is easily kept.
    agents(db, clock, 3)
    callback = service.request(phone=phone(2), channel="api", actor="t", queue="billing").callback
    assert callback.deadline_at == callback.sla_deadline_at == SUNDAY_10 + timedelta(hours=4)
    assert callback.deadline_from == "sla"


def test_with_nobody_on_shift_the_customer_is_told_we_are_overloaded_and_supervisors_hear_it(db, centre):
    service, clock = service_at(db, centre, SUNDAY_10)
    for name in agents(db, clock, 2):
        set_shift(db, name, False, clock.now())
    callback = service.request(phone=phone(1), channel="api", actor="t").callback
    # Nobody before tomorrow 08:00: beyond the queue's ceiling (8 opening hours), so the promise is the ceiling,
    # said plainly, flagged at risk from the start, and supervisors are alerted.
    assert callback.deadline_from == "ceiling"
    assert callback.deadline_at == local(2026, 11, 22, 18, 0)
    assert callback.sla_deadline_at == local(2026, 11, 22, 12, 0)
    assert callback.at_risk_since == clock.now()
    with db.session() as session:
        kinds = sorted(a.kind for a in session.scalars(select(Alert)))
    assert kinds == ["overloaded", "quote_over_sla"]


def test_an_overloaded_request_is_written_at_risk_with_its_alert_in_one_insert_each(db, centre):
    from sqlalchemy import event

    service, clock = service_at(db, centre, SUNDAY_10)
    for name in agents(db, clock, 2):
        set_shift(db, name, False, clock.now())
    service.request(phone=phone(1), channel="api", actor="t")  # the first: the queue's flag is raised too
    statements: list[str] = []
    listener = lambda _c, _cur, statement, *_rest: statements.append(statement.split()[0].upper())  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        callback = service.request(phone=phone(2), channel="api", actor="t").callback
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert callback.deadline_from == "ceiling" and callback.at_risk_since == clock.now()
    assert callback.at_risk_reason.startswith("overloaded: the forecast is beyond the queue's ceiling")
    # The callback, its history, its alert: no UPDATE of the row just written, no look for an alert it cannot have
    # (on PostgreSQL the callback and its history are one statement).
    writes = ["WITH", "INSERT"] if db.dialect == "postgresql" else ["INSERT", "INSERT", "INSERT"]
    assert [s for s in statements if s not in ("SELECT", "BEGIN", "COMMIT")] == writes
    with db.session() as session:
        alert = session.scalars(select(Alert).where(Alert.callback_id == callback.id)).one()
    assert alert.kind == "overloaded" and alert.reason == callback.at_risk_reason and alert.deliveries is None


def test_a_request_at_closing_time_is_promised_from_tomorrows_agents(db, centre):
    service, clock = service_at(db, centre, local(2026, 11, 22, 19, 20))
    agents(db, clock, 1)
    # One agent, 40 general callbacks waiting: tonight's 40 minutes cannot do them; tomorrow morning can.
    for i in range(40):
        service.request(phone=phone(i), channel="api", actor="t")
    last = service.request(phone=phone(99), channel="api", actor="t").callback
    assert last.sla_deadline_at == local(2026, 11, 23, 9, 20)
    assert last.deadline_from == "forecast"
    monday_open, monday_close = local(2026, 11, 23, 8, 0), local(2026, 11, 23, 20, 0)
    assert monday_open < last.deadline_at < monday_close
    # The promise is a round time a customer can remember.
    assert last.deadline_at.astimezone(TEHRAN).minute % 5 == 0 and last.deadline_at.second == 0


def test_a_holiday_has_no_agents_in_the_forecast(db, centre):
    holiday = date(2026, 11, 23)  # Monday: a closed day of the centre's own
    closed = centre.model_copy(update={"holidays": centre.holidays.model_copy(update={"extra": [holiday]})})
    service, clock = service_at(db, closed, local(2026, 11, 22, 19, 20))
    agents(db, clock, 1)
    for i in range(40):
        service.request(phone=phone(i), channel="api", actor="t")
    last = service.request(phone=phone(99), channel="api", actor="t").callback
    # Nothing on Monday: the forecast starts on Tuesday morning, and so does the SLA.
    assert last.sla_deadline_at == local(2026, 11, 24, 9, 20)
    assert local(2026, 11, 24, 8, 0) < last.deadline_at < local(2026, 11, 24, 20, 0)


def test_a_wall_clock_sla_across_the_night_is_promised_for_the_morning_not_for_the_night(db, centre):
    service, clock = service_at(db, centre, local(2026, 11, 22, 19, 50))
    agents(db, clock, 2)
    urgent = service.request(phone=phone(1), channel="api", actor="t", queue="urgent").callback
    # 30 minutes on the clock would be 20:20, after the agents leave at 20:00, with no room for the retries owed.
    assert urgent.sla_deadline_at == local(2026, 11, 22, 20, 20)
    assert urgent.deadline_from == "forecast"
    # Tomorrow 08:00, the three attempts five minutes apart (16 minutes), the queue's 5-minute margin, rounded.
    assert urgent.deadline_at == local(2026, 11, 23, 8, 25)


def test_a_sudden_burst_gets_later_promises_and_never_pushes_an_earlier_one_into_risk(db, centre):
    service, clock = service_at(db, centre, SUNDAY_10)
    agents(db, clock, 2)
    promised = []
    for i in range(120):  # all at once
        promised.append(service.request(phone=phone(i), channel="api", actor="t").callback)
    deadlines = [c.deadline_at for c in promised]
    assert promised[0].deadline_from == "sla"
    assert promised[-1].deadline_from == "forecast"
    assert deadlines == sorted(deadlines)  # nobody is promised earlier than someone who asked before them
    # Every promise given is one the forecast keeps: nothing is at risk right after the burst.
    watchdog = Watchdog(db, centre, clock, worker_id="w")
    assert watchdog.forecast(clock.now()) == []
    # Quotes beyond the SLA were announced to supervisors once.
    with db.session() as session:
        assert [a.kind for a in session.scalars(select(Alert))] == ["quote_over_sla"]


def test_an_agent_planned_for_the_afternoon_counts_only_then(db, centre):
    service, clock = service_at(db, centre, SUNDAY_10)
    [name] = agents(db, clock, 1)
    set_shift(db, name, False, clock.now())
    plan_shift(db, name, local(2026, 11, 22, 14, 0), local(2026, 11, 22, 18, 0), clock.now())
    callback = service.request(phone=phone(1), channel="api", actor="t").callback
    # Nobody until 14:00: the promise is 14:00 plus the attempts owed and the margin.
    assert callback.deadline_from == "forecast"
    assert callback.deadline_at == local(2026, 11, 22, 15, 5)


def test_promises_are_never_changed_when_they_become_at_risk_only_escalated(db, centre):
    service, clock = service_at(db, centre, SUNDAY_10)
    names = agents(db, clock, 3)
    promised = [service.request(phone=phone(i), channel="api", actor="t", queue="urgent").callback
                for i in range(10)]
    for name in names[1:]:
        set_shift(db, name, False, clock.now())  # two agents go home
    Watchdog(db, centre, clock, worker_id="w").run()
    with db.session() as session:
        after = {c.id: c for c in session.scalars(select(Callback))}
    risky = [c for c in promised if after[c.id].at_risk_since is not None]
    assert risky
    for c in promised:
        assert after[c.id].deadline_at == c.deadline_at
    assert all(after[c.id].priority == c.priority + 10 for c in risky)


# -- the pure forecast ---------------------------------------------------------------------------------------------
def test_attempt_statistics_start_from_defaults_and_learn_from_enough_history():
    defaults = default_stats(talk_seconds=180, ring_timeout=30, wrap_up=30, tick=2)
    assert learn_stats([AttemptSample(True, 90.0)] * 10, defaults) == defaults
    learned = learn_stats([AttemptSample(True, 90.0)] * 60 + [AttemptSample(False, 40.0)] * 40, defaults)
    assert learned.answer_rate == pytest.approx(0.6)
    assert learned.answered_seconds == pytest.approx(90.0)
    assert learned.unanswered_seconds == pytest.approx(40.0)
    # Retries: with 60% answered, three attempts cost 1 + 0.4 + 0.16 attempts on average.
    assert learned.remaining_work(3) == pytest.approx(learned.attempt_seconds * 1.56)


def test_capacity_counts_agent_seconds_and_finds_staffed_stretches():
    now = local(2026, 11, 22, 19, 0)
    capacity = Capacity(now, [Staffed(now, local(2026, 11, 22, 20, 0), 2),
                              Staffed(local(2026, 11, 23, 8, 0), local(2026, 11, 23, 20, 0), 2)])
    assert capacity.until(local(2026, 11, 22, 19, 30)) == 2 * 1800
    assert capacity.reach(2 * 3600 + 600) == local(2026, 11, 23, 8, 5)
    # Twenty minutes of attempts do not fit in the last ten minutes of the day.
    assert capacity.fit(local(2026, 11, 22, 19, 50), timedelta(minutes=20)) == local(2026, 11, 23, 8, 0)
    assert Capacity(now, []).reach(1) is None


def test_staffing_follows_the_opening_hours_and_the_planned_shifts(centre):
    calendar = BusinessCalendar.for_centre(centre)
    now = local(2026, 11, 25, 19, 0)  # Wednesday: Thursday is a short day, Friday closed
    spans = opening_spans(calendar, now)

    class Agent:
        def __init__(self, ident: int, on_shift: bool):
            self.queues: list[str]
            self.id, self.on_shift, self.queues = ident, on_shift, []

    staffed = staffed_spans([Agent(1, True), Agent(2, False)], {}, spans, now)
    regular = [(s.start, s.end) for s in staffed]
    assert (now, local(2026, 11, 25, 20, 0)) in regular  # on shift now: until closing
    assert regular.count((local(2026, 11, 26, 8, 0), local(2026, 11, 26, 13, 0))) == 2  # both on Thursday morning
    assert not any(s.start.astimezone(TEHRAN).date() == date(2026, 11, 27) for s in staffed)  # nobody on Friday


def test_a_quote_never_pushes_a_promise_already_given_into_risk():
    now = local(2026, 11, 22, 10, 0)
    capacity = Capacity(now, [Staffed(now, local(2026, 11, 22, 20, 0), 1)])
    from config import load_contact_centre
    from config.settings import EXAMPLE_CONFIG

    general = load_contact_centre(EXAMPLE_CONFIG).queues["general"]
    # A promise for 11:30 that one agent keeps only if nothing is put in front of it.
    tight = work_for("general", general, STATS, deadline=local(2026, 11, 22, 11, 0) + chain(general, 0),
                     attempts_made=0, ready_at=now)
    filler = [work_for("general", general, STATS, deadline=local(2026, 11, 22, 11, 40), attempts_made=0,
                       ready_at=now, ident=i) for i in range(1, 25)]
    backlog = Backlog(now, capacity, [*filler, tight])
    assert not backlog.at_risk()
    quote = backlog.quote("general", general, STATS, local(2026, 11, 22, 11, 45), local(2026, 11, 22, 18, 0))
    # Put at 11:45 the new request would go ahead of nothing; it must not take the agent before 11:40's work.
    after = backlog.with_work([work_for("general", general, STATS, deadline=quote.deadline, attempts_made=0,
                                        ready_at=now, ident=99)])
    assert [r.work.ident for r in after.at_risk() if r.work.ident != 99] == []


def test_supervisors_hear_once_when_quotes_first_exceed_the_sla_and_again_after_they_recover(db, centre):
    _service, clock = service_at(db, centre, SUNDAY_10)
    [name] = agents(db, clock, 1)
    watchdog = Watchdog(db, centre, clock, worker_id="w")

    def alerts() -> int:
        with db.session() as session:
            return len([a for a in session.scalars(select(Alert)) if a.kind == "quote_over_sla"])

    assert watchdog.watch_quotes(clock.now()) == [] and alerts() == 0
    set_shift(db, name, False, clock.now())
    assert len(watchdog.watch_quotes(clock.now())) == 3  # every queue's quote now exceeds its SLA
    assert watchdog.watch_quotes(clock.now()) == []  # once per episode
    set_shift(db, name, True, clock.now())
    assert watchdog.watch_quotes(clock.now()) == []  # back at the SLA: the episode ends
    set_shift(db, name, False, clock.now())
    assert len(watchdog.watch_quotes(clock.now())) == 3 and alerts() == 6


# -- the reading each process keeps for a second (callbacks.capacity.BacklogCache) ------------------------------------
def test_a_process_counts_the_requests_another_process_took_since_it_last_read_the_backlog(db, centre):
    web_1, clock = service_at(db, centre, SUNDAY_10)
    web_2 = CallbackService(db, centre, clock)
    agents(db, clock, 1)
    first = web_2.request(phone=phone(0), channel="api", actor="t").callback  # web_2 reads the backlog now
    assert first.deadline_from == "sla"
    for i in range(1, 40):  # the same second, through the other process
        web_1.request(phone=phone(i), channel="api", actor="t")
    fresh = CallbackService(db, centre, clock).quote("general")
    late = web_2.request(phone=phone(99), channel="api", actor="t").callback
    # Forty callbacks for one agent: beyond the SLA, and never earlier than a fresh reading of the store says.
    assert fresh.source == "forecast"
    assert late.deadline_from == "forecast"
    assert late.deadline_at >= fresh.deadline
    assert Watchdog(db, centre, clock, worker_id="w").forecast(clock.now()) == []


def test_a_process_sees_at_once_that_the_agents_left_even_within_its_second(db, centre):
    service, clock = service_at(db, centre, SUNDAY_10)
    names = agents(db, clock, 2)
    assert service.request(phone=phone(1), channel="api", actor="t").callback.deadline_from == "sla"
    for name in names:
        set_shift(db, name, False, clock.now())
    # Same instant, the reading is still fresh by the clock: the change in staffing makes it read again.
    assert service.request(phone=phone(2), channel="api", actor="t").callback.deadline_from == "ceiling"


def test_callbacks_canceled_count_until_the_next_reading_a_second_later_then_the_sla_is_back(db, centre):
    service, clock = service_at(db, centre, SUNDAY_10)
    agents(db, clock, 1)
    burst = [service.request(phone=phone(i), channel="api", actor="t").callback for i in range(40)]
    clock.advance(seconds=1)
    assert service.quote("general").source == "forecast"  # read again: the forty are in the reading
    for callback in burst:
        service.cancel(callback.public_id, actor="t")
    # Within the second the reading still counts them (a later promise, never an earlier one).
    assert service.quote("general").source == "forecast"
    clock.advance(seconds=1)
    assert service.quote("general").source == "sla"
    assert service.request(phone=phone(99), channel="api", actor="t").callback.deadline_from == "sla"


def test_a_process_whose_clock_runs_minutes_ahead_still_counts_the_requests_taken_since_its_reading(db, centre):
    # What came since a reading is told by the callbacks' ids, not by anyone's clock.
    web_1, clock = service_at(db, centre, SUNDAY_10)
    web_2, _ahead = service_at(db, centre, SUNDAY_10 + timedelta(minutes=5))
    agents(db, clock, 1)
    assert web_2.request(phone=phone(0), channel="api", actor="t").callback.deadline_from == "sla"
    for i in range(1, 40):
        web_1.request(phone=phone(i), channel="api", actor="t")
    late = web_2.request(phone=phone(99), channel="api", actor="t").callback
    assert late.deadline_from == "forecast"
    assert late.deadline_at >= CallbackService(db, centre, FrozenClock(SUNDAY_10 + timedelta(minutes=5))).quote(
        "general").deadline


def test_a_request_committed_after_a_reading_with_an_id_below_its_highest_is_counted(db, centre):
    service, clock = service_at(db, centre, SUNDAY_10)
    agents(db, clock, 1)
    taken = [service.request(phone=phone(i), channel="api", actor="t").callback for i in range(10)]
    late = taken[7]
    table = Callback.__table__
    with db.session() as session:  # its transaction has not committed yet when the next reading is taken
        row = dict(session.execute(select(table).where(table.c.id == late.id)).mappings().one())
        session.execute(CallbackEvent.__table__.delete().where(CallbackEvent.callback_id == late.id))
        session.execute(table.delete().where(table.c.id == late.id))
    clock.advance(seconds=1)
    cache, calendar, now = BacklogCache(), BusinessCalendar.for_centre(centre), clock.now()
    with db.session() as session:
        stats = service.stats.get(session, centre, now)
        cache.read(session, centre, calendar, stats, now, "general")  # the reading, without it
        before = cache.read(session, centre, calendar, stats, now, "general").extra
    with db.session() as session:  # now it commits, with the id it was given before the reading
        session.execute(table.insert().values(**row))
    with db.session() as session:
        after = cache.read(session, centre, calendar, stats, now, "general").extra
    assert after - before == pytest.approx(stats.remaining_work(centre.queue("general").retry.max_attempts))


def test_the_requests_a_reading_holds_are_not_counted_again_only_those_taken_after_it(db, centre):
    service, clock = service_at(db, centre, SUNDAY_10)
    agents(db, clock, 1)
    for i in range(10):
        service.request(phone=phone(i), channel="api", actor="t")
    cache, calendar, now = BacklogCache(), BusinessCalendar.for_centre(centre), clock.now()
    with db.session() as session:
        stats = service.stats.get(session, centre, now)
        cache.read(session, centre, calendar, stats, now, "general")  # the reading, with the ten
        assert cache.read(session, centre, calendar, stats, now, "general").extra == 0
    CallbackService(db, centre, clock).request(phone=phone(10), channel="api", actor="t")  # another process
    with db.session() as session:
        extra = cache.read(session, centre, calendar, stats, now, "general").extra
    assert extra == pytest.approx(stats.remaining_work(centre.queue("general").retry.max_attempts))


def test_what_a_request_counted_since_a_reading_is_used_only_with_that_reading(db, centre):
    # A request counts what came since the reading in its first statement (CallbackService.request); the reading
    # it then quotes from may have been replaced meanwhile: the counts are not used with another reading.
    service, clock = service_at(db, centre, SUNDAY_10)
    agents(db, clock, 1)
    cache, calendar, now = BacklogCache(), BusinessCalendar.for_centre(centre), clock.now()
    with db.session() as session:
        stats = service.stats.get(session, centre, now)
        one = stats.remaining_work(centre.queue("general").retry.max_attempts)
        cache.read(session, centre, calendar, stats, now, "general")  # the reading
    first, _ = cache.since_params("general")
    for i in range(3):
        service.request(phone=phone(i), channel="api", actor="t")
    counted = {queue: 3 if queue == "general" else 0 for queue in centre.queues}
    nothing = dict.fromkeys(centre.queues, 0)
    with db.session() as session:
        assert cache.read(session, centre, calendar, stats, now, "general",
                          since=Since(first, counted)).extra == pytest.approx(3 * one)
        # Counts said to be for no reading, or another: counted again from the store, not believed.
        assert cache.read(session, centre, calendar, stats, now, "general",
                          since=Since(None, nothing)).extra == pytest.approx(3 * one)
        later = now + timedelta(seconds=1)
        cache.read(session, centre, calendar, stats, later, "general")  # a newer reading lands, with the three
        assert cache.read(session, centre, calendar, stats, later, "general",
                          since=Since(first, counted)).extra == 0


# -- the reading refreshed off the request (BacklogCache with `background`) ------------------------------------------
def _read_then_forty_canceled(db, centre):
    """A web process whose reading (inline, its first) holds forty requests that were all canceled right after, a
    second ago; its background refreshes gathered, not run."""
    refreshes: list = []
    other, clock = service_at(db, centre, SUNDAY_10)
    agents(db, clock, 1)
    burst = [other.request(phone=phone(i), channel="api", actor="t").callback for i in range(40)]
    service = CallbackService(db, centre, clock, background=refreshes.append)
    assert service.quote("general").source == "forecast"  # its first reading, inline: the forty are in it
    for callback in burst:
        service.cancel(callback.public_id, actor="t")
    clock.advance(seconds=1)
    return service, clock, refreshes


def test_a_stale_reading_is_refreshed_off_the_request_and_ended_callbacks_count_until_it_lands(db, centre):
    service, clock, refreshes = _read_then_forty_canceled(db, centre)
    fresh = CallbackService(db, centre, clock).quote("general")
    # A second old: quoted from the old reading (the forty still counted: later, never earlier than a fresh
    # reading), and the new reading is asked for off the request, once however many requests find it stale.
    stale = service.quote("general")
    assert fresh.source == "sla" and stale.source == "forecast" and stale.deadline >= fresh.deadline
    assert service.quote("general").source == "forecast"
    assert len(refreshes) == 1
    refreshes.pop()()
    assert service.quote("general").source == "sla"
    assert service.request(phone=phone(99), channel="api", actor="t").callback.deadline_from == "sla"
    assert refreshes == []


def test_requests_taken_elsewhere_count_while_the_background_reading_is_pending(db, centre):
    refreshes: list = []
    web_1, clock = service_at(db, centre, SUNDAY_10)
    web_2 = CallbackService(db, centre, clock, background=refreshes.append)
    agents(db, clock, 1)
    assert web_2.request(phone=phone(0), channel="api", actor="t").callback.deadline_from == "sla"
    clock.advance(seconds=1)
    for i in range(1, 40):
        web_1.request(phone=phone(i), channel="api", actor="t")
    fresh = CallbackService(db, centre, clock).quote("general")
    late = web_2.request(phone=phone(99), channel="api", actor="t").callback
    assert len(refreshes) == 1  # served from the old reading, not read inline
    assert fresh.source == "forecast" and late.deadline_at >= fresh.deadline


def test_a_reading_older_than_its_max_age_is_never_served_even_when_no_refresh_runs(db, centre):
    service, clock, refreshes = _read_then_forty_canceled(db, centre)
    assert service.quote("general").source == "forecast" and len(refreshes) == 1  # pending, never run
    clock.advance(service.backlogs.max_age)
    assert service.quote("general").source == "sla"  # read inline


def test_a_failed_background_reading_is_asked_for_again_by_the_next_stale_request(db, centre, caplog):
    @contextmanager
    def unreachable():
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))
        yield

    refreshes: list = []
    cache = BacklogCache(background=refreshes.append, sessions=unreachable)
    calendar, now = BusinessCalendar.for_centre(centre), SUNDAY_10
    with db.session() as session:
        cache.read(session, centre, calendar, STATS, now, "general")
        cache.read(session, centre, calendar, STATS, now + timedelta(seconds=1), "general")
        refreshes.pop()()  # fails: said in the log, not raised into anyone's request
        assert "reading the backlog in the background failed" in caplog.text
        cache.read(session, centre, calendar, STATS, now + timedelta(seconds=2), "general")
    assert len(refreshes) == 1


def test_new_attempt_statistics_make_the_process_read_the_backlog_again(db, centre):
    cache, calendar, now = BacklogCache(), BusinessCalendar.for_centre(centre), SUNDAY_10
    slower = AttemptStats(answer_rate=0.5, answered_seconds=300.0, unanswered_seconds=60.0, sample=500)
    with db.session() as session:
        cache.read(session, centre, calendar, STATS, now, "general")
        # Within the second: a reading made with other statistics would weigh its callbacks too lightly.
        assert cache.read(session, centre, calendar, slower, now, "general").stats == slower
