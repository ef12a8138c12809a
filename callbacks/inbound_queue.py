"""Serving callers who wait in an inbound queue: which callers wait, which agent calls are ringing for them, and
what each agent call's status callbacks and TwiML steps do to our records.

The worker (`scheduler.queue_ringing`) rings a free agent for each caller waiting beyond the agent calls already
in flight for that queue; the agent hears who waits and how long, presses 1, and `<Dial><Queue>` takes the caller
at the head of Twilio's queue. Nothing here does I/O beyond the session it is given; every function takes `now`.

Serving rule between live callers and callbacks (one pool of agents): a caller on the line is served before a
callback, unless that callback is *urgent*: already flagged at risk by the watchdog, or so close to its deadline
that it could no longer start if it waited for one inbound conversation (the menu's `default_handle_time`) plus
wrap-up. Each dispatch tick therefore claims urgent callbacks first, then rings agents for waiting callers, then
claims the other due callbacks with the agents still free.

A caller who leaves the queue (presses 1 for a callback, or hangs up) while agent calls still ring for it leaves
more agent calls than callers: before claiming anything, each tick cancels the surplus, newest first, through the
provider (`surplus_agent_calls`, `mark_caller_left`), and frees those agents at once with no missed-call pause
(`CALLER_LEFT`). An agent who answered first hears that the caller has gone, as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import urlencode

from sqlalchemy import BindParameter, CursorResult, and_, func, or_, select, update
from sqlalchemy.orm import Session

from callbacks.attempts import AGENT_MISSED_PAUSE, LegStatus, free_agent, known_call_sids, reserve_agent
from callbacks.calls import TERMINAL_CALL_STATUSES
from callbacks.models import Agent, AgentCall, Callback, InboundCall
from config.schema import ContactCentre

# -- URLs Twilio is given for an agent call (under /twilio, signature-checked like every webhook) -------------------
QUEUE_AGENT_PATH = "/twilio/outbound/queue"
QUEUE_CONNECT_PATH = "/twilio/outbound/queue/connect"
QUEUE_BRIDGE_PATH = "/twilio/outbound/queue/bridge"
QUEUE_DONE_PATH = "/twilio/outbound/queue/done"
STATUS_PATH = "/twilio/status"

# Outcomes of an agent call.
BRIDGED = "bridged"  # the agent talked with a caller taken from the queue
CALLER_GONE = "caller_gone"  # the agent was ready, but the queue was empty (the caller hung up or was served)
NOT_CONFIRMED = "not_confirmed"  # the agent answered but did not press 1
NOT_PLACED = "not_placed"  # the provider refused the call, or never placed it
# Every caller it could have taken left the queue while it still rang: the worker canceled it. Written before the
# cancel is asked for, it also marks a call being canceled (no longer counted as ringing for anyone).
CALLER_LEFT = "caller_left"

# Twilio ends any call after 4 hours: a row "waiting" longer lost its status callback; nobody waits there.
MAX_WAIT = timedelta(hours=4)
# An agent who found the queue empty makes the sweep ask the provider about the callers we still think wait.
RECHECK_AFTER_GONE = timedelta(minutes=1)
OPEN_STATES = ("created", "unknown", "dialing", "in_progress")


def agent_call_url(base_url: str, path: str, agent_call_id: int) -> str:
    """Absolute URL under PUBLIC_BASE_URL carrying the agent call's id."""
    return f"{base_url.rstrip('/')}{path}?{urlencode({'agent_call': agent_call_id})}"


def reservation_token(agent_call_id: int) -> str:
    """What `Agent.busy_call_sid` holds while one of our agent calls for a queue has the agent."""
    return f"agent_call:{agent_call_id}"


def start_agent_call(session: Session, queue: str, agent: Agent, *, worker_id: str, now: datetime,
                     until: datetime) -> AgentCall:
    """Write the agent call for a caller waiting in `queue` and reserve its agent (both locked by the caller)."""
    call = AgentCall(queue=queue, agent_id=agent.id, state="created", worker_id=worker_id, created_at=now,
                     claimed_until=until)
    session.add(call)
    session.flush()
    reserve_agent(agent, reservation_token(call.id), now)
    return call


# -- who waits, who is being rung ----------------------------------------------------------------------------------
def waiting_filter(now: datetime) -> Any:
    """Callers in a queue now, from our own records: enqueued, not answered, not ended, not left for the offer."""
    return waiting_since(now - MAX_WAIT)


def waiting_since(since: datetime | BindParameter[Any]) -> Any:
    """`waiting_filter` for callers enqueued from `since` (now - MAX_WAIT; a bound parameter in a statement built
    once)."""
    return and_(
        InboundCall.enqueued_at.is_not(None),
        InboundCall.answered_at.is_(None),
        InboundCall.ended_at.is_(None),
        InboundCall.queue.is_not(None),
        # Pressing 1 in the queue (the callback offer) moves the journey's outcome away from "human".
        InboundCall.outcome == "human",
        InboundCall.enqueued_at >= since,
    )


def waiting_callers(session: Session, now: datetime, queue: str | None = None) -> dict[str, list[InboundCall]]:
    """Callers waiting per queue, longest waiting first."""
    query = select(InboundCall).where(waiting_filter(now)).order_by(InboundCall.enqueued_at, InboundCall.id)
    if queue is not None:
        query = query.where(InboundCall.queue == queue)
    found: dict[str, list[InboundCall]] = {}
    for call in session.scalars(query):
        found.setdefault(call.queue or "", []).append(call)
    return found


def _will_take_a_caller() -> Any:
    """Agent calls in flight that have not taken a caller yet and are not being canceled (each will take one)."""
    return and_(AgentCall.state.in_(OPEN_STATES), AgentCall.bridged_at.is_(None),
                or_(AgentCall.outcome.is_(None), AgentCall.outcome != CALLER_LEFT))


def ringing_for(session: Session, queues: Iterable[str] | None = None) -> dict[str, int]:
    """Agent calls in flight per queue that have not taken a caller yet (each will take one)."""
    query = select(AgentCall.queue, func.count()).where(_will_take_a_caller()).group_by(AgentCall.queue)
    if queues is not None:
        query = query.where(AgentCall.queue.in_(list(queues)))
    return {queue: count for queue, count in session.execute(query).all()}


@dataclass(frozen=True)
class Unserved:
    """A caller no agent call is ringing for yet: their queue and when they joined it."""

    queue: str
    enqueued_at: datetime


def unserved_callers(session: Session, now: datetime) -> list[Unserved]:
    """Callers beyond the agent calls already in flight for their queue, longest waiting first.

    Twilio dequeues first in, first out: the first `k` callers of a queue are the ones its `k` ringing agent
    calls will take, so only the rest need an agent.
    """
    waiting = waiting_callers(session, now)
    if not waiting:
        return []
    ringing = ringing_for(session, waiting)
    unserved = [Unserved(queue, call.enqueued_at) for queue, calls in waiting.items()
                for call in calls[ringing.get(queue, 0):] if call.enqueued_at is not None]
    return sorted(unserved, key=lambda u: u.enqueued_at)


def unanswered_filter() -> Any:
    """Agent calls still ringing (or about to): nobody picked up, nothing noted, no cancel asked for yet."""
    return and_(_will_take_a_caller(), AgentCall.answered_at.is_(None), AgentCall.outcome.is_(None),
                or_(AgentCall.call_status.is_(None), AgentCall.call_status.in_(("queued", "initiated", "ringing"))))


@dataclass(frozen=True)
class Surplus:
    """An agent call ringing for nobody: its queue's callers all have an agent call older than it, or left."""

    agent_call_id: int
    queue: str
    call_sid: str | None


def surplus_agent_calls(session: Session, now: datetime) -> list[Surplus]:
    """Agent calls beyond the callers waiting in their queue, newest first, among those nobody answered yet.

    The count is the claim's own (`ringing_for`: every agent call that will take a caller, answered or not), so
    that the worker never keeps more agent calls than callers; only unanswered ones are canceled, the newest
    first (the oldest has rung longest and is the likeliest to be answered next). A surplus call not placed yet
    (no call id) is returned with `call_sid` None: it is canceled on a later tick, once placed.
    """
    ringing = ringing_for(session)
    if not ringing:
        return []
    waiting = {queue: len(calls) for queue, calls in waiting_callers(session, now).items()}
    surplus = {queue: count - waiting.get(queue, 0) for queue, count in ringing.items()
               if count > waiting.get(queue, 0)}
    if not surplus:
        return []
    candidates = session.execute(
        select(AgentCall.id, AgentCall.queue, AgentCall.call_sid)
        .where(unanswered_filter(), AgentCall.queue.in_(list(surplus)))
        .order_by(AgentCall.created_at.desc(), AgentCall.id.desc())
    ).all()
    found = []
    for agent_call_id, queue, call_sid in candidates:
        if surplus[queue] > 0:
            surplus[queue] -= 1
            found.append(Surplus(agent_call_id, queue, call_sid))
    return found


def mark_caller_left(session: Session, agent_call_id: int, recheck_at: datetime) -> bool:
    """Claim an unanswered agent call for canceling (compare-and-swap); False when it moved on or was taken.

    It stops counting as ringing for anyone at once; the sweep looks it up at `recheck_at` if it has not ended.
    """
    changed = cast("CursorResult[Any]", session.execute(  # an UPDATE's Result is a CursorResult (rowcount)
        update(AgentCall).where(AgentCall.id == agent_call_id, unanswered_filter(), AgentCall.call_sid.is_not(None))
        .values(outcome=CALLER_LEFT, claimed_until=recheck_at)
        .execution_options(synchronize_session=False)
    )).rowcount
    return changed == 1


def caller_left(session: Session, agent_call_id: int, now: datetime) -> bool:
    """The provider canceled the agent call: end it and free the agent at once (they did nothing wrong)."""
    call = session.scalar(select(AgentCall).where(AgentCall.id == agent_call_id).with_for_update()
                          .execution_options(populate_existing=True))
    if call is None or call.state == "ended":
        return False
    end(session, call, CALLER_LEFT, now, timedelta(0))
    return True


def cancel_too_late(session: Session, agent_call_id: int) -> None:
    """The cancel did not take (the agent answered): the call goes on as any other, and counts again."""
    session.execute(update(AgentCall).where(AgentCall.id == agent_call_id, AgentCall.state != "ended",
                                            AgentCall.outcome == CALLER_LEFT)
                    .values(outcome=None).execution_options(synchronize_session=False))


def urgent_callbacks(centre: ContactCentre, now: datetime, handle_time: timedelta) -> Any:
    """Callbacks that go before callers on the line: at risk, or unable to wait for one inbound conversation."""
    wait = handle_time + centre.dispatch.wrap_up
    return or_(
        Callback.at_risk_since.is_not(None),
        *(and_(Callback.queue == queue_id, Callback.deadline_at <= now + wait + queue.retry.attempt_duration)
          for queue_id, queue in centre.queues.items()),
    )


# -- the agent's side of the call (TwiML views call these) ---------------------------------------------------------
@dataclass(frozen=True)
class HeadOfQueue:
    """What the agent is told before taking a caller: the queue, how long its first caller has waited."""

    queue: str
    waiting: int
    longest_wait: timedelta
    language: str | None


def head_of_queue(session: Session, queue: str, now: datetime) -> HeadOfQueue | None:
    """The queue's longest-waiting caller by our records; None when nobody waits there any more."""
    calls = waiting_callers(session, now, queue).get(queue, [])
    if not calls:
        return None
    first = calls[0]
    return HeadOfQueue(queue, len(calls), max(timedelta(0), now - (first.enqueued_at or now)), first.language)


def open_agent_call(session: Session, agent_call_id: int | None) -> AgentCall | None:
    """The agent call with this id while it is still going on (None when unknown or ended)."""
    call = session.get(AgentCall, agent_call_id) if agent_call_id else None
    return call if call is not None and call.state != "ended" else None


def note_outcome(session: Session, agent_call_id: int | None, outcome: str) -> None:
    """Remember why the agent call is ending (applied when its final status arrives, unless it bridged)."""
    call = session.get(AgentCall, agent_call_id) if agent_call_id else None
    if call is not None and call.state != "ended" and call.bridged_at is None:
        call.outcome = outcome


def confirm(session: Session, call: AgentCall, now: datetime) -> None:
    """The agent pressed 1: `<Dial><Queue>` follows."""
    if call.confirmed_at is None:
        call.confirmed_at = now


def bridge(session: Session, agent_call_id: int | None, caller_sid: str, now: datetime) -> InboundCall | None:
    """Twilio took `caller_sid` out of the queue for this agent call (its `<Queue url>` runs on the caller).

    The caller stops counting as waiting at once (their Enqueue's action only comes after the conversation).
    """
    call = session.get(AgentCall, agent_call_id) if agent_call_id else None
    inbound = session.scalar(select(InboundCall).where(InboundCall.call_sid == caller_sid)) if caller_sid else None
    if call is not None and call.bridged_at is None:
        call.bridged_at = now
        call.outcome = BRIDGED
        call.inbound_call_id = inbound.id if inbound is not None else None
    if inbound is not None and inbound.answered_at is None:
        inbound.answered_at = now
        if call is not None and call.agent_id is not None:
            inbound.agent_id = call.agent_id
    return inbound


# -- status callbacks of the agent's leg ---------------------------------------------------------------------------
def release(session: Session, call: AgentCall, now: datetime, pause: timedelta) -> None:
    """Give the agent back (if this call still holds them), free again after `pause`."""
    free_agent(session, call.agent_id, reservation_token(call.id), now, pause)


def end(session: Session, call: AgentCall, outcome: str, now: datetime, pause: timedelta,
        detail: str | None = None) -> None:
    """End the agent call with `outcome` and release its agent after `pause`. Idempotent."""
    if call.state == "ended":
        return
    call.state = "ended"
    call.outcome = BRIDGED if call.bridged_at is not None else outcome
    call.ended_at = now
    if detail and not call.error_message:
        call.error_message = detail[:500]
    release(session, call, now, pause)


def final_outcome(call: AgentCall, status: str) -> str:
    """How the agent call ended, from its last status and what its TwiML steps recorded."""
    if call.bridged_at is not None:
        return BRIDGED
    if status != "completed":
        # The worker canceled it because the caller left (even if it rang out first): not the agent's doing.
        return CALLER_LEFT if call.outcome == CALLER_LEFT else status  # no-answer, busy, failed, canceled
    if call.outcome in (CALLER_GONE, NOT_CONFIRMED):
        return call.outcome
    return CALLER_GONE if call.confirmed_at is not None else NOT_CONFIRMED


def apply_status(session: Session, centre: ContactCentre, agent_call_id: int, report: LegStatus, now: datetime) -> str:
    """Apply one status report of the agent's leg, in SequenceNumber order: `applied`, `stale` or `unknown`."""
    call = session.scalar(select(AgentCall).where(AgentCall.id == agent_call_id).with_for_update()
                          .execution_options(populate_existing=True))
    if call is None:
        return "unknown"
    if call.state == "ended":
        return "stale"
    if report.call_sid and report.call_sid != call.call_sid:
        # Another call's status (an attempt's, a stray's, another agent call's) never changes this one.
        if call.call_sid is not None or report.call_sid in known_call_sids(session, [report.call_sid]):
            return "mismatch"
    if report.sequence is not None:
        if report.sequence <= (call.sequence if call.sequence is not None else -1):
            return "stale"
        call.sequence = report.sequence
    elif report.status not in TERMINAL_CALL_STATUSES:
        return "stale"  # a fetched non-final status adds nothing to what the callbacks told us
    call.call_status = report.status[:16]
    if report.call_sid and call.call_sid is None:
        call.call_sid = report.call_sid
    if call.state in ("created", "unknown", "dialing"):
        call.state = "in_progress"
    if report.status == "in-progress" and call.answered_at is None:
        call.answered_at = now
    if report.status in TERMINAL_CALL_STATUSES:
        if report.duration is not None:
            call.talk_seconds = float(report.duration)
        # The dispatcher's rule for an agent's leg: wrap-up after a call they answered, a pause after one they
        # let ring out (they may be away from the phone); none after one we canceled because the caller left.
        outcome = final_outcome(call, report.status)
        pause = centre.dispatch.wrap_up if report.status == "completed" else \
            timedelta(0) if outcome == CALLER_LEFT else AGENT_MISSED_PAUSE
        end(session, call, outcome, now, pause, detail=f"error {report.error_code}" if report.error_code else None)
    return "applied"


# -- the end of an inbound call ------------------------------------------------------------------------------------
# Journey outcomes after which the call was meant to end; any other outcome at hang-up means the caller gave up.
FINAL_JOURNEY_OUTCOMES = frozenset(
    {"human", "callback_requested", "goodbye", "hung_up", "fallback_number", "database_down", "no_input"}
)


def end_inbound_call(call: InboundCall, now: datetime) -> None:
    """The caller's call is over: record when, and where they left if the tree had not finished with them."""
    if call.ended_at is not None:
        return
    call.ended_at = now
    if call.outcome not in FINAL_JOURNEY_OUTCOMES:
        # The caller hung up before the tree finished with them: where they left is what the funnel needs.
        call.outcome = "hung_up"
        call.outcome_node = next((v.get("node") for v in reversed(call.path or []) if v.get("node")), None)


def callers_to_recheck(session: Session, now: datetime, limit: int = 20) -> list[tuple[int, str]]:
    """Callers we think wait in a queue where an agent just found nobody: (id, call sid) to ask the provider about.

    Their hang-up's status callback may be late or lost; without asking, every free agent would be rung in turn
    for a caller who is gone.
    """
    gone = (select(AgentCall.id).where(AgentCall.queue == InboundCall.queue, AgentCall.outcome == CALLER_GONE,
                                       AgentCall.ended_at >= now - RECHECK_AFTER_GONE,
                                       AgentCall.created_at >= InboundCall.enqueued_at)
            .exists())
    rows = session.execute(select(InboundCall.id, InboundCall.call_sid).where(waiting_filter(now), gone)
                           .order_by(InboundCall.enqueued_at).limit(limit)).all()
    return [(row[0], row[1]) for row in rows]


__all__ = [
    "BRIDGED",
    "CALLER_GONE",
    "CALLER_LEFT",
    "NOT_CONFIRMED",
    "NOT_PLACED",
    "QUEUE_AGENT_PATH",
    "QUEUE_BRIDGE_PATH",
    "QUEUE_CONNECT_PATH",
    "QUEUE_DONE_PATH",
    "HeadOfQueue",
    "Surplus",
    "Unserved",
    "agent_call_url",
    "apply_status",
    "bridge",
    "caller_left",
    "callers_to_recheck",
    "cancel_too_late",
    "end",
    "end_inbound_call",
    "head_of_queue",
    "mark_caller_left",
    "reservation_token",
    "surplus_agent_calls",
    "unanswered_filter",
    "unserved_callers",
    "urgent_callbacks",
    "waiting_callers",
]
