"""An outbound attempt's whole life and the agent it holds: the only code that changes either.

An attempt is one try at reaching a customer. Its states:

    created ──provider accepted──▶ dialing ──first status──▶ in_progress ──outcome──▶ ended
       └──answer lost──▶ unknown ──call found at the provider──▶ dialing
                            └──nothing found once the last possible send has landed──▶ ended (not_placed)

Fencing. While a callback is `dialing` it names its one live attempt (`Callback.live_attempt_id`): set by the
claim, cleared when that attempt ends or the callback closes. Every TwiML view (`live_attempt`, `mark_bridged`)
and every write about a call (`record_placed`, `apply_leg_status`) checks that name, so a call placed for an
attempt that is no longer live (a stalled worker's late dial, a call the sweep already gave up on, a callback
canceled while its phone rang) is hung up and never bridged; it is kept as a `StrayCall` for the worker to cancel
while it still rings, and never adopted by the lost-call lookup.

The agent. An attempt reserves its agent from the claim (`Agent.busy_call_sid = "attempt:<id>"`) until the attempt
ends, and no longer: ending an attempt gives the agent back (after wrap-up when they answered, a short pause when
they let it ring out, at once when their phone never rang), whether or not the agent leg's own last status
callback ever arrives. An attempt whose callback closes ends at once unless agent and customer are already talking.

Leases. The worker that started an attempt may place its call until `lease_until` minus the provider's timeout;
after `lease_until` the sweep asks the provider what became of the attempt, and declares "not placed" only when
nothing is found `SETTLE` after the last possible send, never by guessing.

Lock order everywhere: callback, then attempt, then agent (workers and webhooks never deadlock on PostgreSQL).
Nothing here does I/O beyond the session it is given; every function takes `now`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol, cast
from urllib.parse import urlencode

from sqlalchemy import CursorResult, String, Text, and_, bindparam, case, func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from callbacks.calls import (
    AGENT_UNAVAILABLE,
    CALLBACK_CLOSED,
    CONNECTED,
    NO_AGENT,
    NOT_COUNTED,
    NOT_PLACED,
    PERMANENT_ERROR,
    PERMANENT_ERROR_CODES,
    TERMINAL_CALL_STATUSES,
    TOO_SHORT,
    VOICEMAIL,
    is_machine,
)
from callbacks.history import record_event, transition
from callbacks.models import (
    CANCELED,
    DIALING,
    PENDING,
    UNREACHABLE,
    Agent,
    AgentCall,
    Attempt,
    Callback,
    CallbackEvent,
    StrayCall,
    UTCDateTime,
)
from callbacks.policy import NextStep, next_step
from config.schema import ContactCentre

# -- URLs Twilio is given for an attempt (all under /twilio so one signature check covers them) --------------------
STATUS_PATH = "/twilio/status"
AGENT_PATH = "/twilio/outbound/agent"
AGENT_CONNECT_PATH = "/twilio/outbound/agent/connect"
CUSTOMER_PATH = "/twilio/outbound/customer"
DIAL_DONE_PATH = "/twilio/outbound/dial-done"
LEGS = ("agent", "customer")

# -- states ------------------------------------------------------------------------------------------------------
CREATED, UNKNOWN, DIALING_STATE, IN_PROGRESS, ENDED = "created", "unknown", "dialing", "in_progress", "ended"
LIVE_STATES = (CREATED, UNKNOWN, DIALING_STATE, IN_PROGRESS)
# How long after the last possible send we trust the provider's Calls list to show a call (its records settle).
SETTLE = timedelta(seconds=10)
# Clock difference allowed between us and the provider when matching a call by its creation time.
SKEW = timedelta(seconds=30)
# An agent who let the phone ring out is not offered the next callback straight away.
AGENT_MISSED_PAUSE = timedelta(minutes=2)
# Agent leg statuses that mean their phone rang (or was answered): anything before is "never rang".
_RANG = frozenset({"ringing", "in-progress"}) | TERMINAL_CALL_STATUSES


def attempt_url(base_url: str, path: str, attempt_id: int, **params: str) -> str:
    """Absolute URL under PUBLIC_BASE_URL carrying the attempt id (and the leg for status callbacks)."""
    query = urlencode({"attempt": attempt_id, **params})
    return f"{base_url.rstrip('/')}{path}?{query}"


# `Agent.busy_call_sid` while an attempt of ours has the agent: this, then the attempt's id.
RESERVED_FOR_ATTEMPT = "attempt:"


def reservation_token(attempt_id: int) -> str:
    """What `Agent.busy_call_sid` holds while an attempt of ours has the agent."""
    return f"{RESERVED_FOR_ATTEMPT}{attempt_id}"


# -- outcomes ----------------------------------------------------------------------------------------------------
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


def _permanent(attempt: Attempt, status: str | None) -> bool:
    return status == "failed" and (attempt.error_code or "") in PERMANENT_ERROR_CODES


def _talked(attempt: Attempt, min_talk_time: timedelta) -> str:
    talk = attempt.talk_seconds or 0.0
    return CONNECTED if talk >= min_talk_time.total_seconds() else TOO_SHORT


# -- agents ------------------------------------------------------------------------------------------------------
def serves(agent: Agent | FreeAgent, queue: str) -> bool:
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


def reserve_agent(agent: Agent, held_by: str, now: datetime) -> None:
    """Reserve a free agent (locked by the caller) for the call `held_by` names."""
    agent.busy_call_sid = held_by
    agent.busy_since = now


def take_off_shift(session: Session, agent_id: int | None, now: datetime) -> None:
    """The agent's own number cannot be called: off shift, so they are not offered work again."""
    if agent_id is not None:
        session.execute(update(Agent).where(Agent.id == agent_id).values(on_shift=False, shift_changed_at=now)
                        .execution_options(synchronize_session=False))


def _agent_pause(attempt: Attempt, wrap_up: timedelta) -> timedelta:
    """How long the agent of an ended attempt rests: wrap-up after answering, a pause after letting it ring out,
    none when their phone never rang."""
    answered = attempt.bridged_at is not None or attempt.agent_status in ("in-progress", "completed") or (
        attempt.dial_order != "customer_first" and attempt.customer_status is not None)
    if answered:
        return wrap_up
    if attempt.agent_status in _RANG:
        return AGENT_MISSED_PAUSE
    return timedelta(0)


def release_orphaned_agents(session: Session, now: datetime) -> list[int]:
    """Give back agents whose reservation names an attempt or agent call that has ended or does not exist.

    Ending an attempt or agent call releases its agent in the same transaction, so this finds nothing unless a
    release was lost to a bug or a hand-edited row; it keeps "an agent is reserved exactly while its call is live"
    true whatever happened.
    """
    held = session.execute(select(Agent.id, Agent.busy_call_sid).where(Agent.busy_call_sid.is_not(None))).all()
    by_kind: dict[str, dict[int, int]] = {"attempt": {}, "agent_call": {}}
    for agent_id, token in held:
        kind, _, ident = (token or "").partition(":")
        if kind in by_kind and ident.isdecimal():
            by_kind[kind][int(ident)] = agent_id
    live = set(session.scalars(select(Attempt.id).where(Attempt.id.in_(list(by_kind["attempt"])),
                                                        Attempt.state.in_(LIVE_STATES))))
    live_calls = set(session.scalars(select(AgentCall.id).where(AgentCall.id.in_(list(by_kind["agent_call"])),
                                                                AgentCall.state != ENDED)))
    orphans = [(agent_id, f"attempt:{ident}") for ident, agent_id in by_kind["attempt"].items() if ident not in live]
    orphans += [(agent_id, f"agent_call:{ident}") for ident, agent_id in by_kind["agent_call"].items()
                if ident not in live_calls]
    known = {token for _a, token in orphans}
    orphans += [(agent_id, token) for agent_id, token in held  # the query left out NULL tokens
                if token is not None and token not in known and (token or "").partition(":")[0] not in by_kind]
    for agent_id, token in orphans:
        free_agent(session, agent_id, token, now, timedelta(0))
    return [agent_id for agent_id, _token in orphans]


# -- starting attempts (the claim) -------------------------------------------------------------------------------
@dataclass(frozen=True)
class DueCallback:
    """What a claim reads of a due callback it locked (a few columns, not the whole row)."""

    id: int
    phone: str
    queue: str
    deadline_at: datetime


@dataclass(frozen=True)
class FreeAgent:
    """What a claim reads of a free agent it locked."""

    id: int
    phone: str
    queues: Sequence[str]


def free_agents_to_claim(now: datetime) -> Any:
    """`free_agents_query` reading only what a claim needs of each agent, in the same order. The queues come as
    their JSON text, read with `agent_queues` (a claim reads hundreds of agents sharing a few queue lists)."""
    return free_agents_query(now).with_only_columns(Agent.id, Agent.phone, Agent.queues.cast(Text))


@lru_cache(maxsize=1024)
def agent_queues(stored: str | None) -> tuple[str, ...]:
    """The queues an agent serves, from `Agent.queues` as stored (JSON text; empty or NULL: every queue)."""
    return tuple(json.loads(stored)) if stored else ()


@dataclass(frozen=True)
class Started:
    """An attempt just started for a claimed callback: the call to place, and until when it may be placed."""

    callback_id: int
    attempt_id: int
    phone: str
    queue: str
    dial_order: str
    agent_id: int
    agent_phone: str
    lease_until: datetime


def start_attempts(
    session: Session, centre: ContactCentre, pairs: Sequence[tuple[DueCallback, FreeAgent]], *, worker_id: str,
    provider: str, now: datetime, lease: timedelta,
) -> list[Started]:
    """Start one attempt per (callback, agent) pair: the attempt is written (numbered after the callback's last
    one, leased until `now + lease`), the callback becomes `dialing` and names the attempt as its live one, a
    history row is written, the agent is reserved. One statement on PostgreSQL, a few set-based ones elsewhere.

    The rows must be locked by the caller (`FOR UPDATE SKIP LOCKED` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite).
    """
    if not pairs:
        return []
    until = now + lease
    orders: dict[int, str] = {cb.id: centre.queue(cb.queue).dial_order for cb, _a in pairs}
    one_statement = session.get_bind().dialect.name == "postgresql"
    start = _start_in_one_statement if one_statement else _start_statement_by_statement
    attempt_ids = start(session, pairs, orders, worker_id=worker_id, provider=provider, now=now, until=until)
    return [Started(cb.id, attempt_ids[cb.id], cb.phone, cb.queue, orders[cb.id], agent.id, agent.phone, until)
            for cb, agent in pairs]


# The history row of a claim, besides its callback, time, actor and details ({"attempt": its number}).
_CLAIM_EVENT = {"kind": "status", "from_status": PENDING, "to_status": DIALING, "reason": "claimed for dialing"}


def _start_statement_by_statement(
    session: Session, pairs: Sequence[tuple[DueCallback, FreeAgent]], orders: dict[int, str], *, worker_id: str,
    provider: str, now: datetime, until: datetime,
) -> dict[int, int]:
    """`start_attempts` in portable statements (SQLite); returns each callback's new attempt id."""
    ids = [callback.id for callback, _agent in pairs]
    numbers = dict(session.execute(
        select(Attempt.callback_id, func.max(Attempt.number)).where(Attempt.callback_id.in_(ids))
        .group_by(Attempt.callback_id)).all())
    attempt_ids: dict[int, int] = dict(session.execute(
        insert(Attempt).returning(Attempt.callback_id, Attempt.id, sort_by_parameter_order=True),
        [{"callback_id": cb.id, "number": numbers.get(cb.id, 0) + 1, "state": CREATED, "agent_id": agent.id,
          "worker_id": worker_id, "provider": provider, "dial_order": orders[cb.id], "created_at": now,
          "lease_until": until, "sequence": {}} for cb, agent in pairs],
    ).all())
    changed = cast("CursorResult[Any]", session.execute(  # an UPDATE's Result is a CursorResult (rowcount)
        update(Callback).where(Callback.id.in_(ids), Callback.status == PENDING)
        .values(status=DIALING, version=Callback.version + 1)
        .execution_options(synchronize_session=False)
    )).rowcount
    if changed != len(ids):
        raise RuntimeError(f"claimed {changed} of {len(ids)} locked callbacks")  # cannot happen under the locks
    session.execute(update(Callback), [{"id": cid, "live_attempt_id": attempt_ids[cid]} for cid in ids])
    actor = f"worker {worker_id}"
    session.execute(insert(CallbackEvent), [
        {"callback_id": cid, "at": now, **_CLAIM_EVENT, "actor": actor, "details": {"attempt": numbers.get(cid, 0) + 1}}
        for cid in ids])
    session.execute(update(Agent), [
        {"id": agent.id, "busy_call_sid": reservation_token(attempt_ids[cb.id]), "busy_since": now}
        for cb, agent in pairs])
    return attempt_ids


# Every step of `start_attempts` in one statement (one round trip instead of six). The pairs come in as arrays: one
# statement text whatever their number, so the driver and the server parse and plan it once. It waits for no lock:
# the callbacks and agents it changes are the claim's, locked before it (the new attempts are nobody else's yet).
# Each callback's attempt is numbered after its last one; the callback is moved only while `pending`, and the row
# count it returns is checked by the caller, as the portable path checks its UPDATE's.
_START_ATTEMPTS = text("""
WITH pair AS (
    SELECT callback_id, agent_id, dial_order, position
    FROM unnest(CAST(:callback_ids AS integer[]), CAST(:agent_ids AS integer[]), CAST(:dial_orders AS varchar[]))
         WITH ORDINALITY AS p (callback_id, agent_id, dial_order, position)
), last AS (
    SELECT callback_id, max(number) AS number FROM attempts
    WHERE callback_id = ANY(CAST(:callback_ids AS integer[])) GROUP BY callback_id
), attempt AS (
    INSERT INTO attempts (callback_id, number, state, agent_id, worker_id, provider, dial_order, created_at,
                          lease_until, sequence)
    SELECT pair.callback_id, 1 + COALESCE(last.number, 0), :created, pair.agent_id, :worker_id, :provider,
           pair.dial_order, :now, :until, CAST('{}' AS json)
    FROM pair LEFT JOIN last ON last.callback_id = pair.callback_id ORDER BY pair.position
    RETURNING id, callback_id, agent_id, number
), claimed AS (
    UPDATE callbacks SET status = :dialing, version = callbacks.version + 1, live_attempt_id = attempt.id
    FROM attempt WHERE callbacks.id = attempt.callback_id AND callbacks.status = :pending
          AND callbacks.id = ANY(CAST(:callback_ids AS integer[]))
    RETURNING callbacks.id, attempt.id AS attempt_id, attempt.number
), history AS (
    INSERT INTO callback_events (callback_id, at, kind, from_status, to_status, actor, reason, details)
    SELECT claimed.id, :now, :kind, :from_status, :to_status, :actor, :reason,
           CAST(jsonb_build_object('attempt', claimed.number) AS json)
    FROM claimed
), reserved AS (
    UPDATE agents SET busy_call_sid = :token_prefix || attempt.id, busy_since = :now
    FROM attempt WHERE agents.id = attempt.agent_id AND agents.id = ANY(CAST(:agent_ids AS integer[]))
    RETURNING agents.id
)
SELECT claimed.id, claimed.attempt_id, (SELECT count(*) FROM reserved) AS reserved FROM claimed
""").bindparams(bindparam("now", type_=UTCDateTime()), bindparam("until", type_=UTCDateTime()))


def _start_in_one_statement(
    session: Session, pairs: Sequence[tuple[DueCallback, FreeAgent]], orders: dict[int, str], *, worker_id: str,
    provider: str, now: datetime, until: datetime,
) -> dict[int, int]:
    """`start_attempts` as one statement (PostgreSQL); returns each callback's new attempt id."""
    rows = session.execute(_START_ATTEMPTS, {
        "callback_ids": [cb.id for cb, _a in pairs], "agent_ids": [agent.id for _c, agent in pairs],
        "dial_orders": [orders[cb.id] for cb, _a in pairs], "created": CREATED, "worker_id": worker_id,
        "provider": provider, "now": now, "until": until, "dialing": DIALING, "pending": PENDING, **_CLAIM_EVENT,
        "actor": f"worker {worker_id}", "token_prefix": RESERVED_FOR_ATTEMPT,
    }).all()
    attempt_ids = {callback_id: attempt_id for callback_id, attempt_id, _reserved in rows}
    reserved = rows[0].reserved if rows else 0
    if len(rows) != len(pairs) or len(attempt_ids) != len(pairs) or reserved != len(pairs):
        # Cannot happen under the locks; the caller's transaction rolls back whatever was written.
        raise RuntimeError(f"claimed {len(attempt_ids)} of {len(pairs)} locked callbacks, reserved {reserved} agents")
    return attempt_ids


# -- fencing -----------------------------------------------------------------------------------------------------
def _lock(session: Session, model: Any, ident: int | None) -> Any:
    # SQLite ignores FOR UPDATE (its BEGIN IMMEDIATE already serializes writers); PostgreSQL takes the row lock.
    if ident is None:
        return None
    return session.scalar(select(model).where(model.id == ident).with_for_update().execution_options(
        populate_existing=True))


def _is_live(callback: Callback | None, attempt: Attempt | None) -> bool:
    return (attempt is not None and callback is not None and attempt.state != ENDED
            and callback.status == DIALING and callback.live_attempt_id == attempt.id)


def live_attempt(session: Session, attempt_id: int | None) -> tuple[Attempt, Callback] | None:
    """The attempt and its callback while the attempt is the callback's live one; None for any other (a stale or
    ended attempt, a closed callback, an unknown id): its call must be hung up, not bridged."""
    attempt = session.get(Attempt, attempt_id) if attempt_id else None
    if attempt is None:
        return None
    callback = attempt.callback
    return (attempt, callback) if _is_live(callback, attempt) else None


def dialable(session: Session, attempt_ids: Sequence[int], now: datetime, guard: timedelta) -> set[int]:
    """Which of these attempts the worker that started them may still dial now: live, nothing placed for them
    yet, and a lease that lasts longer than the provider may take to answer (`guard`)."""
    if not attempt_ids:
        return set()
    return set(session.scalars(
        select(Attempt.id).join(Callback, Callback.id == Attempt.callback_id).where(
            Attempt.id.in_(list(attempt_ids)), Attempt.state == CREATED, Attempt.lease_until > now + guard,
            Callback.status == DIALING, Callback.live_attempt_id == Attempt.id)))


def mark_bridged(session: Session, attempt_id: int | None, now: datetime) -> tuple[Attempt, Callback] | None:
    """Record that the live attempt is connecting its second leg (the agent pressed 1, or the customer answered).

    Fenced: None when the attempt is no longer live (its call must be hung up instead).
    """
    found = session.get(Attempt, attempt_id) if attempt_id else None
    if found is None:
        return None
    callback = _lock(session, Callback, found.callback_id)
    attempt = _lock(session, Attempt, found.id)
    if not _is_live(callback, attempt):
        return None
    if attempt.bridged_at is None:
        attempt.bridged_at = now
    return attempt, callback


# -- recording what the provider said ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Placed:
    """A call the provider accepted for an attempt."""

    attempt_id: int
    leg: str
    sid: str
    at: datetime


def record_placed(session: Session, placed: Sequence[Placed], now: datetime) -> list[Placed]:
    """Write the call ids the provider gave us (one statement for many); returns the calls that are strays.

    A call is recorded only on its attempt while that attempt is live and has no other call for the leg (a fast
    status callback may have recorded this very id first: that is fine). A call whose attempt ended meanwhile (the
    sweep settled it, the callback closed) is a stray: kept as a `StrayCall` for the caller to cancel, never
    adopted.
    """
    if not placed:
        return []
    live = (select(Callback.id).where(Callback.id == Attempt.callback_id, Callback.status == DIALING,
                                      Callback.live_attempt_id == Attempt.id).exists())
    statement = (
        update(Attempt).where(Attempt.id == bindparam("aid"), Attempt.state != ENDED, live).values(
            agent_call_sid=case((bindparam("leg", type_=String) == "agent",
                                 func.coalesce(Attempt.agent_call_sid, bindparam("sid", type_=String))),
                                else_=Attempt.agent_call_sid),
            customer_call_sid=case((bindparam("leg", type_=String) == "customer",
                                    func.coalesce(Attempt.customer_call_sid, bindparam("sid", type_=String))),
                                   else_=Attempt.customer_call_sid),
            dial_started_at=func.coalesce(Attempt.dial_started_at, bindparam("at", type_=UTCDateTime())),
            state=case((or_(Attempt.state == CREATED, Attempt.state == UNKNOWN), DIALING_STATE),
                       else_=Attempt.state),
        ).execution_options(synchronize_session=False)
    )
    # A Core executemany (one statement, many rows): the ORM's bulk update by primary key cannot carry the WHERE.
    session.connection().execute(statement, [{"aid": p.attempt_id, "leg": p.leg, "sid": p.sid, "at": p.at}
                                             for p in placed])
    recorded = {row[0]: (row[1], row[2]) for row in session.execute(
        select(Attempt.id, Attempt.agent_call_sid, Attempt.customer_call_sid)
        .where(Attempt.id.in_([p.attempt_id for p in placed])))}
    strays = [p for p in placed
              if recorded.get(p.attempt_id, (None, None))[0 if p.leg == "agent" else 1] != p.sid]
    for stray in strays:
        record_stray(session, stray.sid, now, attempt_id=stray.attempt_id,
                     reason="placed after its attempt was settled or its callback closed")
    return strays


def record_stray(session: Session, sid: str, now: datetime, *, reason: str, attempt_id: int | None = None,
                 agent_call_id: int | None = None) -> bool:
    """Keep a call that must never be bridged or adopted; False when it is already kept."""
    if session.scalar(select(StrayCall.id).where(StrayCall.call_sid == sid)) is not None:
        return False
    session.add(StrayCall(call_sid=sid, attempt_id=attempt_id, agent_call_id=agent_call_id, found_at=now,
                          reason=reason[:500]))
    session.flush()
    return True


def strays_to_cancel(session: Session, limit: int = 50) -> list[str]:
    """Stray calls nobody has asked the provider to stop yet."""
    return list(session.scalars(select(StrayCall.call_sid).where(StrayCall.cancel_result.is_(None))
                                .order_by(StrayCall.id).limit(limit)))


def note_stray_canceled(session: Session, sid: str, result: str) -> None:
    session.execute(update(StrayCall).where(StrayCall.call_sid == sid).values(cancel_result=result[:16])
                    .execution_options(synchronize_session=False))


def known_call_sids(session: Session, sids: Iterable[str]) -> set[str]:
    """Which of these call ids are already recorded anywhere (an attempt's leg, an agent call, a stray call)."""
    sids = [s for s in set(sids) if s]
    if not sids:
        return set()
    found: set[str] = set()
    for column in (Attempt.agent_call_sid, Attempt.customer_call_sid, AgentCall.call_sid, StrayCall.call_sid):
        found |= {s for s in session.scalars(select(column).where(column.in_(sids))) if s}
    return found


class CallLike(Protocol):
    @property
    def sid(self) -> str: ...
    @property
    def created_at(self) -> datetime | None: ...  # read-only: the provider's CallInfo is frozen


def choose_lost_call(session: Session, calls: Sequence[CallLike], around: datetime) -> CallLike | None:
    """The call a lost answer placed, among the provider's calls to the number from our caller ID: never one
    recorded anywhere already (another attempt's, an agent call's, a stray), and the one created nearest `around`
    (when the attempt was written) when several could be it."""
    known = known_call_sids(session, [c.sid for c in calls])
    candidates = [c for c in calls if c.sid not in known]
    if not candidates:
        return None
    return min(candidates, key=lambda c: abs(((c.created_at or around) - around).total_seconds()))


def mark_unknown(session: Session, attempt_id: int, message: str, now: datetime, look_up_at: datetime) -> None:
    """The provider's answer to the dial was lost: the sweep looks the call up at `look_up_at`, before anything
    is dialed again for this callback."""
    found = session.get(Attempt, attempt_id)
    if found is None:
        return
    _lock(session, Callback, found.callback_id)
    attempt = _lock(session, Attempt, attempt_id)
    if attempt.state == CREATED:
        attempt.state = UNKNOWN
        attempt.dial_started_at = now
        attempt.error_message = f"outcome unknown: {message}"[:500]
    if attempt.state != ENDED:
        attempt.lease_until = look_up_at


def adopt_lost_call(session: Session, attempt_id: int, leg: str, call: CallLike, now: datetime,
                    lease: timedelta) -> bool:
    """The lookup found the call a lost answer placed: record it on the attempt (if it is still open)."""
    found = session.get(Attempt, attempt_id)
    if found is None:
        return False
    _lock(session, Callback, found.callback_id)
    attempt = _lock(session, Attempt, attempt_id)
    if attempt.state == ENDED or getattr(attempt, f"{leg}_call_sid") is not None:
        return False
    setattr(attempt, f"{leg}_call_sid", call.sid)
    attempt.dial_started_at = attempt.dial_started_at or call.created_at or now
    attempt.state = DIALING_STATE
    attempt.lease_until = now + lease
    return True


def refused(
    session: Session, centre: ContactCentre, attempt_id: int, *, code: str | None, message: str, permanent: bool,
    leg: str, now: datetime, actor: str,
) -> None:
    """The provider refused to place the call (certainly nothing placed): end the attempt, by why it refused."""
    found = session.get(Attempt, attempt_id)
    if found is None:
        return
    callback = _lock(session, Callback, found.callback_id)
    attempt = _lock(session, Attempt, attempt_id)
    attempt.error_code = (code or "")[:16] or None
    attempt.error_message = message[:500]
    if permanent and leg == "agent":
        take_off_shift(session, attempt.agent_id, now)
        finish_attempt(session, centre, callback, attempt, AGENT_UNAVAILABLE, now, actor=actor, detail=message)
    elif permanent:
        finish_attempt(session, centre, callback, attempt, PERMANENT_ERROR, now, actor=actor,
                       detail=f"{code}: {message}")
    else:
        earlier = session.scalar(select(func.count()).select_from(Attempt).where(
            Attempt.callback_id == callback.id, Attempt.outcome == NOT_PLACED)) or 0
        backoff = timedelta(seconds=min(300, 5 * 2 ** min(earlier, 6)))
        finish_attempt(session, centre, callback, attempt, NOT_PLACED, now, actor=actor, backoff=backoff,
                       detail=message)


# -- status reports ----------------------------------------------------------------------------------------------
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


def apply_leg_status(
    session: Session, centre: ContactCentre, attempt_id: int, leg: str, report: LegStatus, now: datetime,
    *, actor: str = "twilio",
) -> str:
    """Apply one status report in SequenceNumber order.

    Returns `applied`; `stale` (older or repeated); `unknown` (no such attempt or leg); `mismatch` (the report
    names a call that is not this leg's: another attempt's, an agent call's, a stray's; nothing is changed); `stray`
    (a call placed for an attempt already settled: kept to be canceled, never adopted); `late` (a report for an
    ended attempt's own call: it completes the record, it never moves the callback or the agent).
    """
    if leg not in LEGS:
        return "unknown"
    found = session.get(Attempt, attempt_id)
    if found is None:
        return "unknown"
    callback = _lock(session, Callback, found.callback_id)
    attempt = _lock(session, Attempt, attempt_id)
    sid_field = f"{leg}_call_sid"
    recorded = getattr(attempt, sid_field)
    if report.call_sid and recorded != report.call_sid:
        if recorded is not None:
            return "mismatch"
        if report.call_sid in known_call_sids(session, [report.call_sid]):
            return "mismatch"
        inner = "customer" if attempt.dial_order != "customer_first" else "agent"
        if not _is_live(callback, attempt) or (leg == inner and attempt.bridged_at is None):
            # A call for an attempt already settled, or a second leg nobody bridged: never adopted.
            record_stray(session, report.call_sid, now, attempt_id=attempt.id,
                         reason=f"status '{report.status}' for an attempt that is not live")
            return "stray"
        setattr(attempt, sid_field, report.call_sid)
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
    terminal = report.status in TERMINAL_CALL_STATUSES
    inner = "customer" if attempt.dial_order != "customer_first" else "agent"
    if terminal and leg == inner and report.duration is not None:
        attempt.talk_seconds = float(report.duration)
    if report.error_code:
        attempt.error_code = report.error_code[:16]
    if attempt.state == ENDED:
        return "late"
    if attempt.state in (CREATED, UNKNOWN, DIALING_STATE):
        attempt.state = IN_PROGRESS
    # A status callback shows the call is alive: the sweep need not ask the provider before another lease.
    attempt.lease_until = max(attempt.lease_until or now, now + centre.dispatch.lease)
    if report.status == "in-progress" and leg == "customer" and attempt.answered_at is None:
        attempt.answered_at = now
    if leg == "customer" and report.answered_by:
        attempt.answered_by = report.answered_by[:24]
    outcome = decide_outcome(attempt, centre.queue(callback.queue).retry.min_talk_time)
    if outcome is not None:
        finish_attempt(session, centre, callback, attempt, outcome, now, actor=actor,
                       detail=f"error {attempt.error_code}" if attempt.error_code else None)
    return "applied"


def settle_ended_call(
    session: Session, centre: ContactCentre, attempt_id: int, now: datetime, *, second_leg_found: bool, actor: str,
) -> None:
    """The provider says the attempt's first leg is over and its terminal statuses were applied: if that did not
    decide the outcome (a status of the second leg never came and the provider knows of none that could still end
    well), end the attempt now."""
    found = session.get(Attempt, attempt_id)
    if found is None:
        return
    callback = _lock(session, Callback, found.callback_id)
    attempt = _lock(session, Attempt, attempt_id)
    if attempt.state != ENDED:
        finish_attempt(session, centre, callback, attempt, "failed" if second_leg_found else NOT_PLACED, now,
                       actor=actor, detail="settled from the provider's records")


def extend_lease(session: Session, attempt_id: int, until: datetime) -> None:
    session.execute(update(Attempt).where(Attempt.id == attempt_id, Attempt.state != ENDED)
                    .values(lease_until=until).execution_options(synchronize_session=False))


def take_expired_leases(session: Session, now: datetime, lease: timedelta, limit: int) -> list[Attempt]:
    """Open attempts whose lease ran out, taken for settling by this sweep (locked, leases extended).

    An attempt with no call recorded is taken only `SETTLE` after its lease ended: the worker that started it
    could place its call until shortly before the lease's end, and the provider's list must show it by then.
    """
    expired = list(session.scalars(
        select(Attempt).where(
            Attempt.state.in_(LIVE_STATES),
            or_(and_(Attempt.state.in_((CREATED, UNKNOWN)), Attempt.lease_until < now - SETTLE),
                and_(Attempt.state.in_((DIALING_STATE, IN_PROGRESS)), Attempt.lease_until < now)),
        ).order_by(Attempt.lease_until).limit(limit).with_for_update(skip_locked=True)
    ))
    for attempt in expired:
        attempt.lease_until = now + lease
    session.flush()
    return expired


# -- ending attempts ---------------------------------------------------------------------------------------------
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
    """End `attempt` with `outcome`, give its agent back, and move its callback on by the queue's retry policy.

    Idempotent: an attempt already ended is left alone. The callback is changed only while this attempt is its
    live one (it may have been canceled or resolved by an inbound call meanwhile). Both rows must be locked.
    """
    if attempt.state == ENDED:
        return None
    live = _is_live(callback, attempt)
    attempt.state = ENDED
    attempt.outcome = CALLBACK_CLOSED if not live and outcome in NOT_COUNTED else outcome
    attempt.ended_at = now
    if detail and not attempt.error_message:
        attempt.error_message = detail[:500]
    free_agent(session, attempt.agent_id, reservation_token(attempt.id), now,
               _agent_pause(attempt, centre.dispatch.wrap_up))
    session.flush()
    record_event(
        session, callback, "attempt", at=now, actor=actor, reason=attempt.outcome,
        details={"attempt": attempt.number, "outcome": attempt.outcome, "talk_seconds": attempt.talk_seconds,
                 "error_code": attempt.error_code},
    )
    if not live:
        return None
    step = next_step(centre.queue(callback.queue), callback, outcome, now, backoff=backoff,
                     detail=detail or attempt.error_code)
    fields: dict[str, Any] = {"attempts_made": step.attempts_made, "live_attempt_id": None}
    if step.next_attempt_at is not None:
        fields["next_attempt_at"] = step.next_attempt_at
    if step.status == "completed":
        # Kept on the callback itself so that SLA figures over millions of rows need no join to attempts.
        fields["conversation_at"] = attempt.bridged_at or attempt.answered_at or attempt.dial_started_at or now
    if not transition(session, callback, step.status, now=now, actor=actor, reason=step.reason,
                      details={"attempt": attempt.number, "outcome": outcome}, **fields):
        raise RuntimeError(f"callback {callback.id} changed under a row lock")  # cannot happen: we hold the lock
    if step.status == UNREACHABLE and outcome == PERMANENT_ERROR:
        from callbacks.alerts import raise_alert

        raise_alert(session, callback, "permanent", now, step.reason)
    return step


def close_callback(
    session: Session, centre: ContactCentre, callback: Callback, status: str, now: datetime, *, actor: str,
    reason: str, details: dict[str, Any] | None = None,
) -> bool:
    """Close an open callback (`canceled`), and settle its live attempt: unless agent and customer are already
    talking, the attempt ends at once, its agent is free, and its calls still ringing are kept as strays for the
    worker to cancel (their TwiML hangs up if anyone answers first). False when someone else moved it first."""
    live_id = callback.live_attempt_id
    if not transition(session, callback, status, now=now, actor=actor, reason=reason, details=details):
        return False
    attempt = _lock(session, Attempt, live_id)
    if attempt is None or attempt.state == ENDED or attempt.bridged_at is not None:
        return True  # nothing in flight, or a conversation under way: it ends with its call
    finish_attempt(session, centre, callback, attempt, CALLBACK_CLOSED, now, actor=actor, detail=reason)
    for leg in LEGS:
        sid = getattr(attempt, f"{leg}_call_sid")
        if sid and getattr(attempt, f"{leg}_status") not in TERMINAL_CALL_STATUSES:
            record_stray(session, sid, now, attempt_id=attempt.id, reason=f"callback {status} while it rang")
    return True


def close_on_inbound(
    session: Session, centre: ContactCentre, phone: str, now: datetime, *, actor: str = "inbound call",
    call_sid: str | None = None, queue: str | None = None,
) -> list[Callback]:
    """Close the open callbacks of `phone` (E.164) because the customer's own call reached an agent.

    Call it from the phone tree when an inbound caller is connected to an agent. Returns the callbacks closed
    (status `canceled`, reason "resolved by the customer's call"); an attempt in flight for one of them is settled
    as `close_callback` says.
    """
    query = select(Callback).where(Callback.phone == phone, Callback.status.in_((PENDING, DIALING)))
    if queue is not None:
        query = query.where(Callback.queue == queue)
    closed = []
    for callback in session.scalars(query.with_for_update()):
        if close_callback(session, centre, callback, CANCELED, now, actor=actor,
                          reason="resolved by the customer's call that reached an agent",
                          details={"call_sid": call_sid} if call_sid else None):
            closed.append(callback)
    return closed


def reopen_orphaned_callbacks(session: Session, now: datetime, *, actor: str, limit: int = 100) -> list[int]:
    """`dialing` callbacks whose live attempt has ended or does not exist go back to `pending` (cannot happen
    while every path ends attempts through `finish_attempt`; a safety net that keeps no callback stuck)."""
    orphans = list(session.scalars(
        select(Callback).where(
            Callback.status == DIALING,
            ~select(Attempt.id).where(Attempt.id == Callback.live_attempt_id, Attempt.state.in_(LIVE_STATES))
            .exists(),
        ).limit(limit).with_for_update(skip_locked=True)))
    reopened = []
    for callback in orphans:
        if transition(session, callback, PENDING, now=now, actor=actor, reason="no attempt in flight",
                      live_attempt_id=None):
            reopened.append(callback.id)
    return reopened


__all__ = [
    "AGENT_CONNECT_PATH",
    "AGENT_PATH",
    "CUSTOMER_PATH",
    "DIAL_DONE_PATH",
    "LIVE_STATES",
    "SETTLE",
    "SKEW",
    "STATUS_PATH",
    "DueCallback",
    "FreeAgent",
    "LegStatus",
    "Placed",
    "Started",
    "apply_leg_status",
    "attempt_url",
    "choose_lost_call",
    "close_callback",
    "close_on_inbound",
    "decide_outcome",
    "dialable",
    "finish_attempt",
    "free_agents",
    "live_attempt",
    "mark_bridged",
    "record_placed",
    "start_attempts",
]
