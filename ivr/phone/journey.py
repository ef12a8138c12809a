"""The call journey: one InboundCall row per call, the nodes it visited and how it ended.

Callers' numbers are stored masked (and in E.164 only when valid, to close their open callbacks);
sensitive digits never reach this module in plain text (the navigator fingerprints them).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callbacks.db import Database, one_of
from callbacks.models import Agent, InboundCall
from config.schema import ContactCentre

log = logging.getLogger(__name__)
# A status callback can beat its call's first visit (written by another web worker's batch): it waits this long.
STATUS_PATIENCE = 5.0
# How often those waiting status visits are looked for again (each look reads their calls' rows).
EARLY_RECHECK = 0.5
# A call looping through menus for hours must not grow its row without bound.
MAX_PATH_ENTRIES = 200
# A batch locks its calls' rows (PostgreSQL). It waits at most BATCH_LOCK_TIMEOUT for another batch's (then it is
# retried, its visits kept), and a batch whose process stalls inside its transaction (SIGSTOP, a long pause) loses
# the transaction after BATCH_IDLE_TIMEOUT: the server ends it, so other batches and the worker, which updates the
# same rows, are not held by a stopped process.
BATCH_LOCK_TIMEOUT = "2s"
BATCH_IDLE_TIMEOUT = "10s"


@dataclass(frozen=True)
class Visit:
    """One thing that happened on the call, to be written to its journey."""

    call_sid: str
    at: datetime
    node: str | None = None
    input: str | None = None
    language: str | None = None
    outcome: str | None = None
    caller: str | None = None
    caller_masked: str | None = None
    called: str | None = None
    queue: str | None = None
    escaped: bool = False
    enqueued: bool = False
    answered_after: timedelta | None = None
    callback_id: int | None = None
    ended: bool = False
    # A status callback of the call (Twilio's SequenceNumber, and whether the call is over): applied in sequence
    # order to a call the tree has seen; never creates a row.
    from_status: bool = False
    sequence: int | None = None


def record(db: Database, visit: Visit) -> None:
    """Write `visit` into the call's row (creating it on the first webhook of the call)."""
    record_many(db, [visit])


def record_many(db: Database, visits: Sequence[Visit]) -> list[Visit]:
    """Write `visits` (in order) in one transaction: one read of the calls' rows, one insert of the new ones and
    one update per shape of change, then the commit. Returns the status visits of calls with no row yet (their
    first webhook's visit may still be on its way from another process).

    Statements, not the ORM's unit of work: this runs for every webhook of every call (about a tenth of the cost
    per visit). Only the columns a visit changed are written, as the ORM did: a call's row written by two web
    workers' batches at once keeps each one's changes to different columns."""
    unknown: list[Visit] = []
    if not visits:
        return unknown
    with db.session() as session:
        if db.dialect == "postgresql":
            session.execute(_BATCH_LIMITS, {"lock": BATCH_LOCK_TIMEOUT, "idle": BATCH_IDLE_TIMEOUT})
        sids = sorted({v.call_sid for v in visits})
        # Locked (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers), in one order: another web
        # worker's batch holding visits of the same calls waits here and reads them as this one left them (it read
        # them before this one wrote, and its write replaced this one's path entries and counts).
        read = (select(*_READ).where(one_of(_TABLE.c.call_sid, sids, db.dialect)).order_by(_TABLE.c.call_sid)
                .with_for_update())
        calls = {found.call_sid: _CallRow(dict(found._mapping), new=False) for found in session.execute(read)}
        for visit in visits:
            call = calls.get(visit.call_sid)
            if visit.from_status:
                if call is None:
                    unknown.append(visit)
                else:
                    _apply_status(call, visit)
                continue
            if call is None:
                call = _CallRow(_new_call(visit), new=True)
                calls[visit.call_sid] = call
            _apply(call, visit)
        _write(session, calls.values())
    return unknown


# For this transaction only (PostgreSQL): see BATCH_LOCK_TIMEOUT.
_BATCH_LIMITS = text("SELECT set_config('lock_timeout', :lock, true), "
                     "set_config('idle_in_transaction_session_timeout', :idle, true)")

# What a visit can change, read and written as plain columns.
_COLUMNS = ("call_sid", "caller", "caller_masked", "called", "language", "started_at", "ended_at", "path", "outcome",
            "outcome_node", "queue", "callback_id", "zero_presses", "enqueued_at", "answered_at", "last_sequence")
_TABLE: Table = InboundCall.metadata.tables[InboundCall.__tablename__]
_READ = tuple(_TABLE.c[name] for name in _COLUMNS)


class _CallRow:
    """One call's row as the batch sees it: its columns as attributes, and which of them the batch changed."""

    def __init__(self, values: dict[str, Any], *, new: bool):
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_changed", set(values) if new else set())
        object.__setattr__(self, "new", new)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._values:
            raise AttributeError(name)
        if self._values[name] != value:
            self._values[name] = value
            self._changed.add(name)


def _new_call(visit: Visit) -> dict[str, Any]:
    values: dict[str, Any] = dict.fromkeys(_COLUMNS)
    values.update(call_sid=visit.call_sid, caller=visit.caller, caller_masked=visit.caller_masked,
                  called=visit.called, started_at=visit.at, path=[], zero_presses=0)
    return values


def _write(session: Session, calls: Iterable[_CallRow]) -> None:
    """The new rows in one insert, the changed ones in one executemany per set of changed columns."""
    inserts: list[dict[str, Any]] = []
    updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for call in calls:
        if call.new:
            inserts.append(call._values)
        elif call._changed:
            columns = tuple(sorted(call._changed))
            updates.setdefault(columns, []).append(
                {"b_sid": call._values["call_sid"], **{name: call._values[name] for name in columns}})
    conn = session.connection()
    if inserts:
        conn.execute(_TABLE.insert(), inserts)
    for columns, rows in updates.items():
        conn.execute(_TABLE.update().where(_TABLE.c.call_sid == bindparam("b_sid"))
                     .values({name: bindparam(name) for name in columns}), rows)


def _apply_status(call: Any, visit: Visit) -> None:
    """A status callback: its end recorded in SequenceNumber order (late and repeated ones change nothing)."""
    from callbacks.inbound_queue import end_inbound_call

    if visit.sequence is not None and visit.sequence <= (call.last_sequence or -1):
        return
    call.last_sequence = visit.sequence
    if visit.ended:
        end_inbound_call(call, visit.at)


def _apply(call: Any, visit: Visit) -> None:
    if visit.caller_masked and not call.caller_masked:
        # The call's first webhook, written after a later one (another web worker's batch went first).
        call.caller, call.caller_masked, call.called = visit.caller, visit.caller_masked, visit.called
    if visit.at < call.started_at:
        call.started_at = visit.at
    if visit.language:
        call.language = visit.language
    if visit.node is not None:
        entry: dict[str, Any] = {"node": visit.node, "at": visit.at.isoformat()}
        if visit.input is not None:
            entry["input"] = visit.input[:40]
        path = [*(call.path or []), entry]
        if len(path) > 1 and path[-2].get("at", "") > entry["at"]:
            # Batches of two web workers can land out of order: the path stays in the order the caller went.
            path.sort(key=lambda e: e.get("at", ""))
        # A new list, so SQLAlchemy sees the JSON column change.
        call.path = path[-MAX_PATH_ENTRIES:]
    if visit.escaped:
        call.zero_presses = (call.zero_presses or 0) + 1
    if visit.outcome:
        call.outcome = visit.outcome
        call.outcome_node = visit.node
    if visit.queue:
        call.queue = visit.queue
    if visit.enqueued and call.enqueued_at is None:
        call.enqueued_at = visit.at
    if visit.answered_after is not None and call.enqueued_at is not None and call.answered_at is None:
        call.answered_at = call.enqueued_at + visit.answered_after
    if visit.callback_id is not None:
        call.callback_id = visit.callback_id
    if visit.ended and call.ended_at is None:
        call.ended_at = visit.at


class JourneyWriter:
    """Writes the journey off the request path: a webhook hands its visit over (no database wait) and one thread
    writes what has gathered in one transaction every `interval` seconds (or at `batch` visits).

    What a crash can lose: the visits of this process not yet written, at most `interval` seconds of them (plus
    however long the database has been failing, while they wait and are retried). Bookings never go through here:
    a callback is stored before the caller hears its promise. When the database is down longer than it takes to
    gather `limit` visits, the oldest are dropped and counted, with an error in the log (the journey is a record,
    not a promise to the caller). A forked process starts its own thread on its first visit.
    """

    def __init__(self, write: Callable[[list[Visit]], list[Visit] | None], *, interval: float = 0.05,
                 batch: int = 500, limit: int = 20_000, retry: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.write, self.interval, self.batch, self.limit, self.retry = write, interval, batch, limit, retry
        self.clock = clock
        # Status visits of calls not written yet, with when they were first handed over (see `STATUS_PATIENCE`).
        self._early: list[tuple[float, Visit]] = []
        self._early_checked = float("-inf")
        self.dropped = 0
        self._pending: deque[Visit] = deque()
        self._busy = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stopping = False

    def put(self, visit: Visit) -> None:
        with self._cond:
            if len(self._pending) >= self.limit:
                self._pending.popleft()
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    log.error("call journey: %d visits dropped so far (the database has not taken them)",
                              self.dropped)
            self._pending.append(visit)
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._start()
            if len(self._pending) == 1 or len(self._pending) >= self.batch:
                self._cond.notify_all()

    def _start(self) -> None:
        self._pid = os.getpid()
        self._busy = False
        self._thread = threading.Thread(target=self._run, name="ivr-journey", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._early and not self._stopping:
                    self._cond.wait()
                if self._stopping and not self._pending:
                    return
                # Let a batch gather (a burst of webhooks becomes one transaction).
                if len(self._pending) < self.batch and not self._stopping:
                    self._cond.wait(self.interval)
                taken = [self._pending.popleft() for _ in range(min(self.batch, len(self._pending)))]
                self._busy = True
            try:
                self._write(taken)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _write(self, taken: list[Visit]) -> None:
        # Status visits waiting for their call go with a batch every EARLY_RECHECK seconds, not with every batch:
        # a burst of them (a web worker restarted mid-call, another one's batch stuck) must not make each batch
        # read thousands of rows.
        now = self.clock()
        recheck = bool(self._early) and now - self._early_checked >= EARLY_RECHECK
        if not taken and not recheck:
            return
        early: list[tuple[float, Visit]] = []
        if recheck:
            early, self._early, self._early_checked = self._early, [], now
            taken = [v for _, v in early] + taken
        first_seen = {id(v): at for at, v in early}
        for attempt in range(2):
            try:
                result = self.write(taken)
                unknown = result if isinstance(result, list) else []
                now = self.clock()
                if unknown and not self._early:
                    self._early_checked = now  # just looked for these: the next look is EARLY_RECHECK away
                for visit in unknown:
                    since = first_seen.get(id(visit), now)
                    if now - since < STATUS_PATIENCE:
                        self._early.append((since, visit))
                    else:
                        log.info("status of call %s dropped: the call has no journey", visit.call_sid[:40])
                return
            except IntegrityError:
                # Another web worker created one of these calls' rows meanwhile: read them again and merge.
                if attempt:
                    break
            except Exception:
                break
        log.warning("call journey: %d visits not written yet; retrying", len(taken), exc_info=True)
        taken = taken[len(early):]
        self._early = early + self._early
        with self._cond:
            # Back at the front, in order, for the next round (bounded by `limit` like new visits).
            room = max(self.limit - len(self._pending), 0)
            kept = taken[-room:] if room else []
            self.dropped += len(taken) - len(kept)
            self._pending.extendleft(reversed(kept))
            if not self._stopping:
                self._cond.wait(self.retry)

    @property
    def pending(self) -> bool:
        """Visits handed over and not yet written (status visits waiting for their call aside)."""
        return bool(self._pending) or self._busy

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every visit handed over so far is written (or `timeout`); True when all were."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._cond.notify_all()
            while self._pending or self._busy:
                if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
                self._cond.notify_all()
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Write what is pending (within `timeout`) and stop the thread (at exit; gunicorn's graceful stop)."""
        self.flush(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()


def arrival(db: Database, call_sid: str) -> datetime | None:
    """When the caller joined a queue on this call (their place in line), if they did."""
    with db.session() as session:
        return session.scalar(select(InboundCall.enqueued_at).where(InboundCall.call_sid == call_sid))


@dataclass(frozen=True)
class Staffing:
    on_shift: int
    free_numbers: tuple[str, ...]


def staffing(db: Database, queue: str, now: datetime) -> Staffing:
    """Agents on shift for `queue`, and the numbers of those free to ring now (from our own call records)."""
    with db.session() as session:
        agents = session.scalars(select(Agent).where(Agent.on_shift.is_(True))).all()
    serving = [a for a in agents if not a.queues or queue in a.queues]
    free = tuple(
        a.phone for a in serving if a.busy_call_sid is None and (a.available_at is None or a.available_at <= now)
    )
    return Staffing(len(serving), free)


def recent_wait(db: Database, queue: str, now: datetime, window: timedelta = timedelta(hours=1)) -> timedelta | None:
    """Average wait of callers answered in `queue` within `window` (None without enough history)."""
    with db.session() as session:
        rows = session.execute(
            select(InboundCall.enqueued_at, InboundCall.answered_at).where(
                InboundCall.queue == queue,
                InboundCall.answered_at.is_not(None),
                InboundCall.enqueued_at.is_not(None),
                InboundCall.answered_at >= now - window,
            )
        ).all()
    waits = [answered - enqueued for enqueued, answered in rows
             if enqueued is not None and answered is not None and answered >= enqueued]
    if len(waits) < 3:
        return None
    return sum(waits, timedelta(0)) / len(waits)


def resolve_callbacks(db: Database, centre: ContactCentre, caller: str, now: datetime, call_sid: str) -> int:
    """The caller talked to an agent: close their open callbacks as resolved. Returns how many were closed."""
    from callbacks.attempts import close_on_inbound

    with db.session() as session:
        return len(close_on_inbound(session, centre, caller, now, actor=f"caller:{call_sid}", call_sid=call_sid))
