"""Calling customers back: attempt outcomes, the retry rule, agents' availability, status callbacks, and
closing a callback when the customer's own call reached an agent.

Used by the worker (`scheduler`) and by the Twilio status webhook (`ivr.phone.outbound`); nothing here does I/O beyond
the session it is given, and every function takes `now`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from callbacks.models import (
    CANCELED,
    COMPLETED,
    DIALING,
    OPEN_STATUSES,
    PENDING,
    UNREACHABLE,
    Agent,
    Attempt,
    Callback,
)
from callbacks.service import record_event, transition
from config.schema import ContactCentre, Queue

# -- URLs Twilio is given for an attempt (all under /twilio so one signature check covers them) --------------------
STATUS_PATH = "/twilio/status"
AGENT_PATH = "/twilio/outbound/agent"
AGENT_CONNECT_PATH = "/twilio/outbound/agent/connect"
CUSTOMER_PATH = "/twilio/outbound/customer"
DIAL_DONE_PATH = "/twilio/outbound/dial-done"
LEGS = ("agent", "customer")


def attempt_url(base_url: str, path: str, attempt_id: int, **params: str) -> str:
    """Absolute URL under PUBLIC_BASE_URL carrying the attempt id (and the leg for status callbacks)."""
    query = urlencode({"attempt": attempt_id, **params})
    return f"{base_url.rstrip('/')}{path}?{query}"


# -- attempt outcomes --------------------------------------------------------------------------------------------
CONNECTED = "connected"  # customer and agent talked at least min_talk_time
TOO_SHORT = "too_short"  # they were connected, but for less than min_talk_time
BUSY, NO_ANSWER, FAILED, CANCELED_CALL = "busy", "no-answer", "failed", "canceled"
VOICEMAIL = "voicemail"  # answering machine or fax on the customer's line
NO_AGENT = "no_agent"  # customer-first: the customer answered but no agent took the call
PERMANENT_ERROR = "permanent_error"  # the number cannot be called; retrying will not help
AGENT_UNAVAILABLE = "agent_unavailable"  # agent-first: the agent did not answer or did not press 1
NOT_PLACED = "not_placed"  # no call was placed (provider refused, 429, or the worker died before dialing)
CALLBACK_CLOSED = "callback_closed"  # the callback was closed (canceled, resolved) while the attempt ran

# Outcomes that used up one of the customer's attempts (we rang their phone and no conversation happened).
NOT_REACHED = frozenset({TOO_SHORT, BUSY, NO_ANSWER, FAILED, CANCELED_CALL, VOICEMAIL, NO_AGENT})
# Outcomes that did not disturb the customer: the callback goes straight back to the queue.
NOT_COUNTED = frozenset({AGENT_UNAVAILABLE, NOT_PLACED})
TERMINAL_CALL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
# Twilio error codes that mean "this number will never work" (invalid, unreachable, not permitted, blocked).
PERMANENT_CODES = frozenset({"21211", "21214", "21215", "21216", "21217", "21401", "21407", "21610", "13224",
                             "13223", "13225", "13227"})
# Shortest gap we accept between two attempts when squeezing the last one in before the deadline.
MIN_RETRY_GAP = timedelta(minutes=2)
# An agent who let the phone ring out is not offered the next callback straight away.
AGENT_MISSED_PAUSE = timedelta(minutes=2)


def is_machine(answered_by: str | None) -> bool:
    return bool(answered_by) and (answered_by.startswith("machine") or answered_by == "fax")


def decide_outcome(attempt: Attempt, min_talk_time: timedelta) -> str | None:
    """The attempt's outcome from what its legs reported so far; None while the call is still going on."""
    customer, agent = attempt.customer_status, attempt.agent_status
    machine = is_machine(attempt.answered_by)
    if attempt.dial_order == "customer_first":
        if customer not in TERMINAL_CALL_STATUSES:
            return None
        if machine:
            return VOICEMAIL
        if customer != "completed":
            return PERMANENT_ERROR if _permanent(attempt, customer) else customer
        if attempt.bridged_at is None:
            return NO_AGENT
        if agent not in TERMINAL_CALL_STATUSES:
            return None  # the agent leg's last status callback is on its way (or the sweep will fetch it)
        if agent != "completed":
            return NO_AGENT
        return _talked(attempt, min_talk_time)
    # agent_first: the customer leg is the <Dial> child; its outcome decides.
    if customer in TERMINAL_CALL_STATUSES:
        if machine:
            return VOICEMAIL
        if customer != "completed":
            return PERMANENT_ERROR if _permanent(attempt, customer) else customer
        return _talked(attempt, min_talk_time)
    if agent in TERMINAL_CALL_STATUSES and attempt.bridged_at is None:
        return AGENT_UNAVAILABLE
    return None


def _permanent(attempt: Attempt, status: str) -> bool:
    return status == "failed" and (attempt.error_code or "") in PERMANENT_CODES


def _talked(attempt: Attempt, min_talk_time: timedelta) -> str:
    talk = attempt.talk_seconds or 0.0
    return CONNECTED if talk >= min_talk_time.total_seconds() else TOO_SHORT


# -- the retry rule (pure) -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NextStep:
    """What becomes of a callback after an attempt: its status, when to try again, and why."""

    status: str
    attempts_made: int
    next_attempt_at: datetime | None
    reason: str


def next_step(
    queue: Queue, callback: Callback, outcome: str, now: datetime, *, backoff: timedelta = timedelta(seconds=15),
    detail: str | None = None,
) -> NextStep:
    """Apply the queue's retry policy to `outcome` of the callback's latest attempt."""
    made = callback.attempts_made
    if outcome == CONNECTED:
        return NextStep(COMPLETED, made + 1, None, "customer and agent talked")
    if outcome == PERMANENT_ERROR:
        return NextStep(UNREACHABLE, made + 1, None, f"the number cannot be called ({detail or 'permanent error'})")
    if outcome in NOT_COUNTED:
        return NextStep(PENDING, made, now + backoff, f"attempt not counted: {outcome}")
    made += 1
    policy = queue.retry
    if made >= policy.max_attempts:
        return NextStep(UNREACHABLE, made, None, f"not reached in {made} attempts (last: {outcome})")
    delay = policy.delay_before(made + 1)
    next_at = now + delay
    latest_start = callback.deadline_at - policy.attempt_duration
    if next_at > latest_start and latest_start >= now + min(delay, MIN_RETRY_GAP):
        # The policy's delay would push the next attempt past the deadline: squeeze it in at the last moment.
        next_at = latest_start
    return NextStep(PENDING, made, next_at, f"attempt {made} of {policy.max_attempts}: {outcome}")


def retry_time_for_message(queue: Queue, callback: Callback, now: datetime) -> datetime | None:
    """When we expect to call again if this attempt fails (told to an answering machine); None if never."""
    step = next_step(queue, callback, NO_ANSWER, now)
    if step.status != PENDING or step.next_attempt_at is None:
        return None
    if step.next_attempt_at > callback.deadline_at - queue.retry.attempt_duration:
        return None
    return step.next_attempt_at


# -- agents ------------------------------------------------------------------------------------------------------
def reservation_token(attempt_id: int) -> str:
    """What `Agent.busy_call_sid` holds while an attempt of ours has the agent."""
    return f"attempt:{attempt_id}"


def serves(agent: Agent, queue: str) -> bool:
    return not agent.queues or queue in agent.queues


def free_agents_query(now: datetime) -> Any:
    """Agents on shift, not on a call of ours, and past their wrap-up time (our own records, not the provider's)."""
    return (
        select(Agent)
        .where(
            Agent.on_shift.is_(True),
            Agent.busy_call_sid.is_(None),
            (Agent.available_at.is_(None)) | (Agent.available_at <= now),
        )
        .order_by(Agent.available_at.is_not(None), Agent.available_at, Agent.id)
    )


def free_agents(session: Session, now: datetime, queue: str | None = None) -> list[Agent]:
    agents = list(session.scalars(free_agents_query(now)))
    return [a for a in agents if queue is None or serves(a, queue)]


def free_agent(session: Session, agent_id: int | None, held_by: str, now: datetime, pause: timedelta) -> None:
    """Give an agent back, free again after `pause`, only while the reservation `held_by` still holds them
    (a later call may already have taken the agent: that reservation is left alone)."""
    if agent_id is None:
        return
    session.execute(
        update(Agent)
        .where(Agent.id == agent_id, Agent.busy_call_sid == held_by)
        .values(busy_call_sid=None, busy_since=None, available_at=now + pause)
        .execution_options(synchronize_session=False)
    )


def release_agent(session: Session, attempt: Attempt, now: datetime, pause: timedelta) -> None:
    """Give the attempt's agent back (if this attempt still holds them), free again after `pause`."""
    free_agent(session, attempt.agent_id, reservation_token(attempt.id), now, pause)


# -- finishing attempts ------------------------------------------------------------------------------------------
def _lock(session: Session, model: type, ident: int) -> Any:
    # SQLite ignores FOR UPDATE (its BEGIN IMMEDIATE already serializes writers); PostgreSQL takes the row lock.
    return session.scalar(select(model).where(model.id == ident).with_for_update().execution_options(
        populate_existing=True))


def finish_attempt(
    session: Session,
    centre: ContactCentre,
    callback: Callback,
    attempt: Attempt,
    outcome: str,
    now: datetime,
    *,
    actor: str,
    backoff: timedelta = timedelta(seconds=15),
    detail: str | None = None,
) -> NextStep | None:
    """End `attempt` with `outcome` and move its callback on by the queue's retry policy.

    Idempotent: an attempt already ended is left alone. The callback is changed only while it is still
    `dialing` for this attempt (it may have been canceled or resolved by an inbound call meanwhile).
    """
    if attempt.state == "ended":
        return None
    closed = callback.status not in OPEN_STATUSES
    attempt.state = "ended"
    attempt.outcome = CALLBACK_CLOSED if closed and outcome in NOT_COUNTED else outcome
    attempt.ended_at = now
    if detail and not attempt.error_message:
        attempt.error_message = detail[:500]
    if attempt.agent_status is None:
        # The agent's phone never rang for this attempt: they are free at once.
        release_agent(session, attempt, now, timedelta(0))
    session.flush()
    record_event(
        session, callback, "attempt", at=now, actor=actor, reason=attempt.outcome,
        details={"attempt": attempt.number, "outcome": attempt.outcome, "talk_seconds": attempt.talk_seconds,
                 "error_code": attempt.error_code},
    )
    if callback.status != DIALING:
        return None
    step = next_step(centre.queue(callback.queue), callback, outcome, now, backoff=backoff,
                     detail=detail or attempt.error_code)
    fields: dict[str, Any] = {"attempts_made": step.attempts_made, "claimed_by": None, "claimed_until": None}
    if step.next_attempt_at is not None:
        fields["next_attempt_at"] = step.next_attempt_at
    if step.status == COMPLETED:
        # Kept on the callback itself so that SLA figures over millions of rows need no join to attempts.
        fields["conversation_at"] = attempt.bridged_at or attempt.answered_at or attempt.dial_started_at or now
    if not transition(session, callback, step.status, now=now, actor=actor, reason=step.reason,
                      details={"attempt": attempt.number, "outcome": outcome}, **fields):
        raise RuntimeError(f"callback {callback.id} changed under a row lock")  # cannot happen: we hold the lock
    if step.status == UNREACHABLE and outcome == PERMANENT_ERROR:
        from callbacks.alerts import raise_alert

        raise_alert(session, callback, "permanent", now, step.reason)
    return step


# -- status callbacks --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LegStatus:
    """One status report for one leg of an attempt (a Twilio status callback, or a fetched call)."""

    status: str
    call_sid: str | None = None
    # Twilio's SequenceNumber; None for a status we fetched ourselves (it wins only if it is terminal).
    sequence: int | None = None
    duration: int | None = None
    answered_by: str | None = None
    error_code: str | None = None

    @classmethod
    def from_twilio(cls, form: Mapping[str, str]) -> LegStatus:
        def as_int(name: str) -> int | None:
            value = form.get(name)
            return int(value) if value and value.isdigit() else None

        return cls(
            status=(form.get("CallStatus") or "").lower(),
            call_sid=form.get("CallSid") or None,
            sequence=as_int("SequenceNumber"),
            duration=as_int("CallDuration"),
            answered_by=form.get("AnsweredBy") or None,
            error_code=form.get("ErrorCode") or None,
        )


def apply_leg_status(
    session: Session, centre: ContactCentre, attempt_id: int, leg: str, report: LegStatus, now: datetime,
    *, actor: str = "twilio",
) -> str:
    """Apply one status report in SequenceNumber order: `applied`, `stale` (older or repeated), or `unknown`."""
    if leg not in LEGS:
        return "unknown"
    found = session.get(Attempt, attempt_id)
    if found is None:
        return "unknown"
    # Lock order everywhere: callback, then attempt, then agent (no deadlocks between workers and webhooks).
    callback = _lock(session, Callback, found.callback_id)
    attempt = _lock(session, Attempt, attempt_id)
    sequences = dict(attempt.sequence or {})
    current = getattr(attempt, f"{leg}_status")
    if current in TERMINAL_CALL_STATUSES:
        return "stale"
    if report.sequence is not None:
        if report.sequence <= sequences.get(leg, -1):
            return "stale"
        sequences[leg] = report.sequence
    elif report.status not in TERMINAL_CALL_STATUSES:
        return "stale"  # a fetched non-final status adds nothing to what the callbacks told us
    attempt.sequence = sequences
    setattr(attempt, f"{leg}_status", report.status)
    sid_field = f"{leg}_call_sid"
    if report.call_sid and getattr(attempt, sid_field) is None:
        setattr(attempt, sid_field, report.call_sid)
    if attempt.state in ("created", "unknown", "dialing"):
        attempt.state = "in_progress"
    if report.status == "in-progress" and leg == "customer" and attempt.answered_at is None:
        attempt.answered_at = now
    if leg == "customer" and report.answered_by:
        attempt.answered_by = report.answered_by[:24]
    if report.error_code:
        attempt.error_code = report.error_code[:16]
    terminal = report.status in TERMINAL_CALL_STATUSES
    inner = "customer" if attempt.dial_order != "customer_first" else "agent"
    if terminal and leg == inner and report.duration is not None:
        attempt.talk_seconds = float(report.duration)
    queue = centre.queue(callback.queue)
    outcome = decide_outcome(attempt, queue.retry.min_talk_time)
    if terminal and leg == "agent":
        # Wrap-up after a conversation; a short pause after an agent let it ring out (they may be away).
        pause = centre.dispatch.wrap_up if report.status == "completed" else AGENT_MISSED_PAUSE
        release_agent(session, attempt, now, pause)
    if outcome is not None:
        finish_attempt(session, centre, callback, attempt, outcome, now, actor=actor,
                       detail=f"error {attempt.error_code}" if attempt.error_code else None)
    return "applied"


def mark_bridged(session: Session, attempt_id: int, now: datetime) -> Attempt | None:
    """Record that the attempt started connecting the second leg (the agent pressed 1, or the customer answered)."""
    attempt = session.get(Attempt, attempt_id)
    if attempt is not None and attempt.bridged_at is None:
        attempt.bridged_at = now
    return attempt


# -- inbound closes outbound -------------------------------------------------------------------------------------
def close_on_inbound(
    session: Session, phone: str, now: datetime, *, actor: str = "inbound call", call_sid: str | None = None,
    queue: str | None = None,
) -> list[Callback]:
    """Close the open callbacks of `phone` (E.164) because the customer's own call reached an agent.

    Call it from the phone tree when an inbound caller is connected to an agent. Returns the callbacks closed
    (status `canceled`, reason "resolved by the customer's call"). An attempt already ringing for one of them
    finds the callback closed and stops (the agent hears so; nothing more is dialed).
    """
    query = select(Callback).where(Callback.phone == phone, Callback.status.in_(OPEN_STATUSES))
    if queue is not None:
        query = query.where(Callback.queue == queue)
    closed = []
    for callback in session.scalars(query.with_for_update()):
        if transition(session, callback, CANCELED, now=now, actor=actor,
                      reason="resolved by the customer's call that reached an agent",
                      details={"call_sid": call_sid} if call_sid else None):
            closed.append(callback)
    return closed


__all__ = [
    "AGENT_CONNECT_PATH",
    "AGENT_PATH",
    "CUSTOMER_PATH",
    "DIAL_DONE_PATH",
    "STATUS_PATH",
    "LegStatus",
    "NextStep",
    "apply_leg_status",
    "attempt_url",
    "close_on_inbound",
    "decide_outcome",
    "finish_attempt",
    "free_agents",
    "mark_bridged",
    "next_step",
    "release_agent",
]
