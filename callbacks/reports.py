"""Reports read from the store: missed callbacks with reasons (streamed, never loaded whole)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import select

from callbacks.clock import ensure_utc
from callbacks.db import Database
from callbacks.models import MISSED, Callback
from callbacks.phones import mask
from callbacks.serialize import iso

MISSED_COLUMNS = (
    "id",
    "reference",
    "queue",
    "phone",
    "requested_at",
    "deadline_at",
    "missed_at",
    "attempts_made",
    "reason",
)


def missed_rows(
    db: Database,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    queue: str | None = None,
    reason: str | None = None,
    batch: int = 1000,
    mask_phone: bool = True,
) -> Iterator[dict[str, Any]]:
    """Missed callbacks whose deadline fell in [since, until), oldest deadline first, fetched in batches."""
    query = select(Callback).where(Callback.status == MISSED).order_by(Callback.deadline_at, Callback.id)
    if since:
        query = query.where(Callback.deadline_at >= ensure_utc(since))
    if until:
        query = query.where(Callback.deadline_at < ensure_utc(until))
    if queue:
        query = query.where(Callback.queue == queue)
    if reason:
        query = query.where(Callback.end_reason.contains(reason))
    with db.new_session() as session:
        for callback in session.scalars(query.execution_options(yield_per=batch)):
            yield {
                "id": callback.public_id,
                "reference": callback.reference,
                "queue": callback.queue,
                "phone": mask(callback.phone) if mask_phone else callback.phone,
                "requested_at": iso(callback.requested_at),
                "deadline_at": iso(callback.deadline_at),
                "missed_at": iso(callback.ended_at),
                "attempts_made": callback.attempts_made,
                "reason": callback.end_reason,
            }
