"""A worker process for multi-process and crash tests: `python -m tests.support.worker_process '<json>'`.

It runs the real Dispatcher against PostgreSQL with a JournalProvider (calls appended to a shared file) and plays
the phone network: each call it placed (or, when recovering, any call in flight) is answered at once, the agent
presses 1 and talks to the customer for a minute, through `apply_leg_status` like Twilio's status callbacks.
IVR_WORKER_FAULT makes it die like kill -9 at a named point of the dispatcher (its injected `fault` hook).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from callbacks.attempts import LegStatus, apply_leg_status, mark_bridged
from callbacks.db import Database
from callbacks.models import OPEN_STATUSES, PENDING, Attempt, Callback
from config import load_contact_centre
from config.schema import ContactCentre
from config.settings import EXAMPLE_CONFIG
from scheduler.dispatcher import Dispatcher
from telephony.fake import JournalProvider

BASE_URL = "https://support.example.com"
CALLER_ID = "+14155550100"
FAULT_ENV = "IVR_WORKER_FAULT"


def die_at(point: str | None) -> Callable[[str], None]:
    """A dispatcher fault hook that dies like `kill -9` when it reaches `point`."""

    def fault(name: str) -> None:
        if name == point:
            os.kill(os.getpid(), signal.SIGKILL)

    return fault


class OffsetClock:
    """The wall clock moved by a fixed offset (a recovering worker "later", without waiting for the lease)."""

    def __init__(self, offset: float):
        self.offset = timedelta(seconds=offset)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def fast_centre(cps: float = 10_000) -> ContactCentre:
    centre = load_contact_centre(EXAMPLE_CONFIG)
    dispatch = centre.dispatch.model_copy(update={"calls_per_second": cps, "wrap_up": timedelta(0),
                                                  "tick": timedelta(seconds=1)})
    # Thousands of dials within minutes: the hourly spending breaker (tested on its own) would stop them.
    limits = centre.limits.model_copy(update={"dials_per_hour": 0})
    return centre.model_copy(update={"dispatch": dispatch, "limits": limits})


def complete(db: Database, centre: ContactCentre, clock: Any, attempt_ids: list[int]) -> None:
    """Play a whole successful call for each attempt: agent answers, presses 1, a one-minute conversation."""
    for attempt_id in attempt_ids:
        now = clock.now()
        with db.session() as session:
            attempt = session.get(Attempt, attempt_id)
            if attempt is None or attempt.state == "ended" or attempt.agent_call_sid is None:
                continue
            sid = attempt.agent_call_sid
            apply_leg_status(session, centre, attempt_id, "agent", LegStatus("in-progress", sid, 1), now)
            mark_bridged(session, attempt_id, now)
            child = f"CH{attempt_id:032d}"
            apply_leg_status(session, centre, attempt_id, "customer", LegStatus("in-progress", child, 1), now)
            apply_leg_status(session, centre, attempt_id, "customer",
                             LegStatus("completed", child, 2, duration=60), now)
            apply_leg_status(session, centre, attempt_id, "agent", LegStatus("completed", sid, 2, duration=70), now)


def run(args: dict[str, Any]) -> dict[str, Any]:
    clock = OffsetClock(args.get("offset", 0))
    centre = fast_centre()
    db = Database(args["url"], pool_size=2, max_overflow=2)
    provider = JournalProvider(args["journal"], clock)
    worker_id = args["worker_id"]
    dispatcher = Dispatcher(db, centre, provider, clock, worker_id=worker_id, base_url=BASE_URL,
                            caller_id=CALLER_ID, batch_size=args.get("batch", 100), sleep=lambda _s: None,
                            fault=die_at(os.environ.get(FAULT_ENV)))
    started, idle, dialed = time.monotonic(), 0, 0
    while time.monotonic() - started < args.get("max_seconds", 50):
        dispatcher.sweep()
        report = dispatcher.tick()
        dialed += report.dialed
        ids = [attempt_id for _cb, attempt_id, _at in report.dial_times]
        if args.get("recover"):
            with db.session() as session:
                ids += list(session.scalars(select(Attempt.id).where(Attempt.state == "dialing")))
        if args.get("network", True):
            complete(db, centre, clock, ids)
        if report.claimed:
            idle = 0
            continue
        idle += 1
        with db.session() as session:
            waiting = (PENDING,) if not args.get("network", True) else OPEN_STATUSES
            left = session.scalar(select(func.count()).select_from(Callback).where(Callback.status.in_(waiting)))
        if left == 0 or idle > args.get("idle_rounds", 400):
            break
        time.sleep(0.02)
    db.dispose()
    return {"worker": worker_id, "dialed": dialed}


if __name__ == "__main__":
    print(json.dumps(run(json.loads(sys.argv[1]))))
