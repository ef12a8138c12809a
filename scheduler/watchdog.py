"""The deadline watchdog: forecast which callbacks are at risk, and close the ones whose deadline passed.

At risk: the capacity forecast (`callbacks.forecast`) says the callback's next attempt cannot start early enough for
every attempt it is owed (and never later than the queue's `at_risk_margin` plus one attempt before its deadline),
so the warning comes at least that margin before the miss. It is escalated (priority up) and an alert goes out
once; its promise is never changed. Each round also notes every queue's quote, alerting when quotes first exceed
the SLA. Missed: the deadline passed while it was still waiting, with the reason (no agent, provider
failure, attempts left).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from callbacks.alerts import raise_alert
from callbacks.businesstime import BusinessCalendar
from callbacks.calls import NOT_PLACED
from callbacks.capacity import StatsCache, note_quote, quote_from, read_backlog
from callbacks.clock import Clock
from callbacks.db import Database
from callbacks.forecast import Quote
from callbacks.history import transition
from callbacks.models import (
    DIALING,
    MISSED,
    PENDING,
    Agent,
    Alert,
    Attempt,
    Callback,
    DispatchState,
)
from callbacks.policy import queue_deadline
from callbacks.reports import daily_digest
from config.schema import ContactCentre

log = logging.getLogger(__name__)
ESCALATION = 10
DIGEST_ROW = "digest"


@dataclass
class WatchReport:
    at_risk: list[int] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)
    # Callbacks still dialing a lease past their deadline: something keeps them from ending (alerted once).
    stuck: list[int] = field(default_factory=list)
    # Queues whose quotes first exceeded the SLA in this round.
    quote_alerts: int = 0
    # Each forecasting queue's quote for a request made now (the worker's metrics gauge it against the SLA).
    quotes: dict[str, Quote] = field(default_factory=dict)
    # When the round read the clock (the quotes are counted from it).
    at: datetime | None = None


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
        self.calendar = BusinessCalendar.for_centre(centre)
        self.stats = StatsCache()

    def run(self) -> WatchReport:
        now = self.clock.now()
        report = WatchReport(at=now)
        self._close_missed(now, report)
        self._flag_stuck(now, report)
        self._flag_at_risk(now, report)
        alerts, report.quotes = self._watch_quotes(now)
        report.quote_alerts = len(alerts)
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

    def _agents_on_shift(self, session: Session) -> list[Agent]:
        return list(session.scalars(select(Agent).where(Agent.on_shift.is_(True))))

    def _close_missed(self, now: datetime, report: WatchReport) -> None:
        with self.db.session() as session:
            overdue = list(session.scalars(
                select(Callback.id).where(Callback.status == PENDING, Callback.deadline_at <= now)
                .order_by(Callback.deadline_at).limit(500)))
            on_shift = len(self._agents_on_shift(session))
        for callback_id in overdue:
            with self.db.session() as session:
                callback = session.scalar(select(Callback).where(Callback.id == callback_id).with_for_update())
                if callback is None or callback.status != PENDING:  # None: deleted by hand meanwhile
                    continue
                last = session.scalar(select(Attempt).where(Attempt.callback_id == callback_id)
                                      .order_by(Attempt.number.desc()).limit(1))
                max_attempts = self.centre.queues[callback.queue].retry.max_attempts \
                    if callback.queue in self.centre.queues else 0
                reason = missed_reason(callback, last, on_shift, max_attempts)
                if transition(session, callback, MISSED, now=now, actor=self.actor, reason=reason):
                    raise_alert(session, callback, "missed", now, reason)
                    report.missed.append(callback_id)

    def forecast(self, now: datetime) -> list[tuple[Callback, datetime | None, str]]:
        """Open callbacks whose forecast says they will not be reached in time: (callback, forecast start, why).

        The capacity forecast (`callbacks.forecast`): a callback is at risk when, earliest deadline first after the
        callers on the line, its next attempt cannot start early enough for every attempt it is owed, or less than
        the queue's at-risk margin before its deadline. Promises are never changed here, only flagged.
        """
        with self.db.session() as session:
            stats = self.stats.get(session, self.centre, now)
            snapshot = read_backlog(session, self.centre, self.calendar, stats, now)
            risky = [r for r in snapshot.backlog.at_risk() if r.work.ident is not None]
            ids = [r.work.ident for r in risky]
            found: dict[int | None, Callback] = {  # keyed for lookups by `Work.ident` (int | None)
                c.id: c for c in session.scalars(select(Callback).where(Callback.id.in_(ids)))} if ids else {}
        zone = self.centre.zone
        agents = snapshot.backlog.capacity.agents_at(now)
        position = {r.work.ident: i for i, r in enumerate(snapshot.backlog.reached())}
        out: list[tuple[Callback, datetime | None, str]] = []
        for reached in risky:
            callback = found.get(reached.work.ident)
            if callback is None or callback.status != PENDING:
                continue
            if snapshot.backlog.capacity.empty:
                why = "no agent on shift"
            else:
                ahead = f"{position[callback.id]} callbacks" + (
                    f" and {snapshot.callers_waiting} callers waiting" if snapshot.callers_waiting else "")
                start = (f"forecast start {reached.start.astimezone(zone):%H:%M}" if reached.start is not None
                         else "no agent within the forecast's horizon")
                why = (f"{ahead} ahead for {agents:g} agents on shift; {start}, latest start for the attempts owed "
                       f"{reached.work.latest_start.astimezone(zone):%H:%M}, deadline "
                       f"{callback.deadline_at.astimezone(zone):%H:%M}")
            out.append((callback, reached.start, why))
        return out

    def watch_quotes(self, now: datetime) -> list[Alert]:
        """Each queue's quote now: remember whether it exceeds the SLA, alerting when it first does."""
        return self._watch_quotes(now)[0]

    def _watch_quotes(self, now: datetime) -> tuple[list[Alert], dict[str, Quote]]:
        """The alerts raised, and every forecasting queue's quote now."""
        raised = []
        quotes: dict[str, Quote] = {}
        shared = None
        for queue_id, queue in self.centre.queues.items():
            if not queue.promise.forecast:
                continue
            with self.db.session() as session:
                stats = self.stats.get(session, self.centre, now)
                if shared is None or not shared.everyone:
                    # One reading serves every queue when every agent serves every queue (the usual case).
                    shared = read_backlog(session, self.centre, self.calendar, stats, now, queue_id)
                snapshot = shared
                sla = queue_deadline(queue, now, self.calendar)
                quote = quotes[queue_id] = quote_from(snapshot, self.centre, self.calendar, queue_id, now, sla)
                alert = note_quote(session, self.centre, queue_id, quote, now)
                if alert is not None:
                    raised.append(alert)
        return raised, quotes

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

