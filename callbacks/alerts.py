"""Supervisor alerts as rows: raised once per callback and kind, delivered by the worker afterwards."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callbacks.models import Alert, Callback

# quote_over_sla: a queue's quotes first exceed its SLA (no callback); overloaded: a customer was told so.
# stuck: still open past its deadline (something kept it from ending); worker_clock: a worker's clock disagrees
# with the database's, so it stopped dialing until it is corrected; dial_breaker: the hourly cap on dials was
# reached and dispatch paused (no callback; once per trip, `callbacks.guard`).
KINDS = ("at_risk", "missed", "unreachable", "permanent", "digest", "stuck", "worker_clock", "quote_over_sla",
         "overloaded", "dial_breaker")


def raise_alert(session: Session, callback: Callback | None, kind: str, now: datetime, reason: str) -> Alert | None:
    """Add an alert unless this callback already has one of this kind; None when it had.

    The row is written in the caller's transaction; delivery (e-mail, webhook, SMS) happens after commit, so an
    alert is never sent for a change that was rolled back, and an undelivered alert is retried from the table.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown alert kind {kind!r}")
    callback_id = callback.id if callback is not None else None
    if callback_id is not None and session.scalar(
        select(Alert.id).where(Alert.callback_id == callback_id, Alert.kind == kind)
    ):
        return None
    # `deliveries` left unset (SQL NULL, not JSON null): the worker's delivery claim looks for NULL.
    alert = Alert(callback_id=callback_id, kind=kind, created_at=now, reason=reason)
    try:
        # A savepoint: a concurrent worker inserting the same alert must not abort our whole transaction.
        with session.begin_nested():
            session.add(alert)
    except IntegrityError:
        return None
    return alert
