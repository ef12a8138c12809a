"""Claim due callbacks, dial them through the provider, and settle what dead or stalled workers left behind.

Exactly one call per attempt, and only the live attempt is ever bridged (`callbacks.attempts` owns the rules):
- the claim (callback `dialing` naming its new attempt, attempt row `created` with a lease, agent reserved, pacing
  slots taken) commits before the provider is asked to dial; the attempt id is in the TwiML and status URLs;
- right before each dial the attempt is checked again: still live (not canceled, not settled by a sweep) and its
  lease longer than the provider may take to answer; otherwise it ends `not_placed` without a call;
- the call id the provider returns is recorded only on a live attempt; a call whose attempt ended meanwhile (this
  worker stalled past its lease) is a stray: canceled at once, hung up by its TwiML if anyone answers;
- when the provider's answer is lost (timeout, 5xx, or this process dies), the attempt stays `created`/`unknown`
  and the sweep looks the call up in the provider's Calls list (never adopting a call recorded anywhere) before
  anything is dialed again;
- 429 and refusals before processing end the attempt as `not_placed` (not counted); the callback is retried.

On PostgreSQL any number of workers share the queue (`FOR UPDATE SKIP LOCKED` batches plus the attempt's lease); on
SQLite one worker runs (`scheduler.worker` refuses a second) and `BEGIN IMMEDIATE` serializes its transactions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from callbacks import attempts, guard
from callbacks.attempts import (
    AGENT_PATH,
    CUSTOMER_PATH,
    SETTLE,
    SKEW,
    STATUS_PATH,
    DueCallback,
    FreeAgent,
    LegStatus,
    Placed,
    Started,
    agent_queues,
    attempt_url,
    free_agents_to_claim,
    serves,
)
from callbacks.calls import NOT_PLACED
from callbacks.clock import Clock
from callbacks.db import Database
from callbacks.inbound_queue import urgent_callbacks
from callbacks.models import PENDING, Attempt, Callback
from config.schema import ContactCentre
from scheduler import pacing
from scheduler.queue_ringing import QueueClaim, QueueDistributor
from telephony.provider import (
    CallInfo,
    CallRequest,
    OutcomeUnknown,
    Provider,
    ProviderError,
    ProviderPermanentError,
    ProviderTransientError,
)

log = logging.getLogger(__name__)

# Call ids accepted by the provider are written in groups of this many (one statement, one commit).
RECORD_EVERY = 25
# What the provider may take to answer a dial when it says nothing about it (the Twilio client's timeout).
DEFAULT_PROVIDER_TIMEOUT = 10.0


def no_fault(_point: str) -> None:
    """Production: nothing happens at the named points (crash tests inject a function that dies there)."""


@dataclass
class Claimed:
    """A callback this worker claimed, with its new attempt, the agent reserved for it and its pacing slot."""

    callback_id: int
    attempt_id: int
    phone: str
    queue: str
    dial_order: str
    agent_phone: str
    slot_at: datetime
    claimed_until: datetime

    @classmethod
    def of(cls, started: Started, slot_at: datetime) -> Claimed:
        return cls(started.callback_id, started.attempt_id, started.phone, started.queue, started.dial_order,
                   started.agent_phone, slot_at, started.lease_until)


@dataclass
class TickReport:
    claimed: int = 0
    dialed: int = 0
    not_placed: int = 0
    unknown: int = 0
    permanent: int = 0
    # Claims not dialed: canceled meanwhile, or too late in their lease to dial safely.
    skipped: int = 0
    # Calls the provider placed for attempts that had ended meanwhile (canceled at once, never bridged).
    strays: int = 0
    # Agents rung for callers waiting in inbound queues (claimed, and accepted by the provider).
    queue_claimed: int = 0
    queue_dialed: int = 0
    # Agent calls canceled because the callers they rang for left the queue (their agents are free again).
    queue_canceled: int = 0
    # (callback id, attempt id, when dialed) for each call the provider accepted.
    dial_times: list[tuple[int, int, datetime]] = field(default_factory=list)


@dataclass
class SweepReport:
    settled: int = 0
    strays_canceled: int = 0
    agents_released: int = 0
    callbacks_reopened: int = 0
    errors: int = 0


def edf_order(order: str) -> list[Any]:
    """Dispatch order: earliest deadline first (then priority, then age), or first come first served."""
    if order == "fcfs":
        return [Callback.requested_at, Callback.id]
    return [Callback.deadline_at, Callback.priority.desc(), Callback.requested_at, Callback.id]


def match_agents(due: list[DueCallback], agents: list[FreeAgent]) -> list[tuple[DueCallback, FreeAgent]]:
    """Give each callback, in dispatch order, a free agent who serves its queue: the most specialised one first,
    so that an agent serving every queue stays free for a callback nobody else can take (among equals, the one
    first in `agents`). One pass over each queue's candidates: a backlog of hundreds meets hundreds of agents."""
    ranked = sorted(agents, key=lambda a: len(a.queues) if a.queues else 10**6)  # stable: keeps `agents`' order
    candidates: dict[str, Iterator[FreeAgent]] = {}
    taken: set[int] = set()
    pairs = []
    for callback in due:
        queue = callback.queue
        if queue not in candidates:
            candidates[queue] = (a for a in ranked if serves(a, queue))
        agent = next((a for a in candidates[queue] if a.id not in taken), None)
        if agent is None:
            continue
        taken.add(agent.id)
        pairs.append((callback, agent))
    return pairs


def agents_to_claim(now: datetime, limit: int) -> Any:
    """The free agents a claim locks (SKIP LOCKED), only when a callback is due: at rest this statement is one look
    at the first entry of ix_callbacks_due and reads or locks no agent; under load it is the agents' lock itself.

    The earliest due time, not EXISTS: once the driver prepares the statement, PostgreSQL's generic plan (with no
    value for `now`) scanned every callback for an EXISTS it expected to satisfy at once (15 ms a tick at 100,000
    open callbacks); min() is read from the index whatever the plan."""
    first_due = select(func.min(Callback.next_attempt_at)).where(Callback.status == PENDING).scalar_subquery()
    return free_agents_to_claim(now).where(first_due <= now).limit(limit).with_for_update(skip_locked=True)


class Dispatcher:
    """Claims and dials due callbacks for one worker; `tick()` and `sweep()` are called by the timer."""

    def __init__(
        self,
        db: Database,
        centre: ContactCentre,
        provider: Provider,
        clock: Clock,
        *,
        worker_id: str,
        base_url: str,
        caller_id: str,
        order: str = "edf",
        batch_size: int = 50,
        sleep: Callable[[float], None] = time.sleep,
        fault: Callable[[str], None] = no_fault,
    ):
        self.db = db
        self.centre = centre
        self.provider = provider
        self.clock = clock
        self.worker_id = worker_id
        self.actor = f"worker {worker_id}"
        self.base_url = base_url.rstrip("/")
        self.caller_id = caller_id
        self.order = order
        self.batch_size = batch_size
        self.sleep = sleep
        self.fault = fault
        self.dispatch = centre.dispatch
        # A call is placed only while the lease outlasts the provider's answer: by the lease's end every call this
        # worker sent has landed at the provider, and the sweep's lookup sees it.
        timeout = float(getattr(provider, "timeout", DEFAULT_PROVIDER_TIMEOUT))
        self.dial_guard = timedelta(seconds=timeout) + SETTLE
        self.inbound = QueueDistributor(db, centre, provider, clock, worker_id=worker_id, base_url=base_url,
                                        caller_id=caller_id)
        # When this worker last checked agents and callbacks for reservations and claims nothing holds.
        self._audited_at: datetime | None = None

    # -- claiming ------------------------------------------------------------------------------------------------
    def _fits_before_deadline(self, now: datetime) -> Any:
        """No attempt is started that cannot end before the deadline (each queue's attempt_duration)."""
        return or_(*(
            and_(Callback.queue == queue_id, Callback.deadline_at >= now + queue.retry.attempt_duration)
            for queue_id, queue in self.centre.queues.items()
        ))

    def claim(self, now: datetime, *, urgent_only: bool = False) -> list[Claimed]:
        """Claim due callbacks, earliest deadline first, at most one per free agent and per pacing slot.

        Only callbacks of queues a free agent serves are read, so a backlog for queues nobody free can take never
        keeps an idle agent from the callbacks they could call. `urgent_only`: only those that go before callers
        waiting on the line (`callbacks.inbound_queue`).
        """
        taken: list[datetime] = []  # pacing slots taken apart (PostgreSQL): given back if the claim fails
        try:
            with self.db.session() as session:
                return self._claim(session, now, urgent_only, taken)
        except BaseException:
            if taken:
                try:
                    pacing.give_back(self.db, self.dispatch, taken)
                except Exception:  # the claim's own error is the one to tell; the slots stay used (one tick)
                    log.warning("pacing slots of a failed claim not given back", exc_info=True)
            raise

    def _claim(self, session: Session, now: datetime, urgent_only: bool, taken: list[datetime]) -> list[Claimed]:
        # Read through the connection (Core), as the callbacks below: nothing of the ORM's is needed for rows of
        # columns, and a claim runs these for every batch.
        conn = session.connection()
        agents = [FreeAgent(ident, phone, agent_queues(queues))
                  for ident, phone, queues in conn.execute(agents_to_claim(now, max(self.batch_size * 4, 100)))]
        if not agents:
            return []
        conditions = [Callback.status == PENDING, Callback.next_attempt_at <= now, self._fits_before_deadline(now)]
        if all(agent.queues for agent in agents):
            conditions.append(Callback.queue.in_(sorted({q for agent in agents for q in agent.queues})))
        if urgent_only:
            conditions.append(urgent_callbacks(self.centre, now, self.inbound.handle_time))
        due = [DueCallback(*row) for row in conn.execute(
            select(Callback.id, Callback.phone, Callback.queue, Callback.deadline_at).where(*conditions)
            .order_by(*edf_order(self.order)).limit(self.batch_size).with_for_update(skip_locked=True)
        )]
        # Do-not-call (canceled), per-number daily cap (postponed or missed), hourly spending breaker.
        due = guard.screen_due(session, self.centre, due, now)
        pairs = match_agents(due, agents)
        if not pairs:
            return []
        if self.db.dialect == "postgresql":
            # In a transaction of its own: the pacing row is not held through this claim's writes, so two
            # workers' claims run side by side (their other rows are taken with SKIP LOCKED).
            taken.extend(pacing.take_slots_apart(self.db, self.dispatch, now, len(pairs)))
            slots = taken
        else:
            slots = pacing.take_slots(session, self.dispatch, now, len(pairs))
        started = attempts.start_attempts(session, self.centre, pairs[:len(slots)], worker_id=self.worker_id,
                                          provider=self.provider.name, now=now, lease=self.dispatch.lease)
        return [Claimed.of(s, slot) for s, slot in zip(started, slots, strict=True)]

    def claim_round(self, now: datetime) -> list[Claimed | QueueClaim]:
        """This round's work in serving order: urgent callbacks, agents for waiting callers, the other callbacks.

        Callers on the line go before callbacks that can wait; see `callbacks.inbound_queue` for the rule.
        """
        if not self.inbound.anyone_waiting(now):
            return list(self.claim(now))
        return [*self.claim(now, urgent_only=True), *self.inbound.claim(now), *self.claim(now)]

    # -- dialing -------------------------------------------------------------------------------------------------
    def request_for(self, claimed: Claimed) -> tuple[str, CallRequest]:
        """The REST call that starts an attempt: the agent first (default) or the customer first."""
        retry = self.centre.queue(claimed.queue).retry
        timeout = max(5, min(600, int(retry.ring_timeout.total_seconds())))
        if claimed.dial_order == "customer_first":
            leg, to, path = "customer", claimed.phone, CUSTOMER_PATH
            amd = "Enable" if self.dispatch.machine_detection else None
        else:
            leg, to, path, amd = "agent", claimed.agent_phone, AGENT_PATH, None
        return leg, CallRequest(
            to=to,
            from_=self.caller_id,
            url=attempt_url(self.base_url, path, claimed.attempt_id),
            status_callback=attempt_url(self.base_url, STATUS_PATH, claimed.attempt_id, leg=leg),
            timeout=timeout,
            machine_detection=amd,
        )

    def tick(self) -> TickReport:
        """One dispatch round: cancel agent calls ringing for nobody, claim, then dial each claim at its slot."""
        report = TickReport()
        # First, so that an agent rung for a caller who left is free for this round's claims (their callback).
        report.queue_canceled = self.inbound.cancel_surplus(self.clock.now())
        claimed = sorted(self.claim_round(self.clock.now()), key=lambda item: item.slot_at)
        report.claimed = sum(1 for item in claimed if isinstance(item, Claimed))
        report.queue_claimed = len(claimed) - report.claimed
        self.fault("after_claim")
        placed: list[Placed] = []
        allowed: set[int] | None = None  # attempts that may be dialed, checked after every wait
        try:
            for index, item in enumerate(claimed):
                wait = (item.slot_at - self.clock.now()).total_seconds()
                if wait > 0:
                    if placed:
                        self.record(placed, report)  # don't sit on unrecorded call ids while waiting for a slot
                    self.sleep(min(wait, self.dispatch.tick.total_seconds()))
                    allowed = None
                if isinstance(item, QueueClaim):
                    report.queue_dialed += self.inbound.dial(item) == "dialed"
                    continue
                if allowed is None:
                    # One query for the rest of the round: canceled meanwhile? settled by a sweep while this worker
                    # stalled? too late in the lease to dial safely?
                    allowed = self.dialable([c.attempt_id for c in claimed[index:] if isinstance(c, Claimed)])
                if item.attempt_id not in allowed:
                    report.skipped += 1
                    self._not_dialed(item)
                    continue
                self.dial(item, report, placed)
                if len(placed) >= RECORD_EVERY:
                    self.record(placed, report)
        finally:
            self.record(placed, report)
        return report

    def dialable(self, attempt_ids: list[int]) -> set[int]:
        with self.db.session() as session:
            return attempts.dialable(session, attempt_ids, self.clock.now(), self.dial_guard)

    def dial(self, item: Claimed, report: TickReport, placed: list[Placed]) -> None:
        """Place the call of one claimed attempt (checked dialable); its call id joins `placed`."""
        self.fault("before_dial")
        leg, request = self.request_for(item)
        try:
            info = self.provider.create_call(request)
        except (OutcomeUnknown, ProviderPermanentError, ProviderTransientError, ProviderError) as exc:
            self._dial_failed(item, leg, exc, report)
            return
        self.fault("after_accept")
        now = self.clock.now()
        report.dialed += 1
        report.dial_times.append((item.callback_id, item.attempt_id, now))
        placed.append(Placed(item.attempt_id, leg, info.sid, now))

    def _not_dialed(self, item: Claimed) -> None:
        """A claim this worker will not dial (canceled meanwhile, or too late in its lease): nothing was placed,
        and nobody else dials an attempt, so it ends `not_placed` now rather than after a lookup."""
        with self.db.session() as session:
            callback = session.scalar(select(Callback).where(Callback.id == item.callback_id).with_for_update())
            attempt = session.scalar(select(Attempt).where(Attempt.id == item.attempt_id).with_for_update())
            if callback is not None and attempt is not None and attempt.state == attempts.CREATED:
                attempts.finish_attempt(session, self.centre, callback, attempt, NOT_PLACED, self.clock.now(),
                                        actor=self.actor, backoff=timedelta(0),
                                        detail="not dialed: canceled, or too late in its lease")

    def _dial_failed(self, item: Claimed, leg: str, exc: ProviderError, report: TickReport) -> None:
        now = self.clock.now()
        with self.db.session() as session:
            if isinstance(exc, ProviderPermanentError | ProviderTransientError):
                permanent = isinstance(exc, ProviderPermanentError)
                report.permanent += permanent
                report.not_placed += not permanent
                if permanent and leg == "agent":
                    log.error("agent of attempt %s cannot be called (%s); taken off shift", item.attempt_id, exc)
                attempts.refused(session, self.centre, item.attempt_id, code=exc.code, message=str(exc),
                                 permanent=permanent, leg=leg, now=now, actor=self.actor)
                return
            # OutcomeUnknown, or an error we cannot classify: it may have placed a call.
            report.unknown += 1
            log.warning("attempt %s: outcome unknown (%s); will look the call up before dialing again",
                        item.attempt_id, exc)
            attempts.mark_unknown(session, item.attempt_id, str(exc), now, look_up_at=now)

    def record(self, placed: list[Placed], report: TickReport | None = None) -> None:
        """Write the call ids the provider gave us; cancel at once any call whose attempt ended meanwhile."""
        if not placed:
            return
        with self.db.session() as session:
            strays = attempts.record_placed(session, placed, self.clock.now())
        placed.clear()
        for stray in strays:
            log.warning("attempt %s ended before its call %s was recorded (this worker stalled?): canceling it",
                        stray.attempt_id, stray.sid)
            self._cancel_stray(stray.sid)
        if report is not None:
            report.strays += len(strays)

    def _cancel_stray(self, sid: str) -> bool:
        try:
            info = self.provider.cancel_call(sid)
        except ProviderPermanentError:
            result = "not found"
        except ProviderError as exc:
            log.warning("stray call %s: cancel failed (%s); the sweep tries again", sid, exc)
            return False
        else:
            result = info.status
        with self.db.session() as session:
            attempts.note_stray_canceled(session, sid, result)
        return True

    # -- leases and reconciliation -------------------------------------------------------------------------------
    def sweep(self, limit: int = 100) -> SweepReport:
        """Settle attempts whose lease ran out by asking the provider, cancel stray calls, and keep agents and
        callbacks consistent; one attempt's failure never stops the others."""
        report = SweepReport()
        now = self.clock.now()
        with self.db.session() as session:
            taken = [_Taken.of(a) for a in attempts.take_expired_leases(session, now, self.dispatch.lease, limit)]
        for attempt in taken:
            try:
                self._settle(attempt)
                report.settled += 1
            except Exception as exc:
                report.errors += 1
                log.warning("attempt %s: could not settle with the provider (%s); will retry", attempt.id, exc,
                            exc_info=not isinstance(exc, ProviderError))
        with self.db.session() as session:
            strays = attempts.strays_to_cancel(session)
        report.strays_canceled = sum(self._cancel_stray(sid) for sid in strays)
        if self._audited_at is None or abs(now - self._audited_at) >= self.dispatch.lease:
            # A safety net that finds nothing while every path ends attempts through `callbacks.attempts`: once a
            # lease is enough, and keeps the sweep cheap when thousands of agents are on calls.
            self._audited_at = now
            with self.db.session() as session:
                report.agents_released = len(attempts.release_orphaned_agents(session, self.clock.now()))
                report.callbacks_reopened = len(attempts.reopen_orphaned_callbacks(session, self.clock.now(),
                                                                                   actor=self.actor))
        if report.agents_released or report.callbacks_reopened:
            log.error("sweep: %d agents held by ended calls released, %d dialing callbacks without a live attempt "
                      "reopened", report.agents_released, report.callbacks_reopened)
        self.inbound.sweep(limit)
        return report

    def _settle(self, attempt: _Taken) -> None:
        outer = "customer" if attempt.dial_order == "customer_first" else "agent"
        inner = "agent" if outer == "customer" else "customer"
        outer_sid = attempt.call_sid(outer)
        if outer_sid is None:
            self._find_lost_call(attempt, outer)
            return
        info = self.provider.fetch_call(outer_sid)
        if not info.is_terminal:
            return  # still ringing or talking: its status callbacks will settle it; the lease was extended
        self._apply(attempt.id, outer, info)
        inner_sid = attempt.call_sid(inner)
        children = ([self.provider.fetch_call(inner_sid)] if inner_sid
                    else self.provider.list_calls(parent_sid=outer_sid, limit=5))
        for child in children:
            if child.is_terminal:
                self._apply(attempt.id, inner, child)
        with self.db.session() as session:
            attempts.settle_ended_call(session, self.centre, attempt.id, self.clock.now(),
                                       second_leg_found=bool(children), actor=f"{self.actor} (reconciled)")

    def _apply(self, attempt_id: int, leg: str, info: CallInfo) -> None:
        report = LegStatus(status=info.status, call_sid=info.sid, sequence=None, duration=info.duration,
                           answered_by=info.answered_by)
        with self.db.session() as session:
            attempts.apply_leg_status(session, self.centre, attempt_id, leg, report, self.clock.now(),
                                      actor=f"{self.actor} (reconciled)")

    def _find_lost_call(self, attempt: _Taken, leg: str) -> None:
        """No call id was recorded (the answer was lost, or the worker died or stalled): ask the provider before
        anything is dialed again. Calls to the number from our caller ID since the attempt was written that are
        recorded nowhere are candidates; the one created nearest the attempt is adopted. Nothing found, `SETTLE`
        after the lease ended (by when every call its worker could send has landed), means nothing was placed."""
        to = attempt.phone if leg == "customer" else attempt.agent_phone
        calls = self.provider.list_calls(to=to, from_=self.caller_id, created_after=attempt.created_at - SKEW) \
            if to else []
        now = self.clock.now()
        with self.db.session() as session:
            found = attempts.choose_lost_call(session, calls, attempt.created_at)
            if found is not None:
                if attempts.adopt_lost_call(session, attempt.id, leg, found, now, self.dispatch.lease):
                    log.warning("attempt %s: found call %s placed before its answer was lost", attempt.id, found.sid)
                return
            callback = session.scalar(select(Callback).where(Callback.id == attempt.callback_id).with_for_update())
            current = session.scalar(select(Attempt).where(Attempt.id == attempt.id).with_for_update())
            if callback is None or current is None:  # deleted by hand meanwhile: nothing left to settle
                return
            if current.state in (attempts.CREATED, attempts.UNKNOWN) and current.agent_call_sid is None \
                    and current.customer_call_sid is None:
                attempts.finish_attempt(session, self.centre, callback, current, NOT_PLACED, now, actor=self.actor,
                                        backoff=timedelta(0),
                                        detail="no call found at the provider: it was never placed")


@dataclass(frozen=True)
class _Taken:
    """What the sweep needs of an attempt it took, read inside its transaction."""

    id: int
    callback_id: int
    dial_order: str
    agent_call_sid: str | None
    customer_call_sid: str | None
    created_at: datetime
    phone: str
    agent_phone: str | None

    @classmethod
    def of(cls, attempt: Attempt) -> _Taken:
        return cls(attempt.id, attempt.callback_id, attempt.dial_order or "agent_first", attempt.agent_call_sid,
                   attempt.customer_call_sid, attempt.created_at, attempt.callback.phone,
                   attempt.agent.phone if attempt.agent is not None else None)

    def call_sid(self, leg: str) -> str | None:
        return self.agent_call_sid if leg == "agent" else self.customer_call_sid


__all__ = ["Claimed", "Dispatcher", "SweepReport", "TickReport", "edf_order", "match_agents", "no_fault"]
