"""Calls-per-second pacing shared by every worker and by every kind of call we place (one `dispatch_state` row)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callbacks.db import Database
from callbacks.models import DispatchState, UTCDateTime
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


def take_slots_apart(db: Database, dispatch: Dispatch, now: datetime, want: int) -> list[datetime]:
    """`take_slots` in a transaction of its own, committed at once: the pacing row is held for one statement, not
    for the whole claim that asks (two workers' claims then run side by side; on PostgreSQL, where the claim's
    other rows are taken with SKIP LOCKED). The caller gives the slots back with `give_back` if its claim fails.
    Not for SQLite, where the claim's transaction already holds the database's one write lock.

    On PostgreSQL the slots are taken by one UPDATE in autocommit (one round trip, no BEGIN or COMMIT): it locks
    the row, reads the next free slot and moves it past the slots it gives, with the arithmetic of `take_slots`
    in whole microseconds. The row is created (by `take_slots`) the first time."""
    if want > 0 and db.dialect == "postgresql":
        step = timedelta(seconds=1 / dispatch.calls_per_second)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            taken = conn.execute(_TAKE_SLOTS, {"name": PACING_ROW, "now": now, "horizon": now + dispatch.tick,
                                               "want": want, "step_us": step // timedelta(microseconds=1)}).first()
        if taken is not None:
            start, count = taken
            return [start + step * k for k in range(count)]
    with db.session() as session:
        return take_slots(session, dispatch, now, want)


# `take_slots` as one statement: `start` is the next free slot (not before now); `n` the slots that fit before the
# horizon, at most `want`: ceil((horizon - start) / step) in whole microseconds, as the loop counts them. The row is
# locked by the subquery (a second worker waits, then reads the row as the first one left it).
_TAKE_SLOTS = text("""
UPDATE dispatch_state AS d
SET at = CASE WHEN s.n > 0 THEN s.start + CAST(s.n * :step_us AS bigint) * interval '1 microsecond' ELSE d.at END
FROM (
    SELECT locked.name, locked.start, LEAST(:want, GREATEST(0, CAST(ceil(
        (EXTRACT(EPOCH FROM CAST(:horizon AS timestamptz) - locked.start) * 1000000) / :step_us) AS integer))) AS n
    FROM (SELECT name, GREATEST(COALESCE(at, CAST(:now AS timestamptz)), CAST(:now AS timestamptz)) AS start
          FROM dispatch_state WHERE name = :name FOR UPDATE) AS locked
) AS s
WHERE d.name = s.name
RETURNING s.start, s.n
""").bindparams(bindparam("now", type_=UTCDateTime()), bindparam("horizon", type_=UTCDateTime())).columns(
    start=UTCDateTime())


def give_back(db: Database, dispatch: Dispatch, slots: list[datetime]) -> bool:
    """Return `slots` (taken apart by a claim that then failed) when no one has taken a later slot since; True when
    they were. Otherwise they stay used: at most one tick of calls is lost to pacing, never a slot given twice."""
    if not slots:
        return False
    after = slots[-1] + timedelta(seconds=1 / dispatch.calls_per_second)
    with db.session() as session:
        returned = session.execute(update(DispatchState)
                                   .where(DispatchState.name == PACING_ROW, DispatchState.at == after)
                                   .values(at=slots[0]).execution_options(synchronize_session=False))
        return bool(getattr(returned, "rowcount", 0))
