"""Claim due callbacks, dial them through the provider, and take back what dead workers left behind.

Exactly one call per attempt:
- the claim (callback `dialing` with a lease, attempt row `created`, agent reserved, pacing slots taken) commits
  before the provider is asked to dial; the attempt id is in the TwiML and status-callback URLs;
- when the provider's answer is lost (timeout, 5xx, or this process dies), the attempt stays `created`/`unknown`
  and the sweep looks the call up in the provider's Calls list before anything is dialed again;
- 429 and refusals before processing end the attempt as `not_placed` (not counted) and the callback is retried
  after a backoff.

On PostgreSQL any number of workers share the queue (`FOR UPDATE SKIP LOCKED` batches plus the lease); on SQLite
one worker runs (`scheduler.worker` refuses a second) and `BEGIN IMMEDIATE` serializes its transactions.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, bindparam, case, func, insert, or_, select, update
from sqlalchemy.orm import Session, joinedload

from callbacks.attempts import (
    AGENT_PATH,
    AGENT_UNAVAILABLE,
    CUSTOMER_PATH,
    NOT_PLACED,
    PERMANENT_ERROR,
    STATUS_PATH,
    LegStatus,
    apply_leg_status,
    attempt_url,
    finish_attempt,
    free_agents_query,
    reservation_token,
    serves,
)
from callbacks.clock import Clock
from callbacks.db import Database
from callbacks.inbound_queue import urgent_callbacks
from callbacks.models import DIALING, PENDING, Agent, Attempt, Callback, CallbackEvent, UTCDateTime
from callbacks.service import transition
from config.schema import ContactCentre
from scheduler.pacing import take_slots
from scheduler.queue_ringing import SETTLE, SKEW, QueueClaim, QueueDistributor
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

# A claim this close to its lease's end is not dialed (the sweep may be about to take it back).
LEASE_SAFETY = timedelta(seconds=5)
FAULT_ENV = "IVR_WORKER_FAULT"
# Call ids accepted by the provider are written in groups of this many (one statement, one commit).
RECORD_EVERY = 25


def fault_point(name: str) -> None:
    """Crash tests: die like `kill -9` at the named point when IVR_WORKER_FAULT says so (never set in production)."""
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class Claimed:
    """A callback this worker claimed, with its new attempt and the agent reserved for it."""

    callback_id: int
    attempt_id: int
    phone: str
    queue: str
    dial_order: str
    agent_phone: str
    slot_at: datetime
    claimed_until: datetime


@dataclass
class TickReport:
    claimed: int = 0
    dialed: int = 0
    not_placed: int = 0
    unknown: int = 0
    permanent: int = 0
    # Agents rung for callers waiting in inbound queues (claimed, and accepted by the provider).
    queue_claimed: int = 0
    queue_dialed: int = 0
    # Agent calls canceled because the callers they rang for left the queue (their agents are free again).
    queue_canceled: int = 0
    # (callback id, attempt id, when dialed) for each call the provider accepted.
    dial_times: list[tuple[int, int, datetime]] = field(default_factory=list)


def _order(order: str) -> list[Any]:
    if order == "fcfs":
        return [Callback.requested_at, Callback.id]
    # Earliest deadline first, then the higher priority, then the older request.
    return [Callback.deadline_at, Callback.priority.desc(), Callback.requested_at, Callback.id]


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
    ):
        self.db = db
        self.centre = centre
        self.provider = provider
        self.clock = clock
        self.worker_id = worker_id
        self.base_url = base_url.rstrip("/")
        self.caller_id = caller_id
        self.order = order
        self.batch_size = batch_size
        self.sleep = sleep
        self.dispatch = centre.dispatch
        self.inbound = QueueDistributor(db, centre, provider, clock, worker_id=worker_id, base_url=base_url,
                                        caller_id=caller_id)

    # -- claiming ------------------------------------------------------------------------------------------------
    def _fits_before_deadline(self, now: datetime) -> Any:
        """No attempt is started that cannot end before the deadline (each queue's attempt_duration)."""
        return or_(*(
            and_(Callback.queue == queue_id, Callback.deadline_at >= now + queue.retry.attempt_duration)
            for queue_id, queue in self.centre.queues.items()
        ))

    def claim(self, now: datetime, *, urgent_only: bool = False) -> list[Claimed]:
        """Claim due callbacks, earliest deadline first, at most one per free agent and per pacing slot.

        `urgent_only`: only those that go before callers waiting on the line (`callbacks.inbound_queue`).
        """
        with self.db.session() as session:
            conditions = [Callback.status == PENDING, Callback.next_attempt_at <= now, self._fits_before_deadline(now)]
            if urgent_only:
                conditions.append(urgent_callbacks(self.centre, now, self.inbound.handle_time))
            due = list(session.scalars(
                select(Callback)
                .where(*conditions)
                .order_by(*_order(self.order))
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            ))
            if not due:
                return []
            agents = list(session.scalars(
                free_agents_query(now).limit(max(self.batch_size * 4, 100)).with_for_update(skip_locked=True)
            ))
            pairs: list[tuple[Callback, Agent]] = []
            for callback in due:
                agent = next((a for a in agents if serves(a, callback.queue)), None)
                if agent is not None:
                    agents.remove(agent)
                    pairs.append((callback, agent))
            if not pairs:
                return []
            slots = self._reserve_slots(session, now, len(pairs))
            return self._claim_all(session, pairs[:len(slots)], slots, now)

    def _claim_all(self, session: Session, pairs: list[tuple[Callback, Agent]], slots: list[datetime],
                   now: datetime) -> list[Claimed]:
        """Claim a locked batch in a few set-based statements: callbacks, history rows, attempts, agents."""
        if not pairs:
            return []
        until = now + self.dispatch.lease
        ids = [callback.id for callback, _agent in pairs]
        changed = session.execute(
            update(Callback).where(Callback.id.in_(ids), Callback.status == PENDING)
            .values(status=DIALING, claimed_by=self.worker_id, claimed_until=until, version=Callback.version + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed != len(ids):
            raise RuntimeError(f"claimed {changed} of {len(ids)} locked callbacks")  # cannot happen under the locks
        actor = f"worker {self.worker_id}"
        session.execute(insert(CallbackEvent), [
            {"callback_id": cid, "at": now, "kind": "status", "from_status": PENDING, "to_status": DIALING,
             "actor": actor, "reason": "claimed for dialing", "details": None} for cid in ids])
        numbers = dict(session.execute(
            select(Attempt.callback_id, func.max(Attempt.number)).where(Attempt.callback_id.in_(ids))
            .group_by(Attempt.callback_id)).all())
        orders = {cb.id: self.centre.queue(cb.queue).dial_order for cb, _a in pairs}
        attempt_ids = dict(session.execute(
            insert(Attempt).returning(Attempt.callback_id, Attempt.id, sort_by_parameter_order=True),
            [{"callback_id": cb.id, "number": numbers.get(cb.id, 0) + 1, "state": "created", "agent_id": agent.id,
              "worker_id": self.worker_id, "provider": self.provider.name, "dial_order": orders[cb.id],
              "created_at": now, "sequence": {}} for cb, agent in pairs],
        ).all())
        session.execute(update(Agent), [
            {"id": agent.id, "busy_call_sid": reservation_token(attempt_ids[cb.id]), "busy_since": now}
            for cb, agent in pairs])
        return [Claimed(cb.id, attempt_ids[cb.id], cb.phone, cb.queue, orders[cb.id], agent.phone, slot_at, until)
                for (cb, agent), slot_at in zip(pairs, slots, strict=True)]

    def _reserve_slots(self, session: Session, now: datetime, want: int) -> list[datetime]:
        """Take up to `want` calls-per-second slots in [now, now + tick) (see `scheduler.pacing`)."""
        return take_slots(session, self.dispatch, now, want)

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

    def claim_round(self, now: datetime) -> list[Claimed | QueueClaim]:
        """This round's work in serving order: urgent callbacks, agents for waiting callers, the other callbacks.

        Callers on the line go before callbacks that can wait; see `callbacks.inbound_queue` for the rule.
        """
        if not self.inbound.anyone_waiting(now):
            return list(self.claim(now))
        return [*self.claim(now, urgent_only=True), *self.inbound.claim(now), *self.claim(now)]

    def tick(self) -> TickReport:
        """One dispatch round: cancel agent calls ringing for nobody, claim, then dial each claim at its slot."""
        report = TickReport()
        # First, so that an agent rung for a caller who left is free for this round's claims (their callback).
        report.queue_canceled = self.inbound.cancel_surplus(self.clock.now())
        claimed = sorted(self.claim_round(self.clock.now()), key=lambda item: item.slot_at)
        report.claimed = sum(1 for item in claimed if isinstance(item, Claimed))
        report.queue_claimed = len(claimed) - report.claimed
        fault_point("after_claim")
        placed: list[dict[str, Any]] = []
        try:
            for item in claimed:
                wait = (item.slot_at - self.clock.now()).total_seconds()
                if wait > 0:
                    if placed:
                        self._record_placed(placed)  # don't sit on unrecorded call ids while waiting for a slot
                    self.sleep(min(wait, self.dispatch.tick.total_seconds()))
                if self.clock.now() > item.claimed_until - LEASE_SAFETY:
                    continue  # too late to dial safely: the sweep takes it back and looks it up first
                if isinstance(item, QueueClaim):
                    report.queue_dialed += self.inbound.dial(item) == "dialed"
                    continue
                self._dial(item, report, placed)
                if len(placed) >= RECORD_EVERY:
                    self._record_placed(placed)
        finally:
            self._record_placed(placed)
        return report

    def _dial(self, item: Claimed, report: TickReport, placed: list[dict[str, Any]]) -> None:
        leg, request = self.request_for(item)
        try:
            info = self.provider.create_call(request)
        except OutcomeUnknown as exc:
            report.unknown += 1
            self._mark_unknown(item, exc)
            return
        except ProviderPermanentError as exc:
            report.permanent += 1
            self._refused(item, leg, exc, permanent=True)
            return
        except ProviderTransientError as exc:
            report.not_placed += 1
            self._refused(item, leg, exc, permanent=False)
            return
        except ProviderError as exc:  # an error we cannot classify: it may have placed a call
            report.unknown += 1
            self._mark_unknown(item, exc)
            return
        fault_point("after_accept")
        now = self.clock.now()
        report.dialed += 1
        report.dial_times.append((item.callback_id, item.attempt_id, now))
        placed.append({"aid": item.attempt_id, "agent_sid": info.sid if leg == "agent" else None,
                       "customer_sid": info.sid if leg == "customer" else None, "now": now})

    def _record_placed(self, placed: list[dict[str, Any]]) -> None:
        """Write the call ids the provider gave us, a few calls at a time (one executemany statement).

        Until written, a call is still safe: its attempt is `created`, and after a crash the sweep finds the
        call in the provider's list. A fast status callback may already have set the sid or moved the attempt
        on: this only fills in what is missing and never moves an attempt back.
        """
        if not placed:
            return
        statement = (
            update(Attempt).where(Attempt.id == bindparam("aid")).values(
                agent_call_sid=func.coalesce(Attempt.agent_call_sid, bindparam("agent_sid", type_=String)),
                customer_call_sid=func.coalesce(Attempt.customer_call_sid, bindparam("customer_sid", type_=String)),
                dial_started_at=func.coalesce(Attempt.dial_started_at, bindparam("now", type_=UTCDateTime())),
                state=case((or_(Attempt.state == "created", Attempt.state == "unknown"), "dialing"),
                           else_=Attempt.state),
            )
        )
        with self.db.engine.begin() as conn:
            conn.execute(statement, list(placed))
        placed.clear()

    def _mark_unknown(self, item: Claimed, exc: ProviderError) -> None:
        now = self.clock.now()
        log.warning("attempt %s: outcome unknown (%s); will look the call up before dialing again",
                    item.attempt_id, exc)
        with self.db.session() as session:
            attempt = session.get(Attempt, item.attempt_id)
            if attempt.state == "created":
                attempt.state = "unknown"
                attempt.dial_started_at = now
                attempt.error_message = f"outcome unknown: {exc}"[:500]
            # Let the sweep look it up soon, rather than after a whole lease.
            session.execute(update(Callback).where(Callback.id == item.callback_id, Callback.status == DIALING)
                            .values(claimed_until=now + SETTLE).execution_options(synchronize_session=False))

    def _refused(self, item: Claimed, leg: str, exc: ProviderError, *, permanent: bool) -> None:
        now = self.clock.now()
        with self.db.session() as session:
            callback = session.scalar(select(Callback).where(Callback.id == item.callback_id).with_for_update())
            attempt = session.scalar(select(Attempt).where(Attempt.id == item.attempt_id).with_for_update())
            attempt.error_code = exc.code
            attempt.error_message = str(exc)[:500]
            if permanent and leg == "agent":
                # The agent's own number is broken: take them off shift so they are not offered work again.
                session.execute(update(Agent).where(Agent.id == attempt.agent_id).values(on_shift=False,
                                shift_changed_at=now).execution_options(synchronize_session=False))
                log.error("agent %s cannot be called (%s); taken off shift", attempt.agent_id, exc)
                finish_attempt(session, self.centre, callback, attempt, AGENT_UNAVAILABLE, now,
                               actor=f"worker {self.worker_id}", detail=str(exc))
            elif permanent:
                finish_attempt(session, self.centre, callback, attempt, PERMANENT_ERROR, now,
                               actor=f"worker {self.worker_id}", detail=f"{exc.code}: {exc}")
            else:
                earlier = session.scalar(select(func.count()).select_from(Attempt).where(
                    Attempt.callback_id == callback.id, Attempt.outcome == NOT_PLACED))
                backoff = timedelta(seconds=min(300, 5 * 2 ** min(earlier, 6)))
                finish_attempt(session, self.centre, callback, attempt, NOT_PLACED, now,
                               actor=f"worker {self.worker_id}", backoff=backoff, detail=str(exc))

    # -- leases and reconciliation -------------------------------------------------------------------------------
    def sweep(self, limit: int = 100) -> int:
        """Take back expired claims and settle their attempts with the provider; returns how many were looked at."""
        now = self.clock.now()
        with self.db.session() as session:
            expired = list(session.scalars(
                select(Callback)
                .where(Callback.status == DIALING, Callback.claimed_until < now)
                .order_by(Callback.claimed_until)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ))
            for callback in expired:
                # Take the lease ourselves (no history row: nothing happened to the callback yet).
                session.execute(update(Callback).where(Callback.id == callback.id).values(
                    claimed_by=self.worker_id, claimed_until=now + self.dispatch.lease,
                    version=Callback.version + 1).execution_options(synchronize_session=False))
            ids = [c.id for c in expired]
        for callback_id in ids:
            try:
                self._reconcile(callback_id)
            except ProviderError as exc:
                log.warning("callback %s: could not reconcile with the provider (%s); will retry", callback_id, exc)
        self.inbound.sweep(limit)
        return len(ids)

    def _reconcile(self, callback_id: int) -> None:
        with self.db.session() as session:
            attempt = session.scalar(
                select(Attempt).options(joinedload(Attempt.agent), joinedload(Attempt.callback))
                .where(Attempt.callback_id == callback_id).order_by(Attempt.number.desc()).limit(1))
            if attempt is None or attempt.state == "ended":
                callback = session.scalar(select(Callback).where(Callback.id == callback_id).with_for_update())
                if callback.status == DIALING:
                    transition(session, callback, PENDING, now=self.clock.now(), actor=f"worker {self.worker_id}",
                               reason="lease expired with no attempt in flight", claimed_by=None, claimed_until=None)
                return
            session.expunge_all()
        outer = "customer" if attempt.dial_order == "customer_first" else "agent"
        inner = "agent" if outer == "customer" else "customer"
        outer_sid = getattr(attempt, f"{outer}_call_sid")
        if outer_sid is None:
            self._find_lost_call(attempt, outer)
            return
        info = self.provider.fetch_call(outer_sid)
        if not info.is_terminal:
            return  # still ringing or talking: status callbacks will settle it; the lease was extended
        self._apply(attempt.id, outer, info)
        inner_sid = getattr(attempt, f"{inner}_call_sid")
        children = ([self.provider.fetch_call(inner_sid)] if inner_sid
                    else self.provider.list_calls(parent_sid=outer_sid, limit=5))
        for child in children:
            if child.is_terminal:
                self._apply(attempt.id, inner, child)
        with self.db.session() as session:
            callback = session.scalar(select(Callback).where(Callback.id == attempt.callback_id).with_for_update())
            current = session.scalar(select(Attempt).where(Attempt.id == attempt.id).with_for_update())
            if current.state != "ended":
                # The first leg is over and the provider knows of no second leg that could still end well.
                finish_attempt(session, self.centre, callback, current, NOT_PLACED if not children else "failed",
                               self.clock.now(), actor=f"worker {self.worker_id}",
                               detail="settled from the provider's records")

    def _apply(self, attempt_id: int, leg: str, info: CallInfo) -> None:
        report = LegStatus(status=info.status, call_sid=info.sid, sequence=None, duration=info.duration,
                           answered_by=info.answered_by)
        with self.db.session() as session:
            apply_leg_status(session, self.centre, attempt_id, leg, report, self.clock.now(),
                             actor=f"worker {self.worker_id} (reconciled)")

    def _find_lost_call(self, attempt: Attempt, leg: str) -> None:
        """The worker died or lost the answer before recording a call id: ask the provider before re-dialing.

        The call is recognised by its number, our caller ID and its creation time: while the attempt holds its
        agent reservation and the callback's claim, no other attempt of ours calls that number (the agent is
        reserved for it; a customer has one open callback per queue).
        """
        now = self.clock.now()
        if now < attempt.created_at + SETTLE:
            return
        to = attempt.callback.phone if leg == "customer" else attempt.agent.phone if attempt.agent else None
        calls = self.provider.list_calls(to=to, from_=self.caller_id, created_after=attempt.created_at - SKEW) \
            if to else []
        with self.db.session() as session:
            callback = session.scalar(select(Callback).where(Callback.id == attempt.callback_id).with_for_update())
            current = session.scalar(select(Attempt).where(Attempt.id == attempt.id).with_for_update())
            if current.state == "ended" or getattr(current, f"{leg}_call_sid") is not None:
                return
            if calls:
                found = calls[-1]  # the oldest match after the attempt was written
                setattr(current, f"{leg}_call_sid", found.sid)
                current.dial_started_at = current.dial_started_at or found.created_at or now
                current.state = "dialing"
                log.warning("attempt %s: found call %s placed before the worker stopped", current.id, found.sid)
                return
            finish_attempt(session, self.centre, callback, current, NOT_PLACED, now,
                           actor=f"worker {self.worker_id}", backoff=timedelta(0),
                           detail="no call found at the provider: it was never placed")


__all__ = ["FAULT_ENV", "Claimed", "Dispatcher", "TickReport", "fault_point"]
