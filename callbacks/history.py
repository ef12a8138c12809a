"""A callback's history: every change of status is a compare-and-swap that appends one row to the event table.

The supervisor's reports read these rows; nothing ever updates or deletes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session

from callbacks.errors import Conflict
from callbacks.models import OPEN_STATUSES, Callback, CallbackEvent
from callbacks.policy import can_transition


def record_event(
    session: Session,
    callback: Callback,
    kind: str,
    *,
    at: datetime,
    actor: str,
    reason: str | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    details: dict[str, Any] | None = None,
) -> CallbackEvent:
    """Append one history row for `callback` (never updated, never deleted)."""
    event = CallbackEvent(
        callback_id=callback.id,
        at=at,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        actor=actor[:160],
        reason=reason,
        details=details,
    )
    session.add(event)
    return event


def transition(
    session: Session,
    callback: Callback,
    to_status: str,
    *,
    now: datetime,
    actor: str,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    **fields: Any,
) -> bool:
    """Move `callback` to `to_status` with compare-and-swap on its version; False when someone else moved it first.

    Extra `fields` are written in the same UPDATE. The history row is added only when the swap won.
    """
    from_status = callback.status
    if not can_transition(from_status, to_status) and from_status != to_status:
        raise Conflict("invalid_transition", f"A {from_status} callback cannot become {to_status}.", "status")
    values = {"status": to_status, "version": Callback.version + 1, **fields}
    if to_status not in OPEN_STATUSES:
        values.setdefault("ended_at", now)
        values.setdefault("end_reason", reason)
        values.setdefault("live_attempt_id", None)
    result = cast("CursorResult[Any]", session.execute(  # an UPDATE's Result is a CursorResult (rowcount)
        update(Callback)
        .where(Callback.id == callback.id, Callback.version == callback.version)
        .values(**values)
        .execution_options(synchronize_session=False)
    ))
    if result.rowcount != 1:
        session.expire(callback)
        return False
    record_event(
        session,
        callback,
        "status" if from_status != to_status else "update",
        at=now,
        actor=actor,
        reason=reason,
        from_status=from_status,
        to_status=to_status,
        details=details,
    )
    session.refresh(callback)
    return True
