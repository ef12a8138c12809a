"""Helpers for the supervisor console's tests: accounts, logging in through the form, callbacks in any state."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from callbacks.accounts import add_supervisor
from callbacks.db import Database
from callbacks.models import Agent, Alert, Attempt, Callback, CallbackEvent, InboundCall
from callbacks.service import new_reference

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def add_account(app: Any, email: str = "boss@example.com", role: str = "admin", language: str | None = None) -> str:
    rt = app.extensions["ivr"]
    add_supervisor(rt.db, email, PASSWORD, rt.clock.now(), role=role, language=language)
    return email


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def log_in(client: Any, email: str, password: str = PASSWORD) -> Any:
    page = client.get("/supervisor/login?lang=en")
    return client.post(
        "/supervisor/login?lang=en",
        data={"email": email, "password": password, "csrf_token": csrf_from(page.get_data(as_text=True))},
    )


def csrf_for(client: Any) -> str:
    """A CSRF token valid for this client's session (from any console page)."""
    return csrf_from(client.get("/supervisor/").get_data(as_text=True))


def make_callback(
    db: Database,
    now: datetime,
    *,
    status: str = "pending",
    queue: str = "general",
    phone: str | None = None,
    requested_ago: timedelta = timedelta(minutes=30),
    deadline_in: timedelta = timedelta(hours=1),
    at_risk_reason: str | None = None,
    end_reason: str | None = None,
    attempts: list[dict[str, Any]] | None = None,
    name: str | None = None,
) -> Callback:
    """A callback row in any state, with a history event per status and the given attempts."""
    requested = now - requested_ago
    deadline = now + deadline_in
    phone = phone or f"+98912{uuid.uuid4().int % 10_000_000:07d}"
    final = status not in ("pending", "dialing")
    callback = Callback(
        public_id=uuid.uuid4().hex,
        reference=new_reference(),
        status_token_hash=uuid.uuid4().hex + uuid.uuid4().hex,
        queue=queue,
        phone=phone,
        name=name,
        language="fa",
        channel="web",
        status=status,
        priority=0,
        requested_at=requested,
        deadline_at=deadline,
        next_attempt_at=requested,
        attempts_made=len(attempts or []),
        at_risk_since=now - timedelta(minutes=5) if at_risk_reason else None,
        at_risk_reason=at_risk_reason,
        ended_at=(deadline if status == "missed" else now) if final else None,
        end_reason=end_reason,
        # As the dispatcher records it: the start of the connected attempt of a completed callback.
        conversation_at=next(
            (
                a.get("bridged_at") or a.get("answered_at")
                for a in attempts or []
                if a.get("outcome") == "connected" and (a.get("bridged_at") or a.get("answered_at"))
            ),
            None,
        )
        if status == "completed"
        else None,
        version=1,
    )
    with db.session() as session:
        session.add(callback)
        session.flush()
        session.add(
            CallbackEvent(
                callback_id=callback.id,
                at=requested,
                kind="status",
                to_status="pending",
                actor="web",
                reason="requested by web",
            )
        )
        for number, spec in enumerate(attempts or [], start=1):
            started = spec.get("at", requested + timedelta(minutes=5 * number))
            session.add(
                Attempt(
                    callback_id=callback.id,
                    number=number,
                    state=spec.get("state", "ended"),
                    outcome=spec.get("outcome"),
                    agent_id=spec.get("agent_id"),
                    created_at=started,
                    dial_started_at=started,
                    answered_at=spec.get("answered_at"),
                    bridged_at=spec.get("bridged_at"),
                    ended_at=started + timedelta(minutes=1) if spec.get("state", "ended") == "ended" else None,
                    talk_seconds=spec.get("talk_seconds"),
                    error_code=spec.get("error_code"),
                )
            )
        if final:
            session.add(
                CallbackEvent(
                    callback_id=callback.id,
                    at=callback.ended_at,
                    kind="status",
                    from_status="pending",
                    to_status=status,
                    actor="worker",
                    reason=end_reason,
                )
            )
    return callback


def make_agent(
    db: Database,
    now: datetime,
    name: str,
    *,
    on_shift: bool = True,
    busy: bool = False,
    available_in: timedelta | None = None,
) -> Agent:
    agent = Agent(
        name=name,
        phone=f"+98912{uuid.uuid4().int % 10_000_000:07d}",
        on_shift=on_shift,
        shift_changed_at=now - timedelta(hours=1),
        queues=[],
        busy_call_sid=f"CA{uuid.uuid4().hex}" if busy else None,
        busy_since=now - timedelta(minutes=3) if busy else None,
        available_at=now + available_in if available_in else None,
        created_at=now - timedelta(days=1),
    )
    with db.session() as session:
        session.add(agent)
    return agent


def make_alert(db: Database, now: datetime, callback: Callback, kind: str = "at_risk", reason: str = "") -> Alert:
    alert = Alert(
        callback_id=callback.id, kind=kind, created_at=now - timedelta(minutes=2), reason=reason, deliveries={}
    )
    with db.session() as session:
        session.add(alert)
    return alert


def make_inbound(
    db: Database,
    started: datetime,
    nodes: list[str],
    *,
    outcome: str | None,
    zero: int = 0,
    answered: bool = False,
    ended: bool = True,
    callback_id: int | None = None,
) -> InboundCall:
    call = InboundCall(
        call_sid=f"CA{uuid.uuid4().hex}",
        caller_masked="+98912***0000",
        started_at=started,
        ended_at=started + timedelta(minutes=2) if ended else None,
        path=[{"node": n, "at": (started + timedelta(seconds=10 * i)).isoformat()} for i, n in enumerate(nodes)],
        outcome=outcome,
        outcome_node=nodes[-1] if outcome and nodes else None,
        zero_presses=zero,
        answered_at=started + timedelta(minutes=1) if answered else None,
        callback_id=callback_id,
    )
    with db.session() as session:
        session.add(call)
    return call
