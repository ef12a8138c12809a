"""What the capacity forecast (`callbacks.forecast`) reads from the store: attempt statistics learned from recent
history, agents on shift and their shifts ahead, the open callbacks and the live callers served first; and what
it writes: the per-queue "quotes exceed the SLA" state and its alert.

Staffing rule: an agent on shift now works until the end of the current opening span (a night shift: until the
centre opens). Later, an agent with shifts planned ahead (`AgentShift`) works those; one with none planned is
assumed to work every opening span. A centre with no agents registered at all has nothing to forecast from: its
requests are quoted their SLA.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache, partial
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    BindParameter,
    ColumnElement,
    CursorResult,
    Integer,
    Select,
    any_,
    bindparam,
    case,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callbacks.alerts import raise_alert
from callbacks.businesstime import BusinessCalendar
from callbacks.db import Database
from callbacks.errors import InvalidRequest, NotFound
from callbacks.forecast import (
    HORIZON,
    Advice,
    AttemptSample,
    AttemptStats,
    Backlog,
    Capacity,
    Quote,
    Staffed,
    Work,
    default_stats,
    expected_work,
    learn_stats,
    staffing_advice,
    work_for,
)
from callbacks.models import (
    CALLBACK_IS_OPEN,
    DIALING,
    Agent,
    AgentCall,
    AgentShift,
    Alert,
    Attempt,
    Callback,
    DispatchState,
    InboundCall,
)
from callbacks.policy import queue_deadline
from config.schema import ContactCentre

# Attempts that tell how calls go: the latest this many, ended within HISTORY.
HISTORY_ATTEMPTS = 500
HISTORY = timedelta(days=7)
STATS_TTL = timedelta(minutes=5)
# Outcomes that say nothing about the customer (no call placed, or the callback closed meanwhile).
_NOT_SAMPLES = ("not_placed", "agent_unavailable", "callback_closed")
QUOTE_STATE = "quote:"
log = logging.getLogger(__name__)
# How often the watchdog looks (the forecast keeps this much in hand so a warning is never late by a round).
WATCH_EVERY = timedelta(minutes=1)


def _serves(agent: Agent, queue_id: str) -> bool:
    return not agent.queues or queue_id in agent.queues


# -- statistics ----------------------------------------------------------------------------------------------------
def centre_defaults(centre: ContactCentre) -> AttemptStats:
    """A new centre's assumptions, from its own configuration."""
    from config.menus import menu_of

    queue = centre.queue(None)
    return default_stats(
        talk_seconds=float(menu_of(centre).human.default_handle_time),
        ring_timeout=queue.retry.ring_timeout.total_seconds(),
        wrap_up=centre.dispatch.wrap_up.total_seconds(),
        tick=centre.dispatch.tick.total_seconds(),
    )


def read_stats(session: Session, centre: ContactCentre, now: datetime) -> AttemptStats:
    """Attempt statistics from the latest attempts (claim to agent free again), defaults for a new centre."""
    rows = session.execute(
        select(Attempt.outcome, Attempt.created_at, Attempt.ended_at)
        .where(Attempt.state == "ended", Attempt.ended_at >= now - HISTORY, Attempt.outcome.not_in(_NOT_SAMPLES))
        .order_by(Attempt.id.desc())
        .limit(HISTORY_ATTEMPTS)
    ).all()
    # The agent is held from the claim to the end of the call, then wraps up, then waits for the next round.
    after = centre.dispatch.wrap_up.total_seconds() + centre.dispatch.tick.total_seconds() / 2
    samples = [
        AttemptSample(outcome == "connected", max(0.0, (ended - created).total_seconds()) + after)
        for outcome, created, ended in rows
        if ended is not None and created is not None
    ]
    return learn_stats(samples, centre_defaults(centre))


class StatsCache:
    """Attempt statistics, read again at most every `ttl` of the injected clock (one per service or worker)."""

    def __init__(self, ttl: timedelta = STATS_TTL):
        self.ttl = ttl
        self._lock = threading.Lock()
        self._value: tuple[datetime, AttemptStats] | None = None

    def get(self, session: Session, centre: ContactCentre, now: datetime) -> AttemptStats:
        with self._lock:
            cached = self._value
        if cached is not None and cached[0] <= now < cached[0] + self.ttl:
            return cached[1]
        stats = read_stats(session, centre, now)
        with self._lock:
            self._value = (now, stats)
        return stats


# -- staffing ------------------------------------------------------------------------------------------------------
def _merge(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def opening_spans(calendar: BusinessCalendar, now: datetime, horizon: timedelta = HORIZON) -> list[
        tuple[datetime, datetime]]:
    """Opening spans (UTC) that end after `now`, up to the horizon."""
    local = now.astimezone(calendar.zone).date() - timedelta(days=1)
    out: list[tuple[datetime, datetime]] = []
    for n in range(horizon.days + 2):
        out.extend((s, e) for s, e in calendar.spans_on(local + timedelta(days=n)) if e > now)
    return _merge(out)


def staffed_spans(agents: list[Agent], plans: dict[int, list[tuple[datetime, datetime]]],
                  spans: list[tuple[datetime, datetime]], now: datetime) -> list[Staffed]:
    """Each agent's working time ahead (see the module's staffing rule), one Staffed span per stretch."""
    current = next(((s, e) for s, e in spans if s <= now < e), None)
    upcoming = [(s, e) for s, e in spans if s > now]
    out: list[Staffed] = []
    for agent in agents:
        mine: list[tuple[datetime, datetime]] = []
        if agent.on_shift:
            if current is not None:
                mine.append((now, current[1]))
            elif upcoming:
                mine.append((now, upcoming[0][0]))
        planned = plans.get(agent.id)
        if planned:
            mine.extend(planned)
        else:
            mine.extend(upcoming)
        out.extend(Staffed(s, e, 1.0) for s, e in _merge(mine))
    return out


def read_staffing(session: Session, calendar: BusinessCalendar, now: datetime,
                  queue_id: str | None = None) -> tuple[list[Staffed], int]:
    """Staffed spans of the agents serving `queue_id` (all agents when None), and how many agents are registered."""
    agents = list(session.scalars(select(Agent).order_by(Agent.id)))
    registered = len(agents)
    if queue_id is not None:
        agents = [a for a in agents if _serves(a, queue_id)]
    plans: dict[int, list[tuple[datetime, datetime]]] = {}
    for shift in session.scalars(select(AgentShift).where(AgentShift.ends_at > now,
                                                          AgentShift.starts_at < now + HORIZON)):
        plans.setdefault(shift.agent_id, []).append((max(shift.starts_at, now), shift.ends_at))
    return staffed_spans(agents, plans, opening_spans(calendar, now), now), registered


def plan_shift(db: Database, name: str, starts_at: datetime, ends_at: datetime, now: datetime) -> AgentShift:
    """Plan a shift ahead for the agent called `name` (the forecast then counts them only in planned shifts)."""
    if ends_at <= starts_at:
        raise InvalidRequest("shift_inverted", "A shift must end after it starts.", "ends_at")
    if ends_at <= now:
        raise InvalidRequest("shift_past", "This shift has already ended.", "ends_at")
    with db.session() as session:
        agent = session.scalar(select(Agent).where(Agent.name == name))
        if agent is None:
            raise NotFound("agent_not_found", f"No agent named {name!r}.", "name")
        shift = AgentShift(agent_id=agent.id, starts_at=starts_at, ends_at=ends_at, created_at=now)
        session.add(shift)
        return shift


# -- the backlog ---------------------------------------------------------------------------------------------------
def _sharing(centre: ContactCentre, agents: list[Agent], queue_id: str | None) -> set[str]:
    """Queues whose callbacks take the same agents as `queue_id` (every queue when None or a generalist serves it)."""
    if queue_id is None:
        return set(centre.queues)
    out: set[str] = set()
    for agent in agents:
        if _serves(agent, queue_id):
            if not agent.queues:
                return set(centre.queues)
            out.update(agent.queues)
    return out or {queue_id}


def inbound_handle(centre: ContactCentre) -> timedelta:
    from config.menus import menu_of

    return timedelta(seconds=menu_of(centre).human.default_handle_time)


def _callers_waiting(since: datetime | BindParameter[Any]) -> Select[Any]:
    """How many callers wait in a queue now (enqueued from `since`, the longest wait ago)."""
    # Here, not at the top: inbound_queue imports attempts, which imports the service, which imports this module.
    from callbacks.inbound_queue import waiting_since

    return select(func.count()).select_from(InboundCall).where(waiting_since(since))


def _callers_talking() -> Select[Any]:
    from callbacks.inbound_queue import OPEN_STATES

    # The states written into the statement: nothing to expand at every execution (see CALLBACK_IS_OPEN).
    return select(func.count()).select_from(AgentCall).where(
        AgentCall.state.in_([literal_column(f"'{state}'") for state in OPEN_STATES]))


def callers_ahead(centre: ContactCentre, capacity: Capacity, now: datetime, waiting: int, talking: int) -> float:
    """Agent-seconds owed to live callers before any callback: those waiting, and half of those talking (at most
    one conversation per agent on shift)."""
    handle = inbound_handle(centre).total_seconds()
    return handle * waiting + handle * min(talking, capacity.agents_at(now)) / 2


@dataclass
class Snapshot:
    """Everything the forecast needs, read at `now` in one transaction."""

    now: datetime
    backlog: Backlog
    stats: AttemptStats
    registered: int
    spans: list[Staffed]
    callers_waiting: int = 0
    # Every agent serves every queue: this reading holds for any queue.
    everyone: bool = False
    # The queues whose callbacks were read (those sharing agents with the queue asked for).
    queues: frozenset[str] = frozenset()
    # Agent-seconds owed but not in the backlog's order (see BacklogCache): counted ahead of a new request.
    extra: float = 0.0


_CALLBACKS = Callback.__table__.c
_OPEN_WORK = select(_CALLBACKS.id, _CALLBACKS.queue, _CALLBACKS.deadline_at, _CALLBACKS.attempts_made,
                    _CALLBACKS.next_attempt_at, _CALLBACKS.status, _CALLBACKS.window_end).where(
    CALLBACK_IS_OPEN)


def read_backlog(session: Session, centre: ContactCentre, calendar: BusinessCalendar, stats: AttemptStats,
                 now: datetime, queue_id: str | None = None, watch_every: timedelta = WATCH_EVERY) -> Snapshot:
    """The open callbacks (of the queues sharing `queue_id`'s agents), the live callers, and the agents ahead."""
    from callbacks.inbound_queue import MAX_WAIT

    spans, registered = read_staffing(session, calendar, now, queue_id)
    agents = list(session.scalars(select(Agent)))
    queues = _sharing(centre, agents, queue_id)
    # Through the session's connection: the rows as plain tuples, without the ORM's loading (a third of a reading).
    rows = session.connection().execute(_OPEN_WORK).all()
    work: list[Work] = []
    # A callback's expected work and tail depend only on its queue, attempts made and kind: worked out once each.
    shapes: dict[tuple[str, int, bool, bool], tuple[float, timedelta]] = {}
    for ident, queue, deadline, made, next_at, status, window_end in rows:
        config = centre.queues.get(queue)
        if config is None or queue not in queues:
            continue
        key = (queue, made, status == DIALING, window_end is not None and window_end == deadline)
        shape = shapes.get(key)
        if shape is None:
            one = work_for(queue, config, stats, deadline=deadline, attempts_made=made, ready_at=next_at,
                           in_flight=key[2], watch_every=watch_every, window=key[3])
            shape = shapes[key] = (one.seconds, one.tail)
        work.append(Work(deadline, shape[0], shape[1], queue, next_at, ident))
    # Live callers are served first (callbacks.inbound_queue): those waiting, and half of those talking.
    waiting: int = session.scalar(_callers_waiting(now - MAX_WAIT)) or 0
    talking: int = session.scalar(_callers_talking()) or 0
    capacity = Capacity(now, spans)
    ahead = callers_ahead(centre, capacity, now, waiting, talking)
    everyone = all(not a.queues for a in agents)
    return Snapshot(now, Backlog(now, capacity, work, ahead), stats, registered, spans, waiting, everyone,
                    frozenset(queues))


def ceiling_for(centre: ContactCentre, calendar: BusinessCalendar, queue_id: str, requested_at: datetime) -> datetime:
    """The latest promise a request of `queue_id` may get (counted in opening hours)."""
    return calendar.add(requested_at, centre.queue(queue_id).quote_ceiling)


def quote_from(snapshot: Snapshot, centre: ContactCentre, calendar: BusinessCalendar, queue_id: str,
               requested_at: datetime, sla_deadline: datetime, *, window_start: datetime | None = None,
               window: bool = False) -> Quote:
    """The deadline to promise a request of `queue_id` (see `Backlog.quote`); for a customer's window,
    `sla_deadline` is its end and `window_start` its start."""
    queue = centre.queue(queue_id)
    if not queue.promise.forecast:
        return Quote(sla_deadline, sla_deadline, "sla", None, "")
    if snapshot.registered == 0:
        # No agent registered with us: there is nothing to forecast from (a centre being set up).
        return Quote(sla_deadline, sla_deadline, "sla", None, "no agents registered")
    ceiling = max(ceiling_for(centre, calendar, queue_id, requested_at), sla_deadline)
    ready = snapshot.now if window_start is None else max(window_start, snapshot.now)
    return snapshot.backlog.quote(queue_id, queue, snapshot.stats, sla_deadline, ceiling, watch_every=WATCH_EVERY,
                                  ready_at=ready, window=window, extra=snapshot.extra)


# -- quoting new requests: the backlog read once a second per process ----------------------------------------------
QUOTE_READING_TTL = timedelta(seconds=1)
# With readings refreshed in the background: a reading this old is not served (the request reads inline), so a
# refresh that keeps failing or never runs cannot leave quotes on an old reading.
QUOTE_READING_MAX_AGE = timedelta(seconds=10)
# A callback whose id was handed out shortly before a reading may commit after it: ids this close below the
# highest one read are looked at again on every quote (those the reading had are left out).
LATE_COMMIT_IDS = 64


# Runs a task off the request (production: a thread of its own); see BacklogCache.
Background = Callable[[Callable[[], None]], None]


def in_a_thread(task: Callable[[], None]) -> None:
    threading.Thread(target=task, name="backlog-reading", daemon=True).start()


@dataclass(frozen=True)
class _Reading:
    snapshot: Snapshot
    top_id: int
    # Ids among the LATE_COMMIT_IDS up to top_id that the snapshot does not hold: only these can commit late (the
    # others it counted, or they were closed or never committed).
    unread: tuple[int, ...]
    staffing: tuple[Any, ...]

    def since_params(self) -> dict[str, Any]:
        """The values `since_columns` is bound with to count what came since this reading."""
        return {SINCE_TOP: self.top_id, SINCE_UNREAD: list(self.unread)}


@dataclass(frozen=True)
class LiveState:
    """What a quote reads fresh on every request (see BacklogCache)."""

    # Agents registered, on shift, their last change; shifts planned, the newest: a change means staffing changed.
    staffing: tuple[Any, ...]
    waiting: int
    talking: int
    # Since when the queue's quotes are flagged as beyond its SLA (None: they are not; see note_quote).
    over_sla_since: datetime | None


# The bound parameters of `live_state_columns`.
LIVE_SINCE, LIVE_QUOTE_STATE = "live_waiting_since", "live_quote_state"


def live_state_columns() -> list[Any]:
    """The LiveState as scalar subqueries, for a caller to read in one statement with its own (`live_state_of`),
    bound with `live_state_params`. Build it once: only its execution is per request."""
    return [
        select(func.count(Agent.id)).scalar_subquery(),
        select(func.count(Agent.id)).where(Agent.on_shift.is_(True)).scalar_subquery(),
        select(func.max(Agent.shift_changed_at)).scalar_subquery(),
        select(func.count(AgentShift.id)).scalar_subquery(),
        select(func.max(AgentShift.id)).scalar_subquery(),
        _callers_waiting(bindparam(LIVE_SINCE)).scalar_subquery(),
        _callers_talking().scalar_subquery(),
        select(DispatchState.at).where(DispatchState.name == bindparam(LIVE_QUOTE_STATE)).scalar_subquery(),
    ]


def live_state_params(now: datetime, queue_id: str) -> dict[str, Any]:
    from callbacks.inbound_queue import MAX_WAIT

    return {LIVE_SINCE: now - MAX_WAIT, LIVE_QUOTE_STATE: quote_state(queue_id)}


def live_state_of(values: Sequence[Any]) -> LiveState:
    return LiveState(tuple(values[:5]), int(values[5] or 0), int(values[6] or 0), values[7])


_LIVE_STATE: Any = None


def read_live_state(session: Session, now: datetime, queue_id: str) -> LiveState:
    global _LIVE_STATE
    if _LIVE_STATE is None:
        _LIVE_STATE = select(*live_state_columns())
    return live_state_of(session.execute(_LIVE_STATE, live_state_params(now, queue_id)).one())


# The bound parameters of `since_columns` (`BacklogCache.since_params` gives their values).
SINCE_TOP, SINCE_UNREAD = "since_top", "since_unread"


def since_columns(queues: Sequence[str], dialect: str) -> list[Any]:
    """Per queue of `queues`, the open callbacks that came since a reading: requested after its highest id, or
    among its unread ids (committed after it; none, nearly always). Columns of a one-row derived table, for a
    caller to read with its own statement. Build it once: only its execution is per request."""
    unread: ColumnElement[bool]
    if dialect == "postgresql":  # one array: one statement text whatever the number of ids
        unread = Callback.id == any_(bindparam(SINCE_UNREAD, type_=ARRAY(Integer)))
    else:
        unread = Callback.id.in_(bindparam(SINCE_UNREAD, expanding=True))
    counts = select(*(func.count(case((Callback.queue == queue, 1))).label(f"since_{n}")
                      for n, queue in enumerate(queues)))
    return list(counts.where(CALLBACK_IS_OPEN, or_(Callback.id > bindparam(SINCE_TOP), unread)).subquery().c)


@lru_cache(maxsize=8)
def _since_statement(queues: tuple[str, ...], dialect: str) -> Select[Any]:
    return select(*since_columns(queues, dialect))


@dataclass(frozen=True)
class Since:
    """What a caller read with `since_columns`, bound with `BacklogCache.since_params`, for the reading those named."""

    reading: _Reading | None
    # How many came since, per queue.
    counts: dict[str, int]


class BacklogCache:
    """The open backlog for quoting new requests, read from the store at most every `ttl` of the injected clock,
    per process (one reading per group of queues sharing agents).

    Reading every open callback for every request made each request cost as much as the backlog was long. Between
    readings a quote asks the store only what could make it too early: callbacks requested since (by any process;
    each counted ahead of the new request with the expected work of a new request of its queue), the live callers
    now, the agent time gone since the reading, and whether staffing or the attempt statistics changed (then it
    reads again). Callbacks that ended since are still counted, so a quote is never earlier than a fresh reading's,
    only sometimes later (by the callbacks that ended since the reading). Left out: an agent's queues edited since.

    With `background` (and `sessions` to read with), a request that finds the reading older than `ttl` is quoted
    from it as above and hands the new reading to `background` (one at a time per group): the reading, 40 to
    200 ms with 1,000 to 5,000 open, is off the request path. A reading older than `max_age` is never served (the
    request reads inline). Without `background` the request that finds it stale reads inline.
    """

    def __init__(self, ttl: timedelta = QUOTE_READING_TTL, *, background: Background | None = None,
                 sessions: Callable[[], AbstractContextManager[Session]] | None = None,
                 max_age: timedelta = QUOTE_READING_MAX_AGE):
        if background is not None and sessions is None:
            raise ValueError("a background reading needs `sessions` to read with")
        self.ttl, self.max_age = ttl, max(max_age, ttl)
        self.background, self.sessions = background, sessions
        self._lock = threading.Lock()
        self._readings: dict[str | None, tuple[datetime, _Reading]] = {}
        self._refreshing: set[str | None] = set()

    def since_params(self, queue_id: str) -> tuple[_Reading | None, dict[str, Any]]:
        """For a caller reading `since_columns` with its own statement: the reading a quote for `queue_id` would be
        served from now (for `Since`) and the values to bind."""
        with self._lock:
            cached = self._readings.get(queue_id if queue_id in self._readings else None)
        if cached is None:  # nothing to count from: above every id, nothing comes back
            return None, {SINCE_TOP: 2**31 - 1, SINCE_UNREAD: []}
        return cached[1], cached[1].since_params()

    def read(self, session: Session, centre: ContactCentre, calendar: BusinessCalendar, stats: AttemptStats,
             now: datetime, queue_id: str, live: LiveState | None = None, since: Since | None = None) -> Snapshot:
        """The backlog as the quote for a request of `queue_id` placed `now` must see it (`live`: the LiveState,
        `since`: what came since the reading, when the caller has just read them with its own statement)."""
        live = live or read_live_state(session, now, queue_id)
        with self._lock:
            group = queue_id if queue_id in self._readings else None
            cached = self._readings.get(group)
        usable = self.max_age if self.background is not None else self.ttl
        if (cached is None or not cached[0] <= now < cached[0] + usable or cached[1].staffing != live.staffing
                or cached[1].snapshot.stats != stats):
            return self._read(session, centre, calendar, stats, now, queue_id, live.staffing)
        if now >= cached[0] + self.ttl:
            self._refresh_later(group, centre, calendar, stats, now, queue_id, live.staffing)
        reading = cached[1]
        snapshot = reading.snapshot
        if since is None or since.reading is not reading:  # (a newer reading landed after the caller asked)
            queues = tuple(centre.queues)
            values = session.execute(_since_statement(queues, session.get_bind().dialect.name),
                                     reading.since_params()).one()
            since = Since(reading, dict(zip(queues, values, strict=True)))
        extra = sum(count * stats.remaining_work(centre.queues[queue].retry.max_attempts)
                    for queue, count in since.counts.items()
                    if count and queue in snapshot.queues and queue in centre.queues)
        backlog = snapshot.backlog
        ahead = callers_ahead(centre, backlog.capacity, now, live.waiting, live.talking)
        # The agent time between the reading and now is gone: it cannot do the work ahead of this request.
        extra += max(0.0, ahead - backlog.ahead) + backlog.capacity.until(now)
        return replace(snapshot, now=now, callers_waiting=live.waiting, extra=extra)

    def _refresh_later(self, group: str | None, centre: ContactCentre, calendar: BusinessCalendar,
                       stats: AttemptStats, now: datetime, queue_id: str, staffing: tuple[Any, ...]) -> None:
        with self._lock:
            if group in self._refreshing:
                return
            self._refreshing.add(group)

        def refresh() -> None:
            try:
                assert self.sessions is not None
                with self.sessions() as session:
                    self._read(session, centre, calendar, stats, now, queue_id, staffing)
            except Exception:
                # The next request past the `ttl` asks again; past `max_age` requests read inline (and say so).
                log.warning("reading the backlog in the background failed", exc_info=True)
            finally:
                with self._lock:
                    self._refreshing.discard(group)

        assert self.background is not None
        self.background(refresh)

    def _read(self, session: Session, centre: ContactCentre, calendar: BusinessCalendar, stats: AttemptStats,
              now: datetime, queue_id: str, staffing: tuple[Any, ...]) -> Snapshot:
        # The highest id first: a callback committed between this and the rows read is counted twice for a
        # second (a later quote, never an earlier one).
        top = session.scalar(select(func.max(Callback.id))) or 0
        snapshot = read_backlog(session, centre, calendar, stats, now, queue_id)
        low = max(0, top - LATE_COMMIT_IDS)
        seen = {w.ident for w in snapshot.backlog.work if w.ident is not None and w.ident > low}
        unread = tuple(ident for ident in range(low + 1, top + 1) if ident not in seen)
        group = None if snapshot.everyone else queue_id
        with self._lock:
            held = self._readings.get(group)
            if held is None or held[0] <= now:  # a slow background reading never replaces a newer one
                self._readings[group] = (now, _Reading(snapshot, top, unread, staffing))
        return snapshot


# -- the supervisors' outlook ---------------------------------------------------------------------------------------
# Expected requests for the rest of the day arrive as they did over this last stretch.
RATE_WINDOW = timedelta(hours=1)


@dataclass
class QueueOutlook:
    queue: str
    quote: Quote
    # Promises of this queue due before the end of the day that the forecast sees missed.
    misses_today: int


@dataclass
class Outlook:
    """The board's forecast: each queue's quote now against its SLA, misses ahead, and the agents needed."""

    now: datetime
    day_end: datetime | None
    queues: list[QueueOutlook]
    advice: Advice | None
    agents_on_shift: float
    stats: AttemptStats
    rates: dict[str, float]


def arrival_rates(session: Session, centre: ContactCentre, now: datetime) -> dict[str, float]:
    """Requests per hour by queue over the last RATE_WINDOW."""
    rows = session.execute(select(Callback.queue, func.count()).where(
        Callback.requested_at >= now - RATE_WINDOW, Callback.requested_at <= now).group_by(Callback.queue)).all()
    hours = RATE_WINDOW.total_seconds() / 3600
    return {queue: count / hours for queue, count in rows if queue in centre.queues}


def day_end_for(calendar: BusinessCalendar, now: datetime) -> datetime | None:
    """The end of the opening span under way, or of the next one when closed."""
    spans = opening_spans(calendar, now, timedelta(days=8))
    return spans[0][1] if spans else None


def advise(session: Session, centre: ContactCentre, calendar: BusinessCalendar, stats: AttemptStats,
           now: datetime) -> tuple[Snapshot, Advice | None, dict[str, float], datetime | None]:
    """The agents needed for the rest of the day (see `callbacks.forecast.staffing_advice`)."""
    snapshot = read_backlog(session, centre, calendar, stats, now)
    rates = arrival_rates(session, centre, now)
    day_end = day_end_for(calendar, now)
    if day_end is None or snapshot.registered == 0:
        return snapshot, None, rates, day_end
    sla: dict[str, Callable[[datetime], datetime]] = {q: partial(queue_deadline, queue, calendar=calendar)
                                                      for q, queue in centre.queues.items() if queue.promise.forecast}
    expected = expected_work({q: centre.queues[q] for q in sla}, stats, {q: r for q, r in rates.items() if q in sla},
                             now, day_end, sla, watch_every=WATCH_EVERY)
    advice = staffing_advice(snapshot.backlog, snapshot.spans, expected, day_end)
    return snapshot, advice, rates, day_end


def outlook(db: Database, centre: ContactCentre, now: datetime, stats_cache: StatsCache | None = None) -> Outlook:
    """Everything the board's forecast panel shows, read at `now`."""
    calendar = BusinessCalendar.for_centre(centre)
    with db.session() as session:
        stats = (stats_cache or StatsCache()).get(session, centre, now)
        snapshot, advice, rates, day_end = advise(session, centre, calendar, stats, now)
        queues = []
        for queue_id, queue in centre.queues.items():
            mine = snapshot if snapshot.everyone else read_backlog(session, centre, calendar, stats, now, queue_id)
            quote = quote_from(mine, centre, calendar, queue_id, now, queue_deadline(queue, now, calendar))
            misses = sum(1 for r in snapshot.backlog.at_risk() if r.work.queue == queue_id and r.work.ident
                         and (day_end is None or r.work.deadline <= day_end))
            queues.append(QueueOutlook(queue_id, quote, misses))
    return Outlook(now, day_end, queues, advice, snapshot.backlog.capacity.agents_at(now), stats, rates)


# -- quotes beyond the SLA -----------------------------------------------------------------------------------------
def quote_state(queue_id: str) -> str:
    """The DispatchState row that says since when `queue_id`'s quotes exceed its SLA."""
    return QUOTE_STATE + queue_id


def note_quote(session: Session, centre: ContactCentre, queue_id: str, quote: Quote, now: datetime) -> Alert | None:
    """Remember whether `queue_id`'s quotes exceed its SLA; alert supervisors when they first do (once per episode,
    whichever process sees it first)."""
    name = quote_state(queue_id)
    over = quote.source != "sla"
    row = session.get(DispatchState, name)
    if row is None:
        if not over:
            return None
        try:
            with session.begin_nested():
                session.add(DispatchState(name=name, at=None))
        except IntegrityError:
            pass
    if over:
        won = cast("CursorResult[Any]", session.execute(  # an UPDATE's Result is a CursorResult (rowcount)
            update(DispatchState).where(DispatchState.name == name, DispatchState.at.is_(None))
            .values(at=now).execution_options(synchronize_session=False))).rowcount == 1
        if not won:
            return None
        zone = centre.zone
        reason = (f"Quotes for {queue_id} exceed the SLA: a request now is promised "
                  f"{quote.deadline.astimezone(zone):%Y-%m-%d %H:%M} instead of "
                  f"{quote.sla_deadline.astimezone(zone):%H:%M} ({quote.why})")
        if quote.overloaded:
            reason = f"Overloaded: {reason}; beyond the ceiling, customers are told we are overloaded"
        return raise_alert(session, None, "quote_over_sla", now, reason)
    session.execute(update(DispatchState).where(DispatchState.name == name, DispatchState.at.is_not(None))
                    .values(at=None).execution_options(synchronize_session=False))
    return None


def over_sla_since(session: Session, queue_id: str) -> datetime | None:
    row = session.get(DispatchState, quote_state(queue_id))
    return row.at if row is not None else None


__all__ = [
    "BacklogCache",
    "LiveState",
    "Outlook",
    "QueueOutlook",
    "Since",
    "Snapshot",
    "StatsCache",
    "advise",
    "arrival_rates",
    "callers_ahead",
    "ceiling_for",
    "centre_defaults",
    "live_state_columns",
    "live_state_of",
    "live_state_params",
    "note_quote",
    "opening_spans",
    "outlook",
    "plan_shift",
    "quote_from",
    "quote_state",
    "read_backlog",
    "read_live_state",
    "read_staffing",
    "read_stats",
    "since_columns",
    "staffed_spans",
]
