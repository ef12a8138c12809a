"""Agents: who takes calls, on which number, and whether they are on shift."""

from __future__ import annotations

from datetime import datetime

import phonenumbers
from sqlalchemy import select

from callbacks.db import Database
from callbacks.errors import Conflict, InvalidRequest, NotFound
from callbacks.models import Agent


def agent_phone(raw: str, default_region: str) -> str:
    """An agent's number in E.164 (any valid number: agents may sit abroad)."""
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidRequest("phone_unparseable", f"{raw!r} is not a phone number ({exc._msg}).", "phone") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidRequest("phone_invalid", f"{raw!r} is not a valid phone number.", "phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def add_agent(
    db: Database, name: str, phone: str, now: datetime, default_region: str, queues: list[str] | None = None
) -> Agent:
    """Add an agent, on shift from `now`."""
    name = " ".join(name.split())
    if not name:
        raise InvalidRequest("name_missing", "The agent needs a name.", "name")
    e164 = agent_phone(phone, default_region)
    with db.session() as session:
        if session.scalar(select(Agent).where(Agent.name == name)) is not None:
            raise Conflict("agent_exists", f"An agent named {name!r} already exists.", "name")
        agent = Agent(
            name=name, phone=e164, on_shift=True, shift_changed_at=now, created_at=now, queues=list(queues or [])
        )
        session.add(agent)
    return agent


def set_shift(db: Database, name: str, on_shift: bool, now: datetime) -> Agent:
    with db.session() as session:
        agent = session.scalar(select(Agent).where(Agent.name == name))
        if agent is None:
            raise NotFound("agent_not_found", f"No agent named {name!r}.", "name")
        if agent.on_shift != on_shift:
            agent.on_shift = on_shift
            agent.shift_changed_at = now
        return agent


def list_agents(db: Database) -> list[Agent]:
    with db.session() as session:
        return list(session.scalars(select(Agent).order_by(Agent.name)))
