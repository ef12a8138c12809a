"""Pacing slots taken apart from the claim: on PostgreSQL one UPDATE in autocommit gives exactly the slots the
portable `take_slots` gives, from every state of the pacing row, and leaves the row where it leaves it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, event

from callbacks.models import DispatchState
from config.schema import Dispatch
from scheduler import pacing

NOW = datetime(2026, 11, 29, 9, 30, 0, 123456, tzinfo=UTC)


def _set_row(db, at):
    with db.session() as session:
        session.execute(delete(DispatchState))
        if at is not ...:
            session.add(DispatchState(name=pacing.PACING_ROW, at=at))


def _row(db):
    with db.session() as session:
        row = session.get(DispatchState, pacing.PACING_ROW)
        return row.at if row is not None else ...


# The row's next free slot: missing, never set, behind now, ahead of now within the tick, just before and at the
# horizon, far beyond it. Rates with steps that are whole, fractional (1/3 s, 1/7 s) and sub-millisecond.
STATES = [..., None, NOW - timedelta(hours=1), NOW, NOW + timedelta(milliseconds=250),
          NOW + timedelta(microseconds=999_999), NOW + timedelta(seconds=1), NOW + timedelta(minutes=5)]


@pytest.mark.parametrize("rate", [0.3, 1, 3, 7, 100, 10_000])
@pytest.mark.parametrize("want", [1, 2, 5, 100])
def test_one_statement_gives_the_slots_the_portable_path_gives(pg_db, rate, want):
    # 10,000 a second is over the setting's bound; the benchmark runs with it (a step of 100 microseconds).
    dispatch = Dispatch(tick=timedelta(seconds=1)).model_copy(update={"calls_per_second": rate})
    for state in STATES:
        _set_row(pg_db, state)
        with pg_db.session() as session:
            expected = pacing.take_slots(session, dispatch, NOW, want)
        expected_row = _row(pg_db)
        _set_row(pg_db, state)
        got = pacing.take_slots_apart(pg_db, dispatch, NOW, want)
        assert got == expected, (state, rate, want)
        assert _row(pg_db) == expected_row, (state, rate, want)
        assert all(slot.tzinfo is not None for slot in got)


def test_it_is_one_statement_without_a_transaction_around_it(pg_db):
    dispatch = Dispatch(calls_per_second=10, tick=timedelta(seconds=1))
    _set_row(pg_db, None)
    seen: list[tuple[str, bool]] = []  # each statement, and whether psycopg ran it in autocommit (no BEGIN)
    event.listen(pg_db.engine, "before_cursor_execute",
                 lambda conn, *a: seen.append((a[1].split()[0], conn.connection.dbapi_connection.autocommit)))
    assert len(pacing.take_slots_apart(pg_db, dispatch, NOW, 3)) == 3
    assert seen == [("UPDATE", True)]
    with pg_db.session() as session:  # the connection went back to the pool in transactions again
        assert not session.connection().connection.dbapi_connection.autocommit


def test_the_first_use_creates_the_row_and_a_second_worker_continues_after_the_first(pg_db):
    dispatch = Dispatch(calls_per_second=4, tick=timedelta(seconds=1))
    _set_row(pg_db, ...)
    first = pacing.take_slots_apart(pg_db, dispatch, NOW, 3)
    second = pacing.take_slots_apart(pg_db, dispatch, NOW, 3)
    assert first == [NOW, NOW + timedelta(seconds=0.25), NOW + timedelta(seconds=0.5)]
    assert second == [NOW + timedelta(seconds=0.75)]  # the tick's last slot; the rest is the next tick's
    assert pacing.take_slots_apart(pg_db, dispatch, NOW, 3) == []
    assert _row(pg_db) == NOW + timedelta(seconds=1)


def test_workers_taking_slots_at_once_never_get_the_same_slot(pg_db):
    """Four threads, each its own connection, racing for slots of one tick: every slot given once, a step apart,
    and the row ends after the last one."""
    import threading

    dispatch = Dispatch(tick=timedelta(seconds=1)).model_copy(update={"calls_per_second": 1_000})
    _set_row(pg_db, None)
    got: list[datetime] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def worker():
        start.wait()
        for _ in range(40):
            slots = pacing.take_slots_apart(pg_db, dispatch, NOW, 7)
            with lock:
                got.extend(slots)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 1_000 == len(set(got))  # 1,000 slots in the tick; 1,120 were asked for
    assert sorted(got) == [NOW + timedelta(milliseconds=i) for i in range(1_000)]
    assert _row(pg_db) == NOW + timedelta(seconds=1)
