"""The capacity forecast: when would work placed now be reached, earliest deadline first? Pure, no I/O.

A fluid model of the centre. Agents give agent-seconds over time (`Capacity`: a step function built from who is on
shift now and the shifts ahead); open callbacks need agent-seconds before their deadlines (`Work`: the expected
time of the attempts still owed, from `AttemptStats` learned from recent history). Under earliest-deadline-first,
a piece of work is reached once the capacity from now has done everything with an earlier deadline (and the live
callers, who are served first). Every attempt a callback is owed must fit before its deadline, so each piece of
work carries a `tail`: its next attempt, then each later one after the retry policy's delay; the tail must lie in
one stretch of staffed time.

From that:
- `Backlog.quote(...)`: the deadline to promise a new request: the SLA when the forecast keeps it (without
  pushing a promise already given into risk), else the forecast plus the queue's margin (`quote_deadline`);
- `Backlog.at_risk()`: promises the forecast says will not be kept, in time to warn supervisors;
- `staffing_advice(...)`: how many more agents, until when, would keep every promise and quote every expected
  request its SLA for the rest of the day.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from config.schema import Queue

# Quotes later than the SLA are rounded up to this, so a customer hears "by 14:35", not "by 14:33:17".
QUOTE_ROUNDING = timedelta(minutes=5)
# Fewer attempts than this in the recent history: the defaults are used.
MIN_SAMPLE = 30
# The forecast looks no further ahead than this.
HORIZON = timedelta(days=8)


# -- attempt statistics --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AttemptSample:
    """One past attempt: whether the customer was reached, and how long it held its agent (claim to free again)."""

    reached: bool
    agent_seconds: float


@dataclass(frozen=True)
class AttemptStats:
    """How attempts go: the share that reach the customer and the agent time each kind takes."""

    answer_rate: float
    answered_seconds: float
    unanswered_seconds: float
    # How many past attempts these figures come from (0: the defaults of a new centre).
    sample: int = 0

    @property
    def attempt_seconds(self) -> float:
        """Expected agent time of one attempt."""
        return self.answer_rate * self.answered_seconds + (1 - self.answer_rate) * self.unanswered_seconds

    def remaining_work(self, attempts_left: int) -> float:
        """Expected agent-seconds until a callback with `attempts_left` attempts is done (retries included)."""
        if attempts_left <= 0:
            return 0.0
        miss = 1 - self.answer_rate
        return self.attempt_seconds * sum(miss**k for k in range(attempts_left))


def default_stats(talk_seconds: float, ring_timeout: float, wrap_up: float, tick: float) -> AttemptStats:
    """A new centre's assumptions: 70% answered, the menu's handle time for a conversation."""
    overhead = 15.0 + wrap_up + tick / 2  # the agent answers and presses 1; wrap-up; waiting for the next tick
    return AttemptStats(0.7, talk_seconds + 10.0 + overhead, ring_timeout + overhead)


def learn_stats(samples: Iterable[AttemptSample], defaults: AttemptStats, min_sample: int = MIN_SAMPLE) -> AttemptStats:
    """Figures from recent attempts; each figure falls back to the default until there are enough of its kind."""
    rows = list(samples)
    reached = [s.agent_seconds for s in rows if s.reached]
    unreached = [s.agent_seconds for s in rows if not s.reached]
    total = len(reached) + len(unreached)
    if total < min_sample:
        return defaults

    # A few answered ones say little about talk time: blend with the default until the kind has a full sample.
    def blend(values: list[float], default: float) -> float:
        if not values:
            return default
        weight = min(1.0, len(values) / min_sample)
        return weight * (sum(values) / len(values)) + (1 - weight) * default

    return AttemptStats(
        answer_rate=len(reached) / total,
        answered_seconds=blend(reached, defaults.answered_seconds),
        unanswered_seconds=blend(unreached, defaults.unanswered_seconds),
        sample=total,
    )


# -- capacity ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Staffed:
    """`agents` agents available over [start, end)."""

    start: datetime
    end: datetime
    agents: float


class Capacity:
    """Agent-seconds available from `now`: a step function of time built from staffed spans."""

    def __init__(self, now: datetime, spans: Iterable[Staffed], horizon: timedelta = HORIZON):
        self.now = now
        end = now + horizon
        edges = {now, end}
        spans = [s for s in spans if s.end > now and s.start < end and s.agents > 0]
        for s in spans:
            edges.add(max(s.start, now))
            edges.add(min(s.end, end))
        self.times = sorted(edges)
        self.counts = [0.0] * (len(self.times) - 1)
        for s in spans:
            lo = bisect.bisect_left(self.times, max(s.start, now))
            hi = bisect.bisect_left(self.times, min(s.end, end))
            for i in range(lo, hi):
                self.counts[i] += s.agents
        # Agent-seconds done from `now` to each edge.
        self.done = [0.0]
        for i, count in enumerate(self.counts):
            self.done.append(self.done[-1] + count * (self.times[i + 1] - self.times[i]).total_seconds())

    @property
    def empty(self) -> bool:
        return self.done[-1] <= 0

    def agents_at(self, moment: datetime) -> float:
        i = bisect.bisect_right(self.times, moment) - 1
        return self.counts[i] if 0 <= i < len(self.counts) else 0.0

    def until(self, moment: datetime) -> float:
        """Agent-seconds available between now and `moment`."""
        if moment <= self.now:
            return 0.0
        i = bisect.bisect_right(self.times, moment) - 1
        if i >= len(self.counts):
            return self.done[-1]
        return self.done[i] + self.counts[i] * (moment - self.times[i]).total_seconds()

    def reach(self, work: float) -> datetime | None:
        """When `work` agent-seconds from now are done; None beyond the horizon."""
        if work <= 0:
            return self.now
        i = bisect.bisect_left(self.done, work)
        if i >= len(self.done):
            return None
        # done[i-1] < work <= done[i]: inside segment i-1, which has agents.
        seg = i - 1
        return self.times[seg] + timedelta(seconds=(work - self.done[seg]) / self.counts[seg])

    def fit(self, start: datetime, length: timedelta) -> datetime | None:
        """The earliest moment from `start` that begins `length` of time staffed throughout; None if none."""
        i = max(0, bisect.bisect_right(self.times, start) - 1)
        begin: datetime | None = None
        while i < len(self.counts):
            if self.counts[i] > 0:
                if begin is None:
                    begin = max(start, self.times[i])
                if self.times[i + 1] - begin >= length:
                    return begin
            else:
                begin = None
            i += 1
        return None


# -- work ----------------------------------------------------------------------------------------------------------
def chain(queue: Queue, attempts_made: int) -> timedelta:
    """From the next attempt's start to the last moment the last attempt owed may start, plus that attempt:
    every attempt owed, each later one after the retry policy's delay."""
    retry = queue.retry
    total = retry.attempt_duration
    for number in range(attempts_made + 2, retry.max_attempts + 1):
        total += retry.delay_before(number) + retry.attempt_duration
    return total


def warn_before(queue: Queue, attempts_made: int, watch_every: timedelta) -> timedelta:
    """How long before its deadline a callback must have started its next attempt: its chain of attempts, and never
    less than the queue's at-risk margin plus one attempt (so a warning comes at least the margin before a miss)."""
    return max(chain(queue, attempts_made), queue.sla.at_risk_margin + queue.retry.attempt_duration + watch_every)


@dataclass(frozen=True)
class Work:
    """An open callback, as the forecast sees it."""

    deadline: datetime
    seconds: float  # expected agent-seconds still needed
    tail: timedelta  # see `warn_before`
    queue: str
    ready_at: datetime
    ident: int | None = None
    # How many requests this stands for (expected requests are grouped).
    count: float = 1.0

    @property
    def latest_start(self) -> datetime:
        return self.deadline - self.tail


def work_for(queue_id: str, queue: Queue, stats: AttemptStats, *, deadline: datetime, attempts_made: int,
             ready_at: datetime, in_flight: bool = False, ident: int | None = None,
             watch_every: timedelta = timedelta(minutes=1), window: bool = False) -> Work:
    """The forecast's view of one open callback (`in_flight`: an attempt is on the phone now; `window`: the
    customer's own window is its deadline, and the retries are squeezed into it, so only one attempt must fit)."""
    left = max(0, queue.retry.max_attempts - attempts_made)
    made = max(attempts_made, queue.retry.max_attempts - 1) if window else attempts_made
    if in_flight:
        # Half the current attempt on average, then the later ones if this one fails.
        seconds = stats.attempt_seconds / 2 + (1 - stats.answer_rate) * stats.remaining_work(left - 1)
        tail = warn_before(queue, made + 1, watch_every)
    else:
        seconds = stats.remaining_work(left)
        tail = warn_before(queue, made, watch_every)
    return Work(deadline, seconds, tail, queue_id, ready_at, ident)


@dataclass(frozen=True)
class Reached:
    """The forecast for one callback: when its next attempt starts (None: not within the horizon)."""

    work: Work
    start: datetime | None

    @property
    def at_risk(self) -> bool:
        return self.start is None or self.start > self.work.latest_start


@dataclass(frozen=True)
class Quote:
    """What to promise a new request."""

    deadline: datetime
    sla_deadline: datetime
    # sla | forecast | ceiling (overloaded: the forecast is beyond the queue's ceiling, or there is none)
    source: str
    # The forecast start of its first attempt (None: no agent within the horizon).
    start: datetime | None
    # Why the SLA could not be kept, in a supervisor's words (empty when it is).
    why: str = ""

    @property
    def overloaded(self) -> bool:
        return self.source == "ceiling"

    @property
    def beyond_sla(self) -> timedelta:
        return max(timedelta(0), self.deadline - self.sla_deadline)


def round_up(moment: datetime, step: timedelta = QUOTE_ROUNDING) -> datetime:
    """The next multiple of `step` (in UTC; whole hours and minutes in any zone with a whole-quarter offset)."""
    epoch = datetime(2000, 1, 1, tzinfo=moment.tzinfo)
    steps = math.ceil((moment - epoch) / step)
    return epoch + steps * step


@dataclass
class Backlog:
    """The open work in deadline order, with the capacity that will do it.

    `ahead`: agent-seconds owed before any callback (live callers waiting and talking, served first).
    """

    now: datetime
    capacity: Capacity
    work: Sequence[Work]
    ahead: float = 0.0
    _deadlines: list[datetime] = field(init=False, repr=False)
    _before: list[float] = field(init=False, repr=False)
    _spare_after: list[float] = field(init=False, repr=False)
    _reached: list[Reached] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.work = sorted(self.work, key=lambda w: (w.deadline, w.ident or 0))
        self._deadlines = [w.deadline for w in self.work]
        self._before = []
        self._reached = []
        total = self.ahead
        spare: list[float] = []
        for w in self.work:
            self._before.append(total)
            start = self._start(total, w.ready_at, w.tail)
            self._reached.append(Reached(w, start))
            # Extra work that could go ahead of this one without putting it at risk; already at risk: no limit
            # (a new request is not kept waiting behind a promise that cannot be kept anyway).
            room = self.capacity.until(w.latest_start) - total
            spare.append(room if start is not None and start <= w.latest_start else math.inf)
            total += w.seconds
        self._total = total
        self._spare_after = [math.inf] * (len(spare) + 1)
        for i in range(len(spare) - 1, -1, -1):
            self._spare_after[i] = min(spare[i], self._spare_after[i + 1])

    def _start(self, before: float, ready_at: datetime, tail: timedelta) -> datetime | None:
        reach = self.capacity.reach(before)
        if reach is None:
            return None
        return self.capacity.fit(max(reach, ready_at, self.now), tail)

    # -- promises already given ------------------------------------------------------------------------------------
    def reached(self) -> list[Reached]:
        """Every open callback with its forecast start, in deadline order."""
        return list(self._reached)

    def at_risk(self) -> list[Reached]:
        """Promises the forecast says will not be kept: the attempts owed cannot all start in time."""
        return [r for r in self._reached if r.at_risk]

    # -- a new request ---------------------------------------------------------------------------------------------
    def quote(self, queue_id: str, queue: Queue, stats: AttemptStats, sla_deadline: datetime,
              ceiling: datetime, *, watch_every: timedelta = timedelta(minutes=1), ready_at: datetime | None = None,
              window: bool = False, extra: float = 0.0) -> Quote:
        """The deadline to promise a request of `queue_id` placed now (its SLA would be `sla_deadline`).

        The earliest deadline D from the SLA on at which the request, put in deadline order, starts in time with
        the queue's margin to spare, and no promise after it that is safe now is pushed into risk. For a
        customer's window, `sla_deadline` is the window's end and `ready_at` its start. `extra`: agent-seconds
        known to be owed but not in this backlog's order (requests taken since it was read): counted ahead of the
        request and against every later promise's room, so the quote is never earlier than with them in order.
        """
        ready = max(ready_at or self.now, self.now)
        new = work_for(queue_id, queue, stats, deadline=sla_deadline, attempts_made=0, ready_at=ready,
                       watch_every=watch_every, window=window)
        margin = queue.quote_margin
        room = new.seconds + extra
        k = bisect.bisect_right(self._deadlines, sla_deadline)
        start: datetime | None = None
        found: datetime | None = None
        # The first place k in deadline order where the request fits. Every quantity below only grows with k (the
        # work before it, so its start, so its candidate; the room after it), and once there is no start there is
        # none further on: a place that fails lets the walk skip every later place that must fail for the same
        # reason (a deadline not after this candidate; room still short), so the first fit is found in a few steps
        # instead of one step per callback (tests/callbacks/test_quote_search.py checks it against the plain walk).
        while k <= len(self.work):
            before = (self._before[k] if k < len(self.work) else self._total) + extra
            start = self._start(before, ready, new.tail)
            if start is None:
                break
            needed = start + new.tail
            low = sla_deadline if k == 0 or self._deadlines[k - 1] <= sla_deadline else self._deadlines[k - 1]
            # Within the SLA the margin is not asked for; beyond it, the quote is the forecast plus the margin.
            candidate = max(low, needed if needed <= sla_deadline else needed + margin)
            high = self._deadlines[k] if k < len(self.work) else None
            fits_before_next = high is None or candidate < high
            spares = self._spare_after[k] >= room
            if fits_before_next and spares:
                found = candidate
                break
            following = k + 1
            if not fits_before_next:
                following = max(following, bisect.bisect_right(self._deadlines, candidate))
            if not spares:
                following = max(following, bisect.bisect_left(self._spare_after, room))
            k = following
        return self._answer(found, start, queue_id, sla_deadline, ceiling)

    def _answer(self, found: datetime | None, start: datetime | None, queue_id: str, sla_deadline: datetime,
                ceiling: datetime) -> Quote:
        """The quote for the first place the request fits (`found`, its `start`; None: no place fits)."""
        if found is not None and found <= sla_deadline:
            return Quote(sla_deadline, sla_deadline, "sla", start)
        if found is None:
            why = "no agent on shift within the forecast's horizon" if self.capacity.empty else (
                "the forecast reaches no time within its horizon")
            return Quote(ceiling, sla_deadline, "ceiling", None, why)
        deadline = round_up(found)
        why = self._why(queue_id, start, sla_deadline)
        if deadline > ceiling:
            return Quote(ceiling, sla_deadline, "ceiling", start, why + "; beyond the queue's ceiling")
        return Quote(deadline, sla_deadline, "forecast", start, why)

    def _why(self, queue_id: str, start: datetime | None, sla_deadline: datetime) -> str:
        ahead = bisect.bisect_right(self._deadlines, sla_deadline)
        agents = self.capacity.agents_at(self.now)
        return (f"{queue_id}: {ahead} callbacks due before the SLA and {len(self.work) - ahead} later promises "
                f"for {agents:g} agents on shift now")

    def with_work(self, extra: Iterable[Work], capacity: Capacity | None = None) -> Backlog:
        """The same backlog with more work (expected requests) and perhaps another capacity."""
        return Backlog(self.now, capacity or self.capacity, [*self.work, *extra], self.ahead)


# -- advice for supervisors ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Advice:
    """How many more agents, from now until `until`, would keep every promise and every expected request's SLA."""

    agents: int
    until: datetime | None
    # Promises given that the forecast sees missed with the agents on shift.
    misses: int
    # Requests expected today that could not be quoted their SLA with the agents on shift.
    late_quotes: float = 0.0
    # Promises no number of extra agents could save (their deadline is too close).
    hopeless: int = 0


MAX_EXTRA_AGENTS = 50


def expected_work(queues: dict[str, Queue], stats: AttemptStats, rates: dict[str, float], start: datetime,
                  end: datetime, sla: dict[str, Callable[[datetime], datetime]],
                  step: timedelta = timedelta(minutes=10), watch_every: timedelta = timedelta(minutes=1)) -> list[Work]:
    """Requests expected from `start` to `end` at `rates` (per hour, by queue), each quoted its SLA
    (`sla[queue](moment)` gives the SLA deadline of a request at that moment)."""
    out: list[Work] = []
    moment = start
    while moment < end:
        span = min(step, end - moment)
        for queue_id, rate in rates.items():
            count = rate * span.total_seconds() / 3600
            if count <= 0 or queue_id not in queues:
                continue
            one = work_for(queue_id, queues[queue_id], stats, deadline=sla[queue_id](moment), attempts_made=0,
                           ready_at=moment, watch_every=watch_every)
            out.append(replace(one, seconds=one.seconds * count, ident=-1, count=count))
        moment += span
    return out


def _misses(backlog: Backlog) -> tuple[int, float]:
    """(promises given that the forecast sees missed, expected requests that could not be quoted their SLA)."""
    given, expected = 0, 0.0
    for r in backlog.reached():
        if r.at_risk:
            if r.work.ident == -1:
                expected += r.work.count
            else:
                given += 1
    return given, expected


def staffing_advice(backlog: Backlog, spans: Sequence[Staffed], expected: Sequence[Work], day_end: datetime,
                    *, step: timedelta = timedelta(minutes=30)) -> Advice:
    """The fewest extra agents from now, and then the earliest end of their shift, that keep every promise the
    forecast can still save and quote every request expected today its SLA."""
    now = backlog.now

    def misses(extra: int, until: datetime) -> float:
        added = [*spans, Staffed(now, until, extra)] if extra else list(spans)
        given, late = _misses(backlog.with_work(expected, Capacity(now, added)))
        return given + late

    given, late = _misses(backlog.with_work(expected, Capacity(now, spans)))
    if given + late == 0 or day_end <= now:
        return Advice(0, None, given, late)
    floor = misses(MAX_EXTRA_AGENTS, day_end)
    if given + late <= floor:
        return Advice(0, None, given, late, int(floor))
    low, high = 1, MAX_EXTRA_AGENTS
    while low < high:
        middle = (low + high) // 2
        if misses(middle, day_end) <= floor:
            high = middle
        else:
            low = middle + 1
    agents = low
    until = day_end
    moment = now + step
    while moment < day_end:
        if misses(agents, moment) <= floor:
            until = moment
            break
        moment += step
    return Advice(agents, until, given, late, int(floor))


__all__ = [
    "Advice",
    "AttemptSample",
    "AttemptStats",
    "Backlog",
    "Capacity",
    "Quote",
    "Reached",
    "Staffed",
    "Work",
    "chain",
    "default_stats",
    "expected_work",
    "learn_stats",
    "round_up",
    "staffing_advice",
    "warn_before",
    "work_for",
]
