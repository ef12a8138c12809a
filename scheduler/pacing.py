"""Calls-per-second pacing shared by every worker and by every kind of call we place (one `dispatch_state` row)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callbacks.models import DispatchState
from config.schema import Dispatch

PACING_ROW = "dial_pacing"


def lock_pacing_row(session: Session) -> DispatchState:
    """The pacing row, locked (PostgreSQL) or under BEGIN IMMEDIATE (SQLite); created on first use."""
    row = session.scalar(select(DispatchState).where(DispatchState.name == PACING_ROW).with_for_update())
    if row is None:
        try:
            with session.begin_nested():
                session.add(DispatchState(name=PACING_ROW, at=None))
        except IntegrityError:
            pass
        row = session.scalar(select(DispatchState).where(DispatchState.name == PACING_ROW).with_for_update())
    assert row is not None
    return row


def take_slots(session: Session, dispatch: Dispatch, now: datetime, want: int) -> list[datetime]:
    """Take up to `want` calls-per-second slots in [now, now + tick), shared by every worker through one row.

    The row holds the next free slot; it is locked (PostgreSQL) or written under BEGIN IMMEDIATE (SQLite), so
    two workers never take the same slot, and the provider never sees more than calls_per_second.
    """
    row = lock_pacing_row(session)
    interval = timedelta(seconds=1 / dispatch.calls_per_second)
    horizon = now + dispatch.tick
    slots: list[datetime] = []
    at = max(row.at or now, now)
    while len(slots) < want and at < horizon:
        slots.append(at)
        at += interval
    if slots:
        row.at = at
    return slots
