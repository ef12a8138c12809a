"""The call journey is written in batches off the request path (as the web process runs it, not under TESTING):
a webhook does not wait on the database for it, and nothing the caller did is lost when the batch is written late,
fails for a while, or lands after another web worker's."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update

from callbacks.models import InboundCall
from ivr.phone import journey
from ivr.phone.journey import JourneyWriter, Visit
from tests.conftest import DEFAULT_NOW
from tests.support.phone import Caller, add_agent

ENGLISH_LINE = "+442080000000"


@pytest.fixture
def batched_app(app_config: dict[str, Any], sqlite_db: Any, centre: Any, clock: Any) -> Any:
    from ivr.app import create_app

    app = create_app({**app_config, "DATABASE": sqlite_db, "CENTRE": centre, "CLOCK": clock,
                      "IVR_JOURNEY_BATCH": True})
    add_agent(app)
    yield app
    app.extensions["ivr_voice"].journal.close()


def row(app: Any, call_sid: str) -> InboundCall | None:
    with app.extensions["ivr"].db.session() as session:
        return session.scalar(select(InboundCall).where(InboundCall.call_sid == call_sid))


def stored(app: Any, call_sid: str) -> InboundCall:
    call = row(app, call_sid)
    assert call is not None, f"no journey row for {call_sid}"
    return call


def test_a_call_walked_through_the_tree_is_in_its_journey_once_the_batch_is_written(batched_app: Any) -> None:
    journal = batched_app.extensions["ivr_voice"].journal
    assert journal is not None
    caller = Caller(batched_app.test_client(), batched_app, called=ENGLISH_LINE).dial().expect("For billing press 1")
    caller.press("1").expect("To make a payment press 1").press("9").expect("For billing press 1")
    assert journal.flush(5)
    call = stored(batched_app, caller.call_sid)
    assert call is not None and call.caller_masked and call.language == "en"
    assert [e["node"] for e in call.path] == ["start", "main", "billing", "main"]
    assert [e.get("input") for e in call.path][2:] == ["1", "9"]


def test_a_webhook_does_not_wait_for_a_stuck_journey_write(batched_app: Any) -> None:
    voice = batched_app.extensions["ivr_voice"]
    release = threading.Event()
    real_write = voice.journal.write

    def stuck(visits: list[Visit]) -> Any:
        release.wait(10)
        return real_write(visits)

    voice.journal.write = stuck
    try:
        caller = Caller(batched_app.test_client(), batched_app, called=ENGLISH_LINE)
        started = time.monotonic()
        caller.dial().expect("For billing press 1").press("1").expect("To make a payment press 1")
        assert time.monotonic() - started < 1.0  # the write is stuck for 10 s
        assert row(batched_app, caller.call_sid) is None
    finally:
        release.set()
    assert voice.journal.flush(5)
    assert [e["node"] for e in stored(batched_app, caller.call_sid).path] == ["start", "main", "billing"]


def test_a_failing_database_keeps_the_visits_and_writes_them_when_it_is_back(sqlite_db: Any) -> None:
    failures = [2]

    def flaky(visits: list[Visit]) -> None:
        if failures[0]:
            failures[0] -= 1
            raise OSError("database unavailable")
        journey.record_many(sqlite_db, visits)

    writer = JourneyWriter(flaky, interval=0.01, retry=0.01)
    for i in range(5):
        writer.put(Visit("CA" + "1" * 32, DEFAULT_NOW + timedelta(seconds=i), node=f"n{i}",
                         caller_masked="+98912***0000" if i == 0 else None))
    assert writer.flush(5)
    writer.close()
    with sqlite_db.session() as session:
        call = session.scalar(select(InboundCall))
        assert [e["node"] for e in call.path] == [f"n{i}" for i in range(5)]
    assert writer.dropped == 0


def test_beyond_its_limit_the_writer_drops_the_oldest_and_says_so(caplog: Any) -> None:
    written: list[Visit] = []
    gate = threading.Event()

    def slow(visits: list[Visit]) -> None:
        gate.wait(10)
        written.extend(visits)

    writer = JourneyWriter(slow, interval=0.01, batch=2, limit=3)
    for i in range(8):
        writer.put(Visit(f"CA{i:032d}", DEFAULT_NOW, node="main"))
    gate.set()
    assert writer.flush(5)
    writer.close()
    assert writer.dropped > 0
    assert len(written) + writer.dropped == 8
    assert "visits dropped" in caplog.text


def test_two_web_workers_batches_of_one_call_make_one_row_in_the_callers_order(db: Any) -> None:
    sqlite_db = db  # on both databases: the first worker's insert conflicts, is read again and merged
    sid = "CA" + "2" * 32
    first = Visit(sid, DEFAULT_NOW, node="main", caller="+989121234567", caller_masked="+98912***4567",
                  called=ENGLISH_LINE, language="en")
    later = Visit(sid, DEFAULT_NOW + timedelta(seconds=5), node="billing", input="1")
    # The second worker's batch (the later press) is written first; the first worker's insert then conflicts.
    journey.record_many(sqlite_db, [later])
    writer = JourneyWriter(lambda visits: journey.record_many(sqlite_db, visits), interval=0.01)
    writer.put(first)
    assert writer.flush(5)
    writer.close()
    with sqlite_db.session() as session:
        calls = session.scalars(select(InboundCall)).all()
    assert len(calls) == 1
    assert calls[0].caller_masked == "+98912***4567"
    assert [e["node"] for e in calls[0].path] == ["main", "billing"]
    assert calls[0].started_at == DEFAULT_NOW


def test_a_hang_up_joins_the_calls_batch_and_late_statuses_change_nothing(batched_app: Any) -> None:
    journal = batched_app.extensions["ivr_voice"].journal
    caller = Caller(batched_app.test_client(), batched_app, called=ENGLISH_LINE).dial().press("1")
    for sequence, status in ((0, "in-progress"), (2, "completed"), (1, "ringing")):  # late and out of order
        caller.post("/twilio/status", {"CallStatus": status, "SequenceNumber": str(sequence), "Direction": "inbound"})
    assert journal.flush(5)
    call = stored(batched_app, caller.call_sid)
    assert (call.outcome, call.outcome_node, call.last_sequence) == ("hung_up", "billing", 2)
    assert call.ended_at is not None


def test_a_status_that_beats_its_calls_first_visit_waits_for_it(sqlite_db: Any) -> None:
    sid = "CA" + "3" * 32
    writer = JourneyWriter(lambda visits: journey.record_many(sqlite_db, visits), interval=0.01)
    # Another web worker answered the call; its batch has not landed yet when this one has the hang-up.
    writer.put(Visit(sid, DEFAULT_NOW + timedelta(seconds=9), from_status=True, sequence=3, ended=True))
    assert writer.flush(5)
    time.sleep(0.05)
    assert row_of(sqlite_db, sid) is None
    journey.record_many(sqlite_db, [Visit(sid, DEFAULT_NOW, node="main", caller_masked="+98912***4567")])
    deadline = time.monotonic() + 5
    while (call := stored_of(sqlite_db, sid)).ended_at is None and time.monotonic() < deadline:
        time.sleep(0.02)
    writer.close()
    assert call.ended_at == DEFAULT_NOW + timedelta(seconds=9) and call.outcome == "hung_up"


def test_a_status_of_a_call_the_tree_never_saw_is_dropped_after_a_while(sqlite_db: Any) -> None:
    ticks = [0.0]
    writer = JourneyWriter(lambda visits: journey.record_many(sqlite_db, visits), interval=0.01,
                           clock=lambda: ticks[0])
    writer.put(Visit("CA" + "4" * 32, DEFAULT_NOW, from_status=True, sequence=1, ended=True))
    time.sleep(0.1)
    ticks[0] = journey.STATUS_PATIENCE + 1
    time.sleep(0.1)
    writer.close()
    assert writer._early == [] and row_of(sqlite_db, "CA" + "4" * 32) is None


def test_status_visits_waiting_for_their_call_are_looked_for_again_twice_a_second_not_every_batch() -> None:
    ticks = [0.0]
    looked_for: list[int] = []
    sid = "CA" + "9" * 32

    def write(visits: list[Visit]) -> list[Visit]:
        looked_for.append(sum(1 for v in visits if v.call_sid == sid))
        return [v for v in visits if v.from_status]  # no call has a row

    writer = JourneyWriter(write, interval=0.01, clock=lambda: ticks[0])
    writer.put(Visit(sid, DEFAULT_NOW, from_status=True, sequence=1, ended=True))
    i, deadline = 0, time.monotonic() + 5
    while len(looked_for) < 6 and time.monotonic() < deadline:  # other calls' visits keep batches coming
        writer.put(Visit(f"CA{i:032d}", DEFAULT_NOW, node="main"))
        i += 1
        time.sleep(0.02)
    assert len(looked_for) >= 6 and sum(looked_for) == 1  # looked for with its own batch, then left alone
    ticks[0] = journey.EARLY_RECHECK
    while sum(looked_for) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    writer.close()
    assert sum(looked_for) == 2


def row_of(db: Any, call_sid: str) -> InboundCall | None:
    with db.session() as session:
        return session.scalar(select(InboundCall).where(InboundCall.call_sid == call_sid))


def stored_of(db: Any, call_sid: str) -> InboundCall:
    call = row_of(db, call_sid)
    assert call is not None, f"no journey row for {call_sid}"
    return call


def test_a_batch_writes_only_what_its_visits_changed(pg_db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer of the call's row (the worker answering the caller's queue) between this batch's read and
    its write: it waits for the batch (the batch locked the row it read), then writes its own columns; the batch
    wrote only those its visits changed, so one's press and the other's queue both stay."""
    sid = "CA" + "5" * 32
    journey.record_many(pg_db, [Visit(sid, DEFAULT_NOW, node="main", caller_masked="+98912***4567")])
    real_write = journey._write
    others: list[threading.Thread] = []

    def other_worker_meanwhile(session: Any, calls: Any) -> None:
        def other() -> None:
            with pg_db.session() as other_session:
                other_session.execute(text("SET LOCAL lock_timeout = '5s'"))
                other_session.execute(update(InboundCall).where(InboundCall.call_sid == sid)
                                      .values(queue="billing", enqueued_at=DEFAULT_NOW + timedelta(seconds=3)))

        others.append(threading.Thread(target=other))
        others[-1].start()
        others[-1].join(0.3)
        assert others[-1].is_alive()  # waiting for this batch's lock, not writing under it
        real_write(session, calls)

    monkeypatch.setattr(journey, "_write", other_worker_meanwhile)
    journey.record_many(pg_db, [Visit(sid, DEFAULT_NOW + timedelta(seconds=2), node="billing", input="1")])
    others[0].join(10)
    call = stored_of(pg_db, sid)
    assert [e["node"] for e in call.path] == ["main", "billing"]
    assert call.queue == "billing" and call.enqueued_at == DEFAULT_NOW + timedelta(seconds=3)


def test_one_batch_of_many_calls_writes_each_row_as_its_visits_say(db: Any) -> None:
    known, new = "CA" + "6" * 32, "CA" + "7" * 32
    journey.record_many(db, [Visit(known, DEFAULT_NOW, node="main", caller_masked="+98912***4567",
                                   caller="+989121234567", called=ENGLISH_LINE)])
    at = DEFAULT_NOW + timedelta(seconds=10)
    unknown = journey.record_many(db, [
        Visit(new, at, node="main", caller_masked="+98935***0000", language="fa"),
        Visit(known, at, node="agent", queue="billing", enqueued=True, escaped=True),
        Visit(new, at + timedelta(seconds=1), node="billing", input="1"),
        Visit(known, at + timedelta(seconds=30), from_status=True, sequence=4, ended=True),
        Visit("CA" + "8" * 32, at, from_status=True, sequence=1, ended=True),
    ])
    assert [v.call_sid for v in unknown] == ["CA" + "8" * 32]
    first, second = stored_of(db, known), stored_of(db, new)
    assert [e["node"] for e in first.path] == ["main", "agent"]
    assert (first.queue, first.enqueued_at, first.zero_presses) == ("billing", at, 1)
    assert (first.ended_at, first.outcome, first.outcome_node, first.last_sequence) == (
        at + timedelta(seconds=30), "hung_up", "agent", 4)
    assert first.caller == "+989121234567" and first.called == ENGLISH_LINE
    assert [(e["node"], e.get("input")) for e in second.path] == [("main", None), ("billing", "1")]
    assert (second.language, second.started_at, second.zero_presses, second.ended_at) == ("fa", at, 0, None)


def test_statuses_repeated_and_out_of_order_across_batches_change_nothing_after_the_last(db: Any) -> None:
    """Twilio retries a status callback and may deliver them out of order; each batch applies a call's statuses
    in SequenceNumber order and a late or repeated one changes nothing (on both databases, as statements)."""
    sid = "CA" + "a" * 32
    journey.record_many(db, [Visit(sid, DEFAULT_NOW, node="main", caller_masked="+98912***4567")])
    ended = DEFAULT_NOW + timedelta(seconds=40)
    journey.record_many(db, [Visit(sid, ended, from_status=True, sequence=3, ended=True)])
    journey.record_many(db, [
        Visit(sid, ended + timedelta(seconds=5), from_status=True, sequence=3, ended=True),  # repeated
        Visit(sid, DEFAULT_NOW + timedelta(seconds=2), from_status=True, sequence=1),  # late
    ])
    call = stored_of(db, sid)
    assert (call.ended_at, call.last_sequence, call.outcome, call.outcome_node) == (ended, 3, "hung_up", "main")


def test_two_batches_writing_one_calls_path_at_once_lose_no_entry(db: Any, monkeypatch: Any) -> None:
    """Two web workers' batches hold visits of the same call and run at the same moment: each read the call's row
    before the other wrote it. Both entries stay in the path, in the caller's order (on PostgreSQL the second
    write used to replace the path the first had just written)."""
    sid = "CA" + "5" * 32
    # Longer than the barrier's wait: the second batch waits for the first's lock rather than give up on it.
    monkeypatch.setattr(journey, "BATCH_LOCK_TIMEOUT", "10s")
    journey.record_many(db, [Visit(sid, DEFAULT_NOW, node="start", caller_masked="+98912***4567")])
    both_read = threading.Barrier(2, timeout=2)
    real_write = journey._write

    def write_once_both_have_read(session: Any, calls: Any) -> None:
        try:
            both_read.wait()
        except threading.BrokenBarrierError:
            pass  # SQLite: the other batch waits for this one's write lock (BEGIN IMMEDIATE) before it reads
        real_write(session, calls)

    monkeypatch.setattr(journey, "_write", write_once_both_have_read)
    visits = [Visit(sid, DEFAULT_NOW + timedelta(seconds=3), node="main", input="1"),
              Visit(sid, DEFAULT_NOW + timedelta(seconds=7), node="billing", input="2")]
    errors: list[BaseException] = []

    def batch(visit: Visit) -> None:
        try:
            journey.record_many(db, [visit])
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=batch, args=(visit,)) for visit in visits]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not errors
    with db.session() as session:
        call = session.scalar(select(InboundCall).where(InboundCall.call_sid == sid))
    assert [e["node"] for e in call.path] == ["start", "main", "billing"]
    assert [e.get("input") for e in call.path] == [None, "1", "2"]


def test_a_stalled_web_process_does_not_hold_its_calls_rows_for_long(pg_db: Any, monkeypatch: Any) -> None:
    """A web process stopped (SIGSTOP, a long GC pause) in the middle of a journey batch holds the rows it locked.
    Another process's batch of the same call gives up waiting after the batch's lock timeout (its visits are kept
    and retried), and the server ends the stalled transaction after the idle timeout, so the next try writes; the
    worker, which updates the same rows when a caller is answered, is not held either."""
    monkeypatch.setattr(journey, "BATCH_LOCK_TIMEOUT", "200ms")
    monkeypatch.setattr(journey, "BATCH_IDLE_TIMEOUT", "1s")
    sid = "CA" + "6" * 32
    journey.record_many(pg_db, [Visit(sid, DEFAULT_NOW, node="start", caller_masked="+98912***4567")])
    real_write = journey._write
    stalled, resume = threading.Event(), threading.Event()

    def stall_once(session: Any, calls: Any) -> None:
        if not stalled.is_set():
            stalled.set()
            resume.wait(10)  # the process is stopped here, its transaction open and the row locked
        real_write(session, calls)

    monkeypatch.setattr(journey, "_write", stall_once)
    errors: list[BaseException] = []

    def stalled_batch() -> None:
        try:
            journey.record_many(pg_db, [Visit(sid, DEFAULT_NOW + timedelta(seconds=3), node="main", input="1")])
        except BaseException as error:  # the server ended its transaction: the writer retries these visits
            errors.append(error)

    thread = threading.Thread(target=stalled_batch)
    thread.start()
    assert stalled.wait(5)
    later = Visit(sid, DEFAULT_NOW + timedelta(seconds=7), node="billing", input="2")
    with pytest.raises(Exception, match="lock"):
        journey.record_many(pg_db, [later])  # gives up after the lock timeout instead of waiting for the stall
    deadline = time.monotonic() + 10
    while True:  # as the writer does: retried until the stalled transaction is gone
        try:
            journey.record_many(pg_db, [later])
            break
        except Exception:
            assert time.monotonic() < deadline, "the stalled transaction still holds the row"
            time.sleep(0.2)
    with pg_db.session() as session:  # the worker answering the caller is not held either
        session.execute(text("SET LOCAL lock_timeout = '2s'"))
        session.execute(update(InboundCall).where(InboundCall.call_sid == sid).values(answered_at=DEFAULT_NOW))
    resume.set()
    thread.join(10)
    assert errors  # the stalled batch learns its transaction is gone (and would be retried by its writer)
    assert [e["node"] for e in stored_of(pg_db, sid).path] == ["start", "billing"]
