"""The worker process: APScheduler 3 as a timer only; every job asks the database what to do.

No job per callback (APScheduler 3 drops one-off jobs it skips, and its job stores cannot be shared between
processes): five interval jobs, `coalesce=True`, `max_instances=1`, `misfire_grace_time=None`, UTC. SIGTERM stops
the timer, lets running jobs finish and removes this worker's row.

On SQLite one worker runs: a second refuses to start, and a worker that was stopped (SIGSTOP, a long pause) and
finds on waking that another took its place stops instead of running beside it. A worker whose clock disagrees
with the database server's by more than `dispatch.max_clock_skew` neither dials, sweeps nor judges deadlines
until it agrees again, and supervisors are alerted (its leases and deadlines would be wrong for everyone else).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select

from callbacks.alerts import raise_alert
from callbacks.clock import Clock
from callbacks.db import Database
from callbacks.models import PENDING, Attempt, Callback, CallbackEvent, WorkerLock
from callbacks.sla import roll_up
from config.schema import ContactCentre
from scheduler.customer_sms import send_customer_sms
from scheduler.delivery import Notifier, deliver_pending
from scheduler.dispatcher import Dispatcher, no_fault
from scheduler.metrics import Dial, MeteredProvider, WorkerMetrics
from scheduler.watchdog import Watchdog
from telephony.provider import Provider

log = logging.getLogger(__name__)
WATCHDOG_EVERY = timedelta(seconds=30)
CUSTOMER_SMS_EVERY = timedelta(seconds=5)
DIGEST_EVERY = timedelta(seconds=60)


class WorkerRefused(RuntimeError):
    """This worker must not start; the message says why and what to do."""


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """One worker process: registers itself, then runs dispatch, sweep, watchdog and digest on timers."""

    def __init__(
        self,
        db: Database,
        centre: ContactCentre,
        provider: Provider,
        clock: Clock,
        *,
        base_url: str,
        caller_id: str,
        worker_id: str | None = None,
        notifier: Notifier | None = None,
        sleep: Callable[[float], None] = time.sleep,
        check_clock: bool = False,
        fault: Callable[[str], None] = no_fault,
        metrics: WorkerMetrics | None = None,
    ):
        self.db = db
        self.centre = centre
        self.clock = clock
        self.worker_id = worker_id or new_worker_id()
        self.metrics = metrics or WorkerMetrics()
        self.metrics.watch_store(db, clock, centre)
        # Every call asked of the provider is counted and noted (for the per-attempt log lines) on its way.
        self.provider = MeteredProvider(provider, self.metrics, clock)
        self.dispatcher = Dispatcher(db, centre, self.provider, clock, worker_id=self.worker_id, base_url=base_url,
                                     caller_id=caller_id, sleep=sleep, fault=fault)
        self.watchdog = Watchdog(db, centre, clock, worker_id=self.worker_id)
        self.notifier = notifier or Notifier(centre.alerts, provider=self.provider, sms_from=caller_id)
        self.base_url = base_url
        self.caller_id = caller_id
        self.tick = centre.dispatch.tick
        # A worker whose heartbeat is older than this is presumed dead.
        self.stale_after = max(centre.dispatch.lease, self.tick * 5)
        # Off for tests on a frozen clock; `ivr worker` turns it on (the clock is the system's).
        skew = centre.dispatch.max_clock_skew
        self.max_clock_skew = skew if check_clock and skew > timedelta(0) else None
        # Why this worker must not dial right now (its clock is wrong), or None.
        self.paused: str | None = None
        # Set when this worker learns it was replaced (SQLite): it stops.
        self.replaced: WorkerRefused | None = None
        # Set by SIGTERM/SIGINT: no new dispatch round starts (one already running finishes what it claimed).
        self.stopping = threading.Event()
        self._scheduler: Any = None

    # -- registration --------------------------------------------------------------------------------------------
    def register(self) -> None:
        """Record this worker; on SQLite refuse when another live worker holds the database."""
        now = self.clock.now()
        with self.db.session() as session:
            session.execute(delete(WorkerLock).where(WorkerLock.heartbeat_at < now - self.stale_after))
            others = list(session.scalars(select(WorkerLock).where(WorkerLock.id != self.worker_id)))
            if others and self.db.dialect == "sqlite":
                other = others[0]
                raise WorkerRefused(
                    f"another worker ({other.id}, last heartbeat {other.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC) is "
                    f"using this SQLite database, and SQLite allows only one worker. Stop it first (or wait "
                    f"{int(self.stale_after.total_seconds())} s after it died), or use PostgreSQL to run several."
                )
            existing = session.get(WorkerLock, self.worker_id)
            if existing is None:
                session.add(WorkerLock(id=self.worker_id, started_at=now, heartbeat_at=now))
            else:
                existing.heartbeat_at = now

    def heartbeat(self) -> None:
        """Prove this worker is alive; raises WorkerRefused when, on SQLite, another worker took its place while
        it was stopped (its row was removed as stale)."""
        now = self.clock.now()
        with self.db.session() as session:
            row = session.get(WorkerLock, self.worker_id)
            if row is not None:
                row.heartbeat_at = now
                return
            others = list(session.scalars(select(WorkerLock).where(WorkerLock.id != self.worker_id,
                                                                   WorkerLock.heartbeat_at >= now - self.stale_after)))
            if others and self.db.dialect == "sqlite":
                raise WorkerRefused(
                    f"this worker was presumed dead (no heartbeat for {int(self.stale_after.total_seconds())} s) "
                    f"and {others[0].id} took its place on this SQLite database; stopping so that only one runs"
                )
            session.add(WorkerLock(id=self.worker_id, started_at=now, heartbeat_at=now))

    def check_clock(self) -> str | None:
        """Compare this worker's clock with the database server's; pause dispatch (and alert once) when they
        disagree by more than `max_clock_skew`. Returns why the worker is paused, or None."""
        if self.max_clock_skew is None:
            return None
        skew = self.clock.now() - self.db.server_time()
        if abs(skew) <= self.max_clock_skew:
            if self.paused is not None:
                log.warning("worker %s: clock agrees with the database again; dialing resumes", self.worker_id)
            self.paused = None
            return None
        reason = (f"worker {self.worker_id}: clock is {abs(skew.total_seconds()):.0f} s "
                  f"{'ahead of' if skew > timedelta(0) else 'behind'} the database server's; not dialing until "
                  f"it is corrected (NTP)")
        if self.paused is None:
            log.error(reason)
            with self.db.session() as session:
                raise_alert(session, None, "worker_clock", self.clock.now(), reason)
        self.paused = reason
        return reason

    def unregister(self) -> None:
        with self.db.session() as session:
            session.execute(delete(WorkerLock).where(WorkerLock.id == self.worker_id))

    # -- jobs (thin: each calls one service) ---------------------------------------------------------------------
    def dispatch_job(self) -> None:
        if self.stopping.is_set():
            # Asked to stop: a round started now would place calls after the stop was asked for (a tick the timer
            # launched before its shutdown took effect); the next worker claims them just as well.
            return
        try:
            self.heartbeat()
        except WorkerRefused as exc:
            self._stop_replaced(exc)
            return
        if self.check_clock() is not None:
            return
        try:
            report = self.dispatcher.tick()
        finally:
            self.log_dials(self.provider.take_dials())
        self.metrics.observe_tick(report)
        if report.queue_canceled:
            log.info("dispatch: %d agent calls canceled: the callers they rang for left the queue",
                     report.queue_canceled)
        if report.claimed:
            log.info("dispatch: claimed %d, dialed %d, not placed %d, unknown %d, permanent %d", report.claimed,
                     report.dialed, report.not_placed, report.unknown, report.permanent)
        if report.queue_claimed:
            log.info("dispatch: %d agents rung for callers waiting in queues (%d placed)", report.queue_claimed,
                     report.queue_dialed)
        with self.db.session() as session:
            row = session.get(WorkerLock, self.worker_id)
            if row is not None and (report.dialed or report.queue_dialed):
                row.last_dial_at = self.clock.now()

    def log_dials(self, dials: list[Dial]) -> None:
        """One line per call the worker asked for, naming its attempt, callback and call, with the id of the web
        request that asked for the callback; and the dispatch lateness of each call placed."""
        if not dials:
            return
        ids = [d.ref for d in dials if d.kind == "attempt" and d.ref is not None]
        rows: dict[int, tuple[int, str, str, Any, bool]] = {}
        origins: dict[int, str] = {}
        with self.db.session() as session:
            for attempt_id, callback_id, reference, queue, due_at, live in session.execute(
                select(Attempt.id, Callback.id, Callback.reference, Callback.queue, Callback.next_attempt_at,
                       Callback.live_attempt_id)
                .join(Callback, Callback.id == Attempt.callback_id).where(Attempt.id.in_(ids))
            ):
                rows[attempt_id] = (callback_id, reference, queue, due_at, live == attempt_id)
            for callback_id, details in session.execute(
                select(CallbackEvent.callback_id, CallbackEvent.details)
                .where(CallbackEvent.callback_id.in_([r[0] for r in rows.values()]),
                       CallbackEvent.from_status.is_(None), CallbackEvent.to_status == PENDING)
            ):
                if details and details.get("request_id"):
                    origins.setdefault(callback_id, details["request_id"])
        # While the attempt is still the callback's live one, next_attempt_at is still the time it was due.
        due = {aid: (row[2], row[3]) for aid, row in rows.items() if row[4]}
        self.metrics.observe_dials(dials, due)
        for dial in dials:
            row = rows.get(dial.ref) if dial.kind == "attempt" and dial.ref is not None else None
            fields: dict[str, Any] = {"outcome": dial.outcome, "call_sid": dial.call_sid, "error_code": dial.code,
                                      f"{dial.kind}_id": dial.ref, "worker_id": self.worker_id}
            if row is not None:
                fields.update(callback=row[1], queue=row[2], request_id=origins.get(row[0]))
            what = (f"attempt {dial.ref} of callback {row[1]}" if row is not None
                    else f"agent call {dial.ref} for a caller waiting in a queue" if dial.kind == "agent_call"
                    else "call")
            outcome = f"call {dial.call_sid} placed" if dial.outcome == "accepted" else \
                f"call not placed ({dial.outcome}{', ' + dial.code if dial.code else ''})"
            log.info("%s: %s", what, outcome, extra={k: v for k, v in fields.items() if v is not None})

    def sweep_job(self) -> None:
        if self.paused is None and self.replaced is None:
            self.metrics.observe_sweep(self.dispatcher.sweep())

    def watchdog_job(self) -> None:
        if self.paused is not None or self.replaced is not None:
            return  # a wrong clock would judge deadlines wrongly
        report = self.watchdog.run()
        self.metrics.observe_watch(report)
        if report.at_risk or report.missed:
            log.warning("watchdog: %d at risk, %d missed", len(report.at_risk), len(report.missed))
        deliver_pending(self.db, self.centre, self.notifier, self.worker_id, self.clock.now())

    def customer_sms_job(self) -> None:
        if self.paused is not None or self.replaced is not None:
            return
        sent = send_customer_sms(self.db, self.centre, self.provider, sender=self.caller_id, base_url=self.base_url,
                                 worker_id=self.worker_id, now=self.clock.now())
        if sent:
            log.info("customer text messages: %d sent", sent)

    def _stop_replaced(self, exc: WorkerRefused) -> None:
        log.error("worker %s: %s", self.worker_id, exc)
        self.replaced = exc
        if self._scheduler is not None:
            # From inside a job: don't wait for running jobs (this one among them).
            self._scheduler.shutdown(wait=False)

    def digest_job(self) -> None:
        if self.paused is not None or self.replaced is not None:
            return
        if self.watchdog.send_digest() is not None:
            deliver_pending(self.db, self.centre, self.notifier, self.worker_id, self.clock.now())
        # The SLA figures' daily rollup: whole past days whose callbacks are all final (nothing to do most minutes).
        rolled = roll_up(self.db, self.centre.zone, self.clock.now())
        if rolled:
            log.info("SLA rollup: %d day-and-queue rows written", rolled)

    def run_once(self) -> None:
        """Every job once, in order (for `ivr worker --once`, cron, and tests)."""
        for job in (self.dispatch_job, self.sweep_job, self.watchdog_job, self.customer_sms_job, self.digest_job):
            self._guarded(job)()

    def _guarded(self, job: Callable[[], None]) -> Callable[[], None]:
        timed = self.metrics.timed(job.__name__.removesuffix("_job"), job)

        def run() -> None:
            try:
                timed()
            except Exception:  # a failing tick must not kill the timer; the next tick retries from the database
                log.exception("worker job %s failed", job.__name__)

        run.__name__ = job.__name__
        return run

    # -- the timer -----------------------------------------------------------------------------------------------
    def build_scheduler(self) -> Any:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.blocking import BlockingScheduler

        scheduler = BlockingScheduler(
            timezone="UTC",
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        every = {
            self.dispatch_job: self.tick,
            self.sweep_job: max(self.tick, timedelta(seconds=5)),
            self.watchdog_job: WATCHDOG_EVERY,
            self.customer_sms_job: CUSTOMER_SMS_EVERY,
            self.digest_job: DIGEST_EVERY,
        }
        for job, interval in every.items():
            # Dispatch, sweep and watchdog run at once on start; the digest on its first interval.
            start = {} if job is self.digest_job else {"next_run_time": _utcnow()}
            scheduler.add_job(self._guarded(job), "interval", seconds=interval.total_seconds(), id=job.__name__,
                              coalesce=True, max_instances=1, misfire_grace_time=None, **start)
        return scheduler

    def run(self) -> None:
        """Register, run the timer until SIGTERM/SIGINT, then unregister (running jobs finish first)."""
        stopping: list[int] = []

        def stop(signum: int, _frame: Any) -> None:
            # Installed before anything else: a signal while registering or building the timer still ends in a
            # clean stop (the timer never starts) rather than a worker row left behind.
            log.info("worker %s: signal %d, stopping after running jobs finish", self.worker_id, signum)
            stopping.append(signum)
            self.stopping.set()
            if len(stopping) == 1 and self._scheduler is not None and self._scheduler.running:
                # From a thread of its own, not in this handler: the handler runs inside whatever the main thread
                # was doing, maybe holding one of the timer's locks that a finishing job needs while the shutdown
                # waits for that job (the stop then never came).
                threading.Thread(target=_shut_down, args=(self._scheduler, True), name="worker-stop").start()

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.register()
            scheduler = self._scheduler = self.build_scheduler()

            def stop_if_asked() -> None:
                # A signal between the check below and the timer's start found it not running yet: stop now.
                if stopping and scheduler.running:
                    _shut_down(scheduler, False)

            scheduler.add_job(stop_if_asked, "interval", seconds=1, id="stop_if_asked", next_run_time=_utcnow())
            if not stopping:
                log.info("worker %s started (tick %ss)", self.worker_id, self.tick.total_seconds())
                scheduler.start()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self.replaced is None:
                self.unregister()  # a replaced worker's row is gone; the one that replaced it keeps its own
            log.info("worker %s stopped", self.worker_id)
        if self.replaced is not None:
            raise self.replaced


def _shut_down(scheduler: Any, wait: bool) -> None:
    """Stop the timer (after its running jobs when `wait`); a second request to stop changes nothing."""
    from apscheduler.schedulers import SchedulerNotRunningError

    try:
        scheduler.shutdown(wait=wait)
    except SchedulerNotRunningError:
        pass


def _utcnow() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
