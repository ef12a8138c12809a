"""The deadline watchdog: forecast which callbacks are at risk, and close the ones whose deadline passed.

At risk: the time left before a callback's deadline is less than what the backlog ahead of it (in dispatch order)
needs with the agents on shift now, plus the queue's `at_risk_margin`. It is escalated (priority up) and an alert
goes out once. Missed: the deadline passed while it was still waiting, with the reason (no agent, provider
failure, attempts left).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select

from callbacks.alerts import raise_alert
from callbacks.calls import NOT_PLACED
from callbacks.clock import Clock
from callbacks.db import Database
from callbacks.history import transition
from callbacks.inbound_queue import OPEN_STATES, waiting_filter
from callbacks.models import (
    DIALING,
    MISSED,
    PENDING,
    Agent,
    AgentCall,
    Alert,
    Attempt,
    Callback,
    DispatchState,
    InboundCall,
)
from callbacks.reports import daily_digest
from config.schema import ContactCentre
from scheduler.dispatcher import edf_order

log = logging.getLogger(__name__)
ESCALATION = 10
DIGEST_ROW = "digest"


@dataclass
class WatchReport:
    at_risk: list[int] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)
    # Callbacks still dialing a lease past their deadline: something keeps them from ending (alerted once).
    stuck: list[int] = field(default_factory=list)


def missed_reason(callback: Callback, last: Attempt | None, agents_on_shift: int, max_attempts: int) -> str:
    """Why a callback's deadline passed without the attempts owed, in a supervisor's words."""
    if last is not None and last.outcome == NOT_PLACED and last.error_message:
        return f"provider failure: {last.error_message}"[:300]
    if callback.attempts_made == 0:
        if agents_on_shift == 0:
            return "no agent on shift before the deadline"
        return "no free agent before the deadline"
    outcome = last.outcome if last is not None else "unknown"
    return f"deadline passed after {callback.attempts_made} of {max_attempts} attempts (last: {outcome})"


class Watchdog:
    """At-risk forecasts, missed deadlines, and the daily digest."""

    def __init__(self, db: Database, centre: ContactCentre, clock: Clock, *, worker_id: str, order: str = "edf"):
        self.db = db
        self.centre = centre
        self.clock = clock
        self.worker_id = worker_id
        self.order = order
        self.actor = f"watchdog {worker_id}"

    def run(self) -> WatchReport:
        now = self.clock.now()
        report = WatchReport()
        self._close_missed(now, report)
        self._flag_stuck(now, report)
        self._flag_at_risk(now, report)
        return report

    def _flag_stuck(self, now: datetime, report: WatchReport) -> None:
        """Every callback still open a lease after its deadline is alerted, with its attempt's state: the sweep
        should have settled it by then, so a person must look."""
        with self.db.session() as session:
            stuck = session.execute(
                select(Callback, Attempt).outerjoin(Attempt, Attempt.id == Callback.live_attempt_id)
                .where(Callback.status == DIALING, Callback.deadline_at < now - self.centre.dispatch.lease)
                .order_by(Callback.deadline_at).limit(200)).all()
            for callback, attempt in stuck:
                late = int((now - callback.deadline_at).total_seconds() // 60)
                state = f"attempt {attempt.number} {attempt.state}" if attempt is not None else "no attempt in flight"
                reason = f"still dialing {late} min past its deadline ({state})"
                if raise_alert(session, callback, "stuck", now, reason) is not None:
                    log.error("callback %s: %s", callback.id, reason)
                    report.stuck.append(callback.id)

    def _agents_on_shift(self, session: object) -> list[Agent]:
        return list(session.scalars(select(Agent).where(Agent.on_shift.is_(True))))  # type: ignore[attr-defined]

    def _close_missed(self, now: datetime, report: WatchReport) -> None:
        with self.db.session() as session:
            overdue = list(session.scalars(
                select(Callback.id).where(Callback.status == PENDING, Callback.deadline_at <= now)
                .order_by(Callback.deadline_at).limit(500)))
            on_shift = len(self._agents_on_shift(session))
        for callback_id in overdue:
            with self.db.session() as session:
                callback = session.scalar(select(Callback).where(Callback.id == callback_id).with_for_update())
                if callback.status != PENDING:
                    continue
                last = session.scalar(select(Attempt).where(Attempt.callback_id == callback_id)
                                      .order_by(Attempt.number.desc()).limit(1))
                max_attempts = self.centre.queues[callback.queue].retry.max_attempts \
                    if callback.queue in self.centre.queues else 0
                reason = missed_reason(callback, last, on_shift, max_attempts)
                if transition(session, callback, MISSED, now=now, actor=self.actor, reason=reason):
                    raise_alert(session, callback, "missed", now, reason)
                    report.missed.append(callback_id)

    def forecast(self, now: datetime) -> list[tuple[Callback, datetime, str]]:
        """Open callbacks whose forecast says they will not be reached in time: (callback, forecast start, why)."""
        with self.db.session() as session:
            waiting = list(session.scalars(
                select(Callback).where(Callback.status == PENDING).order_by(*edf_order(self.order)).limit(20000)))
            agents = self._agents_on_shift(session)
            in_flight = session.scalar(select(func.count()).select_from(Callback).where(Callback.status == DIALING))
            # Live callers are served first (callbacks.inbound_queue): those waiting and those talking to an agent
            # take the same agents the backlog needs.
            callers_waiting = session.scalar(select(func.count()).select_from(InboundCall).where(waiting_filter(now)))
            callers_talking = session.scalar(
                select(func.count()).select_from(AgentCall).where(AgentCall.state.in_(OPEN_STATES))
            )
        capacity = len(agents)
        cps = self.centre.dispatch.calls_per_second
        inbound = self._inbound_handle_time()
        # Agents busy with our calls free up within an attempt's duration: start the backlog's clock after that.
        work = timedelta(0)
        if capacity:
            work = timedelta(seconds=self._handle(None).total_seconds() * min(in_flight, capacity) / 2)
            work += inbound * callers_waiting + inbound * min(callers_talking, capacity) / 2
        risky = []
        for position, callback in enumerate(waiting):
            queue = self.centre.queues.get(callback.queue)
            if queue is None:
                continue
            handle = queue.retry.attempt_duration
            earliest = max(now, callback.next_attempt_at)
            if capacity:
                start = now + work / capacity
                start = max(start, now + timedelta(seconds=position / cps), earliest)
                work += handle
            else:
                start = datetime.max.replace(tzinfo=now.tzinfo)
            latest_start = callback.deadline_at - handle - queue.sla.at_risk_margin
            if capacity == 0 and callback.deadline_at - now > handle + queue.sla.at_risk_margin:
                continue  # nobody on shift yet, but there is still time for someone to come on
            if start > latest_start:
                ahead = f"{position} callbacks" + (f" and {callers_waiting} callers waiting" if callers_waiting else "")
                why = ("no agent on shift" if capacity == 0 else
                       f"{ahead} ahead for {capacity} agents on shift; forecast start "
                       f"{start.astimezone(self.centre.zone):%H:%M}, deadline "
                       f"{callback.deadline_at.astimezone(self.centre.zone):%H:%M}")
                risky.append((callback, start, why))
        return risky

    def _inbound_handle_time(self) -> timedelta:
        """Expected length of one inbound conversation (the phone tree's default_handle_time)."""
        from config.menus import menu_of

        return timedelta(seconds=menu_of(self.centre).human.default_handle_time)

    def _handle(self, queue_id: str | None) -> timedelta:
        queue = self.centre.queue(queue_id)
        return queue.retry.attempt_duration

    def _flag_at_risk(self, now: datetime, report: WatchReport) -> None:
        for found, _start, why in self.forecast(now):
            if found.at_risk_since is not None:
                continue
            with self.db.session() as session:
                callback = session.get(Callback, found.id)
                if callback is None or callback.status != PENDING or callback.at_risk_since is not None:
                    continue
                if transition(session, callback, PENDING, now=now, actor=self.actor, reason=f"at risk: {why}",
                              at_risk_since=now, at_risk_reason=why, priority=callback.priority + ESCALATION):
                    raise_alert(session, callback, "at_risk", now, why)
                    report.at_risk.append(callback.id)

    # -- the daily digest ---------------------------------------------------------------------------------------
    def digest_due(self, now: datetime) -> datetime | None:
        """Today's digest moment (UTC) when it has come and has not been sent, else None."""
        local = now.astimezone(self.centre.zone)
        moment = datetime.combine(local.date(), self.centre.alerts.digest_time, tzinfo=self.centre.zone)
        return moment.astimezone(now.tzinfo) if local >= moment else None

    def send_digest(self) -> Alert | None:
        """Write the digest alert for the last 24 hours once a day, whichever worker gets there first."""
        now = self.clock.now()
        moment = self.digest_due(now)
        if moment is None:
            return None
        # Read the figures before taking the row lock: on SQLite a second transaction inside the locked one
        # would wait for itself. The first line is the e-mail's subject, the rest its text.
        subject, text = daily_digest(self.db, self.centre, now)
        reason = f"{subject}\n{text}"
        with self.db.session() as session:
            row = session.scalar(select(DispatchState).where(DispatchState.name == DIGEST_ROW).with_for_update())
            if row is None:
                row = DispatchState(name=DIGEST_ROW, at=None)
                session.add(row)
            if row.at is not None and row.at >= moment:
                return None
            row.at = moment
            return raise_alert(session, None, "digest", now, reason)

