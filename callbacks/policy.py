"""Pure rules of the callback's life: deadlines, windows, transitions. Functions of `now`, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from callbacks.businesstime import BusinessCalendar
from callbacks.errors import InvalidRequest
from callbacks.models import CANCELED, COMPLETED, DIALING, MISSED, PENDING, UNREACHABLE
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
    if window_end - first < max(MIN_WINDOW, queue.retry.attempt_duration):
        raise InvalidRequest(
            "window_too_short",
            f"The window leaves less than {int(max(MIN_WINDOW, queue.retry.attempt_duration).total_seconds() // 60)}"
            " minutes to call; choose a longer one.",
            "window_end",
        )
    if first >= sla_deadline:
        # The customer wants a call later than we would have promised: their window is the promise.
        return Promise(window_end, first, "window")
    if window_end < sla_deadline:
        return Promise(window_end, first, "window")
    return Promise(sla_deadline, first, "sla")
