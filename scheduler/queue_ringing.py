"""Ring free agents for callers waiting in inbound queues ("never a queue nobody answers").

Per tick, under the shared pacing row's lock (so that workers on PostgreSQL never ring two agents for one caller):
for every caller waiting beyond the agent calls already ringing for their queue, longest waiting first, take a
free agent serving that queue and a calls-per-second slot, and write the agent call (agent reserved) before the
provider is asked to dial. The agent hears who waits and presses 1; `<Dial><Queue>` bridges them to the caller at
the head of Twilio's queue. The agent's leg's status callbacks end the agent call and free the agent.

A caller who leaves the queue while an agent call still rings for them leaves that call ringing for nobody: each
tick first cancels agent calls beyond the callers still waiting (`cancel_surplus`), newest first, and frees those
agents at once. The call is marked under the same pacing-row lock as the claim, with a compare-and-swap, before
the provider is asked, so two workers never cancel or release one call twice; the canceled call's own status
callback then finds it ended (or, if first, ends it the same way).

Lost answers are settled like callback attempts: the sweep looks the call up with the provider before anything
else happens, and an agent who found the queue empty makes it ask the provider whether the callers we still think
wait are on the line at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from callbacks import attempts, inbound_queue
from callbacks.attempts import SETTLE, SKEW, LegStatus, free_agents_query, serves
from callbacks.clock import Clock
from callbacks.db import Database
from callbacks.inbound_queue import (
    NOT_PLACED,
    QUEUE_AGENT_PATH,
    STATUS_PATH,
    agent_call_url,
)
from callbacks.models import Agent, AgentCall, InboundCall
from config.menus import menu_of
from config.schema import ContactCentre
from scheduler.pacing import lock_pacing_row, take_slots
from telephony.provider import (
    CANCELABLE_STATUSES,
    CallRequest,
    OutcomeUnknown,
    Provider,
    ProviderError,
    ProviderPermanentError,
    ProviderTransientError,
)

log = logging.getLogger(__name__)


@dataclass
class QueueClaim:
    """An agent reserved for a caller waiting in `queue`, with the agent call written for it."""

    agent_call_id: int
    queue: str
    agent_phone: str
    slot_at: datetime
    claimed_until: datetime


class QueueDistributor:
    """Rings free agents for waiting callers; `claim`, `dial` and `sweep` are driven by the dispatcher's timer."""

    def __init__(self, db: Database, centre: ContactCentre, provider: Provider, clock: Clock, *, worker_id: str,
                 base_url: str, caller_id: str):
        self.db = db
        self.centre = centre
        self.provider = provider
        self.clock = clock
        self.worker_id = worker_id
        self.base_url = base_url.rstrip("/")
        self.caller_id = caller_id
        self.dispatch = centre.dispatch
        self.human = menu_of(centre).human
        # Like callback attempts: an agent call is placed only while its lease outlasts the provider's answer.
        self.dial_guard = timedelta(seconds=float(getattr(provider, "timeout", 10.0))) + SETTLE

    @property
    def handle_time(self) -> timedelta:
        """How long an agent given to a caller now is expected to be away (for the serving rule)."""
        return timedelta(seconds=self.human.default_handle_time)

    def anyone_waiting(self, now: datetime) -> bool:
        with self.db.session() as session:
            return session.scalar(select(InboundCall.id).where(inbound_queue.waiting_filter(now)).limit(1)) is not None

    # -- callers who left while agents were rung for them -----------------------------------------------------------
    def cancel_surplus(self, now: datetime) -> int:
        """Cancel agent calls still ringing beyond the callers waiting in their queue; returns how many stopped."""
        with self.db.session() as session:
            if session.scalar(select(AgentCall.id).where(inbound_queue.unanswered_filter()).limit(1)) is None:
                return 0  # nothing rings unanswered: no need to take the lock
            # Under the claim's lock: a claim cannot count a call as ringing for a caller while it is being marked,
            # and two workers cannot both pick one call.
            lock_pacing_row(session)
            marked = [(found.agent_call_id, found.call_sid) for found in inbound_queue.surplus_agent_calls(session, now)
                      if found.call_sid is not None  # not placed yet: canceled on a later tick, once it has an id
                      and inbound_queue.mark_caller_left(session, found.agent_call_id, now + SETTLE)]
        return sum(self._cancel(agent_call_id, sid) for agent_call_id, sid in marked)

    def _cancel(self, agent_call_id: int, sid: str) -> bool:
        """Ask the provider to stop one marked agent call; True when it stopped ringing."""
        try:
            info = self.provider.cancel_call(sid)
        except ProviderError as exc:
            # Maybe canceled, maybe not: the sweep looks the call up once the mark's short lease runs out, and
            # cancels again if it still rings.
            log.warning("agent call %s: cancel failed (%s); will look it up", agent_call_id, exc)
            return False
        now = self.clock.now()
        with self.db.session() as session:
            if info.status == "canceled" or (info.is_terminal and info.status != "completed"):
                # Its status callback may have ended it first, the same way (see `final_outcome`).
                inbound_queue.caller_left(session, agent_call_id, now)
                log.info("agent call %s: the caller left the queue; canceled while ringing", agent_call_id)
                return True
            # Too late: the agent answered. They hear that the caller has gone and are released with wrap-up by
            # the call's own status callbacks, as for any call that found the queue empty.
            inbound_queue.cancel_too_late(session, agent_call_id)
            log.info("agent call %s: answered before it could be canceled (%s)", agent_call_id, info.status)
            return False

    # -- claiming ------------------------------------------------------------------------------------------------
    def claim(self, now: datetime) -> list[QueueClaim]:
        """Reserve a free agent and a pacing slot for each caller no agent call is ringing for yet."""
        with self.db.session() as session:
            # Everything below reads and writes under the pacing row's lock: two workers cannot both see one
            # unserved caller and each ring an agent for them (never more agent calls than callers waiting).
            lock_pacing_row(session)
            unserved = inbound_queue.unserved_callers(session, now)
            if not unserved:
                return []
            agents = list(session.scalars(free_agents_query(now).limit(200).with_for_update(skip_locked=True)))
            pairs: list[tuple[str, Agent]] = []
            for caller in unserved:
                agent = next((a for a in agents if serves(a, caller.queue)), None)
                if agent is not None:
                    agents.remove(agent)
                    pairs.append((caller.queue, agent))
            if not pairs:
                return []
            slots = take_slots(session, self.dispatch, now, len(pairs))
            return self._claim_all(session, pairs[:len(slots)], slots, now)

    def _claim_all(self, session: Session, pairs: list[tuple[str, Agent]], slots: list[datetime],
                   now: datetime) -> list[QueueClaim]:
        until = now + self.dispatch.lease
        claims = []
        for (queue, agent), slot_at in zip(pairs, slots, strict=True):
            call = inbound_queue.start_agent_call(session, queue, agent, worker_id=self.worker_id, now=now,
                                                  until=until)
            claims.append(QueueClaim(call.id, queue, agent.phone, slot_at, until))
        return claims

    # -- dialing -------------------------------------------------------------------------------------------------
    def request_for(self, claim: QueueClaim) -> CallRequest:
        """The REST call that rings the agent: whisper and press 1 when answered; status callbacks to us."""
        return CallRequest(
            to=claim.agent_phone,
            from_=self.caller_id,
            url=agent_call_url(self.base_url, QUEUE_AGENT_PATH, claim.agent_call_id),
            status_callback=agent_call_url(self.base_url, STATUS_PATH, claim.agent_call_id),
            timeout=max(5, min(600, self.human.ring_timeout)),
        )

    def dial(self, claim: QueueClaim) -> str:
        """Ring the agent: `dialed`, `unknown` (the sweep looks it up), `not_placed`, `permanent`, `skipped` (too
        late in its lease, or ended meanwhile) or `stray` (it ended while we dialed: the call is canceled)."""
        with self.db.session() as session:
            call = session.scalar(select(AgentCall).where(AgentCall.id == claim.agent_call_id).with_for_update())
            now = self.clock.now()
            if call is None or call.state != "created" or call.claimed_until is None \
                    or now + self.dial_guard >= call.claimed_until:
                if call is not None and call.state == "created":
                    inbound_queue.end(session, call, NOT_PLACED, now, timedelta(0), detail="not dialed: too late")
                return "skipped"
        try:
            info = self.provider.create_call(self.request_for(claim))
        except (OutcomeUnknown, ProviderPermanentError, ProviderTransientError, ProviderError) as exc:
            return self._failed(claim, exc)
        now = self.clock.now()
        with self.db.session() as session:
            # A fast status callback may have set the sid or moved the call on: only fill in what is missing, and
            # never on a call that ended meanwhile (the sweep settled it while this worker stalled).
            session.execute(update(AgentCall).where(AgentCall.id == claim.agent_call_id, AgentCall.state != "ended")
                            .values(call_sid=func.coalesce(AgentCall.call_sid, info.sid),
                                    dial_started_at=func.coalesce(AgentCall.dial_started_at, now),
                                    state=case((AgentCall.state.in_(("created", "unknown")), "dialing"),
                                               else_=AgentCall.state))
                            .execution_options(synchronize_session=False))
            recorded = session.scalar(select(AgentCall.call_sid).where(AgentCall.id == claim.agent_call_id))
            stray = recorded != info.sid
            if stray:
                attempts.record_stray(session, info.sid, now, agent_call_id=claim.agent_call_id,
                                      reason="placed after its agent call was settled")
        if stray:
            log.warning("agent call %s ended before its call %s was recorded: canceling it", claim.agent_call_id,
                        info.sid)
            try:
                result = self.provider.cancel_call(info.sid).status
            except ProviderError as exc:
                log.warning("stray call %s: cancel failed (%s); the sweep tries again", info.sid, exc)
                return "stray"
            with self.db.session() as session:
                attempts.note_stray_canceled(session, info.sid, result)
            return "stray"
        return "dialed"

    def _failed(self, claim: QueueClaim, exc: ProviderError) -> str:
        now = self.clock.now()
        with self.db.session() as session:
            call = session.get(AgentCall, claim.agent_call_id)
            if call is None:  # deleted by hand meanwhile: nothing left to settle
                return "skipped"
            if isinstance(exc, ProviderPermanentError):
                attempts.take_off_shift(session, call.agent_id, now)
                log.error("agent %s cannot be called (%s); taken off shift", call.agent_id, exc)
                inbound_queue.end(session, call, NOT_PLACED, now, timedelta(0), detail=str(exc))
                return "permanent"
            if isinstance(exc, ProviderTransientError):
                inbound_queue.end(session, call, NOT_PLACED, now, timedelta(0), detail=str(exc))
                return "not_placed"
            # It may have rung the agent: keep them reserved until the sweep has asked the provider.
            log.warning("agent call %s: outcome unknown (%s); will look it up", call.id, exc)
            if call.state == "created":
                call.state = "unknown"
                call.dial_started_at = now
                call.error_message = f"outcome unknown: {exc}"[:500]
            # The lease ends now: the sweep looks the call up SETTLE after the send surely landed.
            call.claimed_until = now
            return "unknown"

    # -- leases and reconciliation -------------------------------------------------------------------------------
    def sweep(self, limit: int = 100) -> int:
        """Settle agent calls whose lease expired with the provider, and recheck callers an agent found gone."""
        now = self.clock.now()
        with self.db.session() as session:
            # A call with no id yet is looked up only SETTLE after its lease ended: its worker could send it until
            # shortly before then, and the provider's list must show it.
            expired = list(session.scalars(
                select(AgentCall).where(AgentCall.state.in_(inbound_queue.OPEN_STATES), or_(
                    and_(AgentCall.call_sid.is_not(None), AgentCall.claimed_until < now),
                    and_(AgentCall.call_sid.is_(None), AgentCall.claimed_until < now - SETTLE)))
                .order_by(AgentCall.claimed_until).limit(limit).with_for_update(skip_locked=True)))
            for call in expired:
                call.claimed_until = now + self.dispatch.lease
            work = [(c.id, c.call_sid, c.created_at, c.agent_id, c.outcome) for c in expired]
            recheck = inbound_queue.callers_to_recheck(session, now)
        for agent_call_id, sid, created_at, agent_id, outcome in work:
            try:
                self._reconcile(agent_call_id, sid, created_at, agent_id, outcome)
            except Exception as exc:
                log.warning("agent call %s: could not reconcile with the provider (%s)", agent_call_id, exc,
                            exc_info=not isinstance(exc, ProviderError))
        for inbound_id, sid in recheck:
            try:
                self._recheck_caller(inbound_id, sid)
            except ProviderError as exc:
                log.warning("inbound call %s: could not ask the provider (%s)", inbound_id, exc)
        return len(work)

    def _reconcile(self, agent_call_id: int, sid: str | None, created_at: datetime, agent_id: int | None,
                   outcome: str | None = None) -> None:
        now = self.clock.now()
        if sid is None:
            # Calls to the agent's number from our caller ID since the agent call was written, recorded nowhere
            # (not another agent call's, not an attempt's, not a stray): the one nearest its creation is it.
            with self.db.session() as session:
                phone = session.scalar(select(Agent.phone).where(Agent.id == agent_id)) if agent_id else None
            listed = self.provider.list_calls(to=phone, from_=self.caller_id, created_after=created_at - SKEW) \
                if phone else []
            with self.db.session() as session:
                call = session.scalar(select(AgentCall).where(AgentCall.id == agent_call_id).with_for_update())
                if call is None or call.state == "ended" or call.call_sid is not None:  # None: deleted by hand
                    return
                found = attempts.choose_lost_call(session, listed, created_at)
                if found is not None:
                    call.call_sid = found.sid
                    call.state = "dialing"
                    call.dial_started_at = call.dial_started_at or found.created_at or now
                    log.warning("agent call %s: found call %s placed before its answer was lost", call.id, found.sid)
                    return
                inbound_queue.end(session, call, NOT_PLACED, now, timedelta(0),
                                  detail="no call found at the provider: it was never placed")
            return
        info = self.provider.fetch_call(sid)
        if outcome == inbound_queue.CALLER_LEFT and not info.is_terminal:
            # Marked for canceling, but the cancel was lost or failed: try again while it rings; once answered,
            # it is an ordinary call again.
            if info.status in CANCELABLE_STATUSES:
                self._cancel(agent_call_id, sid)
            else:
                with self.db.session() as session:
                    inbound_queue.cancel_too_late(session, agent_call_id)
            return
        if not info.is_terminal:
            return  # still ringing or talking: its status callbacks will end it; the lease was extended
        with self.db.session() as session:
            inbound_queue.apply_status(session, self.centre, agent_call_id, LegStatus(
                status=info.status, call_sid=info.sid, duration=info.duration), now)

    def _recheck_caller(self, inbound_id: int, sid: str) -> None:
        try:
            gone = self.provider.fetch_call(sid).is_terminal
        except ProviderPermanentError:
            gone = True  # the provider has no such call: nobody is waiting on it
        if not gone:
            return
        with self.db.session() as session:
            call = session.get(InboundCall, inbound_id)
            if call is not None:
                log.info("inbound call %s: over at the provider, its status callback never came", call.id)
                inbound_queue.end_inbound_call(call, self.clock.now())


__all__ = ["QueueClaim", "QueueDistributor"]
