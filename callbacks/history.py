"""A callback's history: every change of status is a compare-and-swap that appends one row to the event table.

The supervisor's reports read these rows; nothing ever updates or deletes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Insert, Table, bindparam, insert, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from callbacks.errors import Conflict
from callbacks.models import OPEN_STATUSES, Callback, CallbackEvent, CustomerSms
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
_MESSAGES = cast(Table, CustomerSms.__table__)
_CALLBACK_FIELDS = tuple(c.name for c in _CALLBACKS.c if c.name != "id")
_FIELDS = frozenset(_CALLBACK_FIELDS)
# The model's own defaults (status, priority, attempts, version) for the columns a new row leaves out.
_DEFAULTS: dict[str, Any] = {c.name: c.default.arg for c in _CALLBACKS.c
                             if isinstance(c.default, ScalarElementColumnDefault)}
_EVENT_FIELDS = ("at", "kind", "from_status", "to_status", "actor", "reason", "details")
_MESSAGE_FIELDS = ("kind", "attempt_number", "to", "body", "created_at")


def _bound(table: Table, prefix: str, fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: bindparam(prefix + name, type_=table.c[name].type) for name in fields}


def _for_new_callback(table: Table, prefix: str, fields: tuple[str, ...]) -> Insert:
    return insert(table).values(callback_id=bindparam(f"{prefix}callback_id"), **_bound(table, prefix, fields))


def _in_one(new_callback: Insert, *, with_message: bool) -> Insert:
    """PostgreSQL: the callback's INSERT in the WITH, its history row (and its promise text) selecting its id."""
    stored = new_callback.cte("new_callback")
    event = _bound(_EVENTS, "e_", _EVENT_FIELDS)
    both = (insert(_EVENTS).from_select(["callback_id", *event], select(stored.c.id, *event.values()))
            .returning(_EVENTS.c.callback_id))
    if not with_message:
        return both
    message = _bound(_MESSAGES, "m_", _MESSAGE_FIELDS)
    return both.add_cte(insert(_MESSAGES).from_select(["callback_id", *message],
                                                      select(stored.c.id, *message.values())).cte("promise_text"))


# Built once. SQLite has no INSERT in a WITH: there, one statement each.
_INSERT_CALLBACK = insert(_CALLBACKS).values(_bound(_CALLBACKS, "c_", _CALLBACK_FIELDS)).returning(_CALLBACKS.c.id)
_INSERT_EVENT = _for_new_callback(_EVENTS, "e_", _EVENT_FIELDS)
_INSERT_MESSAGE = _for_new_callback(_MESSAGES, "m_", _MESSAGE_FIELDS)
_INSERT_IN_ONE = {False: _in_one(_INSERT_CALLBACK, with_message=False),
                  True: _in_one(_INSERT_CALLBACK, with_message=True)}


def insert_new_callback(session: Session, row: dict[str, Any], event: dict[str, Any],
                        message: dict[str, Any] | None = None) -> Callback:
    """Write a new callback (`row`: its columns but the id; those left out are NULL), its first history row
    (`event`: the CallbackEvent's columns but the callback's id) and, when given, the customer's text `message`
    (the CustomerSms columns kind, attempt_number, to, body, created_at) in the session's transaction, without the
    ORM's unit of work: one statement on PostgreSQL. A column `row` leaves out gets the model's default, else NULL.
    The callback comes back as a detached instance, as loaded."""
    if not row.keys() <= _FIELDS:
        raise ValueError(f"not a callback's column: {sorted(row.keys() - _FIELDS)}")
    row = {**_DEFAULTS, **row}
    params = {f"c_{name}": row.get(name) for name in _CALLBACK_FIELDS}
    params.update({f"e_{name}": event.get(name) for name in _EVENT_FIELDS})
    if message is not None:
        params.update({f"m_{name}": message[name] for name in _MESSAGE_FIELDS})
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        ident = connection.execute(_INSERT_IN_ONE[message is not None], params).scalar_one()
    else:
        ident = connection.execute(_INSERT_CALLBACK, params).scalar_one()
        connection.execute(_INSERT_EVENT, {**params, "e_callback_id": ident})
        if message is not None:
            connection.execute(_INSERT_MESSAGE, {**params, "m_callback_id": ident})
    callback = Callback(id=ident, **{name: row.get(name) for name in _CALLBACK_FIELDS})
    make_transient_to_detached(callback)
    # What listens for a new callback (a request's log line names the one it created) hears it as from a flush.
    mapper = sa_inspect(Callback)
    mapper.dispatch.after_insert(mapper, connection, sa_inspect(callback))
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
