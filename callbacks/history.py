"""A callback's history: every change of status is a compare-and-swap that appends one row to the event table.

The supervisor's reports read these rows; nothing ever updates or deletes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Insert, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session, make_transient_to_detached

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


_CALLBACKS = cast(Table, Callback.__table__)
_EVENTS = cast(Table, CallbackEvent.__table__)
_CALLBACK_FIELDS = tuple(c.name for c in _CALLBACKS.c if c.name != "id")
_FIELDS = frozenset(_CALLBACK_FIELDS)
_EVENT_FIELDS = ("at", "kind", "from_status", "to_status", "actor", "reason", "details")


def _bound(table: Table, prefix: str, fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: bindparam(prefix + name, type_=table.c[name].type) for name in fields}


def _new_callback_statements() -> tuple[Insert, Insert, Insert]:
    """Built once: the callback's INSERT, its history row's, and (PostgreSQL) both in one statement."""
    new_callback = insert(_CALLBACKS).values(_bound(_CALLBACKS, "c_", _CALLBACK_FIELDS)).returning(_CALLBACKS.c.id)
    event = _bound(_EVENTS, "e_", _EVENT_FIELDS)
    stored = new_callback.cte("new_callback")
    both = (insert(_EVENTS).from_select(["callback_id", *event], select(stored.c.id, *event.values()))
            .returning(_EVENTS.c.callback_id))
    return new_callback, insert(_EVENTS).values(callback_id=bindparam("e_callback_id"), **event), both


_INSERT_CALLBACK, _INSERT_EVENT, _INSERT_BOTH = _new_callback_statements()


def insert_with_history(session: Session, row: dict[str, Any], event: dict[str, Any]) -> Callback:
    """Write a new callback (`row`: its columns but the id; those left out are NULL) and its first history row
    (`event`: the CallbackEvent's columns but the callback's id) in the session's transaction, without the ORM's
    unit of work: one statement on PostgreSQL, two on SQLite (no INSERT in a WITH). The callback comes back as a
    detached instance, as loaded."""
    if not row.keys() <= _FIELDS:
        raise ValueError(f"not a callback's column: {sorted(row.keys() - _FIELDS)}")
    params = {f"c_{name}": row.get(name) for name in _CALLBACK_FIELDS}
    params.update({f"e_{name}": event.get(name) for name in _EVENT_FIELDS})
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        ident = connection.execute(_INSERT_BOTH, params).scalar_one()
    else:
        ident = connection.execute(_INSERT_CALLBACK, params).scalar_one()
        connection.execute(_INSERT_EVENT, {**params, "e_callback_id": ident})
    callback = Callback(id=ident, **{name: row.get(name) for name in _CALLBACK_FIELDS})
    make_transient_to_detached(callback)
    return callback


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
