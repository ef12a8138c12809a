"""The call journey: one InboundCall row per call, the nodes it visited and how it ended.

Callers' numbers are stored masked (and in E.164 only when valid, to close their open callbacks);
sensitive digits never reach this module in plain text (the navigator fingerprints them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from callbacks.db import Database
from callbacks.models import Agent, InboundCall
from config.schema import ContactCentre

# A call looping through menus for hours must not grow its row without bound.
MAX_PATH_ENTRIES = 200


@dataclass(frozen=True)
class Visit:
    """One thing that happened on the call, to be written to its journey."""

    call_sid: str
    at: datetime
    node: str | None = None
    input: str | None = None
    language: str | None = None
    outcome: str | None = None
    caller: str | None = None
    caller_masked: str | None = None
    called: str | None = None
    queue: str | None = None
    escaped: bool = False
    enqueued: bool = False
    answered_after: timedelta | None = None
    callback_id: int | None = None
    ended: bool = False


def record(db: Database, visit: Visit) -> None:
    """Write `visit` into the call's row (creating it on the first webhook of the call)."""
    with db.session() as session:
        call = session.scalar(select(InboundCall).where(InboundCall.call_sid == visit.call_sid))
        if call is None:
            call = InboundCall(
                call_sid=visit.call_sid,
                caller=visit.caller,
                caller_masked=visit.caller_masked,
                called=visit.called,
                started_at=visit.at,
                path=[],
                zero_presses=0,
            )
            session.add(call)
        if visit.language:
            call.language = visit.language
        if visit.node is not None:
            entry: dict[str, Any] = {"node": visit.node, "at": visit.at.isoformat()}
            if visit.input is not None:
                entry["input"] = visit.input[:40]
            # A new list, so SQLAlchemy sees the JSON column change.
            call.path = [*(call.path or []), entry][-MAX_PATH_ENTRIES:]
        if visit.escaped:
            call.zero_presses = (call.zero_presses or 0) + 1
        if visit.outcome:
            call.outcome = visit.outcome
            call.outcome_node = visit.node
        if visit.queue:
            call.queue = visit.queue
        if visit.enqueued and call.enqueued_at is None:
            call.enqueued_at = visit.at
        if visit.answered_after is not None and call.enqueued_at is not None and call.answered_at is None:
            call.answered_at = call.enqueued_at + visit.answered_after
        if visit.callback_id is not None:
            call.callback_id = visit.callback_id
        if visit.ended and call.ended_at is None:
            call.ended_at = visit.at


def arrival(db: Database, call_sid: str) -> datetime | None:
    """When the caller joined a queue on this call (their place in line), if they did."""
    with db.session() as session:
        return session.scalar(select(InboundCall.enqueued_at).where(InboundCall.call_sid == call_sid))


@dataclass(frozen=True)
class Staffing:
    on_shift: int
    free_numbers: tuple[str, ...]


def staffing(db: Database, queue: str, now: datetime) -> Staffing:
    """Agents on shift for `queue`, and the numbers of those free to ring now (from our own call records)."""
    with db.session() as session:
        agents = session.scalars(select(Agent).where(Agent.on_shift.is_(True))).all()
    serving = [a for a in agents if not a.queues or queue in a.queues]
    free = tuple(
        a.phone for a in serving if a.busy_call_sid is None and (a.available_at is None or a.available_at <= now)
    )
    return Staffing(len(serving), free)


def recent_wait(db: Database, queue: str, now: datetime, window: timedelta = timedelta(hours=1)) -> timedelta | None:
    """Average wait of callers answered in `queue` within `window` (None without enough history)."""
    with db.session() as session:
        rows = session.execute(
            select(InboundCall.enqueued_at, InboundCall.answered_at).where(
                InboundCall.queue == queue,
                InboundCall.answered_at.is_not(None),
                InboundCall.enqueued_at.is_not(None),
                InboundCall.answered_at >= now - window,
            )
        ).all()
    waits = [answered - enqueued for enqueued, answered in rows  # the query left out NULL times
             if answered is not None and enqueued is not None and answered >= enqueued]
    if len(waits) < 3:
        return None
    return sum(waits, timedelta(0)) / len(waits)


def resolve_callbacks(db: Database, centre: ContactCentre, caller: str, now: datetime, call_sid: str) -> int:
    """The caller talked to an agent: close their open callbacks as resolved. Returns how many were closed."""
    from callbacks.attempts import close_on_inbound

    with db.session() as session:
        return len(close_on_inbound(session, centre, caller, now, actor=f"caller:{call_sid}", call_sid=call_sid))
