"""Pure rules of the callback's life: deadlines, windows, transitions, retries. Functions of `now`, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from callbacks.businesstime import BusinessCalendar
from callbacks.calls import CONNECTED, NO_ANSWER, NOT_COUNTED, PERMANENT_ERROR
from callbacks.errors import InvalidRequest
from callbacks.models import CANCELED, COMPLETED, DIALING, MISSED, PENDING, UNREACHABLE, Callback
from config.schema import Queue

# How far ahead a customer may ask to be called, and the shortest window we can promise to keep.
MAX_WINDOW_AHEAD = timedelta(days=14)
MIN_WINDOW = timedelta(minutes=15)

ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    PENDING: {DIALING, COMPLETED, UNREACHABLE, MISSED, CANCELED},
    DIALING: {PENDING, COMPLETED, UNREACHABLE, MISSED, CANCELED},
    COMPLETED: set(),
    UNREACHABLE: set(),
    MISSED: set(),
    CANCELED: set(),
}


def can_transition(from_status: str, to_status: str) -> bool:
    return to_status in ALLOWED_TRANSITIONS.get(from_status, set())


@dataclass(frozen=True)
class Promise:
    """When a new callback is owed and when it may first be dialled."""

    deadline_at: datetime
    first_attempt_at: datetime
    # "sla" when the queue's promise decides, "window" when the customer's window ends first.
    deadline_from: str


class WindowClosed(InvalidRequest):
    """The customer's window has (almost) no opening hours in it; `suggested` is the nearest window that has."""

    def __init__(self, calendar: BusinessCalendar, start: datetime, end: datetime,
                 suggested: tuple[datetime, datetime] | None):
        self.suggested = suggested
        zone = calendar.zone
        hint = ""
        if suggested is not None:
            s, e = (t.astimezone(zone) for t in suggested)
            hint = f" The nearest time we can call is {s:%a %Y-%m-%d %H:%M} to {e:%H:%M} ({zone.key})."
        a, b = start.astimezone(zone), end.astimezone(zone)
        super().__init__(
            "window_closed",
            f"We are closed from {a:%a %Y-%m-%d %H:%M} to {b:%H:%M} ({zone.key}): nobody could call you then.{hint}",
            "window_start",
        )


class WindowUnavailable(InvalidRequest):
    """The forecast cannot keep the customer's window; `earliest` is the earliest deadline we can promise."""

    def __init__(self, earliest: datetime, zone_key: str):
        self.earliest = earliest
        from zoneinfo import ZoneInfo

        when = earliest.astimezone(ZoneInfo(zone_key))
        super().__init__(
            "window_unavailable",
            f"We cannot keep that window: we are busy until then. The earliest we can promise is "
            f"{when:%a %Y-%m-%d %H:%M} ({zone_key}); choose a window that ends later.",
            "window_end",
        )


def nearest_open_window(calendar: BusinessCalendar, start: datetime, end: datetime, now: datetime,
                        shortest: timedelta) -> tuple[datetime, datetime] | None:
    """The window of the same length (at least `shortest`, within one opening span) nearest to [start, end]:
    the end of the opening before it, or the start of the one after it, whichever is closer."""
    length = max(end - start, shortest)
    options: list[tuple[timedelta, tuple[datetime, datetime]]] = []
    local = start.astimezone(calendar.zone).date()
    for day in (local - timedelta(days=n) for n in range(0, 8)):
        before = [(s, e) for s, e in calendar.spans_on(day) if e <= start and e - max(s, now) >= shortest]
        if before:
            s, e = before[-1]
            options.append((start - e, (max(s, e - length, now), e)))
            break
    try:
        opening = calendar.next_opening(start)
    except ValueError:
        opening = None
    if opening is not None:
        span_end = next((e for s, e in calendar.spans_on(opening.astimezone(calendar.zone).date())
                         if s <= opening < e), opening + length)
        options.append((opening - end, (opening, min(opening + length, span_end))))
    if not options:
        return None
    return min(options, key=lambda option: option[0])[1]


def queue_deadline(queue: Queue, requested_at: datetime, calendar: BusinessCalendar) -> datetime:
    """The queue's own promise for a request made at `requested_at`."""
    if queue.sla.clock == "business":
        return calendar.add(requested_at, queue.sla.deadline)
    return requested_at + queue.sla.deadline


def promise_for(
    queue: Queue,
    now: datetime,
    calendar: BusinessCalendar,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
) -> Promise:
    """Deadline and first dial time for a request at `now`, honouring the customer's window."""
    sla_deadline = queue_deadline(queue, now, calendar)
    if window_start is None and window_end is None:
        return Promise(sla_deadline, now, "sla")
    start = window_start or now
    if window_end is None:
        raise InvalidRequest("window_incomplete", "A window needs an end (window_end).", "window_end")
    if window_end <= start:
        raise InvalidRequest("window_inverted", "The window must end after it starts.", "window_end")
    if window_end <= now:
        raise InvalidRequest("window_past", "The window has already ended.", "window_end")
    if window_end > now + MAX_WINDOW_AHEAD:
        raise InvalidRequest(
            "window_too_far", f"A callback can be booked at most {MAX_WINDOW_AHEAD.days} days ahead.", "window_end"
        )
    first = max(start, now)
    shortest = max(MIN_WINDOW, queue.retry.attempt_duration)
    if window_end - first < shortest:
        raise InvalidRequest(
            "window_too_short",
            f"The window leaves less than {int(shortest.total_seconds() // 60)}"
            " minutes to call; choose a longer one.",
            "window_end",
        )
    if calendar.between(first, window_end) < shortest:
        # Nobody is there to call: a deadline in closed hours could never be kept.
        suggested = nearest_open_window(calendar, first, window_end, now, shortest)
        raise WindowClosed(calendar, first, window_end, suggested)
    if first >= sla_deadline:
        # The customer wants a call later than we would have promised: their window is the promise.
        return Promise(window_end, first, "window")
    if window_end < sla_deadline:
        return Promise(window_end, first, "window")
    return Promise(sla_deadline, first, "sla")


# -- the retry rule ---------------------------------------------------------------------------------------------
# Shortest gap we accept between two attempts when squeezing the last one in before the deadline.
MIN_RETRY_GAP = timedelta(minutes=2)
# The last attempt squeezed in before the deadline is due during this window before its latest start (the
# deadline minus the attempt's duration), not at that one instant: a worker ticking every few seconds must find
# it due while the claim still lets it start, and a busy centre gets a moment to free an agent.
LAST_CHANCE_WINDOW = timedelta(minutes=2)


@dataclass(frozen=True)
class NextStep:
    """What becomes of a callback after an attempt: its status, when to try again, and why."""

    status: str
    attempts_made: int
    next_attempt_at: datetime | None
    reason: str


def latest_start(queue: Queue, callback: Callback) -> datetime:
    """The last moment an attempt may start and still end before the callback's deadline."""
    return callback.deadline_at - queue.retry.attempt_duration


def next_step(
    queue: Queue, callback: Callback, outcome: str, now: datetime, *, backoff: timedelta = timedelta(seconds=15),
    detail: str | None = None,
) -> NextStep:
    """Apply the queue's retry policy to `outcome` of the callback's latest attempt."""
    made = callback.attempts_made
    if outcome == CONNECTED:
        return NextStep(COMPLETED, made + 1, None, "customer and agent talked")
    if outcome == PERMANENT_ERROR:
        return NextStep(UNREACHABLE, made + 1, None, f"the number cannot be called ({detail or 'permanent error'})")
    if outcome in NOT_COUNTED:
        return NextStep(PENDING, made, now + backoff, f"attempt not counted: {outcome}")
    made += 1
    policy = queue.retry
    if made >= policy.max_attempts:
        return NextStep(UNREACHABLE, made, None, f"not reached in {made} attempts (last: {outcome})")
    delay = policy.delay_before(made + 1)
    next_at = now + delay
    last = latest_start(queue, callback)
    if next_at > last:
        # The policy's delay would push the next attempt past its latest start: squeeze it in before the deadline,
        # due from the start of the last-chance window (never sooner than the shortest gap between two calls).
        squeezed = max(now + min(delay, MIN_RETRY_GAP), last - LAST_CHANCE_WINDOW)
        if squeezed <= last:
            next_at = squeezed
    return NextStep(PENDING, made, next_at, f"attempt {made} of {policy.max_attempts}: {outcome}")


def retry_time_for_message(queue: Queue, callback: Callback, now: datetime) -> datetime | None:
    """When we expect to call again if this attempt fails (told to an answering machine); None if never."""
    step = next_step(queue, callback, NO_ANSWER, now)
    if step.status != PENDING or step.next_attempt_at is None:
        return None
    if step.next_attempt_at > latest_start(queue, callback):
        return None
    return step.next_attempt_at
