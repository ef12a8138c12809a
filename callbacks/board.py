"""The live board's data: open callbacks by deadline (at-risk ones flagged), calls in progress, agents and
whether they are free, and open alerts. One read of `now`, language-neutral values; the view formats them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update

from callbacks.db import Database
from callbacks.errors import NotFound
from callbacks.guard import Breaker, breaker_state
from callbacks.models import OPEN_STATUSES, Agent, Alert, Attempt, Callback, InboundCall
from config.schema import ContactCentre

BOARD_LIMIT = 200
# Inbound calls with no end recorded after this long are assumed to have lost their final status callback.
STALE_INBOUND = timedelta(hours=4)
ALERTS_SHOWN = 30
LIVE_ATTEMPT_STATES = ("created", "dialing", "in_progress", "unknown")


@dataclass
class OpenCallback:
    callback: Callback

    def seconds_left(self, now: datetime) -> float:
        return (self.callback.deadline_at - now).total_seconds()


@dataclass
class LiveCall:
    kind: str  # "outbound" (a callback attempt) or "inbound"
    started_at: datetime
    who: str
    where: str
    agent: str | None = None
    callback_public_id: str | None = None
    state: str | None = None


@dataclass
class AgentState:
    agent: Agent
    state: str  # free | busy | wrap_up | off_shift
    since: datetime | None


@dataclass
class BoardAlert:
    alert: Alert
    callback_public_id: str | None
    callback_reference: str | None


@dataclass
class Board:
    now: datetime
    open_total: int
    at_risk_total: int
    callbacks: list[OpenCallback]
    calls: list[LiveCall]
    agents: list[AgentState]
    alerts: list[BoardAlert] = field(default_factory=list)
    # The hourly spending breaker (None when the board was read without the centre's limits).
    breaker: Breaker | None = None


def agent_state(agent: Agent, now: datetime) -> tuple[str, datetime | None]:
    """What the board says about an agent, from our own call records (the dispatcher's rule)."""
    if not agent.on_shift:
        return "off_shift", agent.shift_changed_at
    if agent.busy_call_sid:
        return "busy", agent.busy_since
    if agent.available_at is not None and agent.available_at > now:
        return "wrap_up", agent.available_at
    return "free", agent.available_at or agent.shift_changed_at


def board(db: Database, now: datetime, limit: int = BOARD_LIMIT, centre: ContactCentre | None = None) -> Board:
    """Everything the board shows, read in one transaction."""
    with db.session() as session:
        breaker = breaker_state(session, centre, now) if centre is not None and centre.limits.dials_per_hour else None
        open_total, at_risk_total = session.execute(
            select(func.count(), func.count(Callback.at_risk_since)).where(Callback.status.in_(OPEN_STATUSES))
        ).one()
        # At-risk first, then by deadline: the rows a supervisor must act on stay on top of a long list.
        callbacks = [
            OpenCallback(c)
            for c in session.scalars(
                select(Callback)
                .where(Callback.status.in_(OPEN_STATUSES))
                .order_by(Callback.at_risk_since.is_(None), Callback.deadline_at, Callback.id)
                .limit(limit)
            )
        ]
        calls: list[LiveCall] = []
        for attempt, reference, public_id, agent_name in session.execute(
            select(Attempt, Callback.reference, Callback.public_id, Agent.name)
            .join(Callback, Callback.id == Attempt.callback_id)
            .outerjoin(Agent, Agent.id == Attempt.agent_id)
            .where(Attempt.state.in_(LIVE_ATTEMPT_STATES))
            .order_by(Attempt.created_at)
            .limit(limit)
        ).all():
            calls.append(
                LiveCall(
                    kind="outbound",
                    started_at=attempt.dial_started_at or attempt.created_at,
                    who=reference,
                    where=f"#{attempt.number}",
                    agent=agent_name,
                    callback_public_id=public_id,
                    state=attempt.state,
                )
            )
        for inbound, agent_name in session.execute(
            select(InboundCall, Agent.name)
            .outerjoin(Agent, Agent.id == InboundCall.agent_id)
            .where(InboundCall.ended_at.is_(None), InboundCall.started_at >= now - STALE_INBOUND)
            .order_by(InboundCall.started_at)
            .limit(limit)
        ).all():
            path = inbound.path or []
            node = path[-1].get("node") if path and isinstance(path[-1], dict) else None
            calls.append(
                LiveCall(
                    kind="inbound",
                    started_at=inbound.started_at,
                    who=inbound.caller_masked or "?",
                    where=inbound.queue or node or "",
                    agent=agent_name,
                    state="answered" if inbound.answered_at else ("queued" if inbound.enqueued_at else "menu"),
                )
            )
        agents = [AgentState(a, *agent_state(a, now)) for a in session.scalars(select(Agent).order_by(Agent.name))]
        alerts = [
            BoardAlert(alert, public_id, reference)
            for alert, public_id, reference in session.execute(
                select(Alert, Callback.public_id, Callback.reference)
                .outerjoin(Callback, Callback.id == Alert.callback_id)
                .where(
                    Alert.acknowledged_at.is_(None),
                    Alert.kind != "digest",
                    Alert.created_at >= now - timedelta(days=2),
                )
                .order_by(Alert.created_at.desc(), Alert.id.desc())
                .limit(ALERTS_SHOWN)
            ).all()
        ]
    return Board(now, int(open_total), int(at_risk_total), callbacks, calls, agents, alerts, breaker)


def acknowledge_alert(db: Database, alert_id: int, by: str, now: datetime) -> bool:
    """Mark an alert seen; False when it already was (the first supervisor's acknowledgement stands)."""
    with db.session() as session:
        if session.get(Alert, alert_id) is None:
            raise NotFound("alert_not_found", "No such alert.")
        result = cast("CursorResult[Any]", session.execute(  # an UPDATE's Result is a CursorResult (rowcount)
            update(Alert)
            .where(Alert.id == alert_id, Alert.acknowledged_at.is_(None))
            .values(acknowledged_at=now, acknowledged_by=by[:254])
        ))
        return result.rowcount == 1


def set_agent_shift(db: Database, agent_id: int, on_shift: bool, now: datetime) -> Agent:
    """Put an agent on or off shift by id (the board's buttons). An agent on a call finishes it."""
    from callbacks.agents import set_shift

    with db.session() as session:
        agent = session.get(Agent, agent_id)
        if agent is None:
            raise NotFound("agent_not_found", "No such agent.")
        name = agent.name
    return set_shift(db, name, on_shift, now)
